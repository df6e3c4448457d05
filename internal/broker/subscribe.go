package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Enhanced fan-out. A subscription is a feed of one shard for one
// registered consumer. It holds no buffer of its own: each Next reads the
// next batch from the log when the previous event has been handed over,
// so a slow client holds at most one batch and delays nobody else. An idle
// feed waits on its shard's watch, which wakes every feed of the shard on
// this broker when a message is stored: at once for appends made here
// (the appender tells it before answering the writer), and through
// Log.WatchAppends for appends made by other servers over the store.

// maxEventBytes caps the record data of one event (one record always
// goes out, whatever its size): the memory a subscriber can hold.
const maxEventBytes = 1 << 20

// fanout is the broker's state for subscriptions.
type fanout struct {
	mu      sync.Mutex
	active  map[string]*slot       // by "consumerARN shardID": the open subscription
	watches map[uint64]*shardWatch // by shard epoch, while any feed reads it
	meta    chan struct{}          // closed and replaced on metadata changes
	ended   chan struct{}          // closed by EndSubscriptions
	endOnce sync.Once
}

func (f *fanout) init() {
	f.active = make(map[string]*slot)
	f.watches = make(map[uint64]*shardWatch)
	f.meta = make(chan struct{})
	f.ended = make(chan struct{})
}

// metaChanged wakes every feed to look at the stream's metadata again:
// its shard may have closed, its consumer may be gone.
func (f *fanout) metaChanged() {
	f.mu.Lock()
	close(f.meta)
	f.meta = make(chan struct{})
	f.mu.Unlock()
}

func (f *fanout) metaCh() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.meta
}

// EndSubscriptions ends every subscription of this broker, now and later:
// their next event is the end of the stream, and clients subscribe again
// elsewhere. A server calls it when it starts shutting down, so that open
// feeds do not hold up the shutdown.
func (b *Broker) EndSubscriptions() {
	b.fanout.endOnce.Do(func() { close(b.fanout.ended) })
}

// slot is a (consumer, shard)'s open subscription.
type slot struct {
	since time.Time
	// over is closed when a newer subscription takes the slot over.
	over chan struct{}
}

// shardWatch wakes the feeds of one shard when messages are stored.
type shardWatch struct {
	mu      sync.Mutex
	lastSeq uint64        // newest message known stored
	ch      chan struct{} // closed and replaced when lastSeq grows
	refs    int
	stop    context.CancelFunc
	ready   chan struct{} // closed once the log watch is in place or failed
	err     error
}

func (w *shardWatch) notify(seq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq <= w.lastSeq {
		return // the appender and the log watch both report local appends
	}
	w.lastSeq = seq
	close(w.ch)
	w.ch = make(chan struct{})
}

// state returns the newest sequence known and the channel closed when a
// newer one is stored.
func (w *shardWatch) state() (uint64, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastSeq, w.ch
}

// appended is the appenders' report of a stored message.
func (b *Broker) appended(epoch, seq uint64) {
	b.fanout.mu.Lock()
	w := b.fanout.watches[epoch]
	b.fanout.mu.Unlock()
	if w != nil {
		w.notify(seq)
	}
}

// acquireWatch returns the shard's watch, starting it for the first feed.
func (b *Broker) acquireWatch(ctx context.Context, epoch uint64) (*shardWatch, error) {
	f := &b.fanout
	f.mu.Lock()
	w := f.watches[epoch]
	if w == nil {
		wctx, cancel := context.WithCancel(b.bg)
		w = &shardWatch{ch: make(chan struct{}), stop: cancel, ready: make(chan struct{})}
		f.watches[epoch] = w
		go func() {
			w.err = b.log.WatchAppends(wctx, logName(epoch), w.notify)
			close(w.ready)
		}()
	}
	w.refs++
	f.mu.Unlock()
	select {
	case <-w.ready:
	case <-ctx.Done():
		b.releaseWatch(epoch, w)
		return nil, ctx.Err()
	}
	if w.err != nil {
		b.releaseWatch(epoch, w)
		return nil, w.err
	}
	return w, nil
}

func (b *Broker) releaseWatch(epoch uint64, w *shardWatch) {
	f := &b.fanout
	f.mu.Lock()
	defer f.mu.Unlock()
	w.refs--
	if w.refs == 0 || w.err != nil {
		if f.watches[epoch] == w {
			delete(f.watches, epoch)
		}
	}
	if w.refs == 0 {
		w.stop()
	}
}

