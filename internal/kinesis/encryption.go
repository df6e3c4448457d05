package kinesis

import (
	"context"
	"time"
)

// Encryption types of streams and records.
const (
	EncryptionNone = "NONE"
	EncryptionKMS  = "KMS"
)

// DataKey is one data key of a stream, as its metadata stores it: wrapped
// (encrypted) under a keyring key, never in the clear.
type DataKey struct {
	// ID numbers the stream's data keys from 1; stored messages name the
	// data key that encrypted them by it.
	ID uint32 `json:"id"`
	// MasterKeyID is the id (UUID) of the keyring key that wraps it.
	MasterKeyID string `json:"masterKeyId"`
	// Wrapped is the data key encrypted under the master key.
	Wrapped   []byte    `json:"wrapped"`
	CreatedAt time.Time `json:"createdAt"`
}

// EncryptionService is the part of Service that turns server-side
// encryption of a stream's records on and off. Both set the stream
// UPDATING for a while, as AWS does. Errors: ResourceNotFoundException for
// a stream that does not exist, ResourceInUseException for a stream not
// ACTIVE, InvalidArgumentException for an EncryptionType other than KMS,
// KMSNotFoundException for a KeyId the keyring does not hold.
type EncryptionService interface {
	StartStreamEncryption(ctx context.Context, ref StreamRef, encryptionType, keyID string) error
	StopStreamEncryption(ctx context.Context, ref StreamRef, encryptionType, keyID string) error
}
