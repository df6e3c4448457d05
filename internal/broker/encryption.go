package broker

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/keyring"
	"github.com/sluicehq/sluice/internal/kinesis"
)

// Encryption at rest. StartStreamEncryption makes a random 256-bit data
// key for the stream, wraps it (AES-256-GCM) under the keyring key that
// the KeyId names and appends the wrapped key to the stream's metadata.
// From then on every message appended for the stream is sealed with the
// newest data key:
//
//	byte      version (2)
//	byte      flags (reserved, 0)
//	int64     arrival time, Unix milliseconds, big-endian
//	uint32    data key id, big-endian (kinesis.DataKey.ID)
//	[12]byte  nonce, random
//	...       AES-256-GCM(uvarint record count | records as in batch.go), 16-byte tag
//
// A stream-log message (logmsg.go) is sealed the same way with version 4,
// its body being the section table and the records.
//
// The additional authenticated data binds the message to its place: the
// stream's id (unique per incarnation of a name), the log's epoch (unique
// across all logs and shards ever) and the 26 header bytes before the
// ciphertext. A message copied into another log or stream, or with its
// arrival time, version or key id changed, fails to open. The message sequence is
// assigned by the log after sealing, so it is not bound (see
// docs/ARCHITECTURE.md). StopStreamEncryption only stops sealing new
// messages; old data keys stay, so records written under them stay
// readable, and reads of logs that mix sealed and plain messages work
// message by message.

// Keyring holds the master keys that KMS KeyIds name; *keyring.Keyring
// implements it.
type Keyring interface {
	// Lookup returns the id of the key named by a key id or an alias name;
	// an error wrapping keyring.ErrNotFound when there is none.
	Lookup(name string) (id string, err error)
	// Wrap encrypts plaintext under key id, binding aad.
	Wrap(id string, plaintext, aad []byte) ([]byte, error)
	// Unwrap opens what Wrap returned; errors wrap keyring.ErrNotFound or
	// keyring.ErrInvalid.
	Unwrap(id string, wrapped, aad []byte) ([]byte, error)
}

const (
	batchVersionSealed = 2
	nonceSize          = 12
	// sealedHeaderSize is the sealed message's header: version, flags,
	// arrival, key id and nonce.
	sealedHeaderSize = 2 + 8 + 4 + nonceSize
)

// dataCipher seals and opens one stream's messages under one data key.
type dataCipher struct {
	aead     cipher.AEAD
	keyID    uint32
	streamID string
}

// StartStreamEncryption turns on encryption of new records under a new
// data key wrapped by the key keyID names.
func (b *Broker) StartStreamEncryption(ctx context.Context, ref kinesis.StreamRef, encryptionType, keyID string) error {
	name, masterID, err := b.checkEncryptionRequest(ref, encryptionType, keyID, "StartStreamEncryption")
	if err != nil {
		return err
	}
	dataKey := make([]byte, 32)
	rand.Read(dataKey)
	_, err = b.update(ctx, name, func(s *kinesis.Stream) error {
		if err := b.requireActive(s); err != nil {
			return err
		}
		id := uint32(len(s.DataKeys) + 1)
		wrapped, err := b.cfg.Keyring.Wrap(masterID, dataKey, dataKeyAAD(s.ID, id))
		if err != nil {
			return fmt.Errorf("wrap data key of %s: %w", s.Name, err)
		}
		now := b.cfg.Now()
		s.DataKeys = append(s.DataKeys, kinesis.DataKey{ID: id, MasterKeyID: masterID, Wrapped: wrapped, CreatedAt: now})
		s.EncryptionType, s.KeyID = kinesis.EncryptionKMS, keyID
		b.startUpdating(s, now)
		return nil
	})
	return err
}

// StopStreamEncryption turns off encryption of new records. Records
// written while it was on stay encrypted and readable.
func (b *Broker) StopStreamEncryption(ctx context.Context, ref kinesis.StreamRef, encryptionType, keyID string) error {
	name, _, err := b.checkEncryptionRequest(ref, encryptionType, keyID, "StopStreamEncryption")
	if err != nil {
		return err
	}
	_, err = b.update(ctx, name, func(s *kinesis.Stream) error {
		if err := b.requireActive(s); err != nil {
			return err
		}
		s.EncryptionType, s.KeyID = "", ""
		b.startUpdating(s, b.cfg.Now())
		return nil
	})
	return err
}

// startUpdating makes the stream UPDATING for Config.UpdateDelay.
func (b *Broker) startUpdating(s *kinesis.Stream, now time.Time) {
	if b.cfg.UpdateDelay > 0 {
		s.UpdatingUntil = now.Add(b.cfg.UpdateDelay)
	}
}

