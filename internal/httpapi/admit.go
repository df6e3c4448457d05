package httpapi

import (
	"strings"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// streamMembers are the members that name a stream, in any operation's
// input; other members are ignored when decoding into it.
type streamMembers struct {
	StreamName  *string `json:"StreamName"`
	StreamARN   *string `json:"StreamARN"`
	ConsumerARN *string `json:"ConsumerARN"`
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
	return a.AdmitCall(op, func() kinesis.StreamRef {
		var in streamMembers
		if c.decode(body, &in) != nil {
			return kinesis.StreamRef{}
		}
		ref := kinesis.StreamRef{Name: deref(in.StreamName), ARN: deref(in.StreamARN)}
		if ref.Name == "" && ref.ARN == "" && in.ConsumerARN != nil {
			// arn:...:stream/NAME/consumer/CONSUMER:TIME
			ref.ARN, _, _ = strings.Cut(*in.ConsumerARN, "/consumer/")
		}
		return ref
	})
}
