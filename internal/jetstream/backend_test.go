package jetstream_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/jetstream"
	"github.com/sluicehq/sluice/internal/jetstream/natstest"
	"github.com/sluicehq/sluice/internal/kinesis"
	"github.com/sluicehq/sluice/internal/storetest"
)

// openEmbedded opens an embedded backend in dir, closed when t ends.
func openEmbedded(t testing.TB, dir string) *jetstream.Backend {
	t.Helper()
	b, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// testLogger passes warnings and errors to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestBackend_Embedded(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		return openEmbedded(t, t.TempDir())
	})
}

func TestBackend_Cluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster; skipped with -short")
	}
	urls := natstest.StartCluster(t, 3)
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		b, err := jetstream.Open(t.Context(), jetstream.Config{
			URL:      strings.Join(urls, ","),
			Replicas: 3,
			Logger:   testLogger(t),
		})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

// TestBackend_ClusterReadAfterAck measures, without asserting, whether a
// direct get right after an acknowledged append sees the message. One log,
// a client on each node: at least two of them sit next to a follower.
func TestBackend_ClusterReadAfterAck(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster; skipped with -short")
	}
	urls := natstest.StartCluster(t, 3)
	ctx := t.Context()
	const name, n = "raa", 300
	for i, url := range urls {
		b, err := jetstream.Open(ctx, jetstream.Config{URL: url, Replicas: 3, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := b.CreateLog(ctx, name, kinesis.LogConfig{}); err != nil {
			t.Fatal(err)
		}
		missed := 0
		for range n {
			seq, err := b.Append(ctx, name, []byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			msgs, err := b.Read(ctx, name, seq, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) == 0 {
				missed++
			}
		}
		t.Logf("client on node %d: %d of %d reads right after the ack missed the message", i, missed, n)
	}
}

func TestBackend_Reopen(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	b, err := jetstream.Open(ctx, jetstream.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CreateLog(ctx, "KDS-1", kinesis.LogConfig{MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"a", "b", "c"} {
		if _, err := b.Append(ctx, "KDS-1", []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	rev, err := b.Create(ctx, "stream/s.1", []byte("desc"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	b = openEmbedded(t, dir)
	st, err := b.State(ctx, "KDS-1")
	if err != nil {
		t.Fatal(err)
	}
	if st.FirstSeq != 1 || st.LastSeq != 3 {
		t.Fatalf("State after reopen = %+v, want 1..3", st)
	}
	msgs, err := b.Read(ctx, "KDS-1", 1, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, string(m.Data))
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("Read after reopen = %q", got)
	}
	seq, err := b.Append(ctx, "KDS-1", []byte("d"))
	if err != nil || seq != 4 {
		t.Fatalf("Append after reopen = %d, %v; want 4", seq, err)
	}
	e, err := b.Get(ctx, "stream/s.1")
	if err != nil || string(e.Value) != "desc" || e.Revision != rev {
		t.Fatalf("Get after reopen = %+v, %v", e, err)
	}
}

func TestBackend_DataDirLocked(t *testing.T) {
	dir := t.TempDir()
	openEmbedded(t, dir)
	if b, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: dir}); err == nil {
		b.Close()
		t.Fatal("second Open of one data dir succeeded")
	}
}

func TestBackend_Names(t *testing.T) {
	ctx := t.Context()
	b := openEmbedded(t, t.TempDir())
	for _, name := range []string{"", "a.b", "a b", "a*", "a>", "a/b", strings.Repeat("x", 256)} {
		if err := b.CreateLog(ctx, name, kinesis.LogConfig{}); err == nil {
			t.Errorf("CreateLog(%q) succeeded", name)
		}
		if _, err := b.Append(ctx, name, []byte("x")); err == nil {
			t.Errorf("Append(%q) succeeded", name)
		}
	}
	// The metadata bucket's stream is not a log.
	if err := b.CreateLog(ctx, "KV_"+jetstream.DefaultMetaBucket, kinesis.LogConfig{}); err == nil {
		t.Errorf("CreateLog over the meta bucket succeeded")
	}
	if err := b.CreateLog(ctx, "x", kinesis.LogConfig{MaxAge: time.Millisecond}); err == nil {
		t.Errorf("CreateLog with MaxAge 1ms succeeded")
	}
	if _, err := b.Create(ctx, "", []byte("x")); err == nil {
		t.Errorf("Create of an empty key succeeded")
	}
}

func TestBackend_MissingLog(t *testing.T) {
	ctx := t.Context()
	b := openEmbedded(t, t.TempDir())
	if _, err := b.Read(ctx, "nope", 1, 10, 0); !errors.Is(err, kinesis.ErrLogNotFound) {
		t.Errorf("Read: %v, want ErrLogNotFound", err)
	}
	if _, err := b.SeekTime(ctx, "nope", time.Now()); !errors.Is(err, kinesis.ErrLogNotFound) {
		t.Errorf("SeekTime: %v, want ErrLogNotFound", err)
	}
	if _, err := b.Append(ctx, "nope", []byte("x")); !errors.Is(err, kinesis.ErrLogNotFound) {
		t.Errorf("Append: %v, want ErrLogNotFound", err)
	}
}

func TestBackend_MaxMessageBytes(t *testing.T) {
	ctx := t.Context()
	const max = 1 << 20
	b, err := jetstream.Open(ctx, jetstream.Config{DataDir: t.TempDir(), MaxMessageBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.CreateLog(ctx, "l", kinesis.LogConfig{}); err != nil {
		t.Fatal(err)
	}
	// A few bytes go to the header stored with each message.
	n := b.MaxMessageBytes()
	if n >= max || n < max-1024 {
		t.Fatalf("MaxMessageBytes() = %d with MaxMessageBytes %d", n, max)
	}
	if _, err := b.Append(ctx, "l", make([]byte, n)); err != nil {
		t.Errorf("Append of exactly MaxMessageBytes(): %v", err)
	}
	// The headers grow with the log's name: still room at the longest.
	long := strings.Repeat("l", 255)
	if err := b.CreateLog(ctx, long, kinesis.LogConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, long, make([]byte, n)); err != nil {
		t.Errorf("Append of exactly MaxMessageBytes() to a log of a 255-character name: %v", err)
	}
	if _, err := b.Append(ctx, "l", make([]byte, n+1)); err == nil {
		t.Errorf("Append above MaxMessageBytes() succeeded")
	}
}

// TestBackend_MessagesInParts: against servers with NATS's default
// max_payload (1 MB), messages up to MaxMessageBytes are stored in parts
// and read back whole, in order, with the parts skipped by readers;
// sealing ends the log at its last whole message.
func TestBackend_MessagesInParts(t *testing.T) {
	urls := natstest.StartCluster(t, 1, natstest.MaxPayload(1<<20))
	ctx := t.Context()
	b, err := jetstream.Open(ctx, jetstream.Config{URL: urls[0], Replicas: 1, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open against max_payload 1 MB: %v", err)
	}
	defer b.Close()
	if err := b.CreateLog(ctx, "parts", kinesis.LogConfig{}); err != nil {
		t.Fatal(err)
	}
	sizes := []int{10, 5<<20 + 3, 1 << 20, 100, 3 << 20, b.MaxMessageBytes()}
	var want [][]byte
	var seqs []uint64
	for _, n := range sizes {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i*7 + n)
		}
		seq, err := b.Append(ctx, "parts", p)
		if err != nil {
			t.Fatalf("Append(%d bytes): %v", n, err)
		}
		if len(seqs) > 0 && seq <= seqs[len(seqs)-1] {
			t.Fatalf("Append(%d bytes) = %d after %d", n, seq, seqs[len(seqs)-1])
		}
		want, seqs = append(want, p), append(seqs, seq)
	}
	// Read from every position a message starts at, and from just after
	// the first split one (its parts' sequences): whole messages only.
	for _, from := range []uint64{1, seqs[1], seqs[0] + 1, seqs[1] + 1} {
		var got []kinesis.Message
		for pos := from; ; {
			msgs, err := b.Read(ctx, "parts", pos, 2, 0)
			if err != nil {
				t.Fatalf("Read from %d: %v", pos, err)
			}
			if len(msgs) == 0 {
				break
			}
			got = append(got, msgs...)
			pos = msgs[len(msgs)-1].Seq + 1
		}
		first := 0
		for first < len(seqs) && seqs[first] < from {
			first++
		}
		if len(got) != len(seqs)-first {
			t.Fatalf("Read from %d returned %d messages, want %d", from, len(got), len(seqs)-first)
		}
		for i, m := range got {
			if m.Seq != seqs[first+i] || !bytes.Equal(m.Data, want[first+i]) {
				t.Fatalf("Read from %d: message %d is %d bytes at %d, want %d bytes at %d",
					from, i, len(m.Data), m.Seq, len(want[first+i]), seqs[first+i])
			}
		}
	}
	last, err := b.SealLog(ctx, "parts")
	if err != nil {
		t.Fatal(err)
	}
	if last != seqs[len(seqs)-1] {
		t.Errorf("SealLog = %d, want the last message's %d", last, seqs[len(seqs)-1])
	}
}

func TestBackend_OpenWaitsForCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	// Nothing listens there: Open keeps trying until ctx ends.
	_, err := jetstream.Open(ctx, jetstream.Config{URL: "nats://127.0.0.1:1"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open without a server: %v, want deadline exceeded", err)
	}
}

func TestBackend_CloseStopsWatch(t *testing.T) {
	b, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	if err := b.Watch(context.Background(), "", func(kinesis.MetaEntry) { mu.Lock(); n++; mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	for i := range 300 { // more than the watcher's channel holds
		if _, err := b.Create(t.Context(), "k"+strings.Repeat("x", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil { // must not hang on the watch
		t.Fatal(err)
	}
}

func TestBackend_StartupLogIsQuiet(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	start := time.Now()
	b, err := jetstream.Open(t.Context(), jetstream.Config{DataDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("embedded Open took %v", time.Since(start))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 0 {
		t.Errorf("Open and Close logged at info or above:\n%s", buf.String())
	}
}

func TestConfig_Validate(t *testing.T) {
	cases := []struct {
		name string
		cfg  jetstream.Config
		ok   bool
	}{
		{"embedded", jetstream.Config{DataDir: "d"}, true},
		{"external", jetstream.Config{URL: "nats://a:4222,nats://b:4222", Replicas: 3}, true},
		{"nothing", jetstream.Config{}, false},
		{"embedded replicas", jetstream.Config{DataDir: "d", Replicas: 3}, false},
		{"too many replicas", jetstream.Config{URL: "nats://a", Replicas: 7}, false},
		{"negative replicas", jetstream.Config{URL: "nats://a", Replicas: -1}, false},
		{"max message 64 MiB", jetstream.Config{DataDir: "d", MaxMessageBytes: 64 << 20}, true},
		{"max message above 64 MiB", jetstream.Config{DataDir: "d", MaxMessageBytes: 64<<20 + 1}, false},
		{"bucket with dot", jetstream.Config{DataDir: "d", MetaBucket: "a.b"}, false},
		{"negative timeout", jetstream.Config{DataDir: "d", Timeout: -time.Second}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.cfg.Validate(); (err == nil) != c.ok {
				t.Errorf("Validate() = %v, want ok %v", err, c.ok)
			}
		})
	}
}

// TestBucket_Embedded runs the metadata suite on a second bucket, and
// checks that its keys stay out of the metadata bucket.
func TestBucket_Embedded(t *testing.T) {
	b := openEmbedded(t, t.TempDir())
	storetest.RunMeta(t, func(t *testing.T) kinesis.MetaStore {
		k, err := b.OpenBucket(t.Context(), "sluice_other")
		if err != nil {
			t.Fatalf("OpenBucket: %v", err)
		}
		return k
	})
	t.Run("Separate", func(t *testing.T) {
		k, err := b.OpenBucket(t.Context(), "sluice_separate")
		if err != nil {
			t.Fatalf("OpenBucket: %v", err)
		}
		if _, err := k.Create(t.Context(), "only-here", []byte("x")); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if _, err := b.Get(t.Context(), "only-here"); !errors.Is(err, kinesis.ErrKeyNotFound) {
			t.Fatalf("meta Get of a key of another bucket: %v, want ErrKeyNotFound", err)
		}
		if _, err := b.OpenBucket(t.Context(), "bad.name"); err == nil {
			t.Fatal("OpenBucket accepted a name with '.'")
		}
	})
}
