package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/internal/kinesis"
)

const (
	// logSubjectPrefix + name is the one subject of a log's stream.
	logSubjectPrefix = "sluice.log."
	// sealedSubjectPrefix + name is a sealed log's subject: nobody
	// publishes there but SealLog, so appends find no responders.
	sealedSubjectPrefix = "sluice.sealed."
	// minMaxAge is JetStream's smallest max_age (and duplicate window).
	minMaxAge = 100 * time.Millisecond
	// maxNameLen is JetStream's limit on stream names.
	maxNameLen = 255
)

// Log names become stream names, subject tokens and directory names, so
// they are held to the characters safe in all three.
var logNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func checkLogName(name string) error {
	if len(name) > maxNameLen || !logNameRe.MatchString(name) {
		return fmt.Errorf("invalid log name %q: 1 to %d letters, digits, '_' or '-'", name, maxNameLen)
	}
	return nil
}

func (b *Backend) streamConfig(name string, cfg kinesis.LogConfig) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Subjects:    logSubjects(name),
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      cfg.MaxAge,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		MaxMsgSize:  int32(b.cfg.MaxMessageBytes),
		AllowDirect: true,
		Replicas:    b.cfg.Replicas,
		Duplicates:  dupWindow(b.cfg, cfg.MaxAge),
	}
}

// dupWindow is how long JetStream remembers an append's Nats-Msg-Id: as
// long as an append is retried, so that a retry finding an earlier
// attempt stored learns its sequence from the ack (after the window, it
// learns it from the subject's last message), but JetStream wants it no
// longer than MaxAge.
func dupWindow(cfg Config, maxAge time.Duration) time.Duration {
	w := cfg.AppendTimeout + time.Second
	if maxAge > 0 {
		w = min(w, maxAge)
	}
	return w
}

func checkLogConfig(cfg kinesis.LogConfig) error {
	if cfg.MaxAge < 0 || (cfg.MaxAge > 0 && cfg.MaxAge < minMaxAge) {
		return fmt.Errorf("max age %v: must be 0 or at least %v", cfg.MaxAge, minMaxAge)
	}
	return nil
}

// CreateLog creates the log's stream, or does nothing if the log exists
// (whatever its configuration). A stream of that name that is not a Sluice
// log is an error.
func (b *Backend) CreateLog(ctx context.Context, name string, cfg kinesis.LogConfig) error {
	if err := checkLogName(name); err != nil {
		return err
	}
	if err := checkLogConfig(cfg); err != nil {
		return fmt.Errorf("create log %s: %w", name, err)
	}
	scfg := b.streamConfig(name, cfg)
	err := b.retryIdempotent(ctx, func(ctx context.Context) error {
		_, err := b.js.CreateStream(ctx, scfg)
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return err
		}
		// Exists, maybe with another config (say, an updated MaxAge): fine
		// if it is ours. On a cluster a create may be acknowledged (say, on
		// a retried request) before the stream has a leader; until it has,
		// appends find no responders, so wait for its leader to answer.
		s, err := b.js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return errNotReady
		}
		if err != nil {
			return err
		}
		if !isLogStream(name, s.CachedInfo().Config.Subjects) {
			return errors.New("a stream of that name exists and is not a log")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create log %s: %w", name, err)
	}
	return nil
}

// isLogStream reports whether a stream with subjects is the log name:
// open (with writer subjects, or from before them) or sealed.
func isLogStream(name string, subjects []string) bool {
	return slices.Equal(subjects, logSubjects(name)) ||
		slices.Equal(subjects, []string{logSubjectPrefix + name}) ||
		slices.Equal(subjects, []string{sealedSubjectPrefix + name})
}

// UpdateLog changes the log's MaxAge. Messages older than a shortened
// MaxAge expire shortly after.
func (b *Backend) UpdateLog(ctx context.Context, name string, cfg kinesis.LogConfig) error {
	if err := checkLogName(name); err != nil {
		return err
	}
	if err := checkLogConfig(cfg); err != nil {
		return fmt.Errorf("update log %s: %w", name, err)
	}
	err := b.retryIdempotent(ctx, func(ctx context.Context) error {
		s, err := b.js.Stream(ctx, name)
		if err != nil {
			return err
		}
		scfg := s.CachedInfo().Config
		if scfg.MaxAge == cfg.MaxAge {
			return nil
		}
		scfg.MaxAge = cfg.MaxAge
		scfg.Duplicates = dupWindow(b.cfg, cfg.MaxAge)
		_, err = b.js.UpdateStream(ctx, scfg)
		return err
	})
	if err != nil {
		return fmt.Errorf("update log %s: %w", name, mapStreamErr(err))
	}
	return nil
}

