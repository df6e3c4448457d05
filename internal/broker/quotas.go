package broker

import (
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// AWS's per-shard quotas, enforced when Config.EnforceShardQuotas is set.
const (
	shardWriteBytesPerSec   = 1 << 20 // data plus partition key
	shardWriteRecordsPerSec = 1000
	shardReadBytesPerSec    = 2 << 20
	shardReadCallsPerSec    = 5
	// shardIteratorsPerSec is GetShardIterator's rate per shard; AWS
	// answers it with ProvisionedThroughputExceededException too.
	shardIteratorsPerSec = 5
)

// bucket is a token bucket that may go into debt: a request is admitted
// while the bucket holds enough (a larger-than-burst request while it is
// full) and is then charged in full. That is how AWS treats a 10 MiB
// GetRecords response on a 2 MiB/s shard: it is served, and calls in the
// next seconds are throttled while the debt is repaid. Callers lock.
type bucket struct {
	rate   float64 // tokens per second
	burst  float64 // most tokens held
	tokens float64
	last   time.Time
}

func newBucket(rate, burst float64, now time.Time) *bucket {
	return &bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

func (b *bucket) refill(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
}

// can reports whether n tokens may be taken now.
func (b *bucket) can(now time.Time, n float64) bool {
	b.refill(now)
	return b.tokens >= min(n, b.burst)
}

// take charges n tokens, possibly into debt.
func (b *bucket) take(n float64) { b.tokens -= n }

// shardQuota is the throughput state of one shard on this broker.
type shardQuota struct {
	mu           sync.Mutex
	writeBytes   *bucket
	writeRecords *bucket
	readBytes    *bucket
	readCalls    *bucket
	iterators    *bucket
}

// shardQuotas holds the quota state of every shard this broker has served,
// by shard epoch. Each broker throttles on its own: in a cluster of N
// servers, a shard takes up to N times the quota when the load is spread.
type shardQuotas struct {
	mu     sync.Mutex
	shards map[uint64]*shardQuota
}

func (q *shardQuotas) shard(epoch uint64, now time.Time) *shardQuota {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shards == nil {
		q.shards = make(map[uint64]*shardQuota)
	}
	s := q.shards[epoch]
	if s == nil {
		s = &shardQuota{
			writeBytes:   newBucket(shardWriteBytesPerSec, shardWriteBytesPerSec, now),
			writeRecords: newBucket(shardWriteRecordsPerSec, shardWriteRecordsPerSec, now),
			readBytes:    newBucket(shardReadBytesPerSec, shardReadBytesPerSec, now),
			readCalls:    newBucket(shardReadCallsPerSec, shardReadCallsPerSec, now),
			iterators:    newBucket(shardIteratorsPerSec, shardIteratorsPerSec, now),
		}
		q.shards[epoch] = s
	}
	return s
}

// forget drops the state of a shard whose stream is gone.
func (q *shardQuotas) forget(epoch uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.shards, epoch)
}

// shardRateExceeded is AWS's ProvisionedThroughputExceededException for a
// shard, word for word.
func (b *Broker) shardRateExceeded(stream, shardID string) *kinesis.Error {
	return kinesis.Errorf(kinesis.ErrProvisionedThroughput, "Rate exceeded for shard %s in stream %s under account %s.", shardID, stream, b.cfg.AccountID)
}

// admitWrites decides which records of one shard's group may be written,
// in request order, charging the shard's write quota for each admitted
// one. Refused records get AWS's per-entry
// ProvisionedThroughputExceededException in results and are dropped from
// the group; they cost nothing, so a retry of just them may succeed.
func (b *Broker) admitWrites(stream string, sh kinesis.Shard, recs []packedRecord, keys []kinesis.HashKey, idx []int, results []kinesis.PutRecordResult) ([]packedRecord, []kinesis.HashKey, []int) {
	if !b.cfg.EnforceShardQuotas {
		return recs, keys, idx
	}
	now := b.cfg.Now()
	q := b.quotas.shard(sh.Epoch, now)
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for j, r := range recs {
		size := float64(len(r.Data) + len(r.PartitionKey))
		if !q.writeRecords.can(now, 1) || !q.writeBytes.can(now, size) {
			results[idx[j]] = b.throttledResult(stream, sh.ID)
			continue
		}
		q.writeRecords.take(1)
		q.writeBytes.take(size)
		recs[n], keys[n], idx[n] = r, keys[j], idx[j]
		n++
	}
	if refused := len(recs) - n; refused > 0 {
		b.m.writeThrottled.WithLabelValues(stream).Add(float64(refused))
		b.shardActivity(sh.Epoch).writeThrottled.Add(int64(refused))
	}
	return recs[:n], keys[:n], idx[:n]
}

// admitRead takes one GetRecords call from the shard's read quota, or
// returns ProvisionedThroughputExceededException when the shard has had
// its 5 calls this second or is still repaying bytes read before.
func (b *Broker) admitRead(stream string, sh kinesis.Shard) error {
	if !b.cfg.EnforceShardQuotas {
		return nil
	}
	now := b.cfg.Now()
	q := b.quotas.shard(sh.Epoch, now)
	q.mu.Lock()
	defer q.mu.Unlock()
	// Bytes are charged after the read, when they are known, so a call is
	// admitted while any byte budget is left.
	if !q.readBytes.can(now, 1) || !q.readCalls.can(now, 1) {
		b.m.readThrottled.WithLabelValues(stream).Inc()
		b.shardActivity(sh.Epoch).readThrottled.Add(1)
		return b.shardRateExceeded(stream, sh.ID)
	}
	q.readCalls.take(1)
	return nil
}

// chargeRead charges the bytes a GetRecords call returned to the shard's
// read quota, possibly into debt that throttles the next calls.
func (b *Broker) chargeRead(sh kinesis.Shard, bytes int) {
	if !b.cfg.EnforceShardQuotas || bytes == 0 {
		return
	}
	q := b.quotas.shard(sh.Epoch, b.cfg.Now())
	q.mu.Lock()
	defer q.mu.Unlock()
	q.readBytes.take(float64(bytes))
}

// admitIterator takes one GetShardIterator call from the shard's quota.
func (b *Broker) admitIterator(stream string, sh kinesis.Shard) error {
	if !b.cfg.EnforceShardQuotas {
		return nil
	}
	now := b.cfg.Now()
	q := b.quotas.shard(sh.Epoch, now)
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.iterators.can(now, 1) {
		return b.shardRateExceeded(stream, sh.ID)
	}
	q.iterators.take(1)
	return nil
}

// throttledResult is a PutRecords entry refused by the write quota.
func (b *Broker) throttledResult(stream, shardID string) kinesis.PutRecordResult {
	e := b.shardRateExceeded(stream, shardID)
	return kinesis.PutRecordResult{ErrorCode: e.Code, ErrorMessage: e.Message}
}
