package consumer

import (
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicehq/sluice/sdkhttp"
)

// ownRequestBody is a SubscribeToShard option that gives the HTTP
// transport a copy of the request body it can read on its own
// (sdkhttp.OwnBodies): without it a subscription could end moments after
// it began ("decode event: ... use of closed network connection").
func ownRequestBody(o *kinesis.Options) {
	if o.HTTPClient != nil {
		o.HTTPClient = sdkhttp.OwnBodies(o.HTTPClient, 0)
	}
}
