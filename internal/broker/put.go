package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// PutRecords routes each entry to the open shard whose hash range holds
// its hash key, and writes the entries of each shard as one durable log
// message (shared with concurrent requests for that shard). Results come
// back in request order once every message is stored.
func (b *Broker) PutRecords(ctx context.Context, ref kinesis.StreamRef, entries []kinesis.PutRecordEntry) ([]kinesis.PutRecordResult, error) {
	name, err := b.resolve(ref)
	if err != nil {
		return nil, err
	}
	s, err := b.stream(ctx, name)
	if err != nil {
		return nil, err
	}
	if st := s.Status(b.cfg.Now()); st == kinesis.StatusCreating {
		return nil, kinesis.StreamNotFound(name, b.cfg.AccountID)
	}
	maxRecord := s.MaxRecordBytes()
	key, err := b.writeCipher(ctx, s) // nil unless the stream is encrypted
	if err != nil {
		return nil, err
	}

	// Group the entries by shard, keeping request order within each shard.
	rt := b.routing(s)
	var groups []*shardGroup
	byShard := make(map[uint64]*shardGroup, 4)
	total := 0
	for i, e := range entries {
		key, err := b.hashKeyOf(e)
		if err != nil {
			return nil, err
		}
		size := len(e.Data) + len(e.PartitionKey)
		if size > maxRecord {
			return nil, kinesis.Errorf(kinesis.ErrInvalidArgument, "Record size (%d bytes of data and partition key) exceeds the maximum record size of %d bytes for stream %s under account %s.", size, maxRecord, name, b.cfg.AccountID)
		}
		total += size
		if e.SequenceNumberForOrdering != "" {
			// Ours (either form), or an AWS one: this server's numbers
			// grow within a shard whatever the hint says.
			if _, ok := kinesis.ParseSequenceNumber(e.SequenceNumberForOrdering); !ok && !kinesis.IsAWSSequenceNumber(e.SequenceNumberForOrdering) {
				return nil, kinesis.Errorf(kinesis.ErrInvalidArgument, "ExclusiveMinimumSequenceNumber %s used in PutRecord on stream %s under account %s is invalid.", e.SequenceNumberForOrdering, name, b.cfg.AccountID)
			}
		}
		sh, ok := rt.shardFor(key)
		if !ok {
			return nil, fmt.Errorf("no open shard of %s holds hash key %s", name, key)
		}
		g := byShard[sh.Epoch]
		if g == nil {
			g = &shardGroup{shard: sh}
			byShard[sh.Epoch] = g
			groups = append(groups, g)
		}
		g.recs = append(g.recs, packedRecord{PartitionKey: e.PartitionKey, Data: e.Data})
		g.keys = append(g.keys, key)
		g.idx = append(g.idx, i)
	}
	if len(entries) > 1 && total > kinesis.MaxPutRecordsBytes {
		return nil, kinesis.Errorf(kinesis.ErrInvalidArgument, "Records size exceeds %d MB limit", kinesis.MaxPutRecordsBytes>>20)
	}

	if len(groups) == 0 {
		return nil, nil // no entries: nothing to store
	}
	start := time.Now()
	// A put waits WriteTimeout at most for its turn to be written (and
	// then for the log, which bounds its own wait).
	ctx, cancel := context.WithTimeout(ctx, b.cfg.WriteTimeout)
	defer cancel()
	results := make([]kinesis.PutRecordResult, len(entries))
	kept := groups[:0]
	for _, g := range groups {
		if g.recs, g.keys, g.idx = b.admitWrites(name, g.shard, g.recs, g.keys, g.idx, results); len(g.recs) > 0 {
			kept = append(kept, g)
		}
	}
	if len(kept) > 0 {
		b.store(ctx, s, kept, key, results, 0)
	}
	b.m.putLatency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	// Like CloudWatch's IncomingRecords, count only what was stored, not
	// throttled or failed entries.
	var stored, storedBytes int
	for i, r := range results {
		if r.ErrorCode == "" {
			stored++
			storedBytes += len(entries[i].Data) + len(entries[i].PartitionKey)
		}
	}
	b.m.incomingRecords.WithLabelValues(name).Add(float64(stored))
	b.m.incomingBytes.WithLabelValues(name).Add(float64(storedBytes))
	if len(entries) == 1 && results[0].ErrorCode == kinesis.ErrResourceNotFound {
		return nil, kinesis.StreamNotFound(name, b.cfg.AccountID)
	}
	if allStorageFull(results) {
		// Nothing stored for want of space: one clear, retryable error
		// for the request rather than an InternalFailure per record.
		return nil, kinesis.Errorf(kinesis.ErrServiceUnavailable, "%s", kinesis.StorageFullMessage)
	}
	return results, nil
}

