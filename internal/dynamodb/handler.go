package dynamodb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/crc32"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"crypto/rand"
	"encoding/base32"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/httplimit"
	"github.com/sluicehq/sluice/internal/kinesis"
)

// TargetPrefix starts the X-Amz-Target of every DynamoDB request.
const TargetPrefix = "DynamoDB_20120810."

// maxBody is DynamoDB's request size limit.
const maxBody = 16 << 20

// Store is the key-value store tables and items live in: compare-and-swap
// writes on a per-key revision. kinesis.MetaStore implementations (a
// JetStream KV bucket) have this shape.
type Store interface {
	// Get returns the value and revision of key. kinesis.ErrKeyNotFound if
	// absent.
	Get(ctx context.Context, key string) (kinesis.MetaEntry, error)
	// Create stores key only if absent. kinesis.ErrKeyExists otherwise.
	Create(ctx context.Context, key string, value []byte) (uint64, error)
	// Update stores key only if its revision is rev.
	// kinesis.ErrRevisionMismatch otherwise.
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	// Delete removes key only if its revision is rev.
	// kinesis.ErrRevisionMismatch otherwise.
	Delete(ctx context.Context, key string, rev uint64) error
	// List returns every live entry whose key starts with prefix.
	List(ctx context.Context, prefix string) ([]kinesis.MetaEntry, error)
}

// Options configures a Handler.
type Options struct {
	// Region and Account appear in table ARNs. Defaults us-east-1 and
	// 000000000000.
	Region, Account string
	// CreateDelay is how long a new table stays CREATING. Default 0: it
	// is ACTIVE from the first DescribeTable on.
	CreateDelay time.Duration
	// Logger receives internal errors. Nil discards.
	Logger *slog.Logger
	// Auth authenticates and authorizes requests. Nil checks only that
	// a signature is present, as emulators do, and allows everything.
	Auth Guard
}

// Guard verifies a request's signature once its body is read, returning
// the context (carrying the caller) the operation runs in, and decides
// whether the caller may take an action (dynamodb:<Operation>) on a
// resource (a table ARN, or "*"). Errors are *kinesis.Error.
type Guard interface {
	Authenticate(r *http.Request, action string, body []byte) (context.Context, error)
	Authorize(ctx context.Context, action, resource, resourcePolicy string) error
}

// Handler answers DynamoDB API requests (JSON 1.0) from a Store.
type Handler struct {
	store Store
	opts  Options
	log   *slog.Logger
	now   func() time.Time
}

// New returns a handler over store.
func New(store Store, opts Options) *Handler {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Account == "" {
		opts.Account = "000000000000"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{store: store, opts: opts, log: log, now: time.Now}
}

type operation func(h *Handler, ctx context.Context, body []byte) (any, error)

var operations = map[string]operation{
	"CreateTable":               (*Handler).createTable,
	"DescribeTable":             (*Handler).describeTable,
	"UpdateTable":               (*Handler).updateTable,
	"DeleteTable":               (*Handler).deleteTable,
	"ListTables":                (*Handler).listTables,
	"DescribeTimeToLive":        (*Handler).describeTimeToLive,
	"UpdateTimeToLive":          (*Handler).updateTimeToLive,
	"DescribeContinuousBackups": (*Handler).describeContinuousBackups,
	"UpdateContinuousBackups":   (*Handler).updateContinuousBackups,
	"GetItem":                   (*Handler).getItem,
	"PutItem":                   (*Handler).putItem,
	"UpdateItem":                (*Handler).updateItem,
	"DeleteItem":                (*Handler).deleteItem,
	"Scan":                      (*Handler).scan,
	"Query":                     (*Handler).query,
	"BatchGetItem":              (*Handler).batchGetItem,
	"BatchWriteItem":            (*Handler).batchWriteItem,
	"TransactGetItems":          (*Handler).transactGetItems,
	"TransactWriteItems":        (*Handler).transactWriteItems,
}

// ServeHTTP answers one request. Checks run in DynamoDB's order: method
// and Content-Type, X-Amz-Target, the body (size, then JSON), the
// signature, authorization, then the operation (decoding, validation,
// the store).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-Requestid", requestID())
	out, err := h.serve(r)
	if err != nil {
		h.writeError(r, w, err)
		return
	}
	body, err := json.Marshal(out)
	if err != nil {
		h.writeError(r, w, err)
		return
	}
	write(w, http.StatusOK, body)
}

func (h *Handler) serve(r *http.Request) (any, error) {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	ct = strings.TrimSpace(ct)
	if r.Method != http.MethodPost || (ct != "application/x-amz-json-1.0" && ct != "application/json") {
		return nil, serviceError("UnknownOperationException", "")
	}
	name := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	op, ok := operations[name]
	if !ok || !strings.HasPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix) {
		return nil, serviceError("UnknownOperationException", "")
	}
	if r.ContentLength > maxBody {
		return nil, &apiError{typ: prefixService + "RequestEntityTooLarge", msg: "Request body is too large", status: http.StatusRequestEntityTooLarge}
	}
	// The buffer grows with what arrives, never to the declared length.
	buf, err := httplimit.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	defer buf.Release()
	body := buf.B
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, &apiError{typ: prefixService + "RequestEntityTooLarge", msg: "Request body is too large", status: http.StatusRequestEntityTooLarge}
		case errors.Is(err, httplimit.ErrBusy):
			return nil, throttlingError()
		case errors.Is(err, httplimit.ErrBodyTimeout):
			return nil, &apiError{typ: prefixService + "RequestTimeoutException", msg: "The request body was not received in time", status: http.StatusRequestTimeout}
		}
		return nil, serializationError()
	}
	if len(bytes.TrimSpace(body)) == 0 || !json.Valid(body) || bytes.TrimSpace(body)[0] != '{' {
		return nil, serializationError()
	}
	ctx, err := h.authenticate(r, name, body)
	if err != nil {
		return nil, err
	}
	if h.opts.Auth != nil {
		for _, resource := range h.resources(body) {
			if err := h.opts.Auth.Authorize(ctx, "dynamodb:"+name, resource, ""); err != nil {
				return nil, fromAuthError(err)
			}
		}
	}
	return op(h, ctx, body)
}

