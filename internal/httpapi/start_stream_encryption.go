package httpapi

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// StartStreamEncryption turns on server-side encryption of the records
// written from now on, under the key that KeyId names (a key id, key ARN,
// alias name or alias ARN of the server's keyring; alias/aws/kinesis
// always exists), and answers with an empty body. The stream goes
// UPDATING for the server's --update-stream-delay, then ACTIVE. Checked
// here: the model (EncryptionType in NONE|KMS, KeyId 1..2048). The
// service answers InvalidArgumentException for NONE (AWS's documentation
// says only KMS is valid), KMSNotFoundException for a key the keyring does
// not hold and ResourceInUseException for a stream not ACTIVE.
//
// Deviations: the keys are a local keyring, not AWS KMS (no key policies,
// grants or key states, so KMSDisabled, KMSAccessDenied, KMSOptInRequired
// and KMSThrottling never occur here); the 25 changes per stream in any
// 24 hours are counted only with --shard-limits aws; records written after
// the call returns are encrypted at once, where AWS may take up to 5
// seconds.

type streamEncryptionInput struct {
	StreamName     *string `json:"StreamName"`
	StreamARN      *string `json:"StreamARN"`
	EncryptionType *string `json:"EncryptionType"`
	KeyId          *string `json:"KeyId"`
}

var (
	encryptionTypeRule = &stringRule{enum: []string{kinesis.EncryptionNone, kinesis.EncryptionKMS}}
	keyIDRule          = &stringRule{min: 1, max: 2048}
)

func (h *Handler) startStreamEncryption(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	return h.streamEncryption(ctx, c, body, out, h.svc.StartStreamEncryption)
}

// streamEncryption serves both Start- and StopStreamEncryption, whose
// inputs are the same.
func (h *Handler) streamEncryption(ctx context.Context, c codec, body []byte, out func() []byte, call func(context.Context, kinesis.StreamRef, string, string) error) ([]byte, error) {
	var in streamEncryptionInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("encryptionType", in.EncryptionType, true, encryptionTypeRule)
	v.str("keyId", in.KeyId, true, keyIDRule)
	v.streamRefMembers(in.StreamName, in.StreamARN)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref, err := streamRef(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	if err := call(ctx, ref, *in.EncryptionType, *in.KeyId); err != nil {
		return nil, err
	}
	return out(), nil
}
