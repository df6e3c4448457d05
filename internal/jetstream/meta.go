package jetstream

import (
	"context"
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

// Headers of KV messages (nats.go's kv.go, ADR-8).
const (
	hdrKVOperation  = "KV-Operation"
	hdrMarkerReason = "Nats-Marker-Reason"
	kvOpDelete      = "DEL"
)

// errClosed is returned by Watch when the Backend closes first.
var errClosed = errors.New("jetstream backend closed")

// kvDeleted reports whether a KV message with headers h is a delete or
// purge marker rather than a value.
func kvDeleted(h nats.Header) bool {
	return h.Get(hdrKVOperation) != "" || h.Get(hdrMarkerReason) != ""
}

// Bucket is a JetStream KV bucket (History 1) whose writes are
// compare-and-swap on the key's revision. The metadata store is one; other
// stores (the DynamoDB tables) open their own with Backend.OpenBucket.
type Bucket struct {
	be     *Backend
	kv     jetstream.KeyValue
	stream string // the bucket's stream, "KV_<bucket>"
	prefix string // subject prefix of keys, "$KV.<bucket>."

	atomicMu sync.Mutex
	atomic   bool // atomic batch publishes are allowed (commit.go)
}

var _ kinesis.MetaStore = (*Bucket)(nil)

// The Backend is the metadata store: its methods are its meta bucket's.

// Get is the meta bucket's Get.
func (b *Backend) Get(ctx context.Context, key string) (kinesis.MetaEntry, error) {
	return b.meta.Get(ctx, key)
}

// Create is the meta bucket's Create.
func (b *Backend) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	return b.meta.Create(ctx, key, value)
}

// Update is the meta bucket's Update.
func (b *Backend) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	return b.meta.Update(ctx, key, value, rev)
}

// Delete is the meta bucket's Delete.
func (b *Backend) Delete(ctx context.Context, key string, rev uint64) error {
	return b.meta.Delete(ctx, key, rev)
}

// List is the meta bucket's List.
func (b *Backend) List(ctx context.Context, prefix string) ([]kinesis.MetaEntry, error) {
	return b.meta.List(ctx, prefix)
}

// Watch is the meta bucket's Watch.
func (b *Backend) Watch(ctx context.Context, prefix string, fn func(kinesis.MetaEntry)) error {
	return b.meta.Watch(ctx, prefix, fn)
}

// Get reads key from the bucket's stream leader, so that it reflects every
// write acknowledged before it (direct gets, which KV Get uses, may be
// answered by a lagging replica). ErrKeyNotFound if absent or deleted.
func (k *Bucket) Get(ctx context.Context, key string) (kinesis.MetaEntry, error) {
	if err := checkKey(key); err != nil {
		return kinesis.MetaEntry{}, fmt.Errorf("get %q: %w", key, err)
	}
	ctx, cancel := k.be.opCtx(ctx)
	defer cancel()
	e, err := k.getLatest(ctx, key)
	if err != nil {
		return kinesis.MetaEntry{}, fmt.Errorf("get %q: %w", key, err)
	}
	if e.Deleted {
		return kinesis.MetaEntry{}, fmt.Errorf("get %q: %w", key, kinesis.ErrKeyNotFound)
	}
	return e, nil
}

// getLatest returns the key's last message, delete markers included.
func (k *Bucket) getLatest(ctx context.Context, key string) (kinesis.MetaEntry, error) {
	req, err := json.Marshal(struct {
		LastFor string `json:"last_by_subj"`
	}{k.prefix + escapeKey(key)})
	if err != nil {
		return kinesis.MetaEntry{}, err
	}
	var m *storedMsg
	err = k.be.retryIdempotent(ctx, func(ctx context.Context) (err error) {
		m, err = k.be.leaderGet(ctx, k.stream, req)
		return err
	})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return kinesis.MetaEntry{}, kinesis.ErrKeyNotFound
	}
	if err != nil {
		return kinesis.MetaEntry{}, err
	}
	e := kinesis.MetaEntry{Key: key, Value: m.Data, Revision: m.Sequence}
	if len(m.Header) > 0 {
		h, err := nats.DecodeHeadersMsg(m.Header)
		if err != nil {
			return kinesis.MetaEntry{}, fmt.Errorf("decode headers: %w", err)
		}
		if kvDeleted(h) {
			e.Deleted, e.Value = true, nil
		}
	}
	return e, nil
}

