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
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// How appends are fenced
//
// Each Backend appends to a log on a subject of its own,
// sluice.log.<log>.<writer>, and every append carries
// Nats-Expected-Last-Subject-Sequence: the sequence of the last message
// this Backend stored on that subject. JetStream stores a message only if
// the subject's last sequence is still the expected one. So of all the
// attempts sent with one expected value, at most one is ever stored, and
// once any message is stored on the subject, no older attempt can be:
// not one that sat for minutes in the buffers of a paused server, nor one
// re-proposed after a leader change. Each append also carries a
// Nats-Msg-Id kept across its attempts, so an attempt that finds an
// earlier one stored learns its sequence (within the duplicate window;
// after it, from the subject's last message).
//
// An append that ends (its deadline, or a refusal) while an attempt may
// still be stored leaves that attempt "pending". The Backend then stores
// a fence, an empty message that readers skip, on the subject with the
// same expected sequence, retrying until it is stored: from that moment
// the pending attempt can never be stored. The next append fences the
// same way. Until the fence or the next append is stored, which needs
// the log's stream to have a leader and a quorum, the pending attempt may
// still be stored (docs/cluster.md, "What a failed write means").

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
// first. An attempt nobody received (no responders: the stream has no
// leader yet) is sent again after a backoff from firstNoLeaderWait to
// maxNoLeaderWait, or at once on such an event.
const (
	firstAppendAttempt = 2 * time.Second
	maxAppendAttempt   = 4 * time.Second
	firstNoLeaderWait  = 50 * time.Millisecond
	maxNoLeaderWait    = time.Second
	// inProcessWait is how long to wait before asking again about a
	// message JetStream reports in process.
	inProcessWait = 100 * time.Millisecond
	// statusTimeout bounds one look at a log's stream configuration.
	statusTimeout = time.Second
)

// Room left in a message for its headers: appendHeaderBytes for a message
// sent whole (Nats-Msg-Id and the expected sequence take 108 bytes at
// most), partHeaderBytes for the parts of a split one (the final part
// lists the sequences of the others). A server's max_payload must leave
// parts room for data: at least minMaxPayload.
const (
	appendHeaderBytes = 128
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

	// Guarded by turn.
	last    uint64   // the subject's last sequence, as far as we know
	pending []string // ids of attempts that may still be stored; all expect last
	fencing bool     // a fencer goroutine is running
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
// one, preferring one without pending attempts, or a new one.
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
// Attempts go out until one is answered or ctx (bounded by the configured
// timeout) ends. If it ends while an attempt may still be stored, Append
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
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	lw := b.writer(name)
	w, err := lw.acquire(ctx, b.writerID)
	if err != nil {
		// Nothing was sent.
		return 0, fmt.Errorf("append to log %s: waiting for a slot: %w", name, err)
	}
	defer lw.release(w)

	var extra nats.Header
	if pieces := b.split(msg); len(pieces) > 1 {
		seqs, err := b.appendParts(ctx, w, pieces[:len(pieces)-1])
		if err != nil {
			return 0, fmt.Errorf("append to log %s: %w", name, err)
		}
		extra = nats.Header{hdrParts: []string{joinSeqs(seqs)}}
		msg = pieces[len(pieces)-1]
	}
	seq, err := b.publishFenced(ctx, w, newMsgID(), msg, extra, false)
	if err != nil {
		return 0, fmt.Errorf("append to log %s: %w", name, err)
	}
	return seq, nil
}