// shardGroup is the records of one request for one shard, with their hash
// keys and their places in the request.
type shardGroup struct {
	shard kinesis.Shard
	recs  []packedRecord
	keys  []kinesis.HashKey
	idx   []int
}

// store writes the groups of one request to the stream's current log as
// (part of) one message, and fills in their results. If a reshard sealed
// the log meanwhile, nothing was stored: it waits for the stream's next
// log and routes the records again by hash key, as often as reshards keep
// coming (up to maxReroutes).
func (b *Broker) store(ctx context.Context, s *kinesis.Stream, groups []*shardGroup, key *dataCipher, results []kinesis.PutRecordResult, depth int) {
	fail := func(code kinesis.ErrorCode, msg string) {
		for _, g := range groups {
			for _, i := range g.idx {
				results[i] = kinesis.PutRecordResult{ErrorCode: code, ErrorMessage: msg}
			}
		}
	}
	cur, ok := s.CurrentLog()
	// reroute waits for the stream's next log and stores the records
	// there, routed again by hash key.
	reroute := func(what string) {
		ns, err := b.nextLog(ctx, s, cur)
		if err != nil {
			b.cfg.Logger.Error(what, "stream", s.Name, "err", err)
			fail(kinesis.ErrInternalFailure, "Internal service failure.")
			return
		}
		b.store(ctx, ns, b.regroup(ns, groups), key, results, depth+1)
	}
	if !ok || cur.Sealed() {
		// A stream from before stream logs, or one whose log a reshard
		// has sealed.
		reroute("open the stream's log")
		return
	}
	batches := make([]*shardBatch, len(groups))
	for i, g := range groups {
		batches[i] = &shardBatch{shard: g.shard.Number(), recs: g.recs, size: batchSize(g.recs)}
	}
	msgSeq, first, err := b.appenderFor(s, cur.Epoch).append(ctx, batches, key)
	switch {
	case errors.Is(err, kinesis.ErrLogSealed) && depth < maxReroutes:
		// A reshard sealed the log: nothing was stored.
		reroute("re-route records after reshard")
		return
	case errors.Is(err, kinesis.ErrLogNotFound):
		fail(kinesis.ErrResourceNotFound, fmt.Sprintf("Stream %s under account %s not found.", s.Name, b.cfg.AccountID))
		return
	case errors.Is(err, kinesis.ErrStorageFull):
		fail(kinesis.ErrInternalFailure, kinesis.StorageFullMessage)
		return
	case err != nil:
		b.cfg.Logger.Error("append records", "stream", s.Name, "log", logName(cur.Epoch), "err", err)
		fail(kinesis.ErrInternalFailure, "Internal service failure.")
		return
	}
	for gi, g := range groups {
		seqShard := g.shard.Number() + 1
		for j, i := range g.idx {
			results[i] = kinesis.PutRecordResult{
				ShardID:        g.shard.ID,
				SequenceNumber: kinesis.SequenceNumber{Epoch: cur.Epoch, MsgSeq: msgSeq, Index: uint16(first[gi] + j), Shard: seqShard}.String(),
				EncryptionType: key.encryptionType(),
			}
		}
		b.writeCounter(g.shard.Epoch).add(len(g.recs), batches[gi].size)
	}
}

