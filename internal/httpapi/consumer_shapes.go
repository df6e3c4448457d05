package httpapi

import (
	"regexp"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Shapes of the stream consumer operations.

var consumerARNRegexp = regexp.MustCompile(`^arn:aws` + javaDot + `*:kinesis:` + javaDot + `*:[0-9]{12}:` + javaDot + `*stream/[a-zA-Z0-9_.-]+/consumer/[a-zA-Z0-9_.-]+:[0-9]+$`)

var (
	consumerNameRule = &stringRule{min: 1, max: 128, pattern: `[a-zA-Z0-9_.-]+`, match: isNameChars}
	consumerARNRule  = &stringRule{min: 1, max: 2048, pattern: `^(arn):aws.*:kinesis:.*:\d{12}:.*stream\/[a-zA-Z0-9_.-]+\/consumer\/[a-zA-Z0-9_.-]+:[0-9]+`, match: consumerARNRegexp.MatchString}
)

// wireConsumer is Consumer, as RegisterStreamConsumer and
// ListStreamConsumers return it.
type wireConsumer struct {
	ConsumerName              string    `json:"ConsumerName"`
	ConsumerARN               string    `json:"ConsumerARN"`
	ConsumerStatus            string    `json:"ConsumerStatus"`
	ConsumerCreationTimestamp Timestamp `json:"ConsumerCreationTimestamp"`
}

// wireConsumerDescription is ConsumerDescription: a Consumer and its
// stream's ARN.
type wireConsumerDescription struct {
	ConsumerName              string    `json:"ConsumerName"`
	ConsumerARN               string    `json:"ConsumerARN"`
	ConsumerStatus            string    `json:"ConsumerStatus"`
	ConsumerCreationTimestamp Timestamp `json:"ConsumerCreationTimestamp"`
	StreamARN                 string    `json:"StreamARN"`
}

func toWireConsumer(d kinesis.ConsumerDescription) wireConsumer {
	return wireConsumer{
		ConsumerName:              d.Name,
		ConsumerARN:               d.ARN,
		ConsumerStatus:            string(d.Status),
		ConsumerCreationTimestamp: Timestamp{d.CreatedAt},
	}
}

// consumerRefMembers validates the ConsumerARN, StreamARN and ConsumerName
// members of Deregister- and DescribeStreamConsumer, all optional in the
// model, and builds the reference. Which combinations name a consumer is
// the service's to judge.
func (v *validator) consumerRefMembers(arn, streamARN, name *string) kinesis.ConsumerRef {
	v.str("streamARN", streamARN, false, streamARNRule)
	v.str("consumerName", name, false, consumerNameRule)
	v.str("consumerARN", arn, false, consumerARNRule)
	return kinesis.ConsumerRef{ARN: deref(arn), StreamARN: deref(streamARN), Name: deref(name)}
}
