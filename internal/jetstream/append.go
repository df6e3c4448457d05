package jetstream

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// How appends are fenced
//
// Each Backend appends to a log on subjects of its own (a slot per append
// in flight, sluice.log.<log>.<writer>-<slot>), and every append carries
// a condition JetStream checks before it stores a message: no message yet
// on the slot's current *marker* subject, sluice.log.<log>.<writer>-
// <slot>-f<k> (Nats-Expected-Last-Subject-Sequence 0 for the subject in
// Nats-Expected-Last-Subject-Sequence-Subject; a lookup of a subject that
// has no messages costs JetStream an index miss, where checking the
// slot's own subject would have it read a block back per append).
//
// An append that ends (its deadline, or a refusal) while an attempt may
// still be stored leaves that attempt "pending". The Backend then stores
// a fence, an empty message that readers skip, on the marker subject,
// retrying until it is stored, and moves the slot to marker k+1. From the
// moment the fence is stored, the pending attempt can never be: not one
// that sat for minutes in the buffers of a paused server, nor one
// re-proposed after a leader change. An append first stores the fence of
// every slot of its log with pending attempts. Until the fence is stored, which needs
// the log's stream to have a leader and a quorum, the pending attempt may
// still be stored (docs/cluster.md, "What a failed write means").
//
// Each append also carries a Nats-Msg-Id kept across its attempts, so an
// attempt that finds an earlier one stored learns its sequence from the
// ack (or, after the duplicate window, from the slot subject's last
// message).

// Headers of messages that are not log messages by themselves.
const (
	// hdrFence marks a fence; Read skips it.
	hdrFence = "Sluice-Fence"
	// hdrPart marks a part of a message larger than the server's
	// max_payload; Read skips it and reads it through its final message.
	hdrPart = "Sluice-Part"
	// hdrParts, on the final message of a split one, lists the sequences
	// of its earlier parts, comma-separated, in order.
	hdrParts = "Sluice-Parts"
)

// hdrExpectedLastSubjSeqSubj names the subject whose last sequence
// Nats-Expected-Last-Subject-Sequence is about (default: the message's).
const hdrExpectedLastSubjSeqSubj = "Nats-Expected-Last-Subject-Sequence-Subject"

// JetStream's error codes of publishes that the append path handles.
const (
	// errCodeDuplicateInProcess: an earlier publish with this
	// Nats-Msg-Id is being stored.
	errCodeDuplicateInProcess = 10158
	// errCodeWrongLastSeq: "wrong last sequence: N", the subject's last
	// sequence is N, not the expected one.
	errCodeWrongLastSeq = 10071
	// errCodeWrongLastSeqInProcess: a message on the subject is being
	// stored, so the expected sequence cannot be checked yet.
	errCodeWrongLastSeqInProcess = 10164
)

// Timing of append attempts. An attempt waits firstAppendAttempt for its
// ack, later ones twice as long as the one before, up to maxAppendAttempt,
// unless a reconnect or a leader election of the log's stream wakes them
// first (the attempt sent then waits wokenAttempt). An attempt nobody
// received (no responders: the stream has no leader yet) is sent again
// after a backoff from firstNoLeaderWait to maxNoLeaderWait, or at once on
// such an event.
const (
	firstAppendAttempt = 2 * time.Second
	maxAppendAttempt   = 4 * time.Second
	// wokenAttempt is how long the attempt sent at such an event waits.
	wokenAttempt      = 500 * time.Millisecond
	firstNoLeaderWait = 50 * time.Millisecond
	maxNoLeaderWait   = time.Second
	// inProcessWait is how long to wait before asking again about a
	// message JetStream reports in process.
	inProcessWait = 100 * time.Millisecond
	// statusTimeout bounds one look at a log's stream configuration.
	statusTimeout = time.Second
)