// publishFenced publishes data on w's subject with the Nats-Msg-Id id and
// the expected last sequence, until it is stored (its sequence), refused,
// or ctx ends. The caller holds w's turn. An attempt that may be stored
// when it gives up is left pending and the log is fenced. fence marks the
// message as a fence.
func (b *Backend) publishFenced(ctx context.Context, w *slot, id string, data []byte, extra nats.Header, fence bool) (seq uint64, err error) {
	mayLand := false // an attempt went unanswered
	defer func() {
		if err != nil && mayLand && !fence {
			w.pending = append(w.pending, id)
			b.startFencer(w)
		}
	}()
	for {
		msg := func() *nats.Msg {
			hdr := nats.Header{
				jetstream.MsgIDHeader:               []string{id},
				jetstream.ExpectedLastSubjSeqHeader: []string{strconv.FormatUint(w.last, 10)},
			}
			for k, v := range extra {
				hdr[k] = v
			}
			if fence {
				hdr.Set(hdrFence, "1")
			}
			return &nats.Msg{Subject: w.subject, Header: hdr, Data: data}
		}
		ack, unanswered, err := b.publishRetry(ctx, w.name, msg, func(unanswered bool) error { return b.noResponders(ctx, w, mayLand || unanswered) })
		mayLand = mayLand || unanswered
		if err != nil {
			if ctx.Err() != nil {
				return 0, b.gaveUp(ctx, w, mayLand)
			}
			return 0, err
		}
		switch {
		case ack.Error == nil:
			if ack.Duplicate {
				b.log.Debug("append stored by an earlier attempt", "log", w.name, "seq", ack.Seq)
			}
			b.stored(w, ack.Seq)
			return ack.Seq, nil
		case ack.Error.ErrorCode == errCodeWrongLastSeq:
			// The subject moved on: an earlier attempt of this append,
			// stored after the duplicate window, or one left pending.
			ours, err := b.resolveLast(ctx, w, id)
			if err != nil {
				return 0, err
			}
			if ours != 0 {
				return ours, nil
			}
		default:
			// Refused: this attempt is not stored; an earlier one may be.
			return 0, mapStreamErr(ack.Error)
		}
	}
}

