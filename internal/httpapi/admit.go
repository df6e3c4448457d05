package httpapi

import (
	"strings"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// streamMembers are the members that name a stream, consumer or shard, in
// any operation's input; other members are ignored when decoding into it.
type streamMembers struct {
	StreamName  *string `json:"StreamName"`
	StreamARN   *string `json:"StreamARN"`
	ConsumerARN *string `json:"ConsumerARN"`
	ShardId     *string `json:"ShardId"`
}

// admit asks the service, when it limits call rates, to admit one call of
// op. The stream is decoded from the body only for per-stream limits, so
// data-plane bodies are never parsed twice. A body that does not decode
// names no stream; the operation itself then reports it.
func (h *Handler) admit(op string, c codec, body []byte) (done func(), err error) {
	a, ok := h.svc.(kinesis.CallAdmitter)
	if !ok {
		return func() {}, nil
	}
	return a.AdmitCall(op, func() kinesis.CallTarget {
		var in streamMembers
		if c.decode(body, &in) != nil {
			return kinesis.CallTarget{}
		}
		t := kinesis.CallTarget{
			Stream:      kinesis.StreamRef{Name: deref(in.StreamName), ARN: deref(in.StreamARN)},
			ConsumerARN: deref(in.ConsumerARN),
			ShardID:     deref(in.ShardId),
		}
		if t.Stream.Name == "" && t.Stream.ARN == "" && t.ConsumerARN != "" {
			// arn:...:stream/NAME/consumer/CONSUMER:TIME
			t.Stream.ARN, _, _ = strings.Cut(t.ConsumerARN, "/consumer/")
		}
		return t
	})
}