// Room left in a message for its headers: appendHeaderBytes for a message
// sent whole (Nats-Msg-Id and the marker condition take about 430 bytes
// with a log name of the longest, 255 characters), partHeaderBytes for the parts of a split one (the final part
// lists the sequences of the others). A server's max_payload must leave
// parts room for data: at least minMaxPayload.
const (
	appendHeaderBytes = 512
	partHeaderBytes   = 8 << 10
	minMaxPayload     = 256 << 10
)

// errAppendUnknown is an append that failed after an attempt that may have
// stored it: its records must not be written elsewhere. Like an append
// that ran out of time, it matches context.DeadlineExceeded.
var errAppendUnknown = fmt.Errorf("outcome unknown: an attempt went unanswered (%w) and may be stored until a later write to the log is", context.DeadlineExceeded)

// pubAck is JetStream's reply to a publish.
type pubAck struct {
	Seq       uint64              `json:"seq"`
	Duplicate bool                `json:"duplicate"`
	Error     *jetstream.APIError `json:"error"`
}

// logWriter is this Backend's state for appending to one log: a slot per
// append in flight (one, but for concurrent appends), each with a subject
// of its own.
type logWriter struct {
	name string

	mu    sync.Mutex
	slots []*slot
	freed chan struct{} // closed and replaced when a slot is released
}

// slot is one subject of a logWriter, sluice.log.<log>.<writer>-<n>.
// Appends on it take turns: each expects the sequence the one before
// stored.
type slot struct {
	lw      *logWriter
	name    string // the log
	subject string
	turn    chan struct{} // holds a token while an append or fence runs

	// unfenced: pending is not empty. Read without the turn, by the
	// appends of other slots, which fence every slot before they send.
	unfenced atomic.Bool

	// Guarded by turn.
	marker  int      // appends expect no message on marker subject number marker
	pending []string // ids of attempts that may still be stored: until a fence is
	fencing bool     // a fencer goroutine is running
}

func (s *slot) addPending(id string) {
	s.pending = append(s.pending, id)
	s.unfenced.Store(true)
}

// clearPending forgets the pending attempts: none can be stored any more.
func (s *slot) clearPending() {
	s.pending = nil
	s.unfenced.Store(false)
}

// markerSubject is the subject the slot's appends expect no message on.
func (s *slot) markerSubject() string { return s.subject + "-f" + strconv.Itoa(s.marker) }

// fenced records that the marker subject has a message: no pending
// attempt can be stored any more, and appends move to the next marker.
func (s *slot) fenced() {
	s.marker++
	s.clearPending()
}

// maxSlots bounds the appends to one log that run at once from one
// Backend; more wait for a slot.
const maxSlots = 64

