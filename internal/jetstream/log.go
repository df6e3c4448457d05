package jetstream

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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
		Subjects:    []string{logSubjectPrefix + name},
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

// dupWindow is how long JetStream remembers an append's Nats-Msg-Id: long
// enough for every retry of an append (appendRetryWindow), but JetStream
// wants it no longer than MaxAge.
func dupWindow(cfg Config, maxAge time.Duration) time.Duration {
	w := appendRetryWindow(cfg) + time.Second
	if maxAge > 0 {
		w = min(w, maxAge)
	}
	return w
}

// appendRetryWindow is how long after its first attempt an append may be
// retried.
func appendRetryWindow(cfg Config) time.Duration { return cfg.Timeout }

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
		if subj := s.CachedInfo().Config.Subjects; !slices.Equal(subj, scfg.Subjects) && !slices.Equal(subj, []string{sealedSubjectPrefix + name}) {
			return errors.New("a stream of that name exists and is not a log")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create log %s: %w", name, err)
	}
	return nil
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
	return nil
}

// pubAck is JetStream's reply to a publish.
type pubAck struct {
	Seq       uint64              `json:"seq"`
	Duplicate bool                `json:"duplicate"`
	Error     *jetstream.APIError `json:"error"`
}

// firstAppendAttempt is how long the first attempt of an append waits for
// its ack before the append is sent again; later attempts wait twice as
// long as the one before, up to maxAppendAttempt.
const (
	firstAppendAttempt = 2 * time.Second
	maxAppendAttempt   = 4 * time.Second
)

// errCodeDuplicateInProcess is JetStream's answer to a publish whose
// Nats-Msg-Id an earlier publish is being stored under.
const errCodeDuplicateInProcess = 10158

// errAppendUnknown is an append that failed after an attempt that may have
// stored it: its records must not be written elsewhere. Like an append
// that ran out of time (what it was before appends were retried), it
// matches context.DeadlineExceeded: an attempt's deadline passed unanswered.
var errAppendUnknown = fmt.Errorf("outcome unknown: an earlier attempt went unanswered (%w) and may have stored it", context.DeadlineExceeded)

// Append publishes msg as one message and returns its sequence once the
// stream (leader) has stored it; with SyncAlways that means on disk. If the
// context ends first the outcome is unknown: the message may be stored.
//
// An attempt left unanswered (JetStream drops publishes now and then in a
// cluster: during a leader election, or to a stream created a moment ago)
// is sent again. Every attempt carries the same Nats-Msg-Id, and the log
// remembers ids for longer than appends are retried, so a message is
// stored once however many attempts reach it; the ack of a duplicate
// carries the first one's sequence.
func (b *Backend) Append(ctx context.Context, name string, msg []byte) (uint64, error) {
	if err := checkLogName(name); err != nil {
		return 0, err
	}
	if len(msg) > b.MaxMessageBytes() {
		return 0, fmt.Errorf("append to log %s: message of %d bytes exceeds the maximum of %d", name, len(msg), b.MaxMessageBytes())
	}
	done, err := b.guard.admit(int64(len(msg)), false)
	if err != nil {
		return 0, fmt.Errorf("append to log %s: %w", name, err)
	}
	defer done()
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	subject := logSubjectPrefix + name
	hdr := nats.Header{jetstream.MsgIDHeader: []string{newMsgID()}}
	start := time.Now()
	wait := firstAppendAttempt
	unanswered := false // an earlier attempt may have stored msg
	for attempt := 1; ; attempt++ {
		// Our own request rather than nats.go's: it can check, while it
		// waits, whether the log still exists: on a cluster, a publish to
		// a log deleted a moment ago may go unanswered rather than bounce.
		var ack pubAck
		actx, acancel := context.WithTimeout(ctx, wait)
		err := b.mux.requestMsg(actx, &nats.Msg{Subject: subject, Header: hdr, Data: msg}, b.notFoundAfter(actx, name), func(m *nats.Msg) (bool, error) {
			if err := json.Unmarshal(m.Data, &ack); err != nil {
				return true, fmt.Errorf("bad ack %q: %w", m.Data, err)
			}
			return true, nil
		})
		acancel()
		if errors.Is(err, errNoResponders) {
			// Nobody stored this attempt. Either the log is gone or sealed
			// or, in a cluster, its leader is not reachable yet.
			sealed, exists, ierr := b.logSealed(ctx, name)
			switch {
			case ierr != nil:
				return 0, fmt.Errorf("append to log %s: %w", name, ierr)
			case !exists:
				return 0, fmt.Errorf("append to log %s: %w", name, kinesis.ErrLogNotFound)
			case sealed && unanswered:
				// The attempt that went unanswered may be stored before
				// the seal: ErrLogSealed would have the records written
				// again to the shards after it.
				return 0, fmt.Errorf("append to log %s: log sealed: %w", name, errAppendUnknown)
			case sealed:
				return 0, fmt.Errorf("append to log %s: %w", name, kinesis.ErrLogSealed)
			}
			if attempt >= 5 {
				return 0, fmt.Errorf("append to log %s: %w", name, err)
			}
			if serr := sleepCtx(ctx, time.Duration(attempt)*50*time.Millisecond); serr != nil {
				return 0, fmt.Errorf("append to log %s: %w", name, serr)
			}
			continue
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			// This attempt went unanswered; it may have been stored,
			// unless the stream failed to write it (a full disk), which
			// every later attempt would meet too.
			if ferr := b.guard.writeFailed(); ferr != nil {
				return 0, fmt.Errorf("append to log %s: %w", name, ferr)
			}
			unanswered = true
			if b.mayRetryAppend(ctx, name, start) {
				b.log.Debug("append unanswered, sending it again", "log", name, "attempt", attempt, "waited", wait)
				wait = min(2*wait, maxAppendAttempt)
				continue
			}
			return 0, fmt.Errorf("append to log %s: no ack after %s: %w", name, time.Since(start).Round(time.Millisecond), errAppendUnknown)
		}
		if err != nil {
			return 0, fmt.Errorf("append to log %s: %w", name, err)
		}
		if ack.Error != nil && ack.Error.ErrorCode == errCodeDuplicateInProcess && b.mayRetryAppend(ctx, name, start) {
			// An earlier attempt is being stored right now: ask again
			// for its sequence once it may be done, without flooding the
			// leader with copies of a large message.
			unanswered = true
			if serr := sleepCtx(ctx, 250*time.Millisecond); serr != nil {
				return 0, fmt.Errorf("append to log %s: %w", name, errAppendUnknown)
			}
			continue
		}
		if ack.Error != nil && isStorageFull(int(ack.Error.ErrorCode), ack.Error.Description) {
			return 0, fmt.Errorf("append to log %s: %w: %w", name, kinesis.ErrStorageFull, ack.Error)
		}
		if ack.Error != nil {
			return 0, fmt.Errorf("append to log %s: %w", name, mapStreamErr(ack.Error))
		}
		if ack.Seq == 0 {
			return 0, fmt.Errorf("append to log %s: ack without sequence", name)
		}
		if ack.Duplicate {
			b.log.Debug("append stored by an earlier attempt", "log", name, "seq", ack.Seq, "attempt", attempt)
		}
		return ack.Seq, nil
	}
}

