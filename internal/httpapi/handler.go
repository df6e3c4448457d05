package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/httplimit"
	"github.com/sluicehq/sluice/internal/kinesis"
)

// DefaultMaxBodyBytes is the request body limit when Options leaves it 0.
// A 10 MiB record is about 13.4 MiB once base64-encoded in JSON.
const DefaultMaxBodyBytes = 16 << 20

// targetPrefix starts every X-Amz-Target of the Kinesis API.
const targetPrefix = "Kinesis_20131202."

// Options configures a Handler.
type Options struct {
	// Logger receives internal failures (Error) and client errors (Debug).
	// Nil discards.
	Logger *slog.Logger
	// MaxBodyBytes caps request bodies; larger ones get 413. 0 means
	// DefaultMaxBodyBytes (16 MiB).
	MaxBodyBytes int64
	// Auth authenticates requests once their body is read. Nil checks
	// only that a signature is present, as emulators do.
	Auth Authenticator
}

// Authenticator verifies the signature of a request whose whole body is
// body, for action (kinesis:<Operation>), and returns the context the
// operation runs in, which carries who called. Errors are *kinesis.Error.
type Authenticator interface {
	Authenticate(r *http.Request, action string, body []byte) (context.Context, error)
}

// Handler serves the Kinesis API over AWS JSON 1.1 and CBOR. It is an http.Handler
// that does not care which HTTP version carries the request.
type Handler struct {
	svc     kinesis.Service
	log     *slog.Logger
	maxBody int64
	auth    Authenticator
	large   largeBuffers
}

// New returns a Handler that answers requests by calling svc.
func New(svc kinesis.Service, opts Options) *Handler {
	h := &Handler{svc: svc, log: opts.Logger, maxBody: opts.MaxBodyBytes, auth: opts.Auth, large: make(largeBuffers, largeBuffersKept)}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	return h
}

// An operation decodes a request body with c, validates it, calls the
// service and appends the response body to the buffer out returns, which
// it calls once it has the answer. Errors that are not *kinesis.Error are
// internal failures.
type operation func(h *Handler, ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error)

// operations are the Kinesis operations this server implements.
var operations = map[string]operation{
	"AddTagsToStream":               (*Handler).addTagsToStream,
	"CreateStream":                  (*Handler).createStream,
	"DecreaseStreamRetentionPeriod": (*Handler).decreaseStreamRetentionPeriod,
	"DeleteResourcePolicy":          (*Handler).deleteResourcePolicy,
	"DeleteStream":                  (*Handler).deleteStream,
	"DeregisterStreamConsumer":      (*Handler).deregisterStreamConsumer,
	"DescribeAccountSettings":       (*Handler).describeAccountSettings,
	"DescribeLimits":                (*Handler).describeLimits,
	"DescribeStream":                (*Handler).describeStream,
	"DescribeStreamConsumer":        (*Handler).describeStreamConsumer,
	"DescribeStreamSummary":         (*Handler).describeStreamSummary,
	"DisableEnhancedMonitoring":     (*Handler).disableEnhancedMonitoring,
	"EnableEnhancedMonitoring":      (*Handler).enableEnhancedMonitoring,
	"GetRecords":                    (*Handler).getRecords,
	"GetResourcePolicy":             (*Handler).getResourcePolicy,
	"GetShardIterator":              (*Handler).getShardIterator,
	"IncreaseStreamRetentionPeriod": (*Handler).increaseStreamRetentionPeriod,
	"ListShards":                    (*Handler).listShards,
	"ListStreamConsumers":           (*Handler).listStreamConsumers,
	"ListStreams":                   (*Handler).listStreams,
	"ListTagsForResource":           (*Handler).listTagsForResource,
	"ListTagsForStream":             (*Handler).listTagsForStream,
	"MergeShards":                   (*Handler).mergeShards,
	"PutRecord":                     (*Handler).putRecord,
	"PutRecords":                    (*Handler).putRecords,
	"PutResourcePolicy":             (*Handler).putResourcePolicy,
	"RegisterStreamConsumer":        (*Handler).registerStreamConsumer,
	"RemoveTagsFromStream":          (*Handler).removeTagsFromStream,
	"SplitShard":                    (*Handler).splitShard,
	"StartStreamEncryption":         (*Handler).startStreamEncryption,
	"StopStreamEncryption":          (*Handler).stopStreamEncryption,
	"TagResource":                   (*Handler).tagResource,
	"UntagResource":                 (*Handler).untagResource,
	"UpdateMaxRecordSize":           (*Handler).updateMaxRecordSize,
	"UpdateShardCount":              (*Handler).updateShardCount,
	"UpdateStreamMode":              (*Handler).updateStreamMode,
	"UpdateAccountSettings":         (*Handler).updateAccountSettings,
	"UpdateStreamWarmThroughput":    (*Handler).updateStreamWarmThroughput,
}

