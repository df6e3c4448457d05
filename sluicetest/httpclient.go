package sluicetest

import (
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sluicehq/sluice/sdkhttp"
)

// OwnBodies wraps an SDK HTTP client so that the transport reads a copy of
// each request body of its own (sdkhttp.OwnBodies, every body): without
// it a SubscribeToShard feed may end moments after it began, or a
// GetRecords body be cut. AWSConfig's client is wrapped; wrap a client of
// your own the same way.
func OwnBodies(c aws.HTTPClient) aws.HTTPClient { return sdkhttp.OwnBodies(c, 0) }
