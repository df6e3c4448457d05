package jetstream

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Headers of an atomic batch publish (NATS Server 2.12+, ADR-50).
const (
	hdrBatchID     = "Nats-Batch-Id"
	hdrBatchSeq    = "Nats-Batch-Sequence"
	hdrBatchCommit = "Nats-Batch-Commit"
)

// Commit writes several keys of the bucket at once, all or none: each
// write holds only if its key's revision is still the one given (0: the
// key is absent, never written or deleted). It is one atomic batch
// publish, whose every message carries the key's expected last sequence,
// so JetStream checks and stores them together. ErrRevisionMismatch if any
// check fails, in which case nothing is written. The bucket's stream is
// switched to allow atomic publishes on first use; a server older than
// NATS 2.12 cannot, and Commit then fails.
func (k *Bucket) Commit(ctx context.Context, writes []kinesis.MetaWrite) error {
	if len(writes) == 0 {
		return nil
	}
	ctx, cancel := k.be.opCtx(ctx)
	defer cancel()
	if err := k.allowAtomic(ctx); err != nil {
		return err
	}
	expected := make([]uint64, len(writes))
	for i, w := range writes {
		if err := checkKey(w.Key); err != nil {
			return fmt.Errorf("commit %q: %w", w.Key, err)
		}
		if w.Revision != 0 {
			expected[i] = w.Revision
			continue
		}
		// An absent key may have a delete marker: expect that.
		e, err := k.getLatest(ctx, w.Key)
		switch {
		case errors.Is(err, kinesis.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("commit %q: %w", w.Key, err)
		case !e.Deleted:
			return fmt.Errorf("commit %q: %w", w.Key, kinesis.ErrRevisionMismatch)
		default:
			expected[i] = e.Revision
		}
	}
	size := 0
	for _, w := range writes {
		size += len(w.Key) + len(w.Value)
	}
	done, err := k.be.guard.admit(int64(size), true)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	defer done()
	id := rand.Text()
	for i, w := range writes {
		m := nats.NewMsg(k.prefix + escapeKey(w.Key))
		m.Data = w.Value
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expected[i], 10))
		if w.Delete {
			m.Data = nil
			m.Header.Set(hdrKVOperation, kvOpDelete)
		}
		m.Header.Set(hdrBatchID, id)
		m.Header.Set(hdrBatchSeq, strconv.Itoa(i+1))
		if i < len(writes)-1 {
			if err := k.be.nc.PublishMsg(m); err != nil {
				return fmt.Errorf("commit: publish: %w", err)
			}
			continue
		}
		m.Header.Set(hdrBatchCommit, "1")
		reply, err := k.be.nc.RequestMsgWithContext(ctx, m)
		if err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		var ack struct {
			Error *jetstream.APIError `json:"error"`
			Seq   uint64              `json:"seq"`
		}
		if err := json.Unmarshal(reply.Data, &ack); err != nil {
			return fmt.Errorf("commit: decode reply: %w", err)
		}
		if ack.Error != nil {
			if ack.Error.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
				ack.Error.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant {
				return fmt.Errorf("commit: %w", kinesis.ErrRevisionMismatch)
			}
			return fmt.Errorf("commit: %w", refusal(ack.Error))
		}
	}
	return nil
}

// allowAtomic enables atomic batch publishes on the bucket's stream, once.
func (k *Bucket) allowAtomic(ctx context.Context) error {
	k.atomicMu.Lock()
	defer k.atomicMu.Unlock()
	if k.atomic {
		return nil
	}
	s, err := k.be.js.Stream(ctx, k.stream)
	if err != nil {
		return fmt.Errorf("allow atomic publish on %s: %w", k.stream, err)
	}
	cfg := s.CachedInfo().Config
	if !cfg.AllowAtomicPublish {
		cfg.AllowAtomicPublish = true
		updated, err := k.be.js.UpdateStream(ctx, cfg)
		if err != nil {
			return fmt.Errorf("allow atomic publish on %s (needs NATS Server 2.12 or later): %w", k.stream, err)
		}
		if !updated.CachedInfo().Config.AllowAtomicPublish {
			return fmt.Errorf("allow atomic publish on %s: the server ignored it (needs NATS Server 2.12 or later)", k.stream)
		}
	}
	k.atomic = true
	return nil
}
