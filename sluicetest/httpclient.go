package sluicetest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// OwnBodies wraps an SDK HTTP client so that the transport reads a copy of
// each request body of its own. smithy-go closes a request's body once
// the response headers are in (transport/http/client.go), while net/http's
// HTTP/1.1 transport may still read it to check that nothing follows;
// that read fails and the transport closes the connection under the
// response: a SubscribeToShard feed ends moments after it began, or a
// GetRecords body is cut ("use of closed network connection"). AWSConfig's
// client is wrapped; wrap a client of your own the same way.
func OwnBodies(c aws.HTTPClient) aws.HTTPClient { return ownBodyClient{c} }

type ownBodyClient struct{ aws.HTTPClient }

func (c ownBodyClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return c.HTTPClient.Do(req)
}
