package sluicetest

import (
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sluicehq/sluice/internal/sdkhttp"
)

// OwnBodies wraps an SDK HTTP client so that the transport reads a copy of
// each request body of its own. smithy-go closes a request's body once
// the response headers are in, while net/http's HTTP/1.1 transport may
// still read it to check that nothing follows; that read fails and the
// transport closes the connection under the response: a SubscribeToShard
// feed ends moments after it began, or a GetRecords body is cut ("use of
// closed network connection"). AWSConfig's client is wrapped; wrap a
// client of your own the same way.
func OwnBodies(c aws.HTTPClient) aws.HTTPClient { return sdkhttp.OwnBodies(c, 0) }
