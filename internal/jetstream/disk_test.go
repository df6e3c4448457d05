package jetstream

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// fakeDisk is a disk guard's view of a filesystem and a JetStream.
type fakeDisk struct {
	free     atomic.Int64
	werr     atomic.Value // string: a stream write error
	restarts atomic.Int32
}

func newTestGuard(d *fakeDisk, reserve int64) *diskGuard {
	g := newDiskGuard("/data", reserve, time.Second, slog.New(slog.DiscardHandler))
	g.free = func(string) (int64, error) { return d.free.Load(), nil }
	d.werr.Store("")
	g.unhealth = func() string { return d.werr.Load().(string) }
	g.restart = func() error {
		d.restarts.Add(1)
		d.werr.Store("")
		return nil
	}
	return g
}

func TestDiskGuard_Admit(t *testing.T) {
	d := &fakeDisk{}
	d.free.Store(1000)
	g := newTestGuard(d, 100)

	done, err := g.admit(800, false)
	if err != nil {
		t.Fatalf("800 of 1000 free with 100 reserved: %v", err)
	}
	// 800 are pending: 150 more would leave 50.
	if _, err := g.admit(150, false); !errors.Is(err, kinesis.ErrStorageFull) {
		t.Fatalf("append into the reserve: %v, want ErrStorageFull", err)
	}
	if testutil.ToFloat64(g.fullGauge) != 1 {
		t.Errorf("storage_full not set")
	}
	// Metadata may use all but a quarter of the reserve.
	metaDone, err := g.admit(150, true)
	if err != nil {
		t.Fatalf("meta write leaving 50 of a 25 meta reserve: %v", err)
	}
	if _, err := g.admit(30, true); !errors.Is(err, kinesis.ErrStorageFull) {
		t.Fatalf("meta write into its reserve: %v, want ErrStorageFull", err)
	}
	metaDone()
	done()
	if _, err := g.admit(150, false); err != nil {
		t.Fatalf("append once the pending writes finished: %v", err)
	}
	if testutil.ToFloat64(g.fullGauge) != 0 {
		t.Errorf("storage_full still set")
	}
	if a, m := testutil.ToFloat64(g.refused.WithLabelValues("append")), testutil.ToFloat64(g.refused.WithLabelValues("meta")); a != 1 || m != 1 {
		t.Errorf("refusals counted: append %v, meta %v", a, m)
	}

	// Without a reserve, or without a guard, everything passes.
	if _, err := newTestGuard(d, -1).admit(1<<40, false); err != nil {
		t.Errorf("no reserve: %v", err)
	}
	var none *diskGuard
	if _, err := none.admit(1<<40, false); err != nil || none.writeFailed() != nil {
		t.Errorf("nil guard refused")
	}
}

// TestDiskGuard_Recovery: after space ran low, the guard checks the
// store's health once there is room again and restarts JetStream if a
// stream kept a write error; a healthy store is left alone.
func TestDiskGuard_Recovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDisk{}
		d.free.Store(50)
		g := newTestGuard(d, 100)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { g.run(stop); close(done) }()

		time.Sleep(time.Second + time.Millisecond)
		if testutil.ToFloat64(g.fullGauge) != 1 || testutil.ToFloat64(g.freeGauge) != 50 {
			t.Fatalf("low space not seen: full %v, free %v", testutil.ToFloat64(g.fullGauge), testutil.ToFloat64(g.freeGauge))
		}
		// An append went unanswered: the stream has a write error.
		d.werr.Store("JetStream stream '$G > KDS-1' write error: write: no space left on device")
		if err := g.writeFailed(); !errors.Is(err, kinesis.ErrStorageFull) {
			t.Fatalf("writeFailed: %v", err)
		}
		time.Sleep(5 * time.Second)
		if d.restarts.Load() != 0 {
			t.Fatalf("restarted while the disk is still full")
		}
		d.free.Store(50 + 1<<20) // space freed
		time.Sleep(time.Second)
		if d.restarts.Load() != 1 || testutil.ToFloat64(g.restarts) != 1 {
			t.Fatalf("restarts after space came back: %d", d.restarts.Load())
		}
		if testutil.ToFloat64(g.fullGauge) != 0 {
			t.Errorf("storage_full still set")
		}
		time.Sleep(10 * time.Second)
		if d.restarts.Load() != 1 {
			t.Errorf("restarted again with a healthy store: %d", d.restarts.Load())
		}
		// Low space with no write error: no restart.
		d.free.Store(10)
		time.Sleep(time.Second)
		d.free.Store(1000)
		time.Sleep(2 * time.Second)
		if d.restarts.Load() != 1 {
			t.Errorf("restarted a healthy store: %d", d.restarts.Load())
		}
		close(stop)
		<-done
	})
}

// TestRestartJetStream_WatchesSurvive restarts JetStream in a running
// embedded server, as the disk guard does after a write error, and checks
// that what the broker relies on carries on: metadata watches see later
// changes, append watches later appends, and the logs keep their data.
func TestRestartJetStream_WatchesSurvive(t *testing.T) {
	b, err := Open(t.Context(), Config{DataDir: t.TempDir(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	if err := b.CreateLog(ctx, "w", kinesis.LogConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, "w", []byte("before")); err != nil {
		t.Fatal(err)
	}
	metaSeen := make(chan string, 16)
	if err := b.Watch(ctx, "stream/", func(e kinesis.MetaEntry) { metaSeen <- string(e.Value) }); err != nil {
		t.Fatal(err)
	}
	appendSeen := make(chan uint64, 16)
	if err := b.WatchAppends(ctx, "w", func(seq uint64) { appendSeen <- seq }); err != nil {
		t.Fatal(err)
	}

	if err := b.guard.restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}

	// Writes may fail for a moment while JetStream comes back.
	deadline := time.Now().Add(30 * time.Second)
	var seq uint64
	for {
		if seq, err = b.Append(ctx, "w", []byte("after")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("append after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if seq != 2 {
		t.Errorf("append after restart got sequence %d, want 2", seq)
	}
	if _, err := b.Create(ctx, "stream/x", []byte("created after")); err != nil {
		t.Fatalf("meta write after restart: %v", err)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for !ok() {
			select {
			case <-timeout:
				t.Fatalf("%s not seen after a JetStream restart", what)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	waitFor("metadata change", func() bool {
		select {
		case v := <-metaSeen:
			return v == "created after"
		default:
			return false
		}
	})
	waitFor("append", func() bool {
		select {
		case s := <-appendSeen:
			return s >= 2
		default:
			return false
		}
	})
	msgs, err := b.Read(ctx, "w", 1, 10, 1<<20)
	if err != nil || len(msgs) != 2 || string(msgs[0].Data) != "before" {
		t.Fatalf("log after restart: %v %v", msgs, err)
	}
}