func (s *slot) lock(ctx context.Context) error {
	select {
	case s.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *slot) tryLock() bool {
	select {
	case s.turn <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *slot) unlock() { <-s.turn }

// acquire returns a slot of w whose turn the caller now holds: an idle
// one, or a new one.
func (w *logWriter) acquire(ctx context.Context, writerID string) (*slot, error) {
	for {
		w.mu.Lock()
		var got *slot
		for _, s := range w.slots {
			if s.tryLock() {
				got = s
				break
			}
		}
		if got == nil && len(w.slots) < maxSlots {
			got = &slot{
				lw:      w,
				name:    w.name,
				subject: logSubjectPrefix + w.name + "." + writerID + "-" + strconv.Itoa(len(w.slots)),
				turn:    make(chan struct{}, 1),
			}
			got.turn <- struct{}{}
			w.slots = append(w.slots, got)
		}
		freed := w.freed
		w.mu.Unlock()
		if got != nil {
			return got, nil
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// release gives back a slot that acquire returned.
func (w *logWriter) release(s *slot) {
	s.unlock()
	w.mu.Lock()
	close(w.freed)
	w.freed = make(chan struct{})
	w.mu.Unlock()
}

// writer returns this Backend's writer for the log name.
func (b *Backend) writer(name string) *logWriter {
	b.writersMu.Lock()
	defer b.writersMu.Unlock()
	w := b.writers[name]
	if w == nil {
		w = &logWriter{name: name, freed: make(chan struct{})}
		b.writers[name] = w
	}
	return w
}

func (b *Backend) forgetWriter(name string) {
	b.writersMu.Lock()
	defer b.writersMu.Unlock()
	delete(b.writers, name)
}

// Append stores msg as one message and returns its sequence once the
// log's stream has stored it (with SyncAlways or `sync_interval: always`,
// on disk, on a quorum in a cluster).
//
// Attempts go out until one is answered or ctx (bounded by AppendTimeout)
// ends. If it ends while an attempt may still be stored, Append
// fails with an error matching context.DeadlineExceeded and the Backend
// fences the log (see "How appends are fenced" above).
//
// A message larger than the server's max_payload is stored in parts: the
// parts first, then a final message listing them, which is the message's
// sequence. Read puts them together; a part whose final message was never
// stored is never read.
func (b *Backend) Append(ctx context.Context, name string, msg []byte) (uint64, error) {
	if err := checkLogName(name); err != nil {
		return 0, err
	}
	if len(msg) > b.MaxMessageBytes() {
		return 0, fmt.Errorf("append to log %s: message of %d bytes exceeds the maximum of %d", name, len(msg), b.MaxMessageBytes())
	}
	ctx, cancel := ctx, func() {}
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, b.cfg.AppendTimeout)
	}
	defer cancel()
	lw := b.writer(name)
	w, err := lw.acquire(ctx, b.writerID)
	if err != nil {
		// Nothing was sent.
		return 0, fmt.Errorf("append to log %s: waiting for a slot: %w", name, err)
	}
	defer lw.release(w)

	// An embedded store keeps a reserve of disk free: refuse, unsent,
	// what would eat into it, or what a store that failed a write on a
	// full disk would fail too.
	done, err := b.guard.admit(int64(len(msg)), false)
	if err != nil {
		return 0, fmt.Errorf("append to log %s: %w", name, err)
	}
	defer done()
	if err := b.fenceSlots(ctx, lw, w); err != nil {
		return 0, fmt.Errorf("append to log %s: not sent, an earlier append's outcome is still unknown: %w", name, err)
	}
	var extra nats.Header
	if pieces := b.split(msg); len(pieces) > 1 {
		seqs, err := b.appendParts(ctx, w, pieces[:len(pieces)-1])
		if err != nil {
			return 0, fmt.Errorf("append to log %s: %w", name, err)
		}
		extra = nats.Header{hdrParts: []string{joinSeqs(seqs)}}
		msg = pieces[len(pieces)-1]
	}
	seq, err := b.publishFenced(ctx, w, newMsgID(), msg, extra)
	if err != nil {
		return 0, fmt.Errorf("append to log %s: %w", name, err)
	}
	return seq, nil
}

// publishFenced publishes data on w's subject with the Nats-Msg-Id id,
// expecting no message on w's marker subject, until it is stored (its
// sequence), refused, or ctx ends. The caller holds w's turn. An attempt
// that may be stored when it gives up is left pending and the log is
// fenced.
func (b *Backend) publishFenced(ctx context.Context, w *slot, id string, data []byte, extra nats.Header) (seq uint64, err error) {
	mayLand := false // an attempt went unanswered
	defer func() {
		if err != nil && mayLand {
			w.addPending(id)
			b.startFencer(w)
		}
	}()
	for {
		msg := func() *nats.Msg {
			hdr := nats.Header{
				jetstream.MsgIDHeader:               []string{id},
				jetstream.ExpectedLastSubjSeqHeader: []string{"0"},
				hdrExpectedLastSubjSeqSubj:          []string{w.markerSubject()},
			}
			for k, v := range extra {
				hdr[k] = v
			}
			return &nats.Msg{Subject: w.subject, Header: hdr, Data: data}
		}
		ack, unanswered, err := b.publishRetry(ctx, w.name, msg, b.logStatus)
		mayLand = mayLand || unanswered
		switch {
		case err == nil:
		case errors.Is(err, kinesis.ErrLogSealed):
			w.clearPending() // nothing can be stored on the log any more
			if mayLand {
				// The attempt that went unanswered may be stored before
				// the seal: ErrLogSealed would have the records written
				// again to the shards after it.
				mayLand = false // and need not be fenced
				return 0, fmt.Errorf("log sealed: %w", errAppendUnknown)
			}
			return 0, err
		case errors.Is(err, kinesis.ErrLogNotFound):
			b.forgetWriter(w.name)
			return 0, err
		case ctx.Err() != nil:
			return 0, b.gaveUp(ctx, mayLand)
		default:
			return 0, err
		}
		switch {
		case ack.Error == nil:
			if ack.Duplicate {
				b.log.Debug("append stored by an earlier attempt", "log", w.name, "seq", ack.Seq)
			}
			return ack.Seq, nil
		case ack.Error.ErrorCode == errCodeWrongLastSeq:
			// The marker has a message: a fence sent earlier, whose
			// attempt went unanswered, was stored meanwhile. This append's
			// earlier attempts are stored (the slot's last message) or
			// never will be; later ones expect the next marker.
			w.fenced()
			ours, err := b.lastIsOurs(ctx, w, id)
			if err != nil {
				mayLand = true
				return 0, err
			}
			if ours != 0 {
				return ours, nil
			}
			mayLand = false // the attempts so far can never be stored
		default:
			// Refused: this attempt is not stored; an earlier one may be.
			return 0, refusal(ack.Error)
		}
	}
}

// publishRetry publishes the message msg returns until JetStream answers
// it with an ack or an error other than "in process", or ctx ends.
// Attempts left unanswered are sent again (see firstAppendAttempt), at
// once on a reconnect or a leader election of stream. An attempt nobody
// received (no responders) is sent again at such an event, or after a
// backoff once check (nil: none), looking at the stream meanwhile, finds
// nothing against it; check's error ends the publish. unanswered reports
// whether an attempt went unanswered, so that it may be stored whatever
// the outcome.
func (b *Backend) publishRetry(ctx context.Context, stream string, msg func() *nats.Msg, check func(ctx context.Context, stream string) error) (ack pubAck, unanswered bool, err error) {
	wait, idle := firstAppendAttempt, firstNoLeaderWait
	for attempt := 1; ; attempt++ {
		gen, _ := b.events.mark()
		reply, err := b.mux.attempt(ctx, msg(), wait, b.events, stream)
		sent := errors.Is(err, errWoken) || errors.Is(err, errAttemptTimeout) ||
			(err != nil && ctx.Err() != nil && !errors.Is(err, errNoResponders) && !errors.Is(err, errNotSent))
		if sent {
			// Unanswered: stored, lost on the way, or not written by an
			// embedded store on a full disk, which every later attempt
			// would meet too until space is back: fail now.
			unanswered = true
			if ferr := b.guard.writeFailed(); ferr != nil {
				return ack, unanswered, ferr
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, errWoken):
			b.log.Debug("publish woken by a reconnect or leader election, sending it again", "stream", stream, "attempt", attempt)
			// A new leader may announce itself a moment before it takes
			// publishes, while a frozen old leader still draws them: wait
			// briefly for this one, then longer again.
			wait = wokenAttempt
			continue
		case errors.Is(err, errAttemptTimeout):
			b.log.Debug("publish unanswered, sending it again", "stream", stream, "attempt", attempt, "waited", wait)
			wait = min(2*wait, maxAppendAttempt)
			continue
		case errors.Is(err, errNoResponders), errors.Is(err, errNotSent):
			// Nobody received this attempt: in a cluster, the stream
			// may have no leader for now.
			if err := b.awaitLeader(ctx, stream, gen, idle, check); err != nil {
				return ack, unanswered, err
			}
			idle = min(2*idle, maxNoLeaderWait)
			continue
		case ctx.Err() != nil:
			return ack, true, err // sent, and not answered in time
		default:
			return ack, unanswered, err // not sent
		}
		ack = pubAck{}
		if err := json.Unmarshal(reply.Data, &ack); err != nil {
			return ack, true, fmt.Errorf("bad ack %q: %w", reply.Data, err)
		}
		if ack.Error == nil && ack.Seq == 0 {
			return ack, true, fmt.Errorf("ack without sequence: %q", reply.Data)
		}
		if ack.Error != nil && (ack.Error.ErrorCode == errCodeDuplicateInProcess || ack.Error.ErrorCode == errCodeWrongLastSeqInProcess) {
			// An earlier attempt (or another message on the subject) is
			// being stored: ask again once it may be done, without
			// flooding the leader with copies of a large message.
			unanswered = true
			if err := sleepCtx(ctx, inProcessWait); err != nil {
				return ack, unanswered, err
			}
			continue
		}
		return ack, unanswered, nil
	}
}

// gaveUp is the error of an append whose context ended.
func (b *Backend) gaveUp(ctx context.Context, mayLand bool) error {
	if mayLand {
		return errAppendUnknown
	}
	return fmt.Errorf("no server stored it in time (not stored): %w", ctx.Err())
}

// lastIsOurs returns the sequence of the last message on w's subject if
// it is the message with id, else 0.
func (b *Backend) lastIsOurs(ctx context.Context, w *slot, id string) (uint64, error) {
	req, err := json.Marshal(struct {
		LastFor string `json:"last_by_subj"`
	}{w.subject})
	if err != nil {
		return 0, err
	}
	var m *storedMsg
	err = b.retryIdempotent(ctx, func(ctx context.Context) (err error) {
		m, err = b.leaderGet(ctx, w.name, req)
		return err
	})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find the last message on %s: %w", w.subject, mapStreamErr(err))
	}
	if len(m.Header) > 0 {
		if h, err := nats.DecodeHeadersMsg(m.Header); err == nil && h.Get(jetstream.MsgIDHeader) == id {
			return m.Sequence, nil
		}
	}
	return 0, nil
}

// logStatus looks at a log's stream after an attempt nobody received:
// ErrLogNotFound if it is gone, ErrLogSealed if it is sealed, nil if it is
// open, has no leader now, or could not be looked at in time. A log
// created before writers had subjects of their own gets them.
func (b *Backend) logStatus(ctx context.Context, name string) error {
	sctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	s, err := b.js.Stream(sctx, name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return kinesis.ErrLogNotFound
	case err != nil:
		return nil // no leader to answer, most likely: wait for one
	}
	scfg := s.CachedInfo().Config
	switch {
	case slices.Equal(scfg.Subjects, []string{sealedSubjectPrefix + name}):
		return kinesis.ErrLogSealed
	case !slices.Contains(scfg.Subjects, writerSubjects(name)):
		scfg.Subjects = logSubjects(name)
		if _, err := b.js.UpdateStream(sctx, scfg); err != nil {
			b.log.Debug("add writer subjects to a log", "log", name, "err", err)
		}
	}
	return nil
}

// awaitLeader waits, after an attempt to publish to stream that nobody
// received, until sending again is worth it: at a reconnect or a leader
// election of the stream since gen, or after d once check (run
// meanwhile; nil: none) has found nothing against it. check's error ends
// the wait.
func (b *Backend) awaitLeader(ctx context.Context, stream string, gen uint64, d time.Duration, check func(ctx context.Context, stream string) error) error {
	woken, gen, changed := b.events.since(stream, gen)
	if woken {
		return nil
	}
	checked := make(chan error, 1)
	if check == nil {
		checked <- nil
	} else {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() { checked <- check(cctx, stream) }()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	elapsed, clear := false, false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-b.stop:
			return errClosed
		case err := <-checked:
			if err != nil {
				return err
			}
			if clear = true; elapsed {
				return nil
			}
		case <-t.C:
			if elapsed = true; clear {
				return nil
			}
		case <-changed:
			if woken, gen, changed = b.events.since(stream, gen); woken {
				return nil
			}
		}
	}
}

// waitEvent waits for d, or less if a reconnect or a leader election of
// the stream name happens first.
func (b *Backend) waitEvent(ctx context.Context, name string, d time.Duration) error {
	gen, _ := b.events.mark()
	return b.awaitLeader(ctx, name, gen, d, nil)
}

// fenceSlots fences every slot of lw with pending attempts, w (whose
// turn the caller holds) first, so that none of them can be stored after
// the append about to be sent. It waits for the turn of a slot another
// append holds: that append fences its own slot before it sends.
func (b *Backend) fenceSlots(ctx context.Context, lw *logWriter, w *slot) error {
	if w.unfenced.Load() {
		if err := b.storeFence(ctx, w); err != nil {
			return err
		}
	}
	lw.mu.Lock()
	slots := slices.Clone(lw.slots)
	lw.mu.Unlock()
	for _, o := range slots {
		if o == w || !o.unfenced.Load() {
			continue
		}
		if err := o.lock(ctx); err != nil {
			return err
		}
		var err error
		if o.unfenced.Load() {
			err = b.storeFence(ctx, o)
		}
		lw.release(o)
		if err != nil {
			return err
		}
	}
	return nil
}

// storeFence stores a fence on w's marker subject, so that no pending
// attempt can ever be stored, and moves w to the next marker. The caller
// holds w's turn.
func (b *Backend) storeFence(ctx context.Context, w *slot) error {
	// A fence is small and frees the log for appends: admitted like a
	// metadata write, into most of the reserve, but not sent to a store
	// that failed a write on a full disk (it would fail too): JetStream's
	// restart, once space is back, drops what that write left.
	if err := b.guard.failing(); err != nil {
		return err
	}
	done, err := b.guard.admit(0, true)
	if err != nil {
		return err
	}
	defer done()
	marker := w.markerSubject()
	id := marker // one fence per marker: its attempts dedupe each other
	msg := func() *nats.Msg {
		return &nats.Msg{Subject: marker, Header: nats.Header{
			jetstream.MsgIDHeader:               []string{id},
			jetstream.ExpectedLastSubjSeqHeader: []string{"0"},
			hdrFence:                            []string{"1"},
		}}
	}
	ack, _, err := b.publishRetry(ctx, w.name, msg, b.logStatus)
	switch {
	case errors.Is(err, kinesis.ErrLogSealed), errors.Is(err, kinesis.ErrLogNotFound):
		w.clearPending() // nothing can be stored on the log any more
		return err
	case err != nil:
		return err
	case ack.Error == nil, ack.Error.ErrorCode == errCodeWrongLastSeq: // stored, now or by an earlier attempt
		if len(w.pending) > 0 {
			b.log.Info("fenced a log after appends whose outcome was unknown", "log", w.name, "appends", len(w.pending))
		}
		w.fenced()
		return nil
	default:
		return refusal(ack.Error)
	}
}

// startFencer starts, unless one runs, a goroutine that stores a fence on
// w's marker subject as soon as the log can store again, so that no
// pending attempt can be stored after it. The caller holds w's turn.
func (b *Backend) startFencer(w *slot) {
	if w.fencing {
		return
	}
	w.fencing = true
	b.watchers.Add(1)
	go func() {
		defer b.watchers.Done()
		b.fence(w)
	}()
}

func (b *Backend) fence(w *slot) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	idle := firstNoLeaderWait
	for {
		if err := w.lock(ctx); err != nil {
			return // closing
		}
		var err error
		if len(w.pending) > 0 {
			actx, acancel := context.WithTimeout(ctx, b.cfg.AppendTimeout)
			err = b.storeFence(actx, w)
			acancel()
		}
		done := len(w.pending) == 0
		if done {
			w.fencing = false
		}
		w.lw.release(w)
		if done {
			return
		}
		b.log.Debug("fence a log", "log", w.name, "err", err)
		if b.waitEvent(ctx, w.name, idle) != nil {
			return
		}
		idle = min(2*idle, maxNoLeaderWait)
	}
}