// checkEncryptionRequest resolves the stream and the key of a Start- or
// StopStreamEncryption request.
func (b *Broker) checkEncryptionRequest(ref kinesis.StreamRef, encryptionType, keyID, op string) (name, masterID string, err error) {
	name, err = b.resolve(ref)
	if err != nil {
		return "", "", err
	}
	if encryptionType != kinesis.EncryptionKMS {
		return "", "", kinesis.Errorf(kinesis.ErrInvalidArgument, "EncryptionType %s is not valid for %s: the only valid value is KMS.", encryptionType, op)
	}
	masterID, err = b.resolveKey(keyID)
	if err != nil {
		return "", "", err
	}
	return name, masterID, nil
}

// resolveKey returns the keyring id of the key a KMS KeyId names, or
// KMSNotFoundException in the words KMS uses.
func (b *Broker) resolveKey(keyID string) (string, error) {
	ref, ok := keyring.ParseKeyID(keyID)
	if !ok {
		return "", kinesis.Errorf(kinesis.ErrKMSNotFound, "Invalid keyId '%s'", keyID)
	}
	notFound := func() error {
		if strings.HasPrefix(ref.Name, "alias/") {
			return kinesis.Errorf(kinesis.ErrKMSNotFound, "Alias %s is not found.", b.kmsARN(ref))
		}
		return kinesis.Errorf(kinesis.ErrKMSNotFound, "Key '%s' does not exist", b.kmsARN(ref))
	}
	if ref.Region != "" && (ref.Region != b.cfg.Region || ref.Account != b.cfg.AccountID) {
		return "", notFound() // another region's or account's key
	}
	id, err := b.cfg.Keyring.Lookup(ref.Name)
	if errors.Is(err, keyring.ErrNotFound) {
		return "", notFound()
	}
	if err != nil {
		return "", fmt.Errorf("look up key %s: %w", keyID, err)
	}
	return id, nil
}

// kmsARN is the ARN of a key or alias, as KMS names them in messages.
func (b *Broker) kmsARN(ref keyring.KeyRef) string {
	region, account := ref.Region, ref.Account
	if region == "" {
		region, account = b.cfg.Region, b.cfg.AccountID
	}
	res := ref.Name
	if !strings.HasPrefix(res, "alias/") {
		res = "key/" + res
	}
	return "arn:aws:kms:" + region + ":" + account + ":" + res
}

// dataKeyAAD binds a wrapped data key to its stream and id, so that it
// cannot be moved to another stream's metadata.
func dataKeyAAD(streamID string, id uint32) []byte {
	return []byte("sluice data key\x00" + streamID + "\x00" + strconv.FormatUint(uint64(id), 10))
}

// writeCipher returns the cipher that seals the stream's new messages, nil
// when the stream is not encrypted.
func (b *Broker) writeCipher(ctx context.Context, s *kinesis.Stream) (*dataCipher, error) {
	if s.EncryptionType != kinesis.EncryptionKMS || len(s.DataKeys) == 0 {
		return nil, nil
	}
	return b.dataCipher(ctx, s, s.DataKeys[len(s.DataKeys)-1].ID)
}

