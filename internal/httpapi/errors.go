package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// internalFailureMessage is all a client learns of a failure inside the
// server; the details go to the log.
const internalFailureMessage = "Internal service failure."

// statusError is a client error answered with an HTTP status other than
// the one its code normally takes (AccessDenied for a non-POST is 403).
type statusError struct {
	err    *kinesis.Error
	status int
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// invalidArgument is shorthand for the most common semantic error.
func invalidArgument(format string, args ...any) *kinesis.Error {
	return kinesis.Errorf(kinesis.ErrInvalidArgument, format, args...)
}

// writeError answers a failed request. Errors carrying a kinesis code are
// shown to the client as they are; anything else is an internal failure,
// logged here and answered with a bare 500.
func (h *Handler) writeError(ctx context.Context, w http.ResponseWriter, c codec, op string, err error, buf []byte) {
	var kerr *kinesis.Error
	status := 0
	var se *statusError
	if errors.As(err, &se) {
		kerr, status = se.err, se.status
	} else if errors.Is(err, kinesis.ErrStorageFull) {
		// A store refusal for want of space, from any operation.
		kerr = kinesis.Errorf(kinesis.ErrServiceUnavailable, "%s", kinesis.StorageFullMessage)
	} else if !errors.As(err, &kerr) {
		if ctx.Err() != nil {
			// The client went away; nobody reads this answer.
			h.log.DebugContext(ctx, "request canceled", "op", op, "err", err)
		} else {
			h.log.ErrorContext(ctx, "internal failure", "op", op, "err", err)
		}
		kerr = &kinesis.Error{Code: kinesis.ErrInternalFailure, Message: internalFailureMessage}
	}
	if status == 0 {
		status = kerr.Code.HTTPStatus()
	}
	if kerr.Code == kinesis.ErrInternalFailure && kerr.Message != internalFailureMessage {
		// A service may return ErrInternalFailure with its own words: keep
		// them in the log, not on the wire.
		h.log.ErrorContext(ctx, "internal failure", "op", op, "err", kerr)
		kerr = &kinesis.Error{Code: kerr.Code, Message: internalFailureMessage}
	} else {
		h.log.DebugContext(ctx, "client error", "op", op, "code", kerr.Code, "message", redactAuthorization(kerr.Message))
	}
	w.Header().Set("X-Amzn-ErrorType", string(kerr.Code))
	writeBody(w, c.contentType(), status, c.encodeError(buf[:0], kerr.Code, kerr.Message))
}

// redactAuthorization cuts the Authorization header AWS's
// IncompleteSignatureException message quotes to its caller: a log is no
// place for a signature.
func redactAuthorization(msg string) string {
	if i := strings.Index(msg, "Authorization="); i >= 0 {
		return msg[:i] + "Authorization=(redacted)"
	}
	return msg
}

// writeBody sends a complete response. Content-Length is always set, also
// for empty bodies, as AWS does for operations without output.
func writeBody(w http.ResponseWriter, contentType string, status int, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if len(body) > 0 {
		_, _ = w.Write(body) // a failed write means the client is gone
	}
}

// writeXMLError answers in the XML AWS's front end uses for a request it
// cannot route at all (a method other than POST). The body has no
// Content-Type, as AWS sends it.
func writeXMLError(w http.ResponseWriter, status int, code kinesis.ErrorCode, msg string) {
	body := "<" + string(code) + ">\n  <Message>" + msg + "</Message>\n</" + string(code) + ">\n"
	hdr := w.Header()
	hdr["Content-Type"] = nil // no sniffed type either
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