// publishRetry publishes the message msg returns until JetStream answers
// it with an ack or an error other than "in process", or ctx ends.
// Attempts left unanswered are sent again (see firstAppendAttempt), at
// once on a reconnect or a leader election of stream. An attempt nobody
// received (no responders) is sent again after a backoff unless
// noResponders, told whether an earlier attempt went unanswered, says
// why not. unanswered reports whether an attempt went
// unanswered, so that it may be stored whatever the outcome.
func (b *Backend) publishRetry(ctx context.Context, stream string, msg func() *nats.Msg, noResponders func(unanswered bool) error) (ack pubAck, unanswered bool, err error) {
	wait, idle := firstAppendAttempt, firstNoLeaderWait
	for attempt := 1; ; attempt++ {
		reply, err := b.mux.attempt(ctx, msg(), wait, b.events, stream)
		switch {
		case err == nil:
		case errors.Is(err, errWoken):
			unanswered = true
			b.log.Debug("publish woken by a reconnect or leader election, sending it again", "stream", stream, "attempt", attempt)
			continue
		case errors.Is(err, errAttemptTimeout):
			unanswered = true
			b.log.Debug("publish unanswered, sending it again", "stream", stream, "attempt", attempt, "waited", wait)
			wait = min(2*wait, maxAppendAttempt)
			continue
		case errors.Is(err, errNoResponders), errors.Is(err, errNotSent):
			// Nobody received this attempt: in a cluster, the stream
			// may have no leader for now.
			if err := noResponders(unanswered); err != nil {
				return ack, unanswered, err
			}
			if err := b.waitEvent(ctx, stream, idle); err != nil {
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

// stored records that a message was stored on w's subject at seq: every
// attempt still pending expected an older sequence, so none can be
// stored any more.
func (b *Backend) stored(w *slot, seq uint64) {
	w.last = seq
	w.pending = nil
}

// gaveUp is the error of an append whose context ended.
func (b *Backend) gaveUp(ctx context.Context, w *slot, mayLand bool) error {
	if mayLand {
		return errAppendUnknown
	}
	return fmt.Errorf("no server stored it in time (not stored): %w", ctx.Err())
}

// resolveLast learns the last message on w's subject after a publish was
// refused for expecting an older one. If it is the message with id (an
// earlier attempt stored after the duplicate window), it returns its
// sequence; otherwise 0, with w.last moved on.
func (b *Backend) resolveLast(ctx context.Context, w *slot, id string) (uint64, error) {
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
		// Nothing on the subject (its messages expired, or the log was
		// made anew): what was pending expected more and cannot land.
		b.stored(w, 0)
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find the last message on %s: %w", w.subject, mapStreamErr(err))
	}
	got := ""
	if len(m.Header) > 0 {
		if h, err := nats.DecodeHeadersMsg(m.Header); err == nil {
			got = h.Get(jetstream.MsgIDHeader)
		}
	}
	if got == id {
		b.stored(w, m.Sequence)
		return m.Sequence, nil
	}
	if slices.Contains(w.pending, got) {
		// Told failed, stored anyway: only when the append outlived its
		// deadline without a quorum to fence it (docs/cluster.md).
		b.log.Warn("a failed append was stored later: it ended without an answer while its log had no quorum",
			"log", w.name, "seq", m.Sequence)
	}
	b.stored(w, m.Sequence)
	return 0, nil
}

// noResponders decides what an attempt that nobody received means: an
// error if the log is gone or sealed, nil to wait and send again (the
// stream has no leader, or the configuration could not be read in time).
// A log created before writers had subjects of their own gets them.
func (b *Backend) noResponders(ctx context.Context, w *slot, mayLand bool) error {
	sctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	s, err := b.js.Stream(sctx, w.name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		b.forgetWriter(w.name)
		return kinesis.ErrLogNotFound
	case err != nil:
		return nil // no leader to answer, most likely: wait for one
	}
	scfg := s.CachedInfo().Config
	switch {
	case slices.Equal(scfg.Subjects, []string{sealedSubjectPrefix + w.name}):
		w.pending = nil // nothing can be stored any more
		if mayLand {
			// The attempt that went unanswered may be stored before
			// the seal: ErrLogSealed would have the records written
			// again to the shards after it.
			return fmt.Errorf("log sealed: %w", errAppendUnknown)
		}
		return kinesis.ErrLogSealed
	case !slices.Contains(scfg.Subjects, writerSubjects(w.name)):
		scfg.Subjects = logSubjects(w.name)
		if _, err := b.js.UpdateStream(sctx, scfg); err != nil {
			b.log.Debug("add writer subjects to a log", "log", w.name, "err", err)
		}
	}
	return nil
}

// waitEvent waits for d, or less if a reconnect or a leader election of
// the stream name happens first.
func (b *Backend) waitEvent(ctx context.Context, name string, d time.Duration) error {
	gen, changed := b.events.mark()
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-b.stop:
			return errClosed
		case <-t.C:
			return nil
		case <-changed:
			var woken bool
			if woken, gen, changed = b.events.since(name, gen); woken {
				return nil
			}
		}
	}
}

// startFencer starts, unless one runs, a goroutine that stores a fence on
// w's subject once the log can store again, so that no pending attempt
// can be stored after it. The caller holds w's turn.
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
	id := newMsgID()
	idle := firstNoLeaderWait
	for {
		if err := w.lock(ctx); err != nil {
			return // closing
		}
		if len(w.pending) == 0 {
			w.fencing = false
			w.lw.release(w)
			return
		}
		actx, acancel := context.WithTimeout(ctx, b.cfg.Timeout)
		seq, err := b.publishFenced(actx, w, id, nil, nil, true)
		acancel()
		switch {
		case err == nil:
			b.log.Info("fenced a log after an append whose outcome was unknown", "log", w.name, "seq", seq)
		case errors.Is(err, kinesis.ErrLogNotFound), errors.Is(err, kinesis.ErrLogSealed):
			w.pending = nil // nothing can be stored any more
		default:
			b.log.Debug("fence a log", "log", w.name, "err", err)
		}
		done := len(w.pending) == 0
		if done {
			w.fencing = false
		}
		w.lw.release(w)
		if done || b.waitEvent(ctx, w.name, idle) != nil {
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
	ack, _, err := b.publishRetry(ctx, w.name, msg, func(bool) error { return b.noResponders(ctx, w, false) })
	if err != nil {
		return 0, err
	}
	if ack.Error != nil {
		return 0, mapStreamErr(ack.Error)
	}
	return ack.Seq, nil
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
