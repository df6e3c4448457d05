package jetstream

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// TestDirectGet_WaitsForResponder reads a log whose stream exists but that
// no server serves direct gets for yet, as in the moments after an R3
// stream is created in a cluster: here a stream created with AllowDirect
// off, turned on while the reads wait. Reads wait (bounded by their
// context) rather than fail, and a deleted log is still not found.
func TestDirectGet_WaitsForResponder(t *testing.T) {
	ctx := t.Context()
	b, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	const name = "nodirect"
	scfg := b.streamConfig(name, kinesis.LogConfig{})
	scfg.AllowDirect = false
	if _, err := b.js.CreateStream(ctx, scfg); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Second)
	for _, data := range []string{"a", "b"} {
		if _, err := b.Append(ctx, name, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}

	// Nobody serves direct gets: a read ends with its context, saying why.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = b.Read(short, name, 1, 10, 0)
	cancel()
	if !errors.Is(err, errNoResponders) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read with no direct get responder: got %v, want no responders and deadline exceeded", err)
	}

	type result struct {
		msgs []kinesis.Message
		seq  uint64
		err  error
	}
	long, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	reads, seeks := make(chan result, 1), make(chan result, 1)
	go func() {
		msgs, err := b.Read(long, name, 1, 10, 0)
		reads <- result{msgs: msgs, err: err}
	}()
	go func() {
		seq, err := b.SeekTime(long, name, start)
		seeks <- result{seq: seq, err: err}
	}()
	time.Sleep(100 * time.Millisecond) // let them meet no responder first
	scfg.AllowDirect = true
	if _, err := b.js.UpdateStream(ctx, scfg); err != nil {
		t.Fatal(err)
	}
	if r := <-reads; r.err != nil || len(r.msgs) != 2 || string(r.msgs[0].Data) != "a" || string(r.msgs[1].Data) != "b" {
		t.Errorf("Read once direct gets are served: %v, %v; want a and b", r.msgs, r.err)
	}
	if r := <-seeks; r.err != nil || r.seq != 1 {
		t.Errorf("SeekTime once direct gets are served: %d, %v; want 1", r.seq, r.err)
	}

	// A log that is gone is not waited for.
	if err := b.DeleteLog(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read(long, name, 1, 10, 0); !errors.Is(err, kinesis.ErrLogNotFound) {
		t.Errorf("Read of a deleted log: %v, want ErrLogNotFound", err)
	}
	if _, err := b.SeekTime(long, name, start); !errors.Is(err, kinesis.ErrLogNotFound) {
		t.Errorf("SeekTime of a deleted log: %v, want ErrLogNotFound", err)
	}
}
