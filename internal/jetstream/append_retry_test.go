package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sluicehq/sluice/internal/jetstream/natstest"
	"github.com/sluicehq/sluice/internal/kinesis"
)

// loseAcks makes b lose the ack of the first publish of every append whose
// data starts with "lose", as a leader change can: the message is stored
// but the appender hears nothing. before, if set, runs before every later
// attempt.
func loseAcks(b *Backend, before func()) {
	var mu sync.Mutex
	seen := map[string]bool{} // Nats-Msg-Id -> first attempt sent
	b.mux.lose = func(m *nats.Msg) bool {
		if !strings.HasPrefix(m.Subject, logSubjectPrefix) || !strings.HasPrefix(string(m.Data), "lose") {
			return false
		}
		mu.Lock()
		id := m.Header.Get(nats.MsgIdHdr)
		first := !seen[id]
		seen[id] = true
		mu.Unlock()
		if !first && before != nil {
			before()
		}
		return first
	}
}

func testAppendRetries(t *testing.T, open func(t *testing.T) *Backend) {
	t.Run("LostAckStoredOnce", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		ctx := t.Context()
		if err := b.CreateLog(ctx, "retry", kinesis.LogConfig{}); err != nil {
			t.Fatal(err)
		}
		loseAcks(b, nil)
		// Appends whose first ack is lost, between ordinary ones: each is
		// stored once, under the sequence its retry reports.
		var want []string
		for i := range 6 {
			data := fmt.Sprintf("keep %d", i)
			if i%2 == 1 {
				data = fmt.Sprintf("lose %d", i)
			}
			seq, err := b.Append(ctx, "retry", []byte(data))
			if err != nil {
				t.Fatalf("append %q: %v", data, err)
			}
			if seq != uint64(i+1) {
				t.Fatalf("append %q got sequence %d, want %d", data, seq, i+1)
			}
			want = append(want, data)
		}
		msgs, err := b.Read(ctx, "retry", 1, 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range msgs {
			got = append(got, string(m.Data))
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("log holds %q, want %q", got, want)
		}
	})

	t.Run("ConcurrentLostAcks", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		ctx := t.Context()
		if err := b.CreateLog(ctx, "retryc", kinesis.LogConfig{}); err != nil {
			t.Fatal(err)
		}
		loseAcks(b, nil)
		const n = 20
		seqs := make([]uint64, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				seq, err := b.Append(ctx, "retryc", fmt.Appendf(nil, "lose %d", i))
				if err != nil {
					t.Errorf("append %d: %v", i, err)
				}
				seqs[i] = seq
			})
		}
		wg.Wait()
		st, err := b.State(ctx, "retryc")
		if err != nil {
			t.Fatal(err)
		}
		if st.LastSeq != n {
			t.Fatalf("log holds %d messages after %d appends, want %d", st.LastSeq, n, n)
		}
		msgs, err := b.Read(ctx, "retryc", 1, 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, seq := range seqs {
			if want := fmt.Sprintf("lose %d", i); seq == 0 || string(msgs[seq-1].Data) != want {
				t.Errorf("append %q reported sequence %d", want, seq)
			}
		}
	})

	t.Run("SealedAfterLostAck", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		ctx := t.Context()
		if err := b.CreateLog(ctx, "retrys", kinesis.LogConfig{}); err != nil {
			t.Fatal(err)
		}
		// A stream created a moment ago may drop a publish; once it
		// has stored one, it does not.
		if _, err := b.Append(ctx, "retrys", []byte("keep")); err != nil {
			t.Fatal(err)
		}
		// The log is sealed after the first attempt was stored: the
		// append must not report ErrLogSealed, which would have its
		// records written again elsewhere. The seal waits for it: the
		// stream's leader election, announced late after its creation,
		// may wake the append at once, and a seal that reached the leader
		// before the first attempt would leave it unstored (an outcome
		// that errAppendUnknown covers too, but not this test's case).
		loseAcks(b, func() {
			if err := awaitLastSeq(ctx, b, "retrys", 2); err != nil {
				t.Errorf("the first attempt: %v", err)
			}
			if _, err := b.SealLog(context.WithoutCancel(ctx), "retrys"); err != nil {
				t.Errorf("seal: %v", err)
			}
		})
		_, err := b.Append(ctx, "retrys", []byte("lose"))
		if err == nil || errors.Is(err, kinesis.ErrLogSealed) || !errors.Is(err, errAppendUnknown) {
			t.Fatalf("append sealed after a lost ack: %v, want an unknown outcome", err)
		}
		msgs, err := readAtLeast(ctx, b, "retrys", 2)
		if err != nil || len(msgs) != 2 || string(msgs[1].Data) != "lose" {
			st, serr := b.State(ctx, "retrys")
			t.Fatalf("sealed log reads as %d messages (%v), want the two stored; the leader has %+v (%v)", len(msgs), err, st, serr)
		}
	})

	t.Run("StaleAttemptFenced", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		ctx := t.Context()
		if err := b.CreateLog(ctx, "fence", kinesis.LogConfig{}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Append(ctx, "fence", []byte("first")); err != nil {
			t.Fatal(err)
		}
		// Every attempt of "stale" is held back, as a paused server
		// would hold it: the append runs out of time, unknown.
		var (
			mu   sync.Mutex
			held []*nats.Msg
		)
		b.mux.hold = func(m *nats.Msg) bool {
			if string(m.Data) != "stale" {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			held = append(held, m)
			return true
		}
		actx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
		_, err := b.Append(actx, "fence", []byte("stale"))
		cancel()
		if !errors.Is(err, errAppendUnknown) {
			t.Fatalf("append whose attempts are all held: %v, want an unknown outcome", err)
		}
		// The Backend fences the log at once; a later append also
		// succeeds. Then the held attempts arrive, late: each is refused.
		if _, err := b.Append(ctx, "fence", []byte("after")); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		stale := held
		mu.Unlock()
		if len(stale) == 0 {
			t.Fatal("no attempt was held")
		}
		for _, m := range stale {
			reply, err := b.nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
			if err != nil {
				t.Fatalf("late attempt: %v", err)
			}
			var ack pubAck
			if err := json.Unmarshal(reply.Data, &ack); err != nil {
				t.Fatal(err)
			}
			if ack.Error == nil || ack.Error.ErrorCode != errCodeWrongLastSeq {
				t.Errorf("late attempt answered %s, want wrong last sequence", reply.Data)
			}
		}
		msgs, err := readAtLeast(ctx, b, "fence", 2)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range msgs {
			got = append(got, string(m.Data))
		}
		if strings.Join(got, "|") != "first|after" {
			t.Fatalf("log holds %q, want first and after (fences are not read)", got)
		}
	})

	t.Run("ShortRetentionWindow", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		ctx := t.Context()
		// A MaxAge shorter than the retry period bounds the duplicate
		// window; creating and updating such a log works.
		if err := b.CreateLog(ctx, "retryw", kinesis.LogConfig{MaxAge: 500 * minMaxAge}); err != nil {
			t.Fatal(err)
		}
		if err := b.UpdateLog(ctx, "retryw", kinesis.LogConfig{MaxAge: 2 * minMaxAge}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Append(ctx, "retryw", []byte("keep")); err != nil {
			t.Fatal(err)
		}
	})
}

