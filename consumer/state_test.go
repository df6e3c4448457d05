package consumer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sluicehq/sluice/consumer"
)

// stateProcessor checkpoints, with state, just before the last record of
// each batch, so the next owner resumes at that record and learns the
// state written with the checkpoint.
type stateProcessor struct {
	mu      sync.Mutex
	started []consumer.InitializeInput
	seen    []string
	empty   []consumer.ProcessRecordsInput
}

func (p *stateProcessor) Initialize(_ context.Context, in consumer.InitializeInput) error {
	p.mu.Lock()
	p.started = append(p.started, in)
	p.mu.Unlock()
	return nil
}

func (p *stateProcessor) ProcessRecords(ctx context.Context, in consumer.ProcessRecordsInput) error {
	p.mu.Lock()
	if len(in.Records) == 0 {
		p.empty = append(p.empty, in)
		p.mu.Unlock()
		return nil
	}
	for _, r := range in.Records {
		p.seen = append(p.seen, string(r.Data))
	}
	p.mu.Unlock()
	last := in.Records[len(in.Records)-1]
	before := consumer.ExtendedSequenceNumber{Sequence: aws.ToString(last.SequenceNumber), SubSequence: last.SubSequenceNumber - 1}
	return in.Checkpointer.CheckpointState(ctx, before, []byte(fmt.Sprintf("seen %d", len(p.seen))))
}

func (p *stateProcessor) ShardEnded(context.Context, consumer.ShardEndedInput) error { return nil }
func (p *stateProcessor) LeaseLost(context.Context, consumer.LeaseLostInput)         {}
func (p *stateProcessor) ShutdownRequested(context.Context, consumer.ShutdownRequestedInput) error {
	return nil
}

func (p *stateProcessor) snapshot() (started []consumer.InitializeInput, seen []string, empty []consumer.ProcessRecordsInput) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]consumer.InitializeInput(nil), p.started...), append([]string(nil), p.seen...), append([]consumer.ProcessRecordsInput(nil), p.empty...)
}

// TestConsumer_CheckpointState checkpoints with state just before a record:
// a restarted worker resumes at that record and gets the state, and with
// WithEmptyBatches it is told of reads that found the shard caught up.
func TestConsumer_CheckpointState(t *testing.T) {
	e := newEnv(t, 1)
	e.put(0, 5, 1)
	var a stateProcessor
	opts := []consumer.Option{consumer.WithAutoCheckpoint(false), consumer.WithEmptyBatches(), consumer.WithRetrieval(consumer.Polling{IdleTime: 20 * time.Millisecond})}
	wa := e.startProcessor("a", func(string) consumer.RecordProcessor { return &a }, opts...)
	waitFor(t, "5 records and an empty read", time.Minute, func() bool {
		_, seen, empty := a.snapshot()
		return len(seen) >= 5 && len(empty) > 0
	})
	_, _, empty := a.snapshot()
	for _, in := range empty {
		if in.MillisBehindLatest != 0 || in.ReadAt.IsZero() || time.Since(in.ReadAt) > time.Minute {
			t.Errorf("empty batch %+v: want caught up, with the time of its read", in)
		}
	}
	wa.stop(t)
	ls, err := e.store.GetLease(ctxFor(t, time.Minute), "shardId-000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if ls.Checkpoint.SubSequence != -1 || len(ls.CheckpointState) == 0 {
		t.Fatalf("stored lease %+v: want a checkpoint just before a record, with state", ls)
	}

	var b stateProcessor
	e.startProcessor("b", func(string) consumer.RecordProcessor { return &b }, opts...)
	waitFor(t, "the second worker to resume", time.Minute, func() bool {
		_, seen, _ := b.snapshot()
		return len(seen) >= 1
	})
	started, seen, _ := b.snapshot()
	_, seenA, _ := a.snapshot()
	if len(started) != 1 || string(started[0].CheckpointState) != fmt.Sprintf("seen %d", len(seenA)) {
		t.Errorf("second worker started with %+v, want the state %q", started, fmt.Sprintf("seen %d", len(seenA)))
	}
	if seen[0] != seenA[len(seenA)-1] {
		t.Errorf("second worker resumed at %q, want the first worker's last record %q", seen[0], seenA[len(seenA)-1])
	}
}
