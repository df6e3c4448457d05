package httpapi

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/fxamacker/cbor/v2"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// fakeConsumerARN is a consumer of the fake's stream "s".
var fakeConsumerARN = kinesis.ConsumerARN(kinesis.StreamARN("us-east-1", fakeAccount, "s"), "c", time.Unix(1775369228, 0))

func fakeWithRecords(t *testing.T, data ...string) *fakeService {
	t.Helper()
	svc := newFakeService()
	ctx := context.Background()
	if err := svc.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	for _, d := range data {
		if _, err := svc.PutRecords(ctx, kinesis.StreamRef{Name: "s"}, []kinesis.PutRecordEntry{{PartitionKey: "k", Data: []byte(d)}}); err != nil {
			t.Fatal(err)
		}
	}
	return svc
}

// TestSubscribeToShard_SDK reads an event stream with aws-sdk-go-v2 over
// HTTP/1.1 (chunked), h2 over TLS and h2c.
func TestSubscribeToShard_SDK(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "h2", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			svc := fakeWithRecords(t, "a", "b")
			h := New(svc, Options{})
			srv := httptest.NewUnstartedServer(h)
			client := &http.Client{Transport: &http.Transport{}}
			switch proto {
			case "HTTP/1.1":
				srv.Start()
			case "h2":
				srv.EnableHTTP2 = true
				srv.StartTLS()
				client = srv.Client()
			case "h2c":
				srv.Config.Protocols = new(http.Protocols)
				srv.Config.Protocols.SetUnencryptedHTTP2(true)
				srv.Start()
				tr := &http.Transport{Protocols: new(http.Protocols)}
				tr.Protocols.SetUnencryptedHTTP2(true)
				client = &http.Client{Transport: tr}
			}
			defer srv.Close()
			kc := newSDKClient(srv.URL, client)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			in := &awskinesis.SubscribeToShardInput{
				ConsumerARN:      aws.String(fakeConsumerARN),
				ShardId:          aws.String(kinesis.ShardID(0)),
				StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon},
			}

			out, err := kc.SubscribeToShard(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			es := out.GetStream()
			var got []string
			var events int
			for e := range es.Events() {
				ev, ok := e.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
				if !ok {
					t.Fatalf("event %T", e)
				}
				events++
				for _, r := range ev.Value.Records {
					got = append(got, string(r.Data))
					if !r.ApproximateArrivalTimestamp.Equal(svc.now) {
						t.Errorf("arrival %v, want %v", r.ApproximateArrivalTimestamp, svc.now)
					}
				}
				if aws.ToInt64(ev.Value.MillisBehindLatest) != 7 || aws.ToString(ev.Value.ContinuationSequenceNumber) == "" {
					t.Errorf("event %+v", ev.Value)
				}
			}
			if err := es.Err(); err != nil {
				t.Fatalf("stream error: %v", err)
			}
			es.Close()
			if events != 1 || strings.Join(got, ",") != "a,b" {
				t.Fatalf("%d events with records %v, want 1 with [a b]", events, got)
			}

			// A failure mid-stream arrives as a modeled exception event.
			svc.subEnd = kinesis.Errorf(kinesis.ErrResourceNotFound, "Consumer gone.")
			out, err = kc.SubscribeToShard(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			es = out.GetStream()
			for range es.Events() {
			}
			var rnf *types.ResourceNotFoundException
			if err := es.Err(); !errors.As(err, &rnf) || aws.ToString(rnf.Message) != "Consumer gone." {
				t.Fatalf("stream error %v, want ResourceNotFoundException", err)
			}
			es.Close()

			// Before the stream starts, errors are ordinary responses.
			svc.fail = kinesis.Errorf(kinesis.ErrResourceInUse, "Another active subscription exists for this consumer")
			_, err = kc.SubscribeToShard(ctx, in)
			var riu *types.ResourceInUseException
			if !errors.As(err, &riu) {
				t.Fatalf("error %v, want ResourceInUseException", err)
			}
		})
	}
}

func TestSubscribeToShard_Validation(t *testing.T) {
	h := New(fakeWithRecords(t), Options{})
	for _, tc := range []struct{ body, code, msg string }{
		{`{"ShardId":"shardId-000000000000","StartingPosition":{"Type":"LATEST"}}`, "ValidationException", "Value null at 'consumerARN' failed to satisfy constraint: Member must not be null"},
		{`{"ConsumerARN":"` + fakeConsumerARN + `","ShardId":"shardId-000000000000"}`, "ValidationException", "Value null at 'startingPosition' failed to satisfy constraint: Member must not be null"},
		{`{"ConsumerARN":"` + fakeConsumerARN + `","ShardId":"shardId-000000000000","StartingPosition":{"Type":"NEWEST"}}`, "ValidationException", "at 'startingPosition.type' failed to satisfy constraint: Member must satisfy enum value set"},
		{`{"ConsumerARN":"` + fakeConsumerARN + `","ShardId":"shardId-000000000000","StartingPosition":{"Type":"AT_SEQUENCE_NUMBER"}}`, "InvalidArgumentException", "requires a SequenceNumber"},
		{`{"ConsumerARN":"` + fakeConsumerARN + `","ShardId":"shardId-000000000000","StartingPosition":{"Type":"AT_TIMESTAMP"}}`, "InvalidArgumentException", "requires a Timestamp"},
		{`{"ConsumerARN":"` + fakeConsumerARN + `","ShardId":"shardId-000000000000","StartingPosition":{"Type":"LATEST","SequenceNumber":"1"}}`, "InvalidArgumentException", "takes no SequenceNumber"},
		{`{"ConsumerARN":"arn:aws:kinesis:us-east-1:123456789012:stream/nope/consumer/c:1","ShardId":"shardId-000000000000","StartingPosition":{"Type":"LATEST"}}`, "ResourceNotFoundException", "Stream nope under account"},
	} {
		rec := serve(h, newRequest("SubscribeToShard", tc.body))
		e := readError(t, rec)
		if e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s: %s %q, want %s containing %q", tc.body, e.Code, e.Message, tc.code, tc.msg)
		}
	}
}