// unsupportedOperations are Kinesis operations this server knows of but does
// not implement yet. They answer InvalidArgumentException, which SDKs
// surface with its message and do not retry; UnknownOperationException is
// kept for targets that are not Kinesis operations at all. All six are newer
// than the 39 operations of the 2026-02 model but are in the current SDKs.
var unsupportedOperations = map[string]bool{
	"CreateChannel":                          true,
	"DeleteChannel":                          true,
	"DescribeChannel":                        true,
	"ListChannels":                           true,
	"UpdateChannel":                          true,
	"UpdateStreamRecordDistributionStrategy": true,
}

// ServeHTTP answers one API request. Checks run in AWS's order, each
// answering with AWS's error for it: method (403 AccessDeniedException),
// declared body size (413), Content-Type (none or an unknown one:
// SerializationException, or 403 AccessDeniedException without a target;
// application/json: AWS's JSON 1.0 front door), the body (empty or
// malformed: SerializationException), X-Amz-Target
// (UnknownOperationException), the signature, operation support, then the
// operation: decode (SerializationException), model validation
// (ValidationException), input checks (InvalidArgumentException),
// authorization (AccessDeniedException) and the service call.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setRequestIDs(w.Header())
	if answerCORS(w, r) {
		return
	}
	ctx := r.Context()
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)

	// The response buffer is taken once the operation has its answer:
	// requests still sending their bodies (slowly, perhaps), and calls
	// waiting on storage (a thousand readers of a log, say), hold none.
	var out *buffer
	defer func() {
		if out != nil && !h.large.put(out.B) {
			putBuffer(out)
		}
	}()
	c, body, err := h.serve(w, r, op, func() []byte {
		out = getBuffer()
		return out.B[:0]
	})
	if c == nil {
		c = jsonCodec11
	}
	if errors.Is(err, errResponded) {
		return
	}
	if err != nil {
		if out == nil {
			out = getBuffer()
		}
		h.writeError(ctx, w, c, op, err, out.B)
		return
	}
	if out != nil {
		out.B = body // keep a grown buffer for the pool
	}
	writeBody(w, c.contentType(), http.StatusOK, body)
}

