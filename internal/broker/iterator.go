package broker

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// iteratorToken is the state a shard iterator carries. Iterators are
// stateless: the server keeps nothing per iterator, so any server process
// sharing the secret can continue any iterator.
type iteratorToken struct {
	StreamName string
	StreamID   string
	Epoch      uint64 // the shard
	Log        uint64 // epoch of the log holding the next record
	MsgSeq     uint64 // next message to read
	Index      uint16 // first record of the shard's in that message to return
	// NotBefore skips records that arrived before it (Unix ms; 0 = none):
	// AT_TIMESTAMP iterators carry it until a record at or after it is seen.
	NotBefore int64
	IssuedAt  time.Time
}

// Token layout, then base64 (standard alphabet, like AWS's):
//
//	version 2 | issued ms int64 | uvarints: epoch, log, msgSeq, index, notBefore |
//	uvarint len | stream id | uvarint len | stream name | HMAC-SHA256[:16]
//
// Version 1, of servers before stream logs, had no log: every shard read
// its own, named by its epoch.
const (
	tokenVersion   = 2
	tokenVersionV1 = 1
	tokenMACSize   = 16
)

var errBadToken = errors.New("invalid token")

// tokenCodec signs and verifies iterator and pagination tokens.
type tokenCodec struct{ secret []byte }

func (c tokenCodec) encodeIterator(t iteratorToken) string {
	b := make([]byte, 0, 64+len(t.StreamName)+len(t.StreamID))
	b = append(b, tokenVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(t.IssuedAt.UnixMilli()))
	b = binary.AppendUvarint(b, t.Epoch)
	b = binary.AppendUvarint(b, t.Log)
	b = binary.AppendUvarint(b, t.MsgSeq)
	b = binary.AppendUvarint(b, uint64(t.Index))
	b = binary.AppendUvarint(b, uint64(t.NotBefore))
	b = appendString(b, t.StreamID)
	b = appendString(b, t.StreamName)
	return base64.StdEncoding.EncodeToString(c.sign(b))
}

func (c tokenCodec) decodeIterator(s string) (iteratorToken, error) {
	b, err := c.open(s)
	if err != nil {
		return iteratorToken{}, err
	}
	r := tokenReader{buf: b}
	var t iteratorToken
	v := r.byte()
	if v != tokenVersion && v != tokenVersionV1 {
		return iteratorToken{}, errBadToken
	}
	t.IssuedAt = time.UnixMilli(int64(r.uint64()))
	t.Epoch = r.uvarint()
	t.Log = t.Epoch
	if v == tokenVersion {
		t.Log = r.uvarint()
	}
	t.MsgSeq = r.uvarint()
	idx := r.uvarint()
	t.NotBefore = int64(r.uvarint())
	t.StreamID = r.string()
	t.StreamName = r.string()
	if r.err != nil || len(r.buf) != 0 || idx > 0xFFFF {
		return iteratorToken{}, errBadToken
	}
	t.Index = uint16(idx)
	return t, nil
}

// sign appends the MAC of b to b.
func (c tokenCodec) sign(b []byte) []byte {
	m := hmac.New(sha256.New, c.secret)
	m.Write(b)
	return m.Sum(b)[:len(b)+tokenMACSize]
}

// open decodes s and checks its MAC, returning the signed bytes.
func (c tokenCodec) open(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) <= tokenMACSize {
		return nil, errBadToken
	}
	body, mac := b[:len(b)-tokenMACSize], b[len(b)-tokenMACSize:]
	m := hmac.New(sha256.New, c.secret)
	m.Write(body)
	if !hmac.Equal(mac, m.Sum(nil)[:tokenMACSize]) {
		return nil, errBadToken
	}
	return body, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// tokenReader reads token fields, remembering the first error.
type tokenReader struct {
	buf []byte
	err error
}

func (r *tokenReader) byte() byte {
	if len(r.buf) < 1 {
		r.err = errBadToken
		return 0
	}
	v := r.buf[0]
	r.buf = r.buf[1:]
	return v
}

func (r *tokenReader) uint64() uint64 {
	if len(r.buf) < 8 {
		r.err = errBadToken
		return 0
	}
	v := binary.BigEndian.Uint64(r.buf)
	r.buf = r.buf[8:]
	return v
}

func (r *tokenReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.err = errBadToken
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *tokenReader) string() string {
	l := r.uvarint()
	if r.err != nil || l > uint64(len(r.buf)) {
		r.err = errBadToken
		return ""
	}
	s := string(r.buf[:l])
	r.buf = r.buf[l:]
	return s
}