// SubscribeToShard opens a feed of a shard for an ACTIVE consumer. Only
// one feed per (consumer, shard) is open at a time on this server.
func (b *Broker) SubscribeToShard(ctx context.Context, in kinesis.SubscribeToShardInput) (kinesis.Subscription, error) {
	streamARN, consumerName, _, ok := kinesis.ParseConsumerARN(in.ConsumerARN)
	if !ok {
		return nil, kinesis.Errorf(kinesis.ErrInvalidArgument, "ConsumerARN %s is not a valid consumer ARN.", in.ConsumerARN)
	}
	name, err := b.resolve(kinesis.StreamRef{ARN: streamARN})
	if err != nil {
		return nil, err
	}
	iter := kinesis.GetShardIteratorInput{
		ShardID:                in.ShardID,
		Type:                   in.Start.Type,
		StartingSequenceNumber: in.Start.SequenceNumber,
		Timestamp:              in.Start.Timestamp,
	}
	if err := checkIteratorParams(iter); err != nil {
		return nil, err
	}
	s, err := b.stream(ctx, name)
	if err != nil {
		return nil, err
	}
	c, ok := consumerByARN(s, in.ConsumerARN, b.cfg.Now())
	if !ok || c.Status(b.cfg.Now()) != kinesis.ConsumerActive {
		// A consumer registered or activated through another server may
		// not be in the cache yet: ask the store.
		if s, _, err = b.loadStream(ctx, name); err != nil {
			return nil, err
		}
		if c, ok = consumerByARN(s, in.ConsumerARN, b.cfg.Now()); !ok {
			return nil, kinesis.Errorf(kinesis.ErrResourceNotFound, "Consumer %s under stream %s under account %s not found.", in.ConsumerARN, name, b.cfg.AccountID)
		}
	}
	if c.Status(b.cfg.Now()) != kinesis.ConsumerActive {
		return nil, kinesis.Errorf(kinesis.ErrResourceInUse, "Consumer %s with creation timestamp %d under stream: %s , account %s is not in ACTIVE status.", consumerName, c.CreatedAt.Unix(), name, b.cfg.AccountID)
	}
	if st := s.Status(b.cfg.Now()); st != kinesis.StatusActive && st != kinesis.StatusUpdating {
		return nil, kinesis.Errorf(kinesis.ErrResourceInUse, "Stream %s under account %s is %s.", name, b.cfg.AccountID, st)
	}
	sh, id, ok := findShard(s, in.ShardID)
	if !ok {
		return nil, b.shardNotFound(name, id)
	}
	tok, err := b.startToken(ctx, s, sh, iter)
	if errors.Is(err, kinesis.ErrLogNotFound) {
		return nil, kinesis.StreamNotFound(name, b.cfg.AccountID)
	}
	if err != nil {
		return nil, err
	}

	// As on AWS, a second subscription within SubscriptionTakeover of the
	// first is refused, and a later one takes over: the first ends. A
	// client whose connection died unnoticed thus gets its shard back.
	key := in.ConsumerARN + " " + sh.ID
	f := &b.fanout
	mine := &slot{since: b.cfg.Now(), over: make(chan struct{})}
	f.mu.Lock()
	if old := f.active[key]; old != nil {
		if mine.since.Sub(old.since) < b.cfg.SubscriptionTakeover {
			f.mu.Unlock()
			return nil, kinesis.Errorf(kinesis.ErrResourceInUse, "Another active subscription exists for this consumer: %s:%s:%s:%s", b.cfg.AccountID, name, sh.ID, consumerName)
		}
		close(old.over)
		b.cfg.Logger.Debug("subscription taken over", "stream", name, "shard", sh.ID, "consumer", consumerName)
	}
	f.active[key] = mine
	f.mu.Unlock()
	release := func() {
		f.mu.Lock()
		if f.active[key] == mine {
			delete(f.active, key)
		}
		f.mu.Unlock()
	}
	w, err := b.acquireWatch(ctx, sh.Epoch)
	if err != nil {
		release()
		if errors.Is(err, kinesis.ErrLogNotFound) {
			return nil, kinesis.StreamNotFound(name, b.cfg.AccountID)
		}
		return nil, fmt.Errorf("watch %s/%s: %w", name, sh.ID, err)
	}
	sub := &subscription{
		b:           b,
		consumerARN: in.ConsumerARN,
		shardID:     sh.ID,
		watch:       w,
		tok:         tok,
		cont:        positionBefore(tok),
		deadline:    time.Now().Add(b.cfg.SubscriptionLifetime),
		over:        mine.over,
		release:     release,
	}
	b.m.subscriptions.WithLabelValues(name).Inc()
	b.consumerActivity(in.ConsumerARN).subscriptions.Add(1)
	b.cfg.Logger.Debug("subscribed to shard", "stream", name, "shard", sh.ID, "consumer", consumerName, "start", in.Start.Type)
	return sub, nil
}

