package broker

import (
	"cmp"
	"context"
	"encoding/binary"
	"slices"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// A message of a stream log packs the records of one or more PutRecords
// calls for any number of the stream's shards, grouped by shard, so that a
// call touching many shards costs one durable append (one fsync) rather
// than one per shard:
//
//	byte     version (3)
//	byte     flags (reserved, 0)
//	int64    arrival time, Unix milliseconds, big-endian
//	body:
//	uvarint  section count
//	count × { uvarint shard number | uvarint record count | uvarint bytes }
//	         one section per shard, shard numbers increasing
//	the sections' records, section after section, each record as in a
//	         shard's own message: uvarint len(pk) | pk | uvarint len(data) | data
//
// A record's sequence number is the message's plus its index within its
// shard's section. A sealed (encrypted) stream-log message is version 4:
// the header of a sealed shard message (encryption.go) and the body
// encrypted. Messages of shards' own logs (versions 1 and 2, batch.go)
// hold one shard's records and no section table.
const (
	logMsgVersion       = 3
	logMsgVersionSealed = 4
)

// section is where one shard's records lie in a message body.
type section struct {
	shard      uint32
	count      int
	start, end int // byte offsets into the body
}

// logMsg is a stored message decoded (and decrypted) once for every
// reader: the readers of a stream log's shards all read the same
// messages, each taking its own section.
type logMsg struct {
	seq     uint64
	arrival time.Time
	sealed  bool
	// own: a message of a shard's own log, all of whose records are the
	// shard's (secs holds one section).
	own  bool
	secs []section // by shard number
	body []byte
}

// section returns the records of shard (its number) in m.
func (m *logMsg) section(shard uint32) (batchReader, bool) {
	if m.own {
		s := m.secs[0]
		return batchReader{arrival: m.arrival, count: s.count, buf: m.body[s.start:s.end]}, true
	}
	lo, hi := 0, len(m.secs)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m.secs[mid].shard < shard {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(m.secs) || m.secs[lo].shard != shard {
		return batchReader{}, false
	}
	s := m.secs[lo]
	return batchReader{arrival: m.arrival, count: s.count, buf: m.body[s.start:s.end]}, true
}

// size is what m holds in memory, for the cache's budget.
func (m *logMsg) size() int { return len(m.body) + 24*len(m.secs) + 96 }

// decodeLogMsg decodes a stored message of a log whose segment is seg,
// decrypting a sealed one in place (the caller gives msg up).
func (b *Broker) decodeLogMsg(ctx context.Context, s *kinesis.Stream, seg kinesis.Segment, seq uint64, msg []byte) (*logMsg, error) {
	if seg.Own {
		br, sealed, err := b.openBatch(ctx, s, seg.Epoch, msg)
		if err != nil {
			return nil, err
		}
		return &logMsg{seq: seq, arrival: br.arrival, sealed: sealed, own: true,
			secs: []section{{count: br.count, end: len(br.buf)}}, body: br.buf}, nil
	}
	arrival, body, sealed, err := b.openLogMsg(ctx, s, seg.Epoch, msg)
	if err != nil {
		return nil, err
	}
	m, err := parseLogBody(body)
	if err != nil {
		return nil, err
	}
	m.seq, m.arrival, m.sealed = seq, arrival, sealed
	return m, nil
}

// parseLogBody reads a stream-log message body: the section table, and
// the records, which it checks lie within the body.
func parseLogBody(body []byte) (*logMsg, error) {
	n, k := binary.Uvarint(body)
	if k <= 0 || n > uint64(len(body)) {
		return nil, errBadBatch
	}
	p := k
	secs := make([]section, n)
	var total uint64
	for i := range secs {
		var f [3]uint64
		for j := range f {
			v, k := binary.Uvarint(body[p:])
			if k <= 0 {
				return nil, errBadBatch
			}
			f[j], p = v, p+k
		}
		if f[0] > kinesis.MaxShardIndex || (i > 0 && uint32(f[0]) <= secs[i-1].shard) || f[1] > uint64(len(body)) || f[2] > uint64(len(body)) {
			return nil, errBadBatch
		}
		secs[i] = section{shard: uint32(f[0]), count: int(f[1]), start: int(total), end: int(total + f[2])}
		total += f[2]
	}
	if total != uint64(len(body)-p) {
		return nil, errBadBatch
	}
	records := body[p:]
	for i := range secs {
		// Two bytes at least per record: the lengths of its key and data.
		if secs[i].end-secs[i].start < 2*secs[i].count {
			return nil, errBadBatch
		}
	}
	return &logMsg{secs: secs, body: records}, nil
}

// shardBatch is the records of one request for one shard.
type shardBatch struct {
	shard uint32 // number
	recs  []packedRecord
	size  int // batchSize(recs)
}

// logMsgBuilder lays out one message from the shard batches of several
// requests, keeping each shard's records in request order.
type logMsgBuilder struct {
	secs  []builderSection
	index map[uint32]int // shard number -> secs
}

type builderSection struct {
	shard   uint32
	count   int
	size    int
	batches []*shardBatch
}

// add places a shard batch and returns the index of its first record in
// its shard's section.
func (mb *logMsgBuilder) add(sb *shardBatch) int {
	if mb.index == nil {
		mb.index = make(map[uint32]int)
	}
	i, ok := mb.index[sb.shard]
	if !ok {
		i = len(mb.secs)
		mb.index[sb.shard] = i
		mb.secs = append(mb.secs, builderSection{shard: sb.shard})
	}
	s := &mb.secs[i]
	first := s.count
	s.count += len(sb.recs)
	s.size += sb.size
	s.batches = append(s.batches, sb)
	return first
}

// appendBody appends the message body: the section table by shard
// number, then the records.
func (mb *logMsgBuilder) appendBody(b []byte) []byte {
	slices.SortFunc(mb.secs, func(x, y builderSection) int { return cmp.Compare(x.shard, y.shard) })
	b = binary.AppendUvarint(b, uint64(len(mb.secs)))
	for _, s := range mb.secs {
		b = binary.AppendUvarint(b, uint64(s.shard))
		b = binary.AppendUvarint(b, uint64(s.count))
		b = binary.AppendUvarint(b, uint64(s.size))
	}
	for _, s := range mb.secs {
		for _, sb := range s.batches {
			b = appendBatchRecords(b, sb.recs)
		}
	}
	return b
}

// reset empties the builder for the next message, keeping its memory.
func (mb *logMsgBuilder) reset() {
	clear(mb.index)
	clear(mb.secs) // drop the batches they point to
	mb.secs = mb.secs[:0]
}

// appendLogHeader starts a plain stream-log message arriving at t.
func appendLogHeader(b []byte, t time.Time) []byte {
	b = append(b, logMsgVersion, 0)
	return binary.BigEndian.AppendUint64(b, uint64(t.UnixMilli()))
}

// logHeaderSize is the size of a plain stream-log message's header.
const logHeaderSize = 10