// regroup routes the records of groups by hash key to the open shards of
// s, keeping their order.
func (b *Broker) regroup(s *kinesis.Stream, groups []*shardGroup) []*shardGroup {
	rt := b.routing(s)
	var out []*shardGroup
	byShard := make(map[uint64]*shardGroup, len(groups))
	for _, g := range groups {
		for j, k := range g.keys {
			sh, ok := rt.shardFor(k)
			if !ok {
				continue // cannot happen: open shards cover the hash space
			}
			n := byShard[sh.Epoch]
			if n == nil {
				n = &shardGroup{shard: sh}
				byShard[sh.Epoch] = n
				out = append(out, n)
			}
			n.recs = append(n.recs, g.recs[j])
			n.keys = append(n.keys, k)
			n.idx = append(n.idx, g.idx[j])
		}
	}
	return out
}

// allStorageFull reports whether every record failed for want of storage
// space (the disk guard of the store refused them; none was stored).
func allStorageFull(results []kinesis.PutRecordResult) bool {
	for _, r := range results {
		if r.ErrorMessage != kinesis.StorageFullMessage {
			return false
		}
	}
	return len(results) > 0
}

func (b *Broker) hashKeyOf(e kinesis.PutRecordEntry) (kinesis.HashKey, error) {
	if e.ExplicitHashKey == "" {
		return kinesis.HashPartitionKey(e.PartitionKey), nil
	}
	k, ok := kinesis.ParseHashKey(e.ExplicitHashKey)
	if !ok {
		return k, kinesis.Errorf(kinesis.ErrInvalidArgument, "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was %s", e.ExplicitHashKey)
	}
	return k, nil
}

// appenderFor returns the appender of the stream log of epoch.
func (b *Broker) appenderFor(s *kinesis.Stream, epoch uint64) *appender {
	b.appendersMu.Lock()
	defer b.appendersMu.Unlock()
	a := b.appenders[epoch]
	if a == nil {
		a = &appender{log: b.log, name: logName(epoch), epoch: epoch, now: b.cfg.Now,
			stored: func(seq uint64, m *logMsg) {
				b.msgs.put(msgKey{epoch, seq}, m)
				b.appended(epoch, seq)
			}}
		b.appenders[epoch] = a
	}
	return a
}

func (b *Broker) dropAppender(epoch uint64) {
	b.appendersMu.Lock()
	defer b.appendersMu.Unlock()
	delete(b.appenders, epoch)
}

// Limits of one coalesced message. One request's records always go into a
// single message, even past maxBatchBytes, so they stay contiguous; and
// no shard has more than maxBatchRecords in one message.
const (
	maxBatchBytes   = 4 << 20
	maxBatchRecords = kinesis.MaxIndex + 1
)

// keptBufBytes is the largest message buffer an appender keeps while its
// log is idle.
const keptBufBytes = 256 << 10

// appender coalesces concurrent appends to one stream log into single
// messages: group commit. While one message is being stored, later
// requests queue; the next message carries all of them, every shard's
// records in one section. One message is in flight per log, so record
// order in every shard is the order of the queue.
type appender struct {
	log   kinesis.Log
	name  string
	epoch uint64
	now   func() time.Time
	// stored is told of every message stored, before its writers are
	// answered, so that readers and subscribers here get the records at
	// once, without reading them back.
	stored func(seq uint64, m *logMsg)

	mu      sync.Mutex
	queue   []*appendReq
	writing bool

	mb  logMsgBuilder // used by the writing caller only
	buf []byte
}

type appendReq struct {
	batches []*shardBatch
	key     *dataCipher // seals the message; nil stores it plain
	size    int
	count   int
	done    chan struct{}
	// Outcome, set before done is closed.
	msgSeq uint64
	first  []int // index of each batch's first record in its shard's section
	err    error
}