// consumerByARN finds a consumer of s that is not gone at now.
func consumerByARN(s *kinesis.Stream, arn string, now time.Time) (kinesis.Consumer, bool) {
	for _, c := range s.Consumers {
		if c.ARN == arn && !c.Gone(now) {
			return c, true
		}
	}
	return kinesis.Consumer{}, false
}

// positionBefore is the sequence number just before the record at tok: an
// AFTER_SEQUENCE_NUMBER start there reads from tok on.
func positionBefore(tok iteratorToken) kinesis.SequenceNumber {
	if tok.Index > 0 {
		return kinesis.SequenceNumber{Epoch: tok.Epoch, MsgSeq: tok.MsgSeq, Index: tok.Index - 1}
	}
	return kinesis.SequenceNumber{Epoch: tok.Epoch, MsgSeq: tok.MsgSeq - 1, Index: kinesis.MaxIndex}
}

// subscription implements kinesis.Subscription.
type subscription struct {
	b           *Broker
	consumerARN string
	shardID     string
	watch       *shardWatch
	tok         iteratorToken // the next record to send
	// cont is the ContinuationSequenceNumber: the last record sent, or
	// the position before tok.
	cont      kinesis.SequenceNumber
	deadline  time.Time
	over      <-chan struct{} // closed when another subscription takes over
	done      bool            // the closed shard's last event was sent
	release   func()
	closeOnce sync.Once
}

// Retries of a read that found nothing although the watch reported a newer
// message: in a cluster the replica answering reads may lag the leader by
// a moment. About half a second in all; a barrier of a sealed log, which
// reads skip, also ends up here.
const lagRetries = 8

