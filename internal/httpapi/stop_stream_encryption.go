package httpapi

import "context"

// StopStreamEncryption turns off server-side encryption of the records
// written from now on and answers with an empty body. Both EncryptionType
// (KMS) and KeyId are required, as on AWS; the KeyId must name a key of
// the keyring (KMSNotFoundException otherwise) but need not be the one in
// use. The stream goes UPDATING, then ACTIVE. Records written while
// encryption was on stay encrypted at rest and are read back decrypted,
// with EncryptionType KMS; later ones carry NONE.
//
// Deviations: as for StartStreamEncryption (a local keyring, the 25 per
// 24 hours limit only with --shard-limits aws, no lag before records are
// written in the clear).

func (h *Handler) stopStreamEncryption(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	return h.streamEncryption(ctx, c, body, out, h.svc.StopStreamEncryption)
}