// put publishes value (or a delete marker) for key if the key's last
// revision is rev (0: no message for the key). errRevMismatch otherwise.
func (k *Bucket) put(ctx context.Context, key string, value []byte, rev uint64, del bool) (uint64, error) {
	done, err := k.be.guard.admit(int64(len(key)+len(value)), true)
	if err != nil {
		return 0, err
	}
	defer done()
	// Attempts left unanswered (a leader election, a dead connection)
	// are sent again with the same Nats-Msg-Id, so one that finds an
	// earlier attempt stored is acknowledged with its revision instead of
	// failing the compare-and-swap. The bucket's duplicate window (2
	// minutes) outlasts the operation. An attempt left unanswered by a
	// full disk fails at once (publishRetry asks the disk guard).
	id := newMsgID()
	msg := func() *nats.Msg {
		m := &nats.Msg{Subject: k.prefix + escapeKey(key), Data: value, Header: nats.Header{}}
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
		m.Header.Set(jetstream.MsgIDHeader, id)
		if del {
			m.Header.Set(hdrKVOperation, kvOpDelete)
		}
		return m
	}
	ack, _, err := k.be.publishRetry(ctx, k.stream, msg, nil)
	if err != nil {
		return 0, err
	}
	if ack.Error != nil {
		if ack.Error.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			ack.Error.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant {
			return 0, errRevMismatch
		}
		return 0, refusal(ack.Error)
	}
	return ack.Seq, nil
}

// errRevMismatch is put's CAS failure; callers map it to the sentinel that
// fits the operation.
var errRevMismatch = errors.New("wrong last revision")

// Create stores key only if it is absent (never written, or deleted).
// ErrKeyExists otherwise.
func (k *Bucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, fmt.Errorf("create %q: %w", key, err)
	}
	ctx, cancel := k.be.opCtx(ctx)
	defer cancel()
	rev, err := k.put(ctx, key, value, 0, false)
	if !errors.Is(err, errRevMismatch) {
		if err != nil {
			return 0, fmt.Errorf("create %q: %w", key, err)
		}
		return rev, nil
	}
	// The key has messages: fine if the last one is a delete marker.
	e, err := k.getLatest(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("create %q: %w", key, err)
	}
	if !e.Deleted {
		return 0, fmt.Errorf("create %q: %w", key, kinesis.ErrKeyExists)
	}
	rev, err = k.put(ctx, key, value, e.Revision, false)
	if errors.Is(err, errRevMismatch) {
		return 0, fmt.Errorf("create %q: %w", key, kinesis.ErrKeyExists) // created meanwhile
	}
	if err != nil {
		return 0, fmt.Errorf("create %q: %w", key, err)
	}
	return rev, nil
}

// Update stores key only if its current revision is rev.
// ErrRevisionMismatch otherwise, also when the key was deleted.
func (k *Bucket) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, fmt.Errorf("update %q: %w", key, err)
	}
	ctx, cancel := k.be.opCtx(ctx)
	defer cancel()
	nrev, err := k.put(ctx, key, value, rev, false)
	if errors.Is(err, errRevMismatch) {
		return 0, fmt.Errorf("update %q at revision %d: %w", key, rev, kinesis.ErrRevisionMismatch)
	}
	if err != nil {
		return 0, fmt.Errorf("update %q: %w", key, err)
	}
	return nrev, nil
}

// Delete writes a delete marker for key only if its current revision is
// rev. ErrRevisionMismatch otherwise.
func (k *Bucket) Delete(ctx context.Context, key string, rev uint64) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	ctx, cancel := k.be.opCtx(ctx)
	defer cancel()
	_, err := k.put(ctx, key, nil, rev, true)
	if errors.Is(err, errRevMismatch) {
		return fmt.Errorf("delete %q at revision %d: %w", key, rev, kinesis.ErrRevisionMismatch)
	}
	if err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}

// listBatch is the number of KV messages fetched per direct get by List.
const listBatch = 1024

