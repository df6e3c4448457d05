package producer

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"golang.org/x/time/rate"
)

// The dispatcher owns every buffered record. One goroutine runs it: it
// places records into per-shard aggregates, seals aggregates when full or
// lingered, packs sealed ones into PutRecords requests within each shard's
// rate limit, and handles the responses (results, retries, shard map
// refreshes). Requests run on their own goroutines; ListShards on one more.
//
// A user record is in exactly one place at a time: the inbox, the
// unassigned list, a shard's open or ready aggregates, a request in flight,
// or the retry heap; it leaves through complete or fail, which release its
// room in the buffer.

// userRecord is one record of Put on its way.
type userRecord struct {
	key, ehk  string
	hash      hashKey
	data      []byte
	size      int // data and key
	gen       uint64
	start     time.Time
	attempts  int
	lastErr   error
	notBefore time.Time // retry time
	fut       Future    // embedded: one allocation per record
}

// shardQueue is the state of one predicted shard ("" gathers records whose
// shard is unknown; they are sent unaggregated and unlimited).
type shardQueue struct {
	id           string
	open         *aggregate
	ready        []*aggregate
	recLim       *rate.Limiter // nil: unlimited
	byteLim      *rate.Limiter
	inflight     int
	blockedUntil time.Time // ordered mode: paused for a retry's backoff
}

// landing is an acknowledged aggregate waiting for the shard map.
type landing struct {
	a          *aggregate
	shard, seq string
}

// request is one PutRecords call in flight.
type request struct {
	aggs    []*aggregate
	shards  []*shardQueue // the queue each aggregate came from
	entries []types.PutRecordsRequestEntry
	bytes   int
	users   int
}

type response struct {
	req     *request
	out     *kinesis.PutRecordsOutput
	err     error
	latency time.Duration
}

type dispatcher struct {
	p      *Producer
	cfg    config
	ctx    context.Context // ends at stop; parent of every request
	cancel context.CancelFunc

	// inbox holds records from Put until run takes them all at once;
	// inboxReady tells run there are some. Once inboxClosed, add refuses.
	inboxMu     sync.Mutex
	inbox       []*userRecord
	inboxClosed bool
	inboxReady  chan struct{}
	results     chan *response
	maps        chan *shardMap
	refreshReq  chan struct{}
	wake        chan struct{}
	stopCh      chan struct{}
	flushUpTo   atomic.Uint64 // records of generations below it are flushed

	// Owned by the run goroutine.
	smap       *shardMap
	mapKnown   bool
	unassigned []*userRecord
	shards     map[string]*shardQueue
	order      []*shardQueue // round-robin order
	rr         int
	retries    retryHeap
	inflight   int
	barrier    bool // ordered mode: send nothing until in-flight requests are back
	stopping   bool
	lastSweep  time.Time
	// done holds the records whose result is set, until settle.
	done []*userRecord
	// landed holds acknowledged aggregates that went to a shard the map
	// does not know yet, until a refreshed map tells which of their
	// records that shard holds.
	landed []landing
}

func newDispatcher(p *Producer) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &dispatcher{
		p:          p,
		cfg:        p.cfg,
		ctx:        ctx,
		cancel:     cancel,
		inboxReady: make(chan struct{}, 1),
		results:    make(chan *response, p.cfg.maxInFlight),
		maps:       make(chan *shardMap),
		refreshReq: make(chan struct{}, 1),
		wake:       make(chan struct{}, 1),
		stopCh:     make(chan struct{}),
		smap:       &shardMap{byID: map[string]shardInfo{}},
		shards:     map[string]*shardQueue{},
	}
}

// add hands a record to the dispatcher; false once it has stopped.
func (d *dispatcher) add(u *userRecord) bool {
	d.inboxMu.Lock()
	if d.inboxClosed {
		d.inboxMu.Unlock()
		return false
	}
	d.inbox = append(d.inbox, u)
	first := len(d.inbox) == 1
	d.inboxMu.Unlock()
	if first {
		select {
		case d.inboxReady <- struct{}{}:
		default:
		}
	}
	return true
}

// takeInbox returns the records waiting in the inbox, closing it if
// asked.
func (d *dispatcher) takeInbox(close bool) []*userRecord {
	d.inboxMu.Lock()
	defer d.inboxMu.Unlock()
	in := d.inbox
	d.inbox = nil
	d.inboxClosed = d.inboxClosed || close
	return in
}