// mayRetryAppend reports whether an append first sent at start may be sent
// again now: the log must remember its id until the retry arrives. Logs
// created before appends carried ids have a window too short to retry.
func (b *Backend) mayRetryAppend(ctx context.Context, name string, start time.Time) bool {
	s, err := b.js.Stream(ctx, name)
	if err != nil {
		return false
	}
	const margin = 500 * time.Millisecond // the retry's time in flight
	elapsed := time.Since(start)
	return elapsed+margin < s.CachedInfo().Config.Duplicates && elapsed < appendRetryWindow(b.cfg)
}

// appendHeaderBytes is room for the headers of an appended message
// ("NATS/1.0\r\nNats-Msg-Id: <22 characters>\r\n\r\n" is 49 bytes), which
// count against max_payload and the stream's maximum message size.
const appendHeaderBytes = 64

// newMsgID returns a Nats-Msg-Id unique to one append.
func newMsgID() string {
	var id [16]byte
	rand.Read(id[:])
	return base64.RawURLEncoding.EncodeToString(id[:])
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
	req := fmt.Appendf(nil, `{"seq":%d,"batch":%d`, from, maxMsgs)
	if maxBytes > 0 {
		req = fmt.Appendf(req, `,"max_bytes":%d`, maxBytes)
	}
	req = append(req, '}')

	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	var out []kinesis.Message
	err := b.directGet(ctx, name, req, b.notFoundAfter(ctx, name), func(m *nats.Msg) (bool, error) {
		switch replyStatus(m) {
		case "":
		case statusEOB, statusNotFound:
			return true, nil
		default:
			return true, statusError(m)
		}
		seq, ts, err := replyPosition(m)
		if err != nil {
			return true, err
		}
		if strings.HasPrefix(m.Header.Get(hdrSubject), sealedSubjectPrefix) {
			return false, nil // SealLog's barrier, not a message of the log
		}
		out = append(out, kinesis.Message{Seq: seq, Time: ts, Data: m.Data})
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read log %s: %w", name, mapStreamErr(err))
	}
	return out, nil
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
	err = b.directGet(ctx, name, req, b.notFoundAfter(ctx, name), func(m *nats.Msg) (bool, error) {
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
		return first.Sequence - 1, nil
	}
}

// logSealed reports whether the log's stream exists and is sealed.
func (b *Backend) logSealed(ctx context.Context, name string) (sealed, exists bool, err error) {
	s, err := b.js.Stream(ctx, name)
	switch {
	case err == nil:
		return slices.Equal(s.CachedInfo().Config.Subjects, []string{sealedSubjectPrefix + name}), true, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return false, false, nil
	default:
		return false, false, err
	}
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

// directGet sends a direct get request for stream; see replyMux.request.
// Nobody answers one when the stream is gone, but also, in a cluster, for
// a while after the stream is created (or its replicas change) until a
// replica serves direct gets. So while the stream exists it asks again,
// after a short backoff, until ctx ends; once it is gone it fails with an
// error matching jetstream.ErrStreamNotFound. A no-responders reply comes
// alone, so fn has seen no message of an attempt that is repeated.
func (b *Backend) directGet(ctx context.Context, stream string, req []byte, idle *idleCheck, fn func(*nats.Msg) (done bool, err error)) error {
	wait := firstDirectGetWait
	for attempt := 1; ; attempt++ {
		err := b.mux.directGet(ctx, stream, req, idle, fn)
		if !errors.Is(err, errNoResponders) {
			return err
		}
		exists, ierr := b.logExists(ctx, stream)
		switch {
		case ierr == nil && !exists:
			return fmt.Errorf("%w: %w", err, jetstream.ErrStreamNotFound)
		case ierr != nil && ctx.Err() != nil:
			return errors.Join(err, ierr)
		}
		// The stream exists (or JetStream could not say: ask again).
		if attempt == 1 || attempt%20 == 0 {
			b.log.Debug("direct get found no responders, asking again", "stream", stream, "attempt", attempt, "err", ierr)
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
