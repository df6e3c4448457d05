package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Activity counters feed the console's charts: per shard and per fan-out
// consumer, beside the per-stream Prometheus metrics, as plain atomics so
// that counting costs the data path a map load and an add. Incoming
// records and bytes are the autoscaler's writeCounter.

// shardActivity counts what this broker served of one shard, by epoch.
type shardActivity struct {
	getCalls, getRecords, getBytes   atomic.Int64
	iteratorAge                      atomic.Int64 // ms, of the latest GetRecords
	writeThrottled, readThrottled    atomic.Int64
	subscribeRecords, subscribeBytes atomic.Int64
}

func (b *Broker) shardActivity(epoch uint64) *shardActivity {
	if a, ok := b.activity.Load(epoch); ok {
		return a.(*shardActivity)
	}
	a, _ := b.activity.LoadOrStore(epoch, new(shardActivity))
	return a.(*shardActivity)
}

// consumerActivity counts what this broker sent to one fan-out consumer.
type consumerActivity struct {
	subscriptions, records, bytes atomic.Int64
}

func (b *Broker) consumerActivity(arn string) *consumerActivity {
	if a, ok := b.consumerStats.Load(arn); ok {
		return a.(*consumerActivity)
	}
	a, _ := b.consumerStats.LoadOrStore(arn, new(consumerActivity))
	return a.(*consumerActivity)
}

// forgetActivity drops the counters of a deleted stream's shards and
// consumers.
func (b *Broker) forgetActivity(s *kinesis.Stream) {
	for _, sh := range s.Shards {
		b.activity.Delete(sh.Epoch)
	}
	for _, c := range s.Consumers {
		b.consumerStats.Delete(c.ARN)
	}
}

// Activity returns the running totals of every stream in this broker's
// metadata cache (which a watch keeps current), sorted by name. It reads
// no store.
func (b *Broker) Activity() []kinesis.StreamActivity {
	b.cacheMu.RLock()
	streams := make([]*kinesis.Stream, 0, len(b.cache))
	for _, c := range b.cache {
		if !b.gone(c.stream) {
			streams = append(streams, c.stream)
		}
	}
	b.cacheMu.RUnlock()
	slices.SortFunc(streams, func(x, y *kinesis.Stream) int { return strings.Compare(x.Name, y.Name) })
	now := b.cfg.Now()
	out := make([]kinesis.StreamActivity, 0, len(streams))
	for _, s := range streams {
		sa := kinesis.StreamActivity{
			Name: s.Name, ARN: s.ARN, Status: s.Status(now), Mode: s.Mode, RetentionHours: s.RetentionHours,
			EncryptionType: s.EncryptionType, CreatedAt: s.CreatedAt, Shards: make([]kinesis.ShardActivity, 0, len(s.Shards)),
			ShardLevelMetrics: slices.Clone(s.ShardLevelMetrics),
		}
		for _, sh := range s.Shards {
			a := kinesis.ShardActivity{ShardID: sh.ID, Epoch: sh.Epoch, Open: sh.Open()}
			if w, ok := b.writes.Load(sh.Epoch); ok {
				w := w.(*writeCounter)
				a.IncomingRecords, a.IncomingBytes = w.records.Load(), w.bytes.Load()
			}
			if v, ok := b.activity.Load(sh.Epoch); ok {
				v := v.(*shardActivity)
				a.GetRecordsCalls, a.GetRecordsRecords, a.GetRecordsBytes = v.getCalls.Load(), v.getRecords.Load(), v.getBytes.Load()
				a.IteratorAgeMillis = v.iteratorAge.Load()
				a.WriteThrottled, a.ReadThrottled = v.writeThrottled.Load(), v.readThrottled.Load()
				a.SubscribeRecords, a.SubscribeBytes = v.subscribeRecords.Load(), v.subscribeBytes.Load()
			}
			sa.Shards = append(sa.Shards, a)
		}
		for _, c := range s.Consumers {
			if c.Gone(now) {
				continue
			}
			ca := kinesis.ConsumerActivity{ARN: c.ARN}
			if v, ok := b.consumerStats.Load(c.ARN); ok {
				v := v.(*consumerActivity)
				ca.Subscriptions, ca.Records, ca.Bytes = v.subscriptions.Load(), v.records.Load(), v.bytes.Load()
			}
			sa.Consumers = append(sa.Consumers, ca)
		}
		out = append(out, sa)
	}
	return out
}

