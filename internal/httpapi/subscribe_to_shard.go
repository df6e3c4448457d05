package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// SubscribeToShard answers with an event stream
// (application/vnd.amazon.eventstream) rather than one body: an
// initial-response event (the Go SDK waits for it before it returns),
// then a SubscribeToShardEvent for every batch of records or idle
// interval, each flushed at once, until the service ends the feed (its
// lifetime, or the last event of a closed shard) or the client goes. Event
// payloads are in the request's format: JSON, or CBOR with timestamps as
// tag 1 and epoch milliseconds. Errors found before the feed starts get
// the ordinary error response; later ones an exception event
// (:message-type exception, :exception-type the code) that ends it.
//
// Flow control: the next batch is read only once the previous event has
// been written to the connection, so HTTP/2's flow-control window (or
// TCP's, over HTTP/1.1 chunked) is all a slow client can hold up.

type subscribeToShardInput struct {
	ConsumerARN      *string               `json:"ConsumerARN"`
	ShardId          *string               `json:"ShardId"`
	StartingPosition *wireStartingPosition `json:"StartingPosition"`
}

type wireStartingPosition struct {
	Type           *string    `json:"Type"`
	SequenceNumber *string    `json:"SequenceNumber"`
	Timestamp      *Timestamp `json:"Timestamp"`
}

type subscribeToShardEvent struct {
	Records                    []wireRecord     `json:"Records"`
	ContinuationSequenceNumber *string          `json:"ContinuationSequenceNumber,omitempty"`
	MillisBehindLatest         int64            `json:"MillisBehindLatest"`
	ChildShards                []wireChildShard `json:"ChildShards,omitempty"`
}

type exceptionPayload struct {
	Message string `json:"message"`
}

const contentTypeEventStream = "application/vnd.amazon.eventstream"

// streamOperation is an operation that writes its own response. It returns
// an error only when nothing has been written yet, for the ordinary error
// response.
type streamOperation func(h *Handler, ctx context.Context, w http.ResponseWriter, c codec, body []byte) error

var streamOperations = map[string]streamOperation{
	"SubscribeToShard": (*Handler).subscribeToShard,
}

// decodeSubscribeToShard decodes and validates a request body.
func decodeSubscribeToShard(c codec, body []byte) (kinesis.SubscribeToShardInput, error) {
	var in subscribeToShardInput
	if err := c.decode(body, &in); err != nil {
		return kinesis.SubscribeToShardInput{}, err
	}
	var v validator
	v.str("consumerARN", in.ConsumerARN, true, consumerARNRule)
	v.str("shardId", in.ShardId, true, shardIDRule)
	if in.StartingPosition == nil {
		v.null("startingPosition")
	} else {
		v.str("startingPosition.type", in.StartingPosition.Type, true, iteratorTypeRule)
		v.str("startingPosition.sequenceNumber", in.StartingPosition.SequenceNumber, false, sequenceNumberRule)
	}
	if err := v.err(); err != nil {
		return kinesis.SubscribeToShardInput{}, err
	}
	sp := in.StartingPosition
	start := kinesis.StartingPosition{Type: kinesis.IteratorType(*sp.Type)}
	switch start.Type {
	case kinesis.AtSequenceNumber, kinesis.AfterSequenceNumber:
		if sp.SequenceNumber == nil {
			return kinesis.SubscribeToShardInput{}, invalidArgument("StartingPosition of type %s requires a SequenceNumber.", start.Type)
		}
		start.SequenceNumber = *sp.SequenceNumber
	case kinesis.AtTimestamp:
		if sp.Timestamp == nil {
			return kinesis.SubscribeToShardInput{}, invalidArgument("StartingPosition of type AT_TIMESTAMP requires a Timestamp.")
		}
		t := sp.Timestamp.Time
		start.Timestamp = &t
	}
	if sp.SequenceNumber != nil && start.SequenceNumber == "" {
		return kinesis.SubscribeToShardInput{}, invalidArgument("StartingPosition of type %s takes no SequenceNumber.", start.Type)
	}
	return kinesis.SubscribeToShardInput{ConsumerARN: *in.ConsumerARN, ShardID: *in.ShardId, Start: start}, nil
}