func (s *subscription) Next(ctx context.Context) (kinesis.SubscribeToShardEvent, error) {
	b := s.b
	if s.done {
		return kinesis.SubscribeToShardEvent{}, io.EOF
	}
	remaining := time.Until(s.deadline)
	if remaining <= 0 {
		return kinesis.SubscribeToShardEvent{}, io.EOF
	}
	lifetime := time.NewTimer(remaining)
	defer lifetime.Stop()
	heartbeat := time.NewTimer(b.cfg.SubscriptionHeartbeat)
	defer heartbeat.Stop()
	retries := 0
	for {
		known, stored := s.watch.state()
		meta := b.fanout.metaCh()
		stream, sh, err := s.current(ctx)
		if err != nil {
			return kinesis.SubscribeToShardEvent{}, err
		}
		closed := !sh.Open()
		if closed && s.tok.MsgSeq > sh.EndingMsgSeq {
			s.done = true
			return kinesis.SubscribeToShardEvent{Records: []kinesis.Record{}, ChildShards: childShards(stream, sh)}, nil
		}
		r := reader{b: b, s: stream, name: logName(sh.Epoch), tok: s.tok, limit: kinesis.MaxGetRecordsLimit, maxBytes: maxEventBytes}
		out, err := r.read(ctx)
		if errors.Is(err, kinesis.ErrLogNotFound) {
			return kinesis.SubscribeToShardEvent{}, kinesis.StreamNotFound(stream.Name, b.cfg.AccountID)
		}
		if err != nil {
			if ctx.Err() != nil {
				return kinesis.SubscribeToShardEvent{}, ctx.Err()
			}
			return kinesis.SubscribeToShardEvent{}, fmt.Errorf("subscription to %s/%s: %w", stream.Name, sh.ID, err)
		}
		s.tok = r.tok // also past expired records and, for AT_TIMESTAMP, older ones
		if n := len(out.Records); n > 0 {
			s.cont, _ = kinesis.ParseSequenceNumber(out.Records[n-1].SequenceNumber)
			b.m.subscribeRecords.WithLabelValues(stream.Name).Add(float64(n))
			b.m.subscribeBytes.WithLabelValues(stream.Name).Add(float64(r.bytes))
			b.m.subscribeAge.WithLabelValues(stream.Name).Set(float64(out.MillisBehindLatest) / 1000)
			sa := b.shardActivity(sh.Epoch)
			sa.subscribeRecords.Add(int64(n))
			sa.subscribeBytes.Add(int64(r.bytes))
			ca := b.consumerActivity(s.consumerARN)
			ca.records.Add(int64(n))
			ca.bytes.Add(int64(r.bytes))
			return kinesis.SubscribeToShardEvent{
				Records:                    out.Records,
				ContinuationSequenceNumber: s.cont.String(),
				MillisBehindLatest:         out.MillisBehindLatest,
			}, nil
		}
		if (known >= s.tok.MsgSeq || closed) && retries < lagRetries {
			retries++
			if err := sleepCtx(ctx, time.Duration(1<<retries)*time.Millisecond); err != nil {
				return kinesis.SubscribeToShardEvent{}, err
			}
			continue
		}
		if closed {
			// Nothing left to read although the end was not reached: the
			// rest expired.
			s.done = true
			return kinesis.SubscribeToShardEvent{Records: []kinesis.Record{}, ChildShards: childShards(stream, sh)}, nil
		}
		select {
		case <-stored:
			retries = 0
		case <-meta:
		case <-heartbeat.C:
			return kinesis.SubscribeToShardEvent{Records: []kinesis.Record{}, ContinuationSequenceNumber: s.cont.String()}, nil
		case <-lifetime.C:
			return kinesis.SubscribeToShardEvent{}, io.EOF
		case <-b.fanout.ended:
			return kinesis.SubscribeToShardEvent{}, io.EOF
		case <-s.over:
			return kinesis.SubscribeToShardEvent{}, io.EOF
		case <-ctx.Done():
			return kinesis.SubscribeToShardEvent{}, ctx.Err()
		}
	}
}

// current returns the subscription's stream and shard as the metadata
// shows them now, or the error that ends the feed: the stream deleted (or
// created again), the consumer deregistered.
func (s *subscription) current(ctx context.Context) (*kinesis.Stream, kinesis.Shard, error) {
	b := s.b
	select {
	case <-b.fanout.ended:
		return nil, kinesis.Shard{}, io.EOF
	case <-s.over:
		return nil, kinesis.Shard{}, io.EOF
	default:
	}
	stream, err := b.stream(ctx, s.tok.StreamName)
	if err == nil && stream.ID != s.tok.StreamID {
		err = kinesis.StreamNotFound(s.tok.StreamName, b.cfg.AccountID)
	}
	if err != nil {
		return nil, kinesis.Shard{}, err
	}
	// A deregistered consumer (DELETING, then gone) loses its feeds.
	if c, ok := consumerByARN(stream, s.consumerARN, b.cfg.Now()); !ok || c.Status(b.cfg.Now()) == kinesis.ConsumerDeleting {
		return nil, kinesis.Shard{}, kinesis.Errorf(kinesis.ErrResourceNotFound, "Consumer %s under stream %s under account %s not found.", s.consumerARN, stream.Name, b.cfg.AccountID)
	}
	sh, ok := stream.ShardByEpoch(s.tok.Epoch)
	if !ok {
		return nil, kinesis.Shard{}, kinesis.Errorf(kinesis.ErrResourceNotFound, "Shard %s in stream %s under account %s does not exist", s.shardID, stream.Name, b.cfg.AccountID)
	}
	return stream, sh, nil
}

// Close frees the (consumer, shard) slot and the shard's watch.
func (s *subscription) Close() error {
	s.closeOnce.Do(func() {
		s.release()
		s.b.releaseWatch(s.tok.Epoch, s.watch)
		s.b.m.subscriptions.WithLabelValues(s.tok.StreamName).Dec()
		if a, ok := s.b.consumerStats.Load(s.consumerARN); ok { // gone with a deleted stream
			a.(*consumerActivity).subscriptions.Add(-1)
		}
	})
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
