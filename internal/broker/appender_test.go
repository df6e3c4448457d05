package broker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// stallingLog is a log whose appends wait until released, as a log
// without a leader does; it keeps what it was asked to store.
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
	a := &appender{log: l, name: "KDS-1", epoch: 1, now: time.Now, stored: func(uint64, *logMsg) {}}
	batch := func(data string) []*shardBatch {
		recs := []packedRecord{{PartitionKey: "k", Data: []byte(data)}}
		return []*shardBatch{{shard: 0, recs: recs, size: batchSize(recs)}}
	}

	first := make(chan error, 1)
	go func() {
		_, _, err := a.append(context.Background(), batch("first"), nil)
		first <- err
	}()
	<-l.entered // the first put's message is in flight

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := a.append(ctx, batch("second"), nil); !errors.Is(err, context.Canceled) {
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
	m, err := parseLogBody(l.appended[0][logHeaderSize:])
	if err != nil {
		t.Fatal(err)
	}
	br, ok := m.section(0)
	if !ok || br.count != 1 || len(m.secs) != 1 {
		t.Fatalf("the first message holds %d sections, shard 0's with %d records; want one record", len(m.secs), br.count)
	}
	if _, data, err := br.next(); err != nil || string(data) != "first" {
		t.Fatalf("the first message's record: %q, %v; want \"first\"", data, err)
	}
}