// DeleteLog deletes the log's stream and its messages.
func (b *Backend) DeleteLog(ctx context.Context, name string) error {
	if err := checkLogName(name); err != nil {
		return err
	}
	err := b.retryIdempotent(ctx, func(ctx context.Context) error {
		if err := b.js.DeleteStream(ctx, name); !errors.Is(err, jetstream.ErrStreamNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete log %s: %w", name, err)
	}
	b.forgetWriter(name)
	return nil
}

// notFoundAfter returns a check, for a request on log name that has had no
// reply for a second, that ends it with ErrLogNotFound if the log is gone.
func (b *Backend) notFoundAfter(ctx context.Context, name string) *idleCheck {
	return &idleCheck{after: time.Second, check: func() error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if exists, err := b.logExists(ctx, name); err == nil && !exists {
			return kinesis.ErrLogNotFound
		}
		return nil // exists, or unknown: keep waiting
	}}
}

// Read returns messages from sequence from on (from the first retained one
// if from was trimmed), at most maxMsgs (at least 1) and stopping after the
// message that reaches maxBytes (0 or less: no byte limit but the server's
// max_pending). It returns at least one message if any is there. In a
// cluster the answering replica may lag the leader by a moment.
//
// The returned Data slices belong to the caller: nats.go gives every
// delivered message a buffer of its own (storetest checks this).
func (b *Backend) Read(ctx context.Context, name string, from uint64, maxMsgs, maxBytes int) ([]kinesis.Message, error) {
	if err := checkLogName(name); err != nil {
		return nil, err
	}
	from = max(from, 1)
	maxMsgs = max(maxMsgs, 1)
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	var (
		out    []kinesis.Message
		finals []splitMsg        // messages stored in parts
		parts  map[uint64][]byte // parts met on the way, by sequence
	)
	for {
		req := fmt.Appendf(nil, `{"seq":%d,"batch":%d`, from, maxMsgs)
		if maxBytes > 0 {
			req = fmt.Appendf(req, `,"max_bytes":%d`, maxBytes)
		}
		req = append(req, '}')
		var (
			seen    int
			last    uint64
			pending = -1
		)
		err := b.directGet(ctx, name, req, func(m *nats.Msg) (bool, error) {
			if ok, err := batchEnd(m, &pending); !ok {
				return true, err
			}
			seq, ts, err := replyPosition(m)
			if err != nil {
				return true, err
			}
			seen, last = seen+1, seq
			switch {
			case strings.HasPrefix(m.Header.Get(hdrSubject), sealedSubjectPrefix):
				return false, nil // SealLog's barrier, not a message of the log
			case m.Header.Get(hdrFence) != "":
				return false, nil
			case m.Header.Get(hdrPart) != "":
				if parts == nil {
					parts = make(map[uint64][]byte)
				}
				parts[seq] = m.Data
				return false, nil
			}
			if list := m.Header.Get(hdrParts); list != "" {
				seqs, err := parseSeqs(list)
				if err != nil {
					return true, err
				}
				finals = append(finals, splitMsg{index: len(out), parts: seqs})
			}
			out = append(out, kinesis.Message{Seq: seq, Time: ts, Data: m.Data})
			return false, nil
		})
		if err != nil {
			return nil, fmt.Errorf("read log %s: %w", name, mapStreamErr(err))
		}
		// A batch of nothing but fences and parts says nothing about what
		// follows them: read on.
		if len(out) > 0 || seen == 0 || pending == 0 || (pending < 0 && seen < maxMsgs) {
			break
		}
		from = last + 1
	}
	if len(finals) > 0 {
		var err error
		if out, err = b.assemble(ctx, name, out, finals, parts); err != nil {
			return nil, fmt.Errorf("read log %s: %w", name, mapStreamErr(err))
		}
	}
	return out, nil
}

// splitMsg is a message of a Read stored in parts: its index in the
// result and the sequences of its earlier parts.
type splitMsg struct {
	index int
	parts []uint64
}

// assemble puts the messages stored in parts back together, with the
// parts the read met (have) or, for the others, direct gets by sequence.
// A message whose part has expired (MaxAge removes the oldest first) is
// left out, as if it had expired whole.
func (b *Backend) assemble(ctx context.Context, name string, out []kinesis.Message, finals []splitMsg, have map[uint64][]byte) ([]kinesis.Message, error) {
	drop := make(map[int]bool)
	for _, f := range finals {
		size := len(out[f.index].Data)
		pieces := make([][]byte, len(f.parts))
		for i, seq := range f.parts {
			p, ok := have[seq]
			if !ok {
				var err error
				if p, ok, err = b.getPart(ctx, name, seq); err != nil {
					return nil, fmt.Errorf("part %d of message %d: %w", seq, out[f.index].Seq, err)
				}
			}
			if !ok {
				drop[f.index] = true
				break
			}
			pieces[i] = p
			size += len(p)
		}
		if drop[f.index] {
			continue
		}
		data := make([]byte, 0, size)
		for _, p := range pieces {
			data = append(data, p...)
		}
		out[f.index].Data = append(data, out[f.index].Data...)
	}
	if len(drop) > 0 {
		kept := out[:0]
		for i, m := range out {
			if !drop[i] {
				kept = append(kept, m)
			}
		}
		out = kept
	}
	return out, nil
}

// getPart reads the part at seq: from any replica, or, if that one lacks
// it (a replica that lags), from the stream leader. ok is false if it is
// gone.
func (b *Backend) getPart(ctx context.Context, name string, seq uint64) (data []byte, ok bool, err error) {
	req := fmt.Appendf(nil, `{"seq":%d}`, seq)
	err = b.directGet(ctx, name, req, func(m *nats.Msg) (bool, error) {
		switch replyStatus(m) {
		case "":
			data, ok = m.Data, true
			return true, nil
		case statusNotFound:
			return true, nil
		default:
			return true, statusError(m)
		}
	})
	if err != nil || ok {
		return data, ok, err
	}
	var msg *storedMsg
	err = b.retryIdempotent(ctx, func(ctx context.Context) (err error) {
		msg, err = b.leaderGet(ctx, name, req)
		return err
	})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return msg.Data, true, nil
}

// SeekTime returns the sequence of the first message stored at or after t,
// or LastSeq+1 if there is none.
func (b *Backend) SeekTime(ctx context.Context, name string, t time.Time) (uint64, error) {
	if err := checkLogName(name); err != nil {
		return 0, err
	}
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	tjson, err := json.Marshal(t.UTC())
	if err != nil {
		return 0, fmt.Errorf("seek log %s: %w", name, err)
	}
	req := append(append([]byte(`{"start_time":`), tjson...), '}')

	// A replica's answer, when it finds a message, is exact: its log is a
	// prefix of the leader's and times grow with sequences.
	var (
		seq   uint64
		found bool
	)
	err = b.directGet(ctx, name, req, func(m *nats.Msg) (bool, error) {
		switch replyStatus(m) {
		case "":
			var err error
			seq, _, err = replyPosition(m)
			found = err == nil
			return true, err
		case statusNotFound:
			return true, nil
		default:
			return true, statusError(m)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("seek log %s: %w", name, mapStreamErr(err))
	}
	if found {
		return seq, nil
	}

	// Nothing at or after t on that replica. A lagging replica may miss
	// newer messages, so ask the leader. Its state is taken first: messages
	// stored in between make the answer early, never late.
	st, err := b.State(ctx, name)
	if err != nil {
		return 0, err
	}
	seq, found, err = b.leaderSeekTime(ctx, name, tjson)
	if err != nil {
		return 0, fmt.Errorf("seek log %s: %w", name, err)
	}
	if found {
		return seq, nil
	}
	return st.LastSeq + 1, nil
}

// leaderSeekTime asks the stream leader (the non-direct message get API)
// for the first message at or after the JSON time tjson.
func (b *Backend) leaderSeekTime(ctx context.Context, name string, tjson []byte) (uint64, bool, error) {
	req := append(append([]byte(`{"no_hdr":true,"start_time":`), tjson...), '}')
	var msg *storedMsg
	err := b.retryIdempotent(ctx, func(ctx context.Context) (err error) {
		msg, err = b.leaderGet(ctx, name, req)
		return err
	})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return msg.Sequence, true, nil
}

// State returns the log's extent, normalised so that FirstSeq >= 1 and an
// empty log has LastSeq = FirstSeq-1.
func (b *Backend) State(ctx context.Context, name string) (kinesis.LogState, error) {
	if err := checkLogName(name); err != nil {
		return kinesis.LogState{}, err
	}
	var info *jetstream.StreamInfo
	err := b.retryIdempotent(ctx, func(ctx context.Context) error {
		s, err := b.js.Stream(ctx, name)
		if err == nil {
			info = s.CachedInfo()
		}
		return err
	})
	if err != nil {
		return kinesis.LogState{}, fmt.Errorf("state of log %s: %w", name, mapStreamErr(err))
	}
	st := info.State
	out := kinesis.LogState{FirstSeq: max(st.FirstSeq, 1), LastSeq: st.LastSeq, LastTime: st.LastTime}
	if st.Msgs == 0 {
		// JetStream reports 0/0 for a new stream and last+1/last once
		// every message is gone.
		out.FirstSeq = st.LastSeq + 1
	}
	return out, nil
}

// SealLog moves the log's stream to a subject nobody publishes to, so that
// appends find no responders, and then publishes an empty barrier message
// there. A stream stores what it receives in order, so every append
// accepted before the move is stored before the barrier: the barrier's
// sequence minus one is the last appended message. Read skips barriers.
// A log sealed again gets another barrier, but the first one counts.
// JetStream's own sealed flag is not used: it turns off MaxAge expiry.
func (b *Backend) SealLog(ctx context.Context, name string) (uint64, error) {
	if err := checkLogName(name); err != nil {
		return 0, err
	}
	sealed := sealedSubjectPrefix + name
	err := b.retryIdempotent(ctx, func(ctx context.Context) error {
		s, err := b.js.Stream(ctx, name)
		if err != nil {
			return err
		}
		scfg := s.CachedInfo().Config
		if slices.Equal(scfg.Subjects, []string{sealed}) {
			return nil
		}
		scfg.Subjects = []string{sealed}
		_, err = b.js.UpdateStream(ctx, scfg)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("seal log %s: %w", name, mapStreamErr(err))
	}
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	for attempt := 1; ; attempt++ {
		var ack pubAck
		err := b.mux.request(ctx, sealed, nil, b.notFoundAfter(ctx, name), func(m *nats.Msg) (bool, error) {
			if err := json.Unmarshal(m.Data, &ack); err != nil {
				return true, fmt.Errorf("bad ack %q: %w", m.Data, err)
			}
			return true, nil
		})
		if errors.Is(err, errNoResponders) && attempt < 5 {
			// In a cluster the new subject may not be served at once.
			if serr := sleepCtx(ctx, time.Duration(attempt)*50*time.Millisecond); serr != nil {
				return 0, fmt.Errorf("seal log %s: %w", name, serr)
			}
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("seal log %s: barrier: %w", name, b.mapNoResponders(ctx, name, err))
		}
		if ack.Error != nil {
			return 0, fmt.Errorf("seal log %s: barrier: %w", name, mapStreamErr(ack.Error))
		}
		if ack.Seq == 0 {
			return 0, fmt.Errorf("seal log %s: barrier ack without sequence", name)
		}
		// Concurrent or repeated seals each store a barrier; the first one
		// ends the log, so every SealLog returns the same sequence.
		req := fmt.Appendf(nil, `{"seq":1,"next_by_subj":%q}`, sealed)
		first, err := b.leaderGet(ctx, name, req)
		if err != nil {
			return 0, fmt.Errorf("seal log %s: find first barrier: %w", name, err)
		}
		if first.Sequence == 0 || first.Sequence > ack.Seq {
			return 0, fmt.Errorf("seal log %s: first barrier at %d, after ours at %d", name, first.Sequence, ack.Seq)
		}
		last, err := b.lastMessageBefore(ctx, name, first.Sequence)
		if err != nil {
			return 0, fmt.Errorf("seal log %s: %w", name, err)
		}
		return last, nil
	}
}

// lastMessageBefore returns the sequence of the last message of the log
// before seq, skipping fences and parts (so that readers know they are
// done once past it), or the sequence of a gap (expired messages) if it
// comes first.
func (b *Backend) lastMessageBefore(ctx context.Context, name string, seq uint64) (uint64, error) {
	for s := seq - 1; s > 0; s-- {
		var msg *storedMsg
		err := b.retryIdempotent(ctx, func(ctx context.Context) (err error) {
			msg, err = b.leaderGet(ctx, name, fmt.Appendf(nil, `{"seq":%d}`, s))
			return err
		})
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return s, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read message %d: %w", s, err)
		}
		if len(msg.Header) == 0 {
			return s, nil
		}
		h, err := nats.DecodeHeadersMsg(msg.Header)
		if err != nil {
			return 0, fmt.Errorf("read message %d: %w", s, err)
		}
		if h.Get(hdrFence) == "" && h.Get(hdrPart) == "" {
			return s, nil
		}
	}
	return 0, nil
}

// logExists reports whether the log's stream exists.
func (b *Backend) logExists(ctx context.Context, name string) (bool, error) {
	_, err := b.js.Stream(ctx, name)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return false, nil
	default:
		return false, err
	}
}

// Backoff between direct gets that found no responder on an existing stream.
const (
	firstDirectGetWait = 20 * time.Millisecond
	maxDirectGetWait   = 500 * time.Millisecond
)

// A direct get that no replica answers at all within firstDirectGetReply
// is sent again, each time waiting twice as long, up to maxDirectGetReply:
// a replica that is paused or cut off, while the others still count it
// in, swallows the requests routed to it.
const (
	firstDirectGetReply = time.Second
	maxDirectGetReply   = 4 * time.Second
)

// errNoReply ends a direct get attempt that nobody answered in time.
var errNoReply = errors.New("no replica answered")

// directGet sends a direct get request for stream; see replyMux.request.
// Nobody answers one when the stream is gone, but also, in a cluster, for
// a while after the stream is created (or its replicas change) until a
// replica serves direct gets, or when the request went to a replica that
// is paused or cut off. So while the stream exists it asks again, after a
// short backoff, until ctx ends; once it is gone it fails with an error
// matching jetstream.ErrStreamNotFound. A no-responders reply comes
// alone, and a request is sent again for want of a reply only if none
// came, so fn has seen no message of an attempt that is repeated.
func (b *Backend) directGet(ctx context.Context, stream string, req []byte, fn func(*nats.Msg) (done bool, err error)) error {
	wait, replyWait := firstDirectGetWait, firstDirectGetReply
	for attempt := 1; ; attempt++ {
		idle := &idleCheck{after: replyWait, check: func() error { return errNoReply }}
		err := b.mux.directGet(ctx, stream, req, idle, fn)
		if !errors.Is(err, errNoResponders) && !errors.Is(err, errNoReply) {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, statusTimeout)
		exists, ierr := b.logExists(sctx, stream)
		cancel()
		switch {
		case ierr == nil && !exists:
			return fmt.Errorf("%w: %w", err, jetstream.ErrStreamNotFound)
		case ctx.Err() != nil:
			return fmt.Errorf("%w (no replica served direct gets in time): %w", err, ctx.Err())
		}
		// The stream exists (or JetStream could not say: ask again).
		if attempt == 1 || attempt%20 == 0 {
			b.log.Debug("direct get found no replica to answer, asking again", "stream", stream, "attempt", attempt, "err", err, "status_err", ierr)
		}
		if errors.Is(err, errNoReply) {
			replyWait = min(2*replyWait, maxDirectGetReply)
			continue
		}
		if serr := sleepCtx(ctx, wait); serr != nil {
			return fmt.Errorf("%w (the stream exists; no replica served direct gets in time): %w", err, serr)
		}
		wait = min(2*wait, maxDirectGetWait)
	}
}

// mapNoResponders turns "nobody answered a direct get" into ErrLogNotFound
// when the stream is really gone.
func (b *Backend) mapNoResponders(ctx context.Context, name string, err error) error {
	if !errors.Is(err, errNoResponders) {
		return err
	}
	exists, ierr := b.logExists(ctx, name)
	switch {
	case ierr != nil:
		return errors.Join(err, ierr)
	case !exists:
		return kinesis.ErrLogNotFound
	default:
		return fmt.Errorf("%w (the log exists; no replica serves reads yet)", err)
	}
}

// mapStreamErr maps JetStream's "stream not found" to ErrLogNotFound,
// keeping the original error in the chain.
func mapStreamErr(err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("%w: %w", kinesis.ErrLogNotFound, err)
	}
	return err
}

// storedMsg is a message as the non-direct message get API returns it.
type storedMsg struct {
	Subject  string    `json:"subject"`
	Sequence uint64    `json:"seq"`
	Header   []byte    `json:"hdrs"`
	Data     []byte    `json:"data"`
	Time     time.Time `json:"time"`
}

// leaderGet sends req to the stream leader's message get API. It returns an
// error matching jetstream.ErrMsgNotFound when there is no such message.
func (b *Backend) leaderGet(ctx context.Context, stream string, req []byte) (*storedMsg, error) {
	resp, err := b.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, req)
	if err != nil {
		return nil, fmt.Errorf("message get: %w", err)
	}
	var r struct {
		Error   *jetstream.APIError `json:"error"`
		Message *storedMsg          `json:"message"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return nil, fmt.Errorf("message get: bad reply %q: %w", resp.Data, err)
	}
	if r.Error != nil {
		return nil, fmt.Errorf("message get: %w", r.Error)
	}
	if r.Message == nil {
		return nil, fmt.Errorf("message get: reply without message: %q", resp.Data)
	}
	return r.Message, nil
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