// backlogMaxMsgs bounds the messages ShardBacklog reads: past them it
// extrapolates.
const backlogMaxMsgs = 16

// backlogMaxBytes bounds the bytes of those messages.
const backlogMaxBytes = 1 << 20

// ShardBacklog tells how far a reader that has processed the record with
// sequence number after ("" for none: a reader at TRIM_HORIZON) is behind
// the newest record of the shard. It reads at most backlogMaxMsgs messages
// (1 MiB) after the position, so its cost is bounded whatever the lag; a
// longer backlog is an estimate (Exact false). Errors:
// ResourceNotFoundException for an unknown stream or shard,
// InvalidArgumentException for a sequence number of another shard.
func (b *Broker) ShardBacklog(ctx context.Context, ref kinesis.StreamRef, shardID, after string) (kinesis.Backlog, error) {
	name, err := b.resolve(ref)
	if err != nil {
		return kinesis.Backlog{}, err
	}
	s, err := b.stream(ctx, name)
	if err != nil {
		return kinesis.Backlog{}, err
	}
	sh, ok := s.Shard(shardID)
	if !ok {
		return kinesis.Backlog{}, kinesis.Errorf(kinesis.ErrResourceNotFound, "Shard %s in stream %s under account %s does not exist", shardID, name, b.cfg.AccountID)
	}
	st, err := b.log.State(ctx, logName(sh.Epoch))
	if err != nil {
		return kinesis.Backlog{}, fmt.Errorf("backlog of %s/%s: %w", name, shardID, err)
	}
	last := st.LastSeq
	if !sh.Open() {
		last = min(last, sh.EndingMsgSeq)
	}
	from, skip := st.FirstSeq, 0 // skip: records of message `from` already processed
	if after != "" {
		seq, ok := kinesis.ParseSequenceNumber(after)
		if !ok || seq.Epoch != sh.Epoch {
			return kinesis.Backlog{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "Sequence number %s does not belong to shard %s.", after, shardID)
		}
		if seq.MsgSeq >= from {
			from, skip = seq.MsgSeq, int(seq.Index)+1
		}
	}
	if from > last {
		return kinesis.Backlog{Exact: true}, nil
	}
	msgs, err := b.log.Read(ctx, logName(sh.Epoch), from, backlogMaxMsgs, backlogMaxBytes)
	if err != nil {
		return kinesis.Backlog{}, fmt.Errorf("backlog of %s/%s: %w", name, shardID, err)
	}
	var out kinesis.Backlog
	counted, read := int64(0), uint64(0)
	for _, m := range msgs {
		if m.Seq > last {
			break
		}
		br, _, err := b.openBatch(ctx, s, sh.Epoch, m.Data)
		if err != nil {
			return kinesis.Backlog{}, fmt.Errorf("backlog of %s/%s: message %d: %w", name, shardID, m.Seq, err)
		}
		n := br.count
		if m.Seq == from {
			n = max(0, n-skip)
		}
		if n > 0 && out.Records == 0 {
			out.MillisBehind = max(0, b.cfg.Now().Sub(br.arrival).Milliseconds())
		}
		out.Records += int64(n)
		counted += int64(br.count)
		read = m.Seq
	}
	out.Exact = read >= last || len(msgs) == 0
	if !out.Exact && len(msgs) > 0 {
		perMsg := float64(counted) / float64(len(msgs))
		out.Records += int64(perMsg * float64(last-read))
	}
	return out, nil
}
