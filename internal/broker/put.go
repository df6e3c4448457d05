package broker

import (
	"context"
	"encoding/binary"
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
	type group struct {
		shard kinesis.Shard
		recs  []packedRecord
		keys  []kinesis.HashKey // hash key of each record
		idx   []int             // entry index of each record
	}
	var groups []*group
	byEpoch := make(map[uint64]*group, 4)
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
		sh, ok := s.ShardForHashKey(key)
		if !ok {
			return nil, fmt.Errorf("no open shard of %s holds hash key %s", name, key)
		}
		g := byEpoch[sh.Epoch]
		if g == nil {
			g = &group{shard: sh}
			byEpoch[sh.Epoch] = g
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
	store := func(g *group) {
		if g.recs, g.keys, g.idx = b.admitWrites(name, g.shard, g.recs, g.keys, g.idx, results); len(g.recs) == 0 {
			return // every record throttled
		}
		msgSeq, first, err := b.appenderFor(g.shard.Epoch).append(ctx, g.recs, key)
		if errors.Is(err, kinesis.ErrLogSealed) {
			// A reshard closed the shard: nothing was stored, so the
			// records go to the shards that took over its hash range.
			b.storeResealed(ctx, name, g.shard.Epoch, g.recs, g.keys, g.idx, results, 0)
			return
		}
		for j, i := range g.idx {
			if err != nil {
				code, msg := kinesis.ErrInternalFailure, "Internal service failure."
				switch {
				case errors.Is(err, kinesis.ErrLogNotFound):
					code, msg = kinesis.ErrResourceNotFound, fmt.Sprintf("Stream %s under account %s not found.", name, b.cfg.AccountID)
				case errors.Is(err, kinesis.ErrStorageFull):
					msg = kinesis.StorageFullMessage
				}
				results[i] = kinesis.PutRecordResult{ErrorCode: code, ErrorMessage: msg}
				continue
			}
			results[i] = kinesis.PutRecordResult{
				ShardID:        g.shard.ID,
				SequenceNumber: kinesis.SequenceNumber{Epoch: g.shard.Epoch, MsgSeq: msgSeq, Index: uint16(first + j)}.String(),
				EncryptionType: key.encryptionType(),
			}
		}
		if err != nil && !errors.Is(err, kinesis.ErrLogNotFound) && !errors.Is(err, kinesis.ErrStorageFull) {
			b.cfg.Logger.Error("append records", "stream", name, "shard", g.shard.ID, "err", err)
		}
	}
	// Shards are written in parallel; the last group on this goroutine, so
	// a single-shard put (every PutRecord) starts no goroutine at all.
	var wg sync.WaitGroup
	for _, g := range groups[:len(groups)-1] {
		wg.Go(func() { store(g) })
	}
	store(groups[len(groups)-1])
	wg.Wait()
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

func (b *Broker) appenderFor(epoch uint64) *appender {
	b.appendersMu.Lock()
	defer b.appendersMu.Unlock()
	a := b.appenders[epoch]
	if a == nil {
		a = &appender{log: b.log, name: logName(epoch), epoch: epoch, now: b.cfg.Now, written: b.writeCounter(epoch),
			stored: func(seq uint64) { b.appended(epoch, seq) }}
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
// single message, even past maxBatchBytes, so they stay contiguous.
const (
	maxBatchBytes   = 4 << 20
	maxBatchRecords = kinesis.MaxIndex + 1
)

// appender coalesces concurrent appends to one shard log into single
// messages: group commit. While one message is being stored, later
// requests queue; the next message carries all of them. One message is in
// flight per shard, so record order in the log is the order of the queue.
type appender struct {
	log   kinesis.Log
	name  string
	epoch uint64
	now   func() time.Time
	// written counts what this appender stored, for the autoscaler.
	written *writeCounter
	// stored is told of every message stored, before its writers are
	// answered, so that subscribers here get the records at once.
	stored func(seq uint64)

	mu      sync.Mutex
	queue   []*appendReq
	writing bool
}

type appendReq struct {
	recs []packedRecord
	key  *dataCipher // seals the message; nil stores it plain
	size int
	done chan struct{}
	// Outcome, set before done is closed.
	msgSeq uint64
	first  int
	err    error
}

// append stores recs, sealed with key unless it is nil, and returns the
// message sequence and index of the first of them.
func (a *appender) append(ctx context.Context, recs []packedRecord, key *dataCipher) (uint64, int, error) {
	req := &appendReq{recs: recs, key: key, size: batchSize(recs), done: make(chan struct{})}
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
		return 0, 0, fmt.Errorf("not written (waited for the write before it): %w", ctx.Err())
	}
	<-req.done
	return req.msgSeq, req.first, req.err
}

func (a *appender) drain(ctx context.Context) {
	var buf []byte
	for {
		a.mu.Lock()
		if len(a.queue) == 0 {
			a.writing = false
			a.mu.Unlock()
			return
		}
		n, size, count := 0, 0, 0
		for _, r := range a.queue {
			// Requests sealed differently (encryption turned on or off
			// meanwhile) go into messages of their own.
			if n > 0 && (size+r.size > maxBatchBytes || count+len(r.recs) > maxBatchRecords || r.key != a.queue[0].key) {
				break
			}
			n, size, count = n+1, size+r.size, count+len(r.recs)
		}
		batch := a.queue[:n:n]
		a.queue = a.queue[n:]
		a.mu.Unlock()

		key := batch[0].key
		if key == nil {
			buf = appendBatchHeader(buf[:0], a.now(), count)
		} else {
			buf = binary.AppendUvarint(key.appendSealedHeader(buf[:0], a.now()), uint64(count))
		}
		for _, r := range batch {
			buf = appendBatchRecords(buf, r.recs)
		}
		if key != nil {
			buf = key.seal(buf, a.epoch)
		}
		seq, err := a.log.Append(ctx, a.name, buf)
		if err == nil {
			a.written.add(count, size)
			a.stored(seq)
		}
		first := 0
		for _, r := range batch {
			r.msgSeq, r.first, r.err = seq, first, err
			first += len(r.recs)
			close(r.done)
		}
	}
}