// readAtLeast reads the log from its start until it returns n messages
// or a few seconds pass: in a cluster the replica that answers may lag
// the acknowledged appends by a moment.
func readAtLeast(ctx context.Context, b *Backend, name string, n int) ([]kinesis.Message, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs, err := b.Read(ctx, name, 1, 100, 0)
		if err != nil || len(msgs) >= n || time.Now().After(deadline) {
			return msgs, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitLastSeq waits until the log's leader has stored seq, for a few
// seconds at most.
func awaitLastSeq(ctx context.Context, b *Backend, name string, seq uint64) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := b.State(ctx, name)
		switch {
		case err == nil && st.LastSeq >= seq:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("log %s holds %+v (%v), not message %d", name, st, err, seq)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAppendRetries_Embedded(t *testing.T) {
	testAppendRetries(t, func(t *testing.T) *Backend {
		b, err := Open(t.Context(), Config{DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func TestAppendRetries_Cluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster; skipped with -short")
	}
	urls := natstest.StartCluster(t, 3)
	testAppendRetries(t, func(t *testing.T) *Backend {
		b, err := Open(t.Context(), Config{URL: strings.Join(urls, ","), Replicas: 3})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

// TestAppend_NoLaterAppendBeforeTheFence: while an append that ended
// unknown is not yet fenced (its fences are held back too), no later
// append of the Backend to that log is sent, whatever slot it takes; once
// fences go through, appends go on and the held attempt is refused.
func TestAppend_NoLaterAppendBeforeTheFence(t *testing.T) {
	b, err := Open(t.Context(), Config{DataDir: t.TempDir(), AppendTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	if err := b.CreateLog(ctx, "order", kinesis.LogConfig{}); err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		holding  = true
		held     []*nats.Msg
		sentLate []string
	)
	b.mux.hold = func(m *nats.Msg) bool {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case string(m.Data) == "stale" || (holding && m.Header.Get(hdrFence) != ""):
			if string(m.Data) == "stale" {
				held = append(held, m)
			}
			return true
		case holding:
			sentLate = append(sentLate, string(m.Data)) // sent while the stale one is unfenced
		}
		return false
	}
	if _, err := b.Append(ctx, "order", []byte("stale")); !errors.Is(err, errAppendUnknown) {
		t.Fatalf("held append: %v, want an unknown outcome", err)
	}
	// Concurrent appends, on several slots: none may go out unfenced.
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			if _, err := b.Append(ctx, "order", fmt.Appendf(nil, "later %d", i)); err == nil {
				t.Errorf("append %d stored before the stale one was fenced", i)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	if len(sentLate) > 0 {
		t.Errorf("sent before the fence: %q", sentLate)
	}
	holding = false
	stale := held
	mu.Unlock()
	// The fencer's next attempt goes through (one under way when the
	// fences stopped being held waits out its time first).
	lw := b.writer("order")
	deadline := time.Now().Add(10 * time.Second)
	for {
		lw.mu.Lock()
		unfenced := slices.ContainsFunc(lw.slots, func(s *slot) bool { return s.unfenced.Load() })
		lw.mu.Unlock()
		if !unfenced {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not fenced 10 s after fences went through")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := b.Append(ctx, "order", []byte("after")); err != nil {
		t.Fatalf("append once fences go through: %v", err)
	}
	for _, m := range stale {
		reply, err := b.nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(reply.Data), `"err_code":10071`) {
			t.Errorf("held attempt delivered late: %s, want wrong last sequence", reply.Data)
		}
	}
	msgs, err := b.Read(ctx, "order", 1, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || string(msgs[0].Data) != "after" {
		t.Errorf("log holds %d messages, want only the one after the fence", len(msgs))
	}
}

// TestAppend_LogFromBeforeWriterSubjects: a log created by a server from
// before writers had subjects of their own (one subject only) takes
// appends: the first adds the writer subjects to it.
func TestAppend_LogFromBeforeWriterSubjects(t *testing.T) {
	b, err := Open(t.Context(), Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	old := b.streamConfig("old", kinesis.LogConfig{})
	old.Subjects = []string{logSubjectPrefix + "old"}
	if _, err := b.js.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateLog(ctx, "old", kinesis.LogConfig{}); err != nil {
		t.Fatalf("CreateLog over a log from before writer subjects: %v", err)
	}
	for _, data := range []string{"first", "second"} {
		if _, err := b.Append(ctx, "old", []byte(data)); err != nil {
			t.Fatalf("append %s: %v", data, err)
		}
	}
	s, err := b.js.Stream(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.Subjects; !slices.Equal(got, logSubjects("old")) {
		t.Errorf("subjects %q, want %q", got, logSubjects("old"))
	}
	msgs, err := b.Read(ctx, "old", 1, 10, 0)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("read %d messages (%v), want 2", len(msgs), err)
	}
}
