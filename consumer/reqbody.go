package consumer

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// ownRequestBody is a SubscribeToShard option that gives the HTTP
// transport a copy of the request body it can read on its own. smithy-go
// closes a request's body once the response headers are in
// (transport/http/client.go), while net/http's HTTP/1.1 transport may
// still read it to check that nothing follows; that read fails and the
// transport closes the connection under the response, which ends a
// subscription moments after it began ("decode event: ... use of closed
// network connection").
func ownRequestBody(o *kinesis.Options) {
	if o.HTTPClient != nil {
		o.HTTPClient = ownBodyClient{o.HTTPClient}
	}
}

type ownBodyClient struct{ kinesis.HTTPClient }

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