// serve runs the request up to its response body, which it appends to
// the buffer out returns. It returns the codec of the request once its
// content type is known.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, op string, out func() []byte) (codec, []byte, error) {
	if r.Method != http.MethodPost {
		// AWS answers every other method (GET, PUT, DELETE, OPTIONS without
		// an Origin) in XML, whatever the request.
		return nil, nil, accessDenied(w)
	}
	if r.ContentLength > h.maxBody {
		return nil, nil, h.tooLarge()
	}
	target := r.Header.Get("X-Amz-Target")
	run, known := operations[op]
	stream := streamOperations[op]
	known = known || stream != nil
	validTarget := strings.HasPrefix(target, targetPrefix) && (known || unsupportedOperations[op])
	c, err := codecFor(r.Header.Get("Content-Type"))
	switch {
	case err != nil && !strings.Contains(target, "."):
		// A form post, say: AWS cannot tell what is being asked.
		return nil, nil, accessDenied(w)
	case err != nil:
		return c, nil, err
	case c == jsonCodecPlain:
		// application/json is AWS's JSON 1.0 protocol, which Kinesis does
		// not speak: a target-less call gets its 200 envelope.
		if target == "" {
			writeJSON10Unknown(w)
			return c, nil, errResponded
		}
		return c, nil, kinesis.Errorf(kinesis.ErrSerialization, "Kinesis speaks %s or %s, not %s", contentTypeJSON11, contentTypeCBOR, contentTypeJSON)
	}

	in, err := h.readBody(w, r)
	if err != nil {
		return c, nil, err
	}
	defer in.Release()
	if len(in.B) == 0 && validTarget {
		return c, nil, kinesis.Errorf(kinesis.ErrSerialization, "The request body is empty; send {} for an operation without input")
	}
	if !validTarget {
		if len(in.B) > 0 && !wellFormed(c, in.B) {
			return c, nil, kinesis.Errorf(kinesis.ErrSerialization, "Malformed request body")
		}
		if target == "" {
			return c, nil, kinesis.Errorf(kinesis.ErrUnknownOperation, "Missing X-Amz-Target header; expected %s<Operation>", targetPrefix)
		}
		return c, nil, kinesis.Errorf(kinesis.ErrUnknownOperation, "Unknown operation %q", target)
	}
	ctx, err := h.authenticate(r, op, in.B)
	if err != nil {
		if !wellFormed(c, in.B) { // AWS parses the body before it authenticates
			return c, nil, kinesis.Errorf(kinesis.ErrSerialization, "Malformed request body")
		}
		return c, nil, err
	}
	if !known {
		return c, nil, invalidArgument("Operation %s is not supported by this server yet.", op)
	}
	done, err := h.admit(op, c, in.B)
	if err != nil {
		return c, nil, err
	}
	if stream != nil {
		if err := stream(h, ctx, w, c, in.B); err != nil {
			return c, nil, err
		}
		done()
		return c, nil, errResponded
	}
	body, err := run(h, ctx, c, in.B, out)
	if err == nil {
		done()
	}
	return c, body, err
}

// authenticate checks the request's signature: verified by the
// Authenticator when there is one, else only present.
func (h *Handler) authenticate(r *http.Request, op string, body []byte) (context.Context, error) {
	if h.auth == nil {
		return r.Context(), auth.CheckPresence(r)
	}
	return h.auth.Authenticate(r, "kinesis:"+op, body)
}

// accessDenied answers as AWS does a request it cannot tell the
// operation of: 403 AccessDeniedException, in XML.
func accessDenied(w http.ResponseWriter) error {
	writeXMLError(w, http.StatusForbidden, kinesis.ErrAccessDenied, "Unable to determine service/operation name to be authorized")
	return errResponded
}

// writeJSON10Unknown answers as AWS's JSON 1.0 front door does a call
// naming no operation: 200, the error inside an Output envelope.
func writeJSON10Unknown(w http.ResponseWriter) {
	writeBody(w, contentTypeJSON, http.StatusOK,
		[]byte(`{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException","message":null},"Version":"1.0"}`))
}

// errResponded tells ServeHTTP that a stream operation has answered.
var errResponded = errors.New("response written")

func (h *Handler) tooLarge() error {
	return kinesis.Errorf(kinesis.ErrRequestEntityTooLarge, "Request body must not exceed %d bytes", h.maxBody)
}

// Messages of the request refusals of httplimit, which clients retry.
const (
	throttledMessage   = "Rate exceeded: the server holds as many request bytes as it allows; retry with backoff"
	bodyTimeoutMessage = "The request body was not received in time"
)

