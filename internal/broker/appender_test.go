package broker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// stallingLog is a log whose appends wait until released, as a shard's
// log without a leader does; it keeps what it was asked to store.
type stallingLog struct {
	kinesis.Log // only Append is called
	entered     chan struct{}
	release     chan struct{}

	mu       sync.Mutex
	appended [][]byte
}

func (l *stallingLog) Append(_ context.Context, _ string, msg []byte) (uint64, error) {
	l.entered <- struct{}{}
	<-l.release
	l.mu.Lock()
	defer l.mu.Unlock()
	l.appended = append(l.appended, msg)
	return uint64(len(l.appended)), nil
}

// TestAppender_GivesUpQueuedRequests: a put whose context ends while it
// waits behind a write the log has not answered fails at once, and its
// records are never written afterwards; the write in flight completes.
func TestAppender_GivesUpQueuedRequests(t *testing.T) {
	l := &stallingLog{entered: make(chan struct{}), release: make(chan struct{})}
	a := &appender{log: l, name: "KDS-1", epoch: 1, now: time.Now, written: &writeCounter{}, stored: func(uint64) {}}

	first := make(chan error, 1)
	go func() {
		_, _, err := a.append(context.Background(), []packedRecord{{PartitionKey: "k", Data: []byte("first")}}, nil)
		first <- err
	}()
	<-l.entered // the first put's message is in flight

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := a.append(ctx, []packedRecord{{PartitionKey: "k", Data: []byte("second")}}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("queued put whose context ended: %v, want it given up", err)
	}

	close(l.release)
	if err := <-first; err != nil {
		t.Fatalf("put in flight: %v", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.appended) != 1 {
		t.Fatalf("log was asked to store %d messages, want only the first put's", len(l.appended))
	}
	b, err := newBatchReader(l.appended[0])
	if err != nil {
		t.Fatal(err)
	}
	if b.count != 1 {
		t.Fatalf("the first message holds %d records, want 1", b.count)
	}
}
