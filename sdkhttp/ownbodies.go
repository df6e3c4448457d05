// Package sdkhttp mends how aws-sdk-go-v2 and net/http share a request
// body. smithy-go closes a request's body as soon as the response headers
// are in (transport/http/client.go), while net/http's HTTP/1.1 transport may
// still read it to check that nothing follows; that read fails and the
// transport closes the connection under the response: a SubscribeToShard
// feed ends moments after it began, or a GetRecords body is cut ("use of
// closed network connection"). Public, on aws-sdk-go-v2 alone: the
// consumer package, the CLI and sluicetest use it, and so may a client of
// your own.
package sdkhttp

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// OwnBodies wraps c so that the transport reads a copy of each request
// body of its own: every body when max is 0, else those of a known length
// of at most max bytes (large PutRecords bodies, whose answers never
// stream, are not worth copying).
func OwnBodies(c aws.HTTPClient, max int64) aws.HTTPClient { return ownBodies{c, max} }

type ownBodies struct {
	aws.HTTPClient
	max int64
}

func (c ownBodies) Do(req *http.Request) (*http.Response, error) {
	small := c.max == 0 || (req.ContentLength > 0 && req.ContentLength <= c.max)
	if req.Body != nil && req.Body != http.NoBody && small {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return c.HTTPClient.Do(req)
}