func (h *Handler) subscribeToShard(ctx context.Context, w http.ResponseWriter, c codec, body []byte) error {
	in, err := decodeSubscribeToShard(c, body)
	if err != nil {
		return err
	}
	sub, err := h.svc.SubscribeToShard(ctx, in)
	if err != nil {
		return err
	}
	defer sub.Close()

	rc := http.NewResponseController(w)
	// Per-event write deadlines are set below; lift the last one so that
	// an HTTP/1.1 connection kept alive does not inherit it.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	w.Header().Set("Content-Type", contentTypeEventStream)
	w.WriteHeader(http.StatusOK)
	ew := eventWriter{w: w, rc: rc, c: c, enc: eventstream.NewEncoder()}
	payload, err := c.encode(nil, struct{}{})
	if err != nil {
		h.log.ErrorContext(ctx, "internal failure", "op", "SubscribeToShard", "err", err)
		return nil
	}
	if err := ew.event("initial-response", payload); err != nil {
		return nil // the client is gone
	}
	for {
		ev, err := sub.Next(ctx)
		if errors.Is(err, io.EOF) || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			var kerr *kinesis.Error
			if !errors.As(err, &kerr) || kerr.Code.HTTPStatus() >= 500 {
				h.log.ErrorContext(ctx, "internal failure", "op", "SubscribeToShard", "err", err)
				kerr = &kinesis.Error{Code: kinesis.ErrInternalFailure, Message: internalFailureMessage}
			}
			_ = ew.exception(kerr)
			return nil
		}
		wire := toWireSubscribeEvent(&ev)
		if payload, err = c.encode(payload[:0], wire); err != nil {
			h.log.ErrorContext(ctx, "internal failure", "op", "SubscribeToShard", "err", err)
			_ = ew.exception(&kinesis.Error{Code: kinesis.ErrInternalFailure, Message: internalFailureMessage})
			return nil
		}
		if err := ew.event("SubscribeToShardEvent", payload); err != nil {
			return nil
		}
	}
}

func toWireSubscribeEvent(ev *kinesis.SubscribeToShardEvent) subscribeToShardEvent {
	g := toWireGetRecords(&kinesis.GetRecordsOutput{Records: ev.Records, ChildShards: ev.ChildShards})
	out := subscribeToShardEvent{
		Records:            g.Records,
		MillisBehindLatest: ev.MillisBehindLatest,
		ChildShards:        g.ChildShards,
	}
	if ev.ContinuationSequenceNumber != "" {
		out.ContinuationSequenceNumber = &ev.ContinuationSequenceNumber
	}
	return out
}

// eventWriter writes event-stream messages and flushes each.
type eventWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	c   codec
	enc *eventstream.Encoder
}

func (e *eventWriter) event(eventType string, payload []byte) error {
	var hs eventstream.Headers
	hs.Set(":message-type", eventstream.StringValue("event"))
	hs.Set(":event-type", eventstream.StringValue(eventType))
	hs.Set(":content-type", eventstream.StringValue(e.payloadType()))
	return e.write(hs, payload)
}

func (e *eventWriter) exception(kerr *kinesis.Error) error {
	payload, err := e.c.encode(nil, exceptionPayload{Message: kerr.Message})
	if err != nil {
		return err
	}
	var hs eventstream.Headers
	hs.Set(":message-type", eventstream.StringValue("exception"))
	hs.Set(":exception-type", eventstream.StringValue(string(kerr.Code)))
	hs.Set(":content-type", eventstream.StringValue(e.payloadType()))
	return e.write(hs, payload)
}

// eventWriteTimeout bounds the writing of one event. A client that reads
// nothing for that long is dropped rather than keep its feed, and the
// batch it holds, for ever.
const eventWriteTimeout = time.Minute

func (e *eventWriter) write(hs eventstream.Headers, payload []byte) error {
	_ = e.rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout)) // also lifts any server-wide write timeout
	if err := e.enc.Encode(e.w, eventstream.Message{Headers: hs, Payload: payload}); err != nil {
		return err
	}
	return e.rc.Flush()
}

// payloadType is the :content-type of event payloads.
func (e *eventWriter) payloadType() string {
	if e.c.contentType() == contentTypeCBOR {
		return contentTypeCBOR
	}
	return contentTypeJSON
}