// List returns the live entries whose key starts with prefix, sorted by
// key. It scans the bucket's stream with batch direct gets (History 1
// keeps one message per key), so in a cluster it may lag a just
// acknowledged write by a moment.
func (k *Bucket) List(ctx context.Context, prefix string) ([]kinesis.MetaEntry, error) {
	ctx, cancel := k.be.opCtx(ctx)
	defer cancel()
	escPrefix := k.prefix + escapeKey(prefix)
	// A key written during the scan can show up twice (its old message
	// before the scan position, its new one after); the later one wins.
	latest := make(map[string]kinesis.MetaEntry)
	for from := uint64(1); ; {
		req := fmt.Appendf(nil, `{"seq":%d,"batch":%d}`, from, listBatch)
		var (
			n       int
			pending = -1
		)
		err := k.be.directGet(ctx, k.stream, req, func(m *nats.Msg) (bool, error) {
			if ok, err := batchEnd(m, &pending); !ok {
				return true, err
			}
			n++
			seq, _, err := replyPosition(m)
			if err != nil {
				return true, err
			}
			from = seq + 1
			subject := m.Header.Get(hdrSubject)
			if !strings.HasPrefix(subject, escPrefix) {
				return false, nil
			}
			if kvDeleted(m.Header) {
				delete(latest, subject)
				return false, nil
			}
			key, err := unescapeKey(strings.TrimPrefix(subject, k.prefix))
			if err != nil {
				k.be.log.Warn("skip foreign meta key", "subject", subject, "err", err)
				return false, nil
			}
			latest[subject] = kinesis.MetaEntry{Key: key, Value: m.Data, Revision: seq}
			return false, nil
		})
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", prefix, err)
		}
		if pending == 0 || n == 0 {
			break
		}
	}
	out := make([]kinesis.MetaEntry, 0, len(latest))
	for _, e := range latest {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b kinesis.MetaEntry) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// watchTries is how many times Watch asks JetStream for its watch.
const watchTries = 3

// Watch calls fn, from one goroutine, with the live entries under prefix
// and then with every later change, deletes as entries with Deleted set.
// It returns once the initial entries have been passed to fn; the watch
// goes on until ctx ends or the Backend closes.
func (k *Bucket) Watch(ctx context.Context, prefix string, fn func(kinesis.MetaEntry)) error {
	escPrefix := escapeKey(prefix)
	wctx, cancel := context.WithCancel(ctx)
	w, err := k.kv.WatchAll(wctx)
	// A cluster that has just formed, or a busy one, may not answer the
	// watch's consumer creation in time: ask again a few times before
	// giving up (a start fails without its watch).
	for try := 1; errors.Is(err, context.DeadlineExceeded) && wctx.Err() == nil && try < watchTries; try++ {
		k.be.log.Warn("meta watch not set up in time; asking again", "prefix", prefix, "try", try)
		w, err = k.kv.WatchAll(wctx)
	}
	if err != nil {
		cancel()
		return fmt.Errorf("watch %q: %w", prefix, err)
	}
	ready := make(chan error, 1)
	k.be.watchers.Add(1)
	go func() {
		defer k.be.watchers.Done()
		defer cancel()
		initial := true
		finish := func(err error) {
			if initial {
				ready <- err
			}
			_ = w.Stop()
			// Drain until the subscription closes: its handler blocks on
			// a full channel and would otherwise never finish.
			timeout := time.After(k.be.cfg.Timeout)
			for {
				select {
				case _, ok := <-w.Updates():
					if !ok {
						return
					}
				case <-timeout:
					k.be.log.Warn("meta watch did not close in time", "prefix", prefix)
					return
				}
			}
		}
		for {
			select {
			case <-wctx.Done():
				finish(wctx.Err())
				return
			case <-k.be.stop:
				finish(errClosed)
				return
			case kve, ok := <-w.Updates():
				if !ok {
					if initial {
						ready <- errClosed
					}
					return
				}
				if kve == nil { // all initial values delivered
					if initial {
						initial = false
						ready <- nil
					}
					continue
				}
				if !strings.HasPrefix(kve.Key(), escPrefix) {
					continue
				}
				deleted := kve.Operation() != jetstream.KeyValuePut
				if deleted && initial {
					continue // a key deleted before the watch began is not a value
				}
				key, err := unescapeKey(kve.Key())
				if err != nil {
					k.be.log.Warn("skip foreign meta key", "key", kve.Key(), "err", err)
					continue
				}
				e := kinesis.MetaEntry{Key: key, Revision: kve.Revision(), Deleted: deleted}
				if !deleted {
					e.Value = kve.Value()
				}
				fn(e)
			}
		}
	}()
	if err := <-ready; err != nil {
		return fmt.Errorf("watch %q: %w", prefix, err)
	}
	return nil
}
