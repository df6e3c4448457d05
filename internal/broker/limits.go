package broker

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// rateScope is what one call-rate budget is shared by.
type rateScope int

const (
	perAccount rateScope = iota
	perStream
	perConsumerShard // one consumer's subscriptions to one shard
)

// callRate is AWS's limit on calls of one control-plane operation: a rate
// per second, or a number of successful calls in a rolling window (both
// may apply).
type callRate struct {
	scope     rateScope
	perSecond float64 // 0: no per-second limit
	window    time.Duration
	windowMax int // successful calls allowed per window; 0: none
}

// callRates is AWS's table of control-plane call rates, from the API
// reference of each operation. An operation is throttled by naming it
// here: the HTTP layer admits every call through Broker.AdmitCall, so an
// operation added later needs nothing more. Exceeding one gives
// LimitExceededException. GetShardIterator's per-shard rate is a
// throughput quota (quotas.go), as AWS answers it with
// ProvisionedThroughputExceededException.
var callRates = map[string]callRate{
	"AddTagsToStream":            {scope: perAccount, perSecond: 5},
	"CreateStream":               {scope: perAccount, perSecond: 5},
	"DeleteStream":               {scope: perAccount, perSecond: 5},
	"DeregisterStreamConsumer":   {scope: perStream, perSecond: 5},
	"DescribeAccountSettings":    {scope: perAccount, perSecond: 5},
	"DescribeLimits":             {scope: perAccount, perSecond: 1},
	"DescribeStream":             {scope: perAccount, perSecond: 10},
	"DescribeStreamConsumer":     {scope: perStream, perSecond: 20},
	"DescribeStreamSummary":      {scope: perAccount, perSecond: 20},
	"ListShards":                 {scope: perStream, perSecond: 1000},
	"ListStreamConsumers":        {scope: perStream, perSecond: 5},
	"ListStreams":                {scope: perAccount, perSecond: 5},
	"ListTagsForStream":          {scope: perAccount, perSecond: 5},
	"MergeShards":                {scope: perAccount, perSecond: 5},
	"RegisterStreamConsumer":     {scope: perAccount, perSecond: 5},
	"RemoveTagsFromStream":       {scope: perAccount, perSecond: 5},
	"SplitShard":                 {scope: perAccount, perSecond: 5},
	"UpdateAccountSettings":      {scope: perAccount, perSecond: 5},
	"UpdateStreamWarmThroughput": {scope: perAccount, perSecond: 5},
	// At most 10 scalings per stream in any 24 hours, and 10 calls a
	// second. The bounds on the target count are UpdateShardCount's own.
	"UpdateShardCount": {scope: perStream, perSecond: 10, window: 24 * time.Hour, windowMax: 10},
	// One SubscribeToShard a second per consumer and shard.
	"SubscribeToShard": {scope: perConsumerShard, perSecond: 1},
	// 25 successful encryption changes per stream in any 24 hours.
	"StartStreamEncryption": {scope: perStream, window: 24 * time.Hour, windowMax: 25},
	"StopStreamEncryption":  {scope: perStream, window: 24 * time.Hour, windowMax: 25},
}

// opLimiter holds the call-rate state of this broker. Like the shard
// quotas, each broker keeps its own.
type opLimiter struct {
	rates map[string]callRate
	now   func() time.Time

	mu      sync.Mutex
	buckets map[rateKey]*bucket
	windows map[rateKey][]time.Time // successful calls in the window, oldest first
}

type rateKey struct {
	op       string
	stream   string // "" for per-account rates
	consumer string // consumer ARN, for per-consumer-and-shard rates
	shard    string
}

func newOpLimiter(rates map[string]callRate, now func() time.Time) *opLimiter {
	return &opLimiter{rates: rates, now: now, buckets: map[rateKey]*bucket{}, windows: map[rateKey][]time.Time{}}
}

// AdmitCall admits one call of the operation op, or refuses it with AWS's
// LimitExceededException when its call rate is spent. target names what
// the call is for; it is asked only for per-stream and narrower rates. done
// must be called once the call has succeeded: rolling-window limits count
// successful calls only. With EnforceShardQuotas off every call is
// admitted.
func (b *Broker) AdmitCall(op string, target func() kinesis.CallTarget) (done func(), err error) {
	if !b.cfg.EnforceShardQuotas {
		return func() {}, nil
	}
	r, ok := b.rates.rates[op]
	if !ok {
		return func() {}, nil
	}
	key := rateKey{op: op}
	switch r.scope {
	case perStream:
		key.stream = streamNameOf(target().Stream)
	case perConsumerShard:
		t := target()
		key.stream, key.consumer, key.shard = streamNameOf(t.Stream), t.ConsumerARN, t.ShardID
	}
	return b.rates.admit(key, r, b.cfg.AccountID)
}

func (l *opLimiter) admit(key rateKey, r callRate, account string) (func(), error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.windowMax > 0 {
		calls := l.prune(key, now.Add(-r.window))
		if len(calls) >= r.windowMax {
			return nil, kinesis.Errorf(kinesis.ErrLimitExceeded, "%s has been called successfully %d times in the last %s for stream %s under account %s, which is the limit.", key.op, len(calls), windowText(r.window), key.stream, account)
		}
	}
	if r.perSecond > 0 {
		bk := l.buckets[key]
		if bk == nil {
			bk = newBucket(r.perSecond, max(1, r.perSecond), now)
			l.buckets[key] = bk
		}
		if !bk.can(now, 1) {
			if key.consumer != "" {
				return nil, kinesis.Errorf(kinesis.ErrLimitExceeded, "Rate exceeded for consumer %s and shard %s in stream %s under account %s.", key.consumer, key.shard, key.stream, account)
			}
			if key.stream == "" {
				return nil, kinesis.Errorf(kinesis.ErrLimitExceeded, "Rate exceeded for account %s.", account)
			}
			return nil, kinesis.Errorf(kinesis.ErrLimitExceeded, "Rate exceeded for stream %s under account %s.", key.stream, account)
		}
		bk.take(1)
	}
	if r.windowMax == 0 {
		return func() {}, nil
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.windows[key] = append(l.windows[key], l.now())
	}, nil
}

// prune drops the calls of key made before since and returns the rest.
func (l *opLimiter) prune(key rateKey, since time.Time) []time.Time {
	calls := l.windows[key]
	i := 0
	for i < len(calls) && calls[i].Before(since) {
		i++
	}
	calls = calls[i:]
	if len(calls) == 0 {
		delete(l.windows, key)
	} else {
		l.windows[key] = calls
	}
	return calls
}

func windowText(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return d.String()
}

// streamNameOf is the stream a reference names, from its ARN when it has
// no name. Consumer ARNs name their stream too.
func streamNameOf(ref kinesis.StreamRef) string {
	if ref.Name != "" {
		return ref.Name
	}
	_, rest, ok := strings.Cut(ref.ARN, ":stream/")
	if !ok {
		return ref.ARN
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}
