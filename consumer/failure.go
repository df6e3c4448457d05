package consumer

// What happens when a processor fails a batch: retry with backoff, split
// the batch in halves to isolate the failing record, and only then, if the
// application allowed it, send that record to a dead-letter stream or skip
// it. Nothing is skipped silently: by default a failing record blocks its
// shard, as a Lambda event source mapping does.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// errStopped ends a delivery abandoned because the worker is stopping; the
// abandoned records are not checkpointed, so the next owner gets them.
var errStopped = errors.New("worker stopping")

// DeadLetter is the JSON document written to the dead-letter stream for a
// record the processor failed; its partition key is the record's.
type DeadLetter struct {
	Stream                      string     `json:"stream"`
	ShardID                     string     `json:"shardId"`
	SequenceNumber              string     `json:"sequenceNumber"`
	SubSequenceNumber           int64      `json:"subSequenceNumber,omitempty"`
	PartitionKey                string     `json:"partitionKey"`
	ExplicitHashKey             string     `json:"explicitHashKey,omitempty"`
	ApproximateArrivalTimestamp *time.Time `json:"approximateArrivalTimestamp,omitempty"`
	Data                        []byte     `json:"data"`
	Error                       string     `json:"error"`
	Attempts                    int        `json:"attempts"`
}

// deliver hands recs to the processor until each is processed, dead-lettered
// or skipped. It returns ctx's error if the lease is lost, errStopped if the
// worker stops while retrying, ErrLeaseLost if a checkpoint finds the lease
// gone.
func (w *shardWorker) deliver(ctx context.Context, p RecordProcessor, recs []Record, behind int64, readAt time.Time) error {
	pol := w.c.opts.retry
	bo := newBackoff(pol.InitialBackoff, pol.MaxBackoff)
	for attempts := 1; ; attempts++ {
		w.cp.delivered(recs[len(recs)-1].Position())
		err := p.ProcessRecords(ctx, ProcessRecordsInput{ShardID: w.key, Records: recs, MillisBehindLatest: behind, ReadAt: readAt, Checkpointer: w.cp})
		if err == nil {
			return w.processed(ctx, recs, true)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.c.opts.metrics.Error(OpProcess, w.key)
		w.log.Warn("processor failed a batch", "records", len(recs), "first", recs[0].Position().String(), "attempt", attempts, "err", err)
		if len(recs) > 1 && pol.AttemptsToBisect > 0 && attempts >= pol.AttemptsToBisect {
			half := len(recs) / 2
			if err := w.deliver(ctx, p, recs[:half], behind, readAt); err != nil {
				return err
			}
			return w.deliver(ctx, p, recs[half:], behind, readAt)
		}
		if w.giveUp(recs, attempts, time.Now()) {
			if err := w.discard(ctx, recs, attempts, err); err != nil {
				return err
			}
			return w.processed(ctx, recs, false)
		}
		select {
		case <-w.stopping:
			return errStopped
		default:
		}
		if err := sleepOrStop(ctx, w.stopping, bo.cur); err != nil {
			return err
		}
		bo.cur = min(2*bo.cur, bo.max)
	}
}

// processed notes recs done (processed, or dead-lettered or skipped) and
// checkpoints after them when automatic.
func (w *shardWorker) processed(ctx context.Context, recs []Record, ok bool) error {
	w.cp.markProcessed(recs[len(recs)-1].Position())
	if ok {
		bytes := 0
		for i := range recs {
			bytes += len(recs[i].Data)
		}
		w.c.opts.metrics.RecordsProcessed(w.key, len(recs), bytes)
	}
	if !w.c.opts.autoCheckpoint {
		return nil
	}
	// A lease table that fails for a while blocks the shard rather than
	// ending it; losing the lease ends the retries.
	return w.retry(ctx, OpCheckpoint, func() error { return w.cp.Checkpoint(ctx) })
}

func (w *shardWorker) giveUp(recs []Record, attempts int, now time.Time) bool {
	pol := w.c.opts.retry
	if pol.MaxAttempts > 0 && attempts >= pol.MaxAttempts {
		return true
	}
	return pol.MaxRecordAge > 0 && recordAge(&recs[0], now) > pol.MaxRecordAge
}

// discard sends records the retry policy gave up on to the dead-letter
// stream, or skips them when that is what the application asked for.
func (w *shardWorker) discard(ctx context.Context, recs []Record, attempts int, cause error) error {
	if w.c.opts.deadLetterStream == "" {
		for i := range recs {
			w.c.opts.metrics.Error(OpSkip, w.key)
			w.log.Error("skipping a record the processor failed", "sequence", recs[i].Position().String(), "attempts", attempts, "err", cause)
		}
		return nil
	}
	entries := make([]types.PutRecordsRequestEntry, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		doc, err := json.Marshal(DeadLetter{
			Stream: w.c.stream, ShardID: w.key, SequenceNumber: aws.ToString(r.SequenceNumber), SubSequenceNumber: r.SubSequenceNumber,
			PartitionKey: aws.ToString(r.PartitionKey), ExplicitHashKey: r.ExplicitHashKey,
			ApproximateArrivalTimestamp: r.ApproximateArrivalTimestamp, Data: r.Data, Error: cause.Error(), Attempts: attempts,
		})
		if err != nil {
			return fmt.Errorf("encode dead letter: %w", err)
		}
		entries = append(entries, types.PutRecordsRequestEntry{Data: doc, PartitionKey: r.PartitionKey})
	}
	bo := newBackoff(w.c.opts.retry.InitialBackoff, w.c.opts.retry.MaxBackoff)
	for len(entries) > 0 {
		batch := entries[:min(len(entries), 500)]
		out, err := w.c.api.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(w.c.opts.deadLetterStream), Records: batch})
		if err == nil {
			var failed []types.PutRecordsRequestEntry
			code := ""
			for i, res := range out.Records {
				if res.ErrorCode != nil {
					failed = append(failed, batch[i])
					code = aws.ToString(res.ErrorCode)
				}
			}
			entries = append(failed, entries[len(batch):]...)
			if len(failed) == 0 {
				bo.reset()
				continue
			}
			err = fmt.Errorf("%d records failed, one with %s", len(failed), code)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.c.opts.metrics.Error(OpDeadLetter, w.key)
		w.log.Warn("write to the dead-letter stream failed, retrying", "stream", w.c.opts.deadLetterStream, "err", err)
		if err := sleepOrStop(ctx, w.stopping, bo.cur); err != nil {
			return err
		}
		bo.cur = min(2*bo.cur, bo.max)
	}
	w.log.Error("sent records the processor failed to the dead-letter stream", "records", len(recs), "stream", w.c.opts.deadLetterStream, "attempts", attempts, "err", cause)
	return nil
}

// sleepOrStop waits d; it returns errStopped if stop closes first.
func sleepOrStop(ctx context.Context, stop <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return errStopped
	case <-t.C:
		return nil
	}
}