// append stores the batches, sealed with key unless it is nil, and
// returns the message sequence and, for each batch, the index of its
// first record among its shard's records in the message.
func (a *appender) append(ctx context.Context, batches []*shardBatch, key *dataCipher) (uint64, []int, error) {
	req := &appendReq{batches: batches, key: key, done: make(chan struct{})}
	for _, sb := range batches {
		req.size += sb.size
		req.count += len(sb.recs)
	}
	a.mu.Lock()
	a.queue = append(a.queue, req)
	lead := !a.writing
	a.writing = true
	a.mu.Unlock()
	if lead {
		// The caller that finds the appender idle writes for everyone
		// queued, until the queue is empty.
		a.drain(context.WithoutCancel(ctx))
	}
	select {
	case <-req.done:
		return req.msgSeq, req.first, req.err
	case <-ctx.Done():
	}
	// A request still queued was never sent: take it out, so that it is
	// never stored after its caller reports it failed. One already in a
	// message waits for the log's answer, which the log bounds.
	a.mu.Lock()
	i := slices.Index(a.queue, req)
	if i >= 0 {
		a.queue = slices.Delete(a.queue, i, i+1)
	}
	a.mu.Unlock()
	if i >= 0 {
		return 0, nil, fmt.Errorf("not written (waited for the write before it): %w", ctx.Err())
	}
	<-req.done
	return req.msgSeq, req.first, req.err
}

func (a *appender) drain(ctx context.Context) {
	for {
		a.mu.Lock()
		if len(a.queue) == 0 {
			a.writing = false
			if cap(a.buf) > keptBufBytes {
				// A burst's big buffer is not kept for an idle log.
				a.buf, a.mb = nil, logMsgBuilder{}
			}
			a.mu.Unlock()
			return
		}
		n, size, count := 0, 0, 0
		for _, r := range a.queue {
			// Requests sealed differently (encryption turned on or off
			// meanwhile) go into messages of their own.
			if n > 0 && (size+r.size > maxBatchBytes || count+r.count > maxBatchRecords || r.key != a.queue[0].key) {
				break
			}
			n, size, count = n+1, size+r.size, count+r.count
		}
		batch := a.queue[:n:n]
		a.queue = a.queue[n:]
		a.mu.Unlock()

		seq, msg, err := a.write(ctx, batch)
		if err == nil {
			a.stored(seq, msg)
		}
		for _, r := range batch {
			r.msgSeq, r.err = seq, err
			close(r.done)
		}
	}
}

// write stores the requests of batch as one message and returns its
// sequence and its decoded form.
func (a *appender) write(ctx context.Context, batch []*appendReq) (uint64, *logMsg, error) {
	a.mb.reset()
	for _, r := range batch {
		r.first = make([]int, len(r.batches))
		for i, sb := range r.batches {
			r.first[i] = a.mb.add(sb)
		}
	}
	key := batch[0].key
	now := a.now()
	hdr := logHeaderSize
	if key == nil {
		a.buf = appendLogHeader(a.buf[:0], now)
	} else {
		a.buf = key.appendSealedLogHeader(a.buf[:0], now)
		hdr = sealedHeaderSize
	}
	a.buf = a.mb.appendBody(a.buf)
	// The readers' copy, decoded from the plaintext before it is sealed.
	m, err := parseLogBody(slices.Clone(a.buf[hdr:]))
	if err != nil {
		return 0, nil, fmt.Errorf("encode message for %s: %w", a.name, err)
	}
	m.arrival, m.sealed = time.UnixMilli(now.UnixMilli()), key != nil
	if key != nil {
		a.buf = key.seal(a.buf, a.epoch)
	}
	seq, err := a.log.Append(ctx, a.name, a.buf)
	if err != nil {
		return 0, nil, err
	}
	m.seq = seq
	return seq, m, nil
}