// dataCipher returns the cipher of the stream's data key id, unwrapping
// the key on first use. A key missing from s (a cached descriptor older
// than the message) is looked for in the stored descriptor.
func (b *Broker) dataCipher(ctx context.Context, s *kinesis.Stream, id uint32) (*dataCipher, error) {
	cacheKey := s.ID + "/" + strconv.FormatUint(uint64(id), 10)
	if c, ok := b.ciphers.Load(cacheKey); ok {
		return c.(*dataCipher), nil
	}
	dk, ok := findDataKey(s, id)
	if !ok {
		fresh, _, err := b.loadStream(ctx, s.Name)
		if err != nil {
			return nil, err
		}
		if fresh.ID == s.ID {
			dk, ok = findDataKey(fresh, id)
		}
		if !ok {
			return nil, fmt.Errorf("stream %s has no data key %d", s.Name, id)
		}
	}
	key, err := b.cfg.Keyring.Unwrap(dk.MasterKeyID, dk.Wrapped, dataKeyAAD(s.ID, id))
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		return nil, kinesis.Errorf(kinesis.ErrKMSNotFound, "Key '%s' does not exist: the keyring of this server does not hold the key that encrypts stream %s under account %s.",
			b.kmsARN(keyring.KeyRef{Name: dk.MasterKeyID}), s.Name, b.cfg.AccountID)
	case errors.Is(err, keyring.ErrInvalid):
		return nil, kinesis.Errorf(kinesis.ErrKMSInvalidState, "The data key of stream %s under account %s does not decrypt under key '%s'.",
			s.Name, b.cfg.AccountID, b.kmsARN(keyring.KeyRef{Name: dk.MasterKeyID}))
	case err != nil:
		return nil, fmt.Errorf("unwrap data key %d of %s: %w", id, s.Name, err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("data key %d of %s: %w", id, s.Name, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("data key %d of %s: %w", id, s.Name, err)
	}
	c := &dataCipher{aead: aead, keyID: id, streamID: s.ID}
	actual, _ := b.ciphers.LoadOrStore(cacheKey, c)
	return actual.(*dataCipher), nil
}

func findDataKey(s *kinesis.Stream, id uint32) (kinesis.DataKey, bool) {
	for _, dk := range s.DataKeys {
		if dk.ID == id {
			return dk, true
		}
	}
	return kinesis.DataKey{}, false
}

// encryptionType is the EncryptionType of records sealed by c: NONE ("")
// for a nil cipher.
func (c *dataCipher) encryptionType() string {
	if c == nil {
		return ""
	}
	return kinesis.EncryptionKMS
}

// appendSealedHeader starts a sealed message arriving at t; the body
// (count and records) follows, then seal.
func (c *dataCipher) appendSealedHeader(b []byte, t time.Time) []byte {
	return c.appendHeader(b, batchVersionSealed, t)
}

// appendSealedLogHeader starts a sealed stream-log message arriving at t;
// the body (section table and records, logmsg.go) follows, then seal.
func (c *dataCipher) appendSealedLogHeader(b []byte, t time.Time) []byte {
	return c.appendHeader(b, logMsgVersionSealed, t)
}

func (c *dataCipher) appendHeader(b []byte, version byte, t time.Time) []byte {
	b = append(b, version, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(t.UnixMilli()))
	b = binary.BigEndian.AppendUint32(b, c.keyID)
	var nonce [nonceSize]byte
	rand.Read(nonce[:])
	return append(b, nonce[:]...)
}

// seal encrypts in place the body of msg, a sealed header followed by the
// plaintext body, for the log of epoch (a shard's own, or a stream log).
func (c *dataCipher) seal(msg []byte, epoch uint64) []byte {
	msg = slices.Grow(msg, c.aead.Overhead())
	hdr, body := msg[:sealedHeaderSize], msg[sealedHeaderSize:]
	sealed := c.aead.Seal(body[:0], hdr[sealedHeaderSize-nonceSize:], body, messageAAD(c.streamID, epoch, hdr))
	return msg[:sealedHeaderSize+len(sealed)]
}

// messageAAD is what a sealed message's tag authenticates beside its body.
func messageAAD(streamID string, epoch uint64, hdr []byte) []byte {
	aad := make([]byte, 0, 32+len(streamID)+sealedHeaderSize)
	aad = append(aad, "sluice message\x00"...)
	aad = append(aad, streamID...)
	aad = append(aad, 0)
	aad = binary.BigEndian.AppendUint64(aad, epoch)
	return append(aad, hdr...)
}

// openBatch returns a reader over the records of a stored message of the
// shard's own log of epoch, decrypting a sealed message in place (the
// caller owns msg). sealed reports whether it was.
func (b *Broker) openBatch(ctx context.Context, s *kinesis.Stream, epoch uint64, msg []byte) (br batchReader, sealed bool, err error) {
	if len(msg) == 0 || msg[0] != batchVersionSealed {
		br, err = newBatchReader(msg)
		return br, false, err
	}
	arrival, plain, err := b.openSealed(ctx, s, epoch, msg)
	if err != nil {
		return batchReader{}, true, err
	}
	count, n := binary.Uvarint(plain)
	if n <= 0 || count > uint64(len(plain)) {
		return batchReader{}, true, errBadBatch
	}
	return batchReader{arrival: arrival, count: int(count), buf: plain[n:]}, true, nil
}

// openLogMsg returns the arrival time and plaintext body of a stored
// message of the stream log of epoch, decrypting a sealed one in place.
func (b *Broker) openLogMsg(ctx context.Context, s *kinesis.Stream, epoch uint64, msg []byte) (arrival time.Time, body []byte, sealed bool, err error) {
	switch {
	case len(msg) >= logHeaderSize && msg[0] == logMsgVersion:
		return time.UnixMilli(int64(binary.BigEndian.Uint64(msg[2:10]))), msg[logHeaderSize:], false, nil
	case len(msg) > 0 && msg[0] == logMsgVersionSealed:
		arrival, body, err = b.openSealed(ctx, s, epoch, msg)
		return arrival, body, true, err
	}
	return time.Time{}, nil, false, errBadBatch
}

// openSealed decrypts in place the body of a sealed message (version 2 or
// 4) of the log of epoch.
func (b *Broker) openSealed(ctx context.Context, s *kinesis.Stream, epoch uint64, msg []byte) (time.Time, []byte, error) {
	if len(msg) < sealedHeaderSize {
		return time.Time{}, nil, errBadBatch
	}
	c, err := b.dataCipher(ctx, s, binary.BigEndian.Uint32(msg[10:14]))
	if err != nil {
		return time.Time{}, nil, err
	}
	hdr, body := msg[:sealedHeaderSize], msg[sealedHeaderSize:]
	plain, err := c.aead.Open(body[:0], hdr[sealedHeaderSize-nonceSize:], body, messageAAD(s.ID, epoch, hdr))
	if err != nil {
		return time.Time{}, nil, kinesis.Errorf(kinesis.ErrKMSInvalidState, "A stored message of stream %s under account %s failed authentication with its data key.", s.Name, b.cfg.AccountID)
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(msg[2:10]))), plain, nil
}