// split cuts msg into the pieces it is stored as: itself if it fits the
// server's max_payload, else parts of at most that size with room for
// their headers, the last of them sent as the final message.
func (b *Backend) split(msg []byte) [][]byte {
	limit := b.pieceLimit
	if len(msg)+appendHeaderBytes <= limit {
		return [][]byte{msg}
	}
	size := limit - partHeaderBytes
	pieces := make([][]byte, 0, len(msg)/size+1)
	for len(msg) > size {
		pieces = append(pieces, msg[:size:size])
		msg = msg[size:]
	}
	return append(pieces, msg)
}

// appendParts stores the parts of a split message, concurrently, on a
// subject of w's where nothing expects a sequence: a part stored without
// its final message is never read. It returns their sequences in order.
func (b *Backend) appendParts(ctx context.Context, w *slot, parts [][]byte) ([]uint64, error) {
	id := newMsgID()
	seqs := make([]uint64, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Go(func() {
			seqs[i], errs[i] = b.publishPart(ctx, w, id+"."+strconv.Itoa(i), p)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("store parts: %w", err)
	}
	return seqs, nil
}

// publishPart publishes one part until it is stored or ctx ends.
func (b *Backend) publishPart(ctx context.Context, w *slot, id string, data []byte) (uint64, error) {
	msg := func() *nats.Msg {
		return &nats.Msg{Subject: w.subject + "-p", Data: data,
			Header: nats.Header{jetstream.MsgIDHeader: []string{id}, hdrPart: []string{"1"}}}
	}
	ack, _, err := b.publishRetry(ctx, w.name, msg, b.logStatus)
	if err != nil {
		return 0, err
	}
	if ack.Error != nil {
		return 0, refusal(ack.Error)
	}
	return ack.Seq, nil
}

// refusal is the error of a publish JetStream refused:
// kinesis.ErrStorageFull if for want of storage (its limits, or a full
// disk).
func refusal(e *jetstream.APIError) error {
	if isStorageFull(int(e.ErrorCode), e.Description) {
		return fmt.Errorf("%w: %w", kinesis.ErrStorageFull, e)
	}
	return mapStreamErr(e)
}

func joinSeqs(seqs []uint64) string {
	var sb strings.Builder
	for i, s := range seqs {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatUint(s, 10))
	}
	return sb.String()
}

func parseSeqs(s string) ([]uint64, error) {
	fields := strings.Split(s, ",")
	out := make([]uint64, len(fields))
	for i, f := range fields {
		var err error
		if out[i], err = strconv.ParseUint(f, 10, 64); err != nil {
			return nil, fmt.Errorf("bad %s header %q", hdrParts, s)
		}
	}
	return out, nil
}

// newMsgID returns a Nats-Msg-Id unique to one append.
func newMsgID() string {
	var id [16]byte
	rand.Read(id[:])
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// newWriterID returns the subject token of one Backend's writes.
func newWriterID() string {
	var id [9]byte
	rand.Read(id[:])
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// logSubjects are the subjects of a log's stream: the plain one that
// Backends before writer subjects published to, and the writers' own.
func logSubjects(name string) []string {
	return []string{logSubjectPrefix + name, writerSubjects(name)}
}

func writerSubjects(name string) string { return logSubjectPrefix + name + ".*" }
