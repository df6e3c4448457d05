package httpapi

import (
	"net/http"
	"strconv"
)

// CORS, as AWS answers browsers that call Kinesis from a web page (the
// JavaScript SDK): a request with an Origin gets
// Access-Control-Allow-Origin: * and the response headers a script may
// read; a preflight (OPTIONS with an Origin) is answered 200 at once,
// allowing the method and headers it asks for, for 48 hours. Requests
// without an Origin get no CORS headers; an OPTIONS without one is an
// ordinary refused method.

// exposedHeaders are the response headers a page's script may read.
const exposedHeaders = "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date"

// preflightMaxAge is how long a browser may cache a preflight's answer.
const preflightMaxAge = 172800 // seconds: 48 hours

// answerCORS sets the CORS headers of a request with an Origin. It
// reports true when it has answered the request (a preflight).
func answerCORS(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Origin") == "" {
		return false
	}
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", "*")
	if r.Method != http.MethodOptions {
		hdr.Set("Access-Control-Expose-Headers", exposedHeaders)
		return false
	}
	if h := r.Header.Get("Access-Control-Request-Headers"); h != "" {
		hdr.Set("Access-Control-Allow-Headers", h)
	}
	if m := r.Header.Get("Access-Control-Request-Method"); m != "" {
		hdr.Set("Access-Control-Allow-Methods", m)
	}
	hdr.Set("Access-Control-Max-Age", strconv.Itoa(preflightMaxAge))
	hdr.Del("X-Amz-Id-2") // AWS sends none on a preflight
	hdr.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return true
}