func (d *dispatcher) flush(gen uint64) {
	for {
		cur := d.flushUpTo.Load()
		if cur > gen || d.flushUpTo.CompareAndSwap(cur, gen+1) {
			break
		}
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) stop() { close(d.stopCh) }

func (d *dispatcher) requestRefresh() {
	select {
	case d.refreshReq <- struct{}{}:
	default:
	}
}

var never = time.Unix(1<<40, 0)

func (d *dispatcher) run() {
	refresherDone := make(chan struct{})
	go func() {
		d.refresher()
		close(refresherDone)
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	stopCh := d.stopCh
	for {
		next := d.pump(time.Now())
		d.settle()
		if d.stopping && d.inflight == 0 {
			break
		}
		timer.Reset(max(time.Until(next), 0))
		select {
		case <-d.inboxReady:
			for _, u := range d.takeInbox(false) {
				d.place(u)
			}
		case r := <-d.results:
			d.handle(r)
		case m := <-d.maps:
			d.setMap(m)
		case <-d.wake:
		case <-timer.C:
		case <-stopCh:
			stopCh = nil
			d.stopping = true
			d.cancel()
			for _, u := range d.takeInbox(true) {
				d.fail(u, ErrClosed)
			}
			d.failQueued(ErrClosed)
		}
		d.settle()
	}
	d.cancel()
	<-refresherDone
}

// pump does everything due at now and returns when it next has work.
func (d *dispatcher) pump(now time.Time) time.Time {
	next := never
	if d.stopping {
		return next
	}
	for len(d.retries) > 0 && !d.retries[0].notBefore.After(now) {
		d.place(heap.Pop(&d.retries).(*userRecord))
	}
	if len(d.retries) > 0 {
		next = d.retries[0].notBefore
	}
	if now.Sub(d.lastSweep) >= time.Second {
		d.lastSweep = now
		d.expireQueued(now)
	}
	flushUpTo := d.flushUpTo.Load()
	for _, q := range d.order {
		if a := q.open; a != nil {
			if !a.sendBy.After(now) || a.minGen < flushUpTo {
				d.seal(q)
			} else {
				next = earliest(next, a.sendBy)
			}
		}
	}
	// Ordered: after a reshard, wait until requests to old shards are back
	// and it is known which of their records must be put again.
	for d.inflight < d.cfg.maxInFlight && !(d.barrier && d.inflight > 0) && !(d.cfg.ordered && len(d.landed) > 0) {
		d.barrier = false
		req, wait := d.collect(now, flushUpTo)
		next = earliest(next, wait)
		if req == nil {
			break
		}
		d.send(req, now)
	}
	return next
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// queue returns the queue of shard id, creating it.
func (d *dispatcher) queue(id string) *shardQueue {
	q := d.shards[id]
	if q == nil {
		q = &shardQueue{id: id}
		if id != "" && d.cfg.shardRecordsPerSec > 0 {
			q.recLim = rate.NewLimiter(rate.Limit(d.cfg.shardRecordsPerSec), d.cfg.shardRecordsPerSec)
		}
		if id != "" && d.cfg.shardBytesPerSec > 0 {
			// The bucket holds at least the largest record, which could
			// otherwise never be sent.
			burst := max(d.cfg.shardBytesPerSec, d.cfg.maxRecordSize+1024, d.cfg.aggregationMaxSize+1024)
			q.byteLim = rate.NewLimiter(rate.Limit(d.cfg.shardBytesPerSec), burst)
		}
		d.shards[id] = q
		d.order = append(d.order, q)
	}
	return q
}

// place puts a record into the aggregate of its predicted shard.
func (d *dispatcher) place(u *userRecord) {
	if d.stopping {
		d.fail(u, ErrClosed)
		return
	}
	if !d.mapKnown {
		d.unassigned = append(d.unassigned, u)
		return
	}
	s, ok := d.smap.predict(u.hash)
	q := d.queue(s.id)
	if !ok || !d.cfg.aggregate {
		a := newAggregate()
		a.add(u, d.cfg.linger)
		a.shard = s.id
		q.ready = append(q.ready, a)
		return
	}
	var sl slot
	if q.open != nil {
		if sl = q.open.slotFor(u); sl.size > d.cfg.aggregationMaxSize {
			// A full aggregate gains nothing by waiting.
			q.open.sendBy = u.start
			d.seal(q)
		}
	}
	if q.open == nil {
		q.open = newAggregate()
		q.open.shard = s.id
		q.open.maxSize = d.cfg.aggregationMaxSize
		sl = q.open.slotFor(u)
	}
	q.open.addAt(u, sl, d.cfg.linger)
}

func (d *dispatcher) seal(q *shardQueue) {
	q.ready = append(q.ready, q.open)
	q.open = nil
}

// collect packs ready aggregates into a request, or returns nil and when
// to look again: a request goes when it is full or holds an aggregate due
// (lingered or flushed).
func (d *dispatcher) collect(now time.Time, flushUpTo uint64) (*request, time.Time) {
	type take struct {
		q *shardQueue
		n int
	}
	var takes []take
	wait := never
	// Spread the records buffered over the requests that can be in
	// flight rather than filling one: a large request waits for every
	// shard's append in it, and the SDK encodes it by growing one buffer
	// (copying it over and over). Filling the last free slot to the batch
	// limit would put most of a burst in one request while the others
	// come back empty-handed.
	limitBytes := d.cfg.batchBytes
	if d.cfg.maxInFlight > 1 {
		_, buffered := d.p.buf.usage()
		limitBytes = min(limitBytes, max(spreadBytes, buffered/d.cfg.maxInFlight))
	}
	count, bytes, due, full := 0, 0, false, false
	for i := range d.order {
		q := d.order[(d.rr+i)%len(d.order)]
		// One request per shard at a time: two in flight at once may be
		// stored in either order. So, as with the KPL, a shard's records
		// are stored in the order they were put unless a retry (or a
		// reshard) intervenes; WithOrdering keeps it across those too.
		if len(q.ready) == 0 || q.inflight > 0 {
			continue
		}
		if q.blockedUntil.After(now) {
			wait = earliest(wait, q.blockedUntil)
			continue
		}
		recTokens, byteTokens := tokens(q.recLim, now), tokens(q.byteLim, now)
		n := 0
		for _, a := range q.ready {
			if d.cfg.ordered && n == 1 {
				break
			}
			ws := a.wireSize()
			if count+1 > d.cfg.batchCount || (count > 0 && bytes+ws > limitBytes) {
				full = true
				break
			}
			if recTokens < 1 || byteTokens < float64(ws) {
				// Like the KPL's limiter, drain every 25 ms at most, so a
				// throttled shard sends batches rather than a record per
				// token.
				wait = earliest(wait, now.Add(max(limiterTick, tokenWait(q.recLim, 1-recTokens), tokenWait(q.byteLim, float64(ws)-byteTokens))))
				break
			}
			recTokens--
			byteTokens -= float64(ws)
			n++
			count++
			bytes += ws
			if !a.sendBy.After(now) || a.minGen < flushUpTo {
				due = true
			} else {
				wait = earliest(wait, a.sendBy)
			}
		}
		if n > 0 {
			takes = append(takes, take{q, n})
		}
		if full {
			break
		}
	}
	if count == 0 || !(due || full) {
		return nil, wait
	}
	d.rr++
	req := &request{}
	for _, t := range takes {
		for _, a := range t.q.ready[:t.n] {
			ws := a.wireSize()
			if t.q.recLim != nil {
				t.q.recLim.AllowN(now, 1)
			}
			if t.q.byteLim != nil {
				t.q.byteLim.AllowN(now, ws)
			}
			req.aggs = append(req.aggs, a)
			req.shards = append(req.shards, t.q)
		}
		t.q.ready = slices.Delete(t.q.ready, 0, t.n)
	}
	return req, never
}

// limiterTick is the shortest wait for a shard's tokens.
const limiterTick = 25 * time.Millisecond

// spreadBytes is the size of requests below which they are not spread.
const spreadBytes = 64 << 10

func tokens(l *rate.Limiter, now time.Time) float64 {
	if l == nil {
		return float64(1 << 62)
	}
	return l.TokensAt(now)
}

// tokenWait is how long l takes to gather missing more tokens.
func tokenWait(l *rate.Limiter, missing float64) time.Duration {
	if l == nil || missing <= 0 {
		return 0
	}
	return time.Duration(missing / float64(l.Limit()) * float64(time.Second))
}

// send drops expired records from the request's aggregates, encodes the
// rest and starts the call.
func (d *dispatcher) send(req *request, now time.Time) {
	aggs, shards := req.aggs[:0], req.shards[:0]
	for i, a := range req.aggs {
		live := a.users[:0]
		for _, u := range a.users {
			if d.expired(u, now) {
				d.fail(u, expiredError(u))
				continue
			}
			live = append(live, u)
		}
		if len(live) == 0 {
			continue
		}
		if len(live) != len(a.users) {
			a = rebuild(a, live, d.cfg.linger)
		}
		aggs = append(aggs, a)
		shards = append(shards, req.shards[i])
	}
	req.aggs, req.shards = aggs, shards
	if len(req.aggs) == 0 {
		return
	}
	req.entries = make([]types.PutRecordsRequestEntry, 0, len(req.aggs))
	for i, a := range req.aggs {
		req.shards[i].inflight++
		var e types.PutRecordsRequestEntry
		if len(a.users) == 1 {
			u := a.users[0]
			// The keys stay put until the record is done.
			e = types.PutRecordsRequestEntry{PartitionKey: &u.key, Data: u.data}
			if u.ehk != "" {
				e.ExplicitHashKey = &u.ehk
			}
		} else {
			// The first record's own key rather than the KPL's fixed "a",
			// and its hash key, which routes the aggregate to its shard.
			e = types.PutRecordsRequestEntry{
				PartitionKey:    &a.users[0].key,
				ExplicitHashKey: aws.String(a.users[0].hash.String()),
				Data:            a.encode(),
			}
		}
		for _, u := range a.users {
			u.attempts++
		}
		req.entries = append(req.entries, e)
		req.bytes += len(e.Data) + len(aws.ToString(e.PartitionKey))
		req.users += len(a.users)
	}
	d.inflight++
	name, arn := streamRef(d.p.stream)
	in := &kinesis.PutRecordsInput{StreamName: name, StreamARN: arn, Records: req.entries}
	go func() {
		ctx, cancel := context.WithTimeout(d.ctx, d.cfg.requestTimeout)
		start := time.Now()
		out, err := d.p.client.PutRecords(ctx, in)
		cancel()
		d.results <- &response{req: req, out: out, err: err, latency: time.Since(start)}
	}()
}

// rebuild makes a new aggregate of users in place of a.
func rebuild(a *aggregate, users []*userRecord, linger time.Duration) *aggregate {
	b := newAggregate()
	b.shard = a.shard
	for _, u := range users {
		b.add(u, linger)
	}
	return b
}

// expired reports whether u's TTL has passed at t. (The deadline is not
// kept in u: a smaller record is a smaller allocation per Put.)
func (d *dispatcher) expired(u *userRecord, t time.Time) bool {
	return t.After(u.start.Add(d.cfg.ttl))
}

// EntryError is the error of a record that PutRecords refused.
type EntryError struct {
	Code, Message string
}

func (e *EntryError) Error() string { return e.Code + ": " + e.Message }

const throttled = "ProvisionedThroughputExceededException"

// errWrongShard is the retry reason of the user records of an aggregate
// that went to a shard not holding all their hash keys: consumers
// filtering by hash range, as the KCL does, drop such an aggregate.
var errWrongShard = errors.New("aggregate landed on a shard outside some of its records' hash key range")

func expiredError(u *userRecord) error {
	if u.lastErr == nil {
		return fmt.Errorf("%w after %d attempts", ErrExpired, u.attempts)
	}
	return fmt.Errorf("%w after %d attempts: %w", ErrExpired, u.attempts, u.lastErr)
}

// permanent reports whether a request error will not heal by retrying.
func permanent(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDeniedException", "ValidationException", "InvalidArgumentException":
			return true
		}
	}
	return false
}

func (d *dispatcher) handle(r *response) {
	d.inflight--
	for _, q := range r.req.shards {
		q.inflight--
	}
	now := time.Now()
	stats := RequestStats{Records: len(r.req.entries), UserRecords: r.req.users, Bytes: r.req.bytes, Latency: r.latency, Err: r.err}
	err := r.err
	if err == nil && len(r.out.Records) != len(r.req.entries) {
		err = fmt.Errorf("put records: response has %d results for %d records", len(r.out.Records), len(r.req.entries))
		stats.Err = err
	}
	if err != nil {
		stats.Failed = len(r.req.entries)
		if !d.stopping {
			d.p.log.Warn("put records failed", "records", len(r.req.entries), "err", err)
		}
		perm := permanent(err)
		for _, a := range r.req.aggs {
			stats.Retried += d.retry(a.users, err, perm, now)
		}
	} else {
		for i, e := range r.out.Records {
			a := r.req.aggs[i]
			predicted := a.shard
			if e.ErrorCode != nil {
				code := aws.ToString(e.ErrorCode)
				if code == throttled {
					stats.Throttled++
				} else {
					stats.Failed++
				}
				stats.Retried += d.retry(a.users, &EntryError{Code: code, Message: aws.ToString(e.ErrorMessage)}, false, now)
				continue
			}
			stats.Retried += d.succeed(a, predicted, aws.ToString(e.ShardId), aws.ToString(e.SequenceNumber), false, now)
		}
	}
	if m := d.cfg.metrics; m != nil {
		m.RequestDone(stats)
	}
}

// succeed completes the user records of an acknowledged aggregate, and
// sends back for retry those that landed outside their hash range. When
// the map does not know the shard, the decision waits for a refreshed map
// unless final.
func (d *dispatcher) succeed(a *aggregate, predicted, shard, seq string, final bool, now time.Time) (retried int) {
	if predicted != "" && shard != predicted {
		d.p.log.Debug("record landed on an unexpected shard", "predicted", predicted, "shard", shard)
		d.requestRefresh()
	}
	if len(a.users) == 1 {
		d.complete(a.users[0], Result{ShardID: shard, SequenceNumber: seq, Attempts: a.users[0].attempts})
		return 0
	}
	landed, known := d.smap.byID[shard]
	if !known && shard != predicted && !final {
		d.landed = append(d.landed, landing{a: a, shard: shard, seq: seq})
		return 0
	}
	// A shard never changes its range, so records predicted for the shard
	// they landed on are where consumers look for them.
	inRange := shard == predicted
	if !inRange && known {
		inRange = true
		for _, u := range a.users {
			inRange = inRange && landed.contains(u.hash)
		}
	}
	if !inRange {
		// A consumer that filters by hash range, as the KCL does, drops
		// an aggregate holding any record outside its shard's range, the
		// whole of it: every record is put again.
		return d.retry(a.users, errWrongShard, false, now)
	}
	for i, u := range a.users {
		d.complete(u, Result{ShardID: shard, SequenceNumber: seq, SubSequenceNumber: int64(i), Aggregated: true, Attempts: u.attempts})
	}
	return 0
}

// retry sends users back with backoff, or fails those whose TTL would
// pass first. It returns how many will be retried.
func (d *dispatcher) retry(users []*userRecord, err error, perm bool, now time.Time) int {
	var again []*userRecord
	var until time.Time
	for _, u := range users {
		u.lastErr = err
		switch {
		case d.stopping:
			d.fail(u, fmt.Errorf("%w: %w", ErrClosed, err))
			continue
		case perm:
			d.fail(u, err)
			continue
		}
		at := now.Add(d.backoff(u.attempts))
		if d.expired(u, at) {
			d.fail(u, expiredError(u))
			continue
		}
		u.notBefore = at
		until = latest(until, at)
		again = append(again, u)
	}
	if !d.cfg.ordered {
		for _, u := range again {
			heap.Push(&d.retries, u)
		}
		return len(again)
	}
	// Ordered: back to the front of their shard's queue, which pauses for
	// the backoff, so nothing put later overtakes them.
	byShard := map[string][]*userRecord{}
	var ids []string
	for _, u := range again {
		s, _ := d.smap.predict(u.hash)
		if _, ok := byShard[s.id]; !ok {
			ids = append(ids, s.id)
		}
		byShard[s.id] = append(byShard[s.id], u)
	}
	for _, id := range ids {
		q := d.queue(id)
		front := d.pack(id, byShard[id])
		q.ready = append(front, q.ready...)
		q.blockedUntil = latest(q.blockedUntil, until)
	}
	return len(again)
}

// pack packs users in order into sealed aggregates for shard id.
func (d *dispatcher) pack(id string, users []*userRecord) []*aggregate {
	var out []*aggregate
	var a *aggregate
	for _, u := range users {
		if a != nil && (!d.cfg.aggregate || id == "" || a.sizeWith(u) > d.cfg.aggregationMaxSize) {
			a = nil
		}
		if a == nil {
			a = newAggregate()
			a.shard = id
			out = append(out, a)
		}
		a.add(u, d.cfg.linger)
	}
	return out
}

// backoff is the jittered exponential delay before attempt n+1.
func (d *dispatcher) backoff(attempts int) time.Duration {
	delay := d.cfg.minBackoff << min(max(attempts-1, 0), 30)
	if delay <= 0 || delay > d.cfg.maxBackoff {
		delay = d.cfg.maxBackoff
	}
	// Equal jitter: spread concurrent producers without ever retrying at
	// once.
	return delay/2 + rand.N(delay/2+1)
}

func (d *dispatcher) complete(u *userRecord, res Result) {
	u.fut.res = res
	d.finish(u)
}

func (d *dispatcher) fail(u *userRecord, err error) {
	u.fut.err = err
	d.p.log.Debug("record failed", "partition_key", u.key, "attempts", u.attempts, "err", err)
	d.finish(u)
}

// finish queues a record whose result is set for settle.
func (d *dispatcher) finish(u *userRecord) { d.done = append(d.done, u) }

// settle resolves the futures of the records finished since the last
// call and releases their room in the buffer, under one lock.
func (d *dispatcher) settle() {
	if len(d.done) == 0 {
		return
	}
	d.p.buf.releaseAll(d.done)
	if m := d.cfg.metrics; m != nil {
		now := time.Now()
		for _, u := range d.done {
			m.RecordDone(RecordStats{Bytes: u.size, Attempts: u.attempts, Latency: now.Sub(u.start), Err: u.fut.err})
		}
	}
	for i, u := range d.done {
		// The caller may keep the future, which holds the record: let
		// the data go.
		u.data = nil
		u.fut.resolve()
		d.done[i] = nil
	}
	d.done = d.done[:0]
}

// setMap installs a new shard map. When the shards changed, queued records
// are placed again, in order, so that aggregates match the new shards.
func (d *dispatcher) setMap(m *shardMap) {
	changed := !d.mapKnown || !d.smap.sameShards(m)
	d.smap, d.mapKnown = m, true
	// Acknowledged aggregates waiting for this map are resolved last: the
	// records they send back go to the front of their shards' queues.
	defer d.resolveLanded()
	if !changed {
		return
	}
	ids := make([]string, len(m.open))
	for i, s := range m.open {
		ids[i] = s.id
	}
	d.p.log.Info("shard map loaded", "open_shards", ids)
	var queued []*userRecord
	for _, q := range d.order {
		for _, a := range q.ready {
			queued = append(queued, a.users...)
		}
		if q.open != nil {
			queued = append(queued, q.open.users...)
		}
		q.ready, q.open = nil, nil
	}
	// Drop queues of shards that are gone and idle.
	order := d.order[:0]
	for _, q := range d.order {
		if _, open := m.byID[q.id]; open || q.inflight > 0 {
			order = append(order, q)
		} else {
			delete(d.shards, q.id)
		}
	}
	d.order = order
	if d.cfg.ordered {
		// Records in flight to old shards might fail and be retried;
		// nothing goes to the new shards until they are back.
		d.barrier = true
		if len(queued) > 0 {
			byShard := map[string][]*userRecord{}
			var sids []string
			for _, u := range queued {
				s, _ := m.predict(u.hash)
				if _, ok := byShard[s.id]; !ok {
					sids = append(sids, s.id)
				}
				byShard[s.id] = append(byShard[s.id], u)
			}
			for _, id := range sids {
				q := d.queue(id)
				q.ready = append(q.ready, d.pack(id, byShard[id])...)
			}
		}
	} else {
		for _, u := range queued {
			d.place(u)
		}
	}
	un := d.unassigned
	d.unassigned = nil
	for _, u := range un {
		d.place(u)
	}
}

func (d *dispatcher) resolveLanded() {
	landed := d.landed
	d.landed = nil
	for _, l := range landed {
		d.succeed(l.a, l.a.shard, l.shard, l.seq, true, time.Now())
	}
}

// expireQueued fails queued records whose TTL has passed: a shard held
// back by its rate limit may keep records past it.
func (d *dispatcher) expireQueued(now time.Time) {
	for _, q := range d.order {
		for i, a := range q.ready {
			if b := d.dropExpired(a, now); b != a {
				q.ready[i] = b
			}
		}
		q.ready = slices.DeleteFunc(q.ready, func(a *aggregate) bool { return a == nil })
		if q.open != nil {
			q.open = d.dropExpired(q.open, now)
		}
	}
	d.unassigned = slices.DeleteFunc(d.unassigned, func(u *userRecord) bool {
		if d.expired(u, now) {
			d.fail(u, expiredError(u))
			return true
		}
		return false
	})
}

// dropExpired fails a's expired records and returns what is left of a:
// a itself, a rebuilt aggregate, or nil.
func (d *dispatcher) dropExpired(a *aggregate, now time.Time) *aggregate {
	live := make([]*userRecord, 0, len(a.users))
	for _, u := range a.users {
		if d.expired(u, now) {
			d.fail(u, expiredError(u))
		} else {
			live = append(live, u)
		}
	}
	switch len(live) {
	case len(a.users):
		return a
	case 0:
		return nil
	}
	return rebuild(a, live, d.cfg.linger)
}

// failQueued fails every record not in flight.
func (d *dispatcher) failQueued(err error) {
	for _, q := range d.order {
		for _, a := range q.ready {
			for _, u := range a.users {
				d.fail(u, err)
			}
		}
		if q.open != nil {
			for _, u := range q.open.users {
				d.fail(u, err)
			}
		}
		q.ready, q.open = nil, nil
	}
	for _, u := range d.retries {
		d.fail(u, err)
	}
	d.retries = nil
	for _, u := range d.unassigned {
		d.fail(u, err)
	}
	d.unassigned = nil
	// Stored, but whether where consumers look is unknown.
	for _, l := range d.landed {
		for _, u := range l.a.users {
			d.fail(u, fmt.Errorf("%w before the shard %s that acknowledged the record was known", err, l.shard))
		}
	}
	d.landed = nil
}

// refresher loads the shard map at start, periodically, and when asked.
func (d *dispatcher) refresher() {
	ticker := time.NewTicker(d.cfg.shardMapRefresh)
	defer ticker.Stop()
	failures := 0
	for {
		ctx, cancel := context.WithTimeout(d.ctx, d.cfg.requestTimeout)
		m, err := listShards(ctx, d.p.client, d.p.stream)
		cancel()
		retryIn := time.Duration(0)
		if err != nil {
			if d.ctx.Err() != nil {
				return
			}
			failures++
			d.p.log.Warn("shard map not loaded; records go unaggregated until it is", "err", err)
			// Without a map, records are sent unaggregated rather than held.
			m = &shardMap{byID: map[string]shardInfo{}}
			retryIn = min(time.Second<<min(failures-1, 5), 30*time.Second)
		} else {
			failures = 0
		}
		if err == nil || failures == 1 {
			select {
			case d.maps <- m:
			case <-d.ctx.Done():
				return
			}
		}
		if retryIn > 0 {
			select {
			case <-time.After(retryIn):
			case <-d.ctx.Done():
				return
			}
			continue
		}
		select {
		case <-ticker.C:
		case <-d.refreshReq:
			// Several results may ask at once while a reshard settles.
			select {
			case <-time.After(100 * time.Millisecond):
			case <-d.ctx.Done():
				return
			}
		case <-d.ctx.Done():
			return
		}
	}
}

// retryHeap orders records waiting to be retried by their retry time.
type retryHeap []*userRecord

func (h retryHeap) Len() int           { return len(h) }
func (h retryHeap) Less(i, j int) bool { return h[i].notBefore.Before(h[j].notBefore) }
func (h retryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *retryHeap) Push(x any)        { *h = append(*h, x.(*userRecord)) }
func (h *retryHeap) Pop() any {
	old := *h
	u := old[len(old)-1]
	*h = old[:len(old)-1]
	return u
}