// TestSubscribeToShard_CBOR reads the raw event stream a CBOR client gets:
// CBOR payloads with tag-1 millisecond timestamps.
func TestSubscribeToShard_CBOR(t *testing.T) {
	svc := fakeWithRecords(t, "a")
	h := New(svc, Options{})
	body := mustCBOR(t, map[string]any{
		"ConsumerARN":      fakeConsumerARN,
		"ShardId":          kinesis.ShardID(0),
		"StartingPosition": map[string]any{"Type": "AT_TIMESTAMP", "Timestamp": cbor.Tag{Number: 1, Content: svc.now.UnixMilli()}},
	})
	rec := serve(h, newCBORRequest("SubscribeToShard", body))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != contentTypeEventStream {
		t.Fatalf("status %d, content type %q: %x", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
	}
	call := svc.lastCall("SubscribeToShard").(kinesis.SubscribeToShardInput)
	if call.Start.Timestamp == nil || !call.Start.Timestamp.Equal(svc.now) {
		t.Errorf("starting timestamp %v, want %v", call.Start.Timestamp, svc.now)
	}
	dec := eventstream.NewDecoder()
	r := bytes.NewReader(rec.Body.Bytes())
	var types []string
	for r.Len() > 0 {
		msg, err := dec.Decode(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ct := msg.Headers.Get(":content-type").String(); ct != contentTypeCBOR {
			t.Errorf(":content-type %s", ct)
		}
		et := msg.Headers.Get(":event-type").String()
		types = append(types, et)
		if et != "SubscribeToShardEvent" {
			continue
		}
		var ev struct {
			Records []struct {
				Data                        []byte
				ApproximateArrivalTimestamp cbor.RawTag
			}
			ContinuationSequenceNumber string
		}
		if err := cbor.Unmarshal(msg.Payload, &ev); err != nil {
			t.Fatalf("payload %x: %v", msg.Payload, err)
		}
		if len(ev.Records) != 1 || string(ev.Records[0].Data) != "a" || ev.ContinuationSequenceNumber == "" {
			t.Fatalf("event %+v", ev)
		}
		var ms int64
		if ts := ev.Records[0].ApproximateArrivalTimestamp; ts.Number != 1 || cbor.Unmarshal(ts.Content, &ms) != nil || ms != svc.now.UnixMilli() {
			t.Errorf("arrival timestamp tag %d content %x, want tag 1 and %d", ts.Number, ts.Content, svc.now.UnixMilli())
		}
	}
	if strings.Join(types, ",") != "initial-response,SubscribeToShardEvent" {
		t.Errorf("events %v", types)
	}
}

func FuzzDecodeSubscribeToShard(f *testing.F) {
	f.Add([]byte(`{"ConsumerARN":"`+fakeConsumerARN+`","ShardId":"shardId-000000000000","StartingPosition":{"Type":"AT_TIMESTAMP","Timestamp":1.5}}`), false)
	f.Add([]byte(`{"StartingPosition":{"Type":"AT_SEQUENCE_NUMBER","SequenceNumber":"1"}}`), false)
	f.Add([]byte{0xa1, 0x67, 'S', 'h', 'a', 'r', 'd', 'I', 'd', 0x61, 'x'}, true)
	f.Fuzz(func(t *testing.T, body []byte, useCBOR bool) {
		var c codec = jsonCodec11
		if useCBOR {
			c = cborCodec{}
		}
		in, err := decodeSubscribeToShard(c, body)
		if err != nil {
			var kerr *kinesis.Error
			if !errors.As(err, &kerr) || kerr.Code.HTTPStatus() != 400 {
				t.Fatalf("error %v is not a client error", err)
			}
			return
		}
		if in.ConsumerARN == "" || in.ShardID == "" || in.Start.Type == "" {
			t.Fatalf("accepted an incomplete input %+v", in)
		}
		if (in.Start.Type == kinesis.AtTimestamp) != (in.Start.Timestamp != nil) {
			t.Fatalf("timestamp %v with type %s", in.Start.Timestamp, in.Start.Type)
		}
	})
}