// resources are the ARNs an operation is authorized on: its table's (its
// index's, table/T/index/I, for a Query or Scan of an index, as
// DynamoDB does), the tables of a batch or a transaction, or "*" when it
// names none (ListTables), which only a policy allowing the action on
// every resource allows.
func (h *Handler) resources(body []byte) []string {
	var in struct {
		TableName     string
		IndexName     string
		RequestItems  map[string]json.RawMessage
		TransactItems []map[string]struct{ TableName string }
	}
	_ = json.Unmarshal(body, &in) // a body that does not decode names no table
	var names []string
	switch {
	case in.TableName != "" && in.IndexName != "":
		names = append(names, in.TableName+"/index/"+in.IndexName)
	case in.TableName != "":
		names = append(names, in.TableName)
	}
	for t := range in.RequestItems {
		names = append(names, t)
	}
	for _, item := range in.TransactItems {
		for _, op := range item {
			names = append(names, op.TableName)
		}
	}
	if len(names) == 0 {
		return []string{"*"}
	}
	arns := make([]string, 0, len(names))
	for _, n := range names {
		if strings.HasPrefix(n, "arn:") {
			arns = append(arns, n)
		} else {
			arns = append(arns, "arn:aws:dynamodb:"+h.opts.Region+":"+h.opts.Account+":table/"+n)
		}
	}
	slices.Sort(arns)
	return slices.Compact(arns)
}

// authenticate checks the request's signature: verified by the Guard when
// there is one, else only present. DynamoDB, unlike Kinesis, takes an
// Authorization header of another scheme as missing.
func (h *Handler) authenticate(r *http.Request, op string, body []byte) (context.Context, error) {
	if a := r.Header.Get("Authorization"); a != "" && !strings.HasPrefix(strings.TrimSpace(a), "AWS4-") {
		if _, hasQuery := r.URL.Query()["X-Amz-Algorithm"]; !hasQuery {
			return nil, serviceError("MissingAuthenticationTokenException", "Request is missing Authentication Token")
		}
	}
	if h.opts.Auth == nil {
		return r.Context(), fromAuthError(auth.CheckPresence(r))
	}
	ctx, err := h.opts.Auth.Authenticate(r, "dynamodb:"+op, body)
	return ctx, fromAuthError(err)
}

// fromAuthError turns an authentication or authorization error into
// DynamoDB's shape: the front end's exceptions, in its words.
func fromAuthError(err error) error {
	var ke *kinesis.Error
	if !errors.As(err, &ke) {
		return err
	}
	if ke.Code == kinesis.ErrMissingAuthToken {
		return serviceError("MissingAuthenticationTokenException", "Request is missing Authentication Token")
	}
	return serviceError(string(ke.Code), ke.Message)
}

func (h *Handler) writeError(r *http.Request, w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.Is(err, kinesis.ErrStorageFull) {
		ae = serviceUnavailable(kinesis.StorageFullMessage)
	} else if !errors.As(err, &ae) {
		h.log.Error("dynamodb request failed", "target", r.Header.Get("X-Amz-Target"), "err", err)
		ae = internalError()
	}
	// The short code, as the Kinesis handler sends it; for metrics and logs
	// in front of the handler.
	w.Header().Set("X-Amzn-ErrorType", ae.typ[strings.LastIndexByte(ae.typ, '#')+1:])
	var b bytes.Buffer
	b.WriteString(`{"__type":`)
	writeJSONString(&b, ae.typ)
	if ae.msg != "" {
		if ae.reasons != nil {
			b.WriteString(`,"Message":`)
		} else {
			b.WriteString(`,"message":`)
		}
		writeJSONString(&b, ae.msg)
	}
	if ae.item != nil {
		b.WriteString(`,"Item":`)
		appendMapJSON(&b, ae.item)
	}
	if ae.reasons != nil {
		b.WriteString(`,"CancellationReasons":`)
		enc, err := json.Marshal(ae.reasons)
		if err != nil {
			enc = []byte("[]")
		}
		b.Write(enc)
	}
	b.WriteByte('}')
	write(w, ae.status, b.Bytes())
}

// write sends a JSON 1.0 body with the CRC32 DynamoDB sends (and the Go
// SDK checks).
func write(w http.ResponseWriter, status int, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", "application/x-amz-json-1.0")
	hd.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func requestID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])[:52]
}

// decode reads a request body into v; a member of the wrong JSON type is a
// SerializationException, as with DynamoDB.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return serializationError()
	}
	return nil
}