// readBody reads the whole request body, at most h.maxBody bytes. Its
// buffer grows with what arrives, never to a declared Content-Length: a
// client declaring 16 MiB and sending a byte a second costs a few bytes
// (httplimit.ReadAll). It relies on no HTTP/1 detail: Content-Length may
// be unknown (-1). Release the buffer when done with the body.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (*httplimit.Buffer, error) {
	if r.Body == nil {
		return &httplimit.Buffer{}, nil
	}
	buf, err := httplimit.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err == nil {
		return buf, nil
	}
	buf.Release()
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, h.tooLarge()
	case errors.Is(err, httplimit.ErrBusy):
		return nil, kinesis.Errorf(kinesis.ErrThrottling, "%s", throttledMessage)
	case errors.Is(err, httplimit.ErrBodyTimeout):
		return nil, kinesis.Errorf(kinesis.ErrRequestTimeout, "%s", bodyTimeoutMessage)
	}
	// The client stopped sending; whatever is answered goes nowhere.
	return nil, kinesis.Errorf(kinesis.ErrSerialization, "Could not read the request body")
}

// wellFormed reports whether body is a JSON object or a CBOR map, for
// the checks AWS makes before it authenticates; the operation's decoder
// checks the rest.
func wellFormed(c codec, body []byte) bool {
	if _, ok := c.(cborCodec); ok {
		// A map (major type 5), perhaps after the self-describe tag.
		m := bytes.TrimPrefix(body, []byte{0xd9, 0xd9, 0xf7})
		return cborDecMode.Wellformed(body) == nil && len(m) > 0 && m[0]>>5 == 5
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(body)
}

// setRequestIDs sets the ids AWS puts on every response: x-amzn-RequestId,
// a random UUID, and x-amz-id-2, 72 random bytes in base64 (AWS's decode
// to 64 to 80 bytes).
func setRequestIDs(hdr http.Header) {
	var b [16 + 72]byte
	_, _ = rand.Read(b[:])  // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	var id [36]byte
	hex.Encode(id[0:8], b[0:4])
	id[8] = '-'
	hex.Encode(id[9:13], b[4:6])
	id[13] = '-'
	hex.Encode(id[14:18], b[6:8])
	id[18] = '-'
	hex.Encode(id[19:23], b[8:10])
	id[23] = '-'
	hex.Encode(id[24:36], b[10:16])
	hdr.Set("X-Amzn-Requestid", string(id[:]))
	hdr.Set("X-Amz-Id-2", base64.StdEncoding.EncodeToString(b[16:]))
}

// buffer is a pooled byte slice for request and response bodies.
type buffer struct{ B []byte }

// maxPooledBuffer keeps the largest bodies (GetRecords answers of many
// MiB) from staying pinned in the pool.
const maxPooledBuffer = 4 << 20

var bufferPool = sync.Pool{New: func() any { return &buffer{B: make([]byte, 0, 64<<10)} }}

func getBuffer() *buffer { return bufferPool.Get().(*buffer) }

func putBuffer(b *buffer) {
	if cap(b.B) > maxPooledBuffer {
		return
	}
	b.B = b.B[:0]
	bufferPool.Put(b)
}

// largeBuffers keeps a few response buffers of the size of large
// GetRecords answers (MiBs) across garbage collections, which empty
// bufferPool: under a steady read load the pool was empty more often than
// not, and a buffer allocated afresh is cleared first, which cost the
// handler about as much as encoding the records into it.
type largeBuffers chan []byte

const (
	largeBuffer      = 1 << 20 // smallest buffer kept
	largeBuffersKept = 4       // at most 4 × maxPooledBuffer held idle
)

// get returns a buffer that holds size bytes: out if it does, else a kept
// one, else a new one.
func (l largeBuffers) get(out []byte, size int) []byte {
	if cap(out) >= size {
		return out
	}
	select {
	case b := <-l:
		if cap(b) >= size {
			return b
		}
	default:
	}
	return make([]byte, 0, size)
}

// put keeps b if it is large and there is room, and reports whether it did.
func (l largeBuffers) put(b []byte) bool {
	if cap(b) < largeBuffer || cap(b) > maxPooledBuffer {
		return false
	}
	select {
	case l <- b[:0]:
		return true
	default:
		return false
	}
}
