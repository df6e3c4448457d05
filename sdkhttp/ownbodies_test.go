package sdkhttp

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// recorder answers every request with the body the transport would read.
type recorder struct{ got []byte }

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.got, _ = io.ReadAll(req.Body)
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

// TestOwnBodies: a body within the bound reaches the transport as a copy
// that outlives the caller closing its own; a larger one passes as it is.
func TestOwnBodies(t *testing.T) {
	for _, tc := range []struct {
		max    int64
		body   string
		copied bool
	}{{0, "any size", true}, {16, "small", true}, {4, "too large", false}} {
		var rec recorder
		orig := io.NopCloser(strings.NewReader(tc.body))
		req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", orig)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(len(tc.body))
		if _, err := OwnBodies(&rec, tc.max).Do(req); err != nil {
			t.Fatal(err)
		}
		if string(rec.got) != tc.body {
			t.Errorf("max %d: transport read %q, want %q", tc.max, rec.got, tc.body)
		}
		if copied := req.Body != orig; copied != tc.copied {
			t.Errorf("max %d, %d bytes: copied %v, want %v", tc.max, len(tc.body), copied, tc.copied)
		}
		if tc.copied {
			b, err := req.GetBody()
			if got, _ := io.ReadAll(b); err != nil || string(got) != tc.body {
				t.Errorf("max %d: GetBody gives %q, %v", tc.max, got, err)
			}
		}
	}
}
