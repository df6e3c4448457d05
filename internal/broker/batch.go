package broker

import (
	"encoding/binary"
	"errors"
	"time"
)

// A stored message packs the records of one or more PutRecords calls bound
// for one shard, so that the log's per-message cost (an fsync) is paid once
// per batch rather than once per record:
//
//	byte     version (1)
//	byte     flags (reserved, 0)
//	int64    arrival time, Unix milliseconds, big-endian
//	uvarint  record count
//	count × { uvarint len(pk) | pk | uvarint len(data) | data }
//
// Every record of a message shares the arrival time, and a record's
// sequence number is the message's sequence plus its index in the message.
const batchVersion = 1

var errBadBatch = errors.New("malformed record batch")

// packedRecord is a record as the batch format holds it.
type packedRecord struct {
	PartitionKey string
	Data         []byte
}

// batchSize is the encoded size of recs, without the header.
func batchSize(recs []packedRecord) int {
	n := 0
	for _, r := range recs {
		n += uvarintLen(len(r.PartitionKey)) + len(r.PartitionKey) + uvarintLen(len(r.Data)) + len(r.Data)
	}
	return n
}

// appendBatchHeader starts a message of count records arriving at t.
func appendBatchHeader(b []byte, t time.Time, count int) []byte {
	b = append(b, batchVersion, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(t.UnixMilli()))
	return binary.AppendUvarint(b, uint64(count))
}

// appendBatchRecords appends the records of one request.
func appendBatchRecords(b []byte, recs []packedRecord) []byte {
	for _, r := range recs {
		b = binary.AppendUvarint(b, uint64(len(r.PartitionKey)))
		b = append(b, r.PartitionKey...)
		b = binary.AppendUvarint(b, uint64(len(r.Data)))
		b = append(b, r.Data...)
	}
	return b
}

// batchReader walks the records of a stored message without copying them.
type batchReader struct {
	arrival time.Time
	count   int
	buf     []byte
}

func newBatchReader(msg []byte) (batchReader, error) {
	if len(msg) < 10 || msg[0] != batchVersion {
		return batchReader{}, errBadBatch
	}
	ms := int64(binary.BigEndian.Uint64(msg[2:10]))
	count, n := binary.Uvarint(msg[10:])
	if n <= 0 || count > uint64(len(msg)) {
		return batchReader{}, errBadBatch
	}
	return batchReader{arrival: time.UnixMilli(ms), count: int(count), buf: msg[10+n:]}, nil
}

// next returns the next record; the slices alias the message.
func (r *batchReader) next() (pk, data []byte, err error) {
	if pk, err = r.field(); err != nil {
		return nil, nil, err
	}
	if data, err = r.field(); err != nil {
		return nil, nil, err
	}
	return pk, data, nil
}

func (r *batchReader) field() ([]byte, error) {
	l, n := binary.Uvarint(r.buf)
	if n <= 0 || l > uint64(len(r.buf)-n) {
		return nil, errBadBatch
	}
	f := r.buf[n : n+int(l) : n+int(l)]
	r.buf = r.buf[n+int(l):]
	return f, nil
}

func uvarintLen(v int) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
