// Package storetest is the conformance suite of Sluice's storage backends:
// every implementation of kinesis.Log and kinesis.MetaStore passes Run.
//
//	func TestBackend(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Backend {
//			b := openMyBackend(t) // closed by t.Cleanup
//			return b
//		})
//	}
//
// The suite tolerates backends whose reads lag acknowledged writes by a
// moment (replicated backends reading from followers): assertions about
// what a read returns are retried until they hold or a deadline passes.
// Metadata Get must reflect the caller's own acknowledged writes at once,
// and Watch must pass the initial entries to fn before it returns.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Backend is what a storage backend implements.
type Backend interface {
	kinesis.Log
	kinesis.MetaStore
}

// settle bounds how long the suite waits for a lagging read, or for
// retention to expire messages.
const settle = 20 * time.Second

// Run runs the suite in parallel subtests, which finish after Run returns
// (before t's own cleanups run). open returns a ready backend and arranges
// for it to be closed when its t ends; it is called once per subtest,
// concurrently. Backends may share storage between calls: the suite uses
// fresh, random log names and key prefixes in every subtest.
func Run(t *testing.T, open func(t *testing.T) Backend) {
	t.Run("Log", func(t *testing.T) {
		t.Parallel()
		t.Run("CreateIdempotent", func(t *testing.T) { t.Parallel(); testCreateIdempotent(t, open(t)) })
		t.Run("AppendSequences", func(t *testing.T) { t.Parallel(); testAppendSequences(t, open(t)) })
		t.Run("ReadFromPositions", func(t *testing.T) { t.Parallel(); testReadFromPositions(t, open(t)) })
		t.Run("ReadLimits", func(t *testing.T) { t.Parallel(); testReadLimits(t, open(t)) })
		t.Run("ReadPastEnd", func(t *testing.T) { t.Parallel(); testReadPastEnd(t, open(t)) })
		t.Run("ReadOwnedData", func(t *testing.T) { t.Parallel(); testReadOwnedData(t, open(t)) })
		t.Run("MessageSizes", func(t *testing.T) { t.Parallel(); testMessageSizes(t, open(t)) })
		t.Run("SeekTime", func(t *testing.T) { t.Parallel(); testSeekTime(t, open(t)) })
		t.Run("Retention", func(t *testing.T) { t.Parallel(); testRetention(t, open(t)) })
		t.Run("Delete", func(t *testing.T) { t.Parallel(); testDeleteLog(t, open(t)) })
		t.Run("ConcurrentAppends", func(t *testing.T) { t.Parallel(); testConcurrentAppends(t, open(t)) })
		t.Run("Seal", func(t *testing.T) { t.Parallel(); testSeal(t, open(t)) })
		t.Run("SealConcurrentAppends", func(t *testing.T) { t.Parallel(); testSealConcurrentAppends(t, open(t)) })
		t.Run("WatchAppends", func(t *testing.T) { t.Parallel(); testWatchAppends(t, open(t)) })
	})
	RunMeta(t, func(t *testing.T) kinesis.MetaStore { return open(t) })
}

// RunMeta runs the MetaStore part of the suite alone, for stores that hold
// no logs; open is called as by Run.
func RunMeta(t *testing.T, open func(t *testing.T) kinesis.MetaStore) {
	t.Run("Meta", func(t *testing.T) {
		t.Parallel()
		t.Run("CreateGet", func(t *testing.T) { t.Parallel(); testMetaCreateGet(t, open(t)) })
		t.Run("Update", func(t *testing.T) { t.Parallel(); testMetaUpdate(t, open(t)) })
		t.Run("Delete", func(t *testing.T) { t.Parallel(); testMetaDelete(t, open(t)) })
		t.Run("OddKeys", func(t *testing.T) { t.Parallel(); testMetaOddKeys(t, open(t)) })
		t.Run("List", func(t *testing.T) { t.Parallel(); testMetaList(t, open(t)) })
		t.Run("Watch", func(t *testing.T) { t.Parallel(); testMetaWatch(t, open(t)) })
		t.Run("ConcurrentCAS", func(t *testing.T) { t.Parallel(); testMetaConcurrentCAS(t, open(t)) })
	})
}

// --- helpers ---

func random() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newLog creates a log with a fresh name.
func newLog(t *testing.T, b Backend, cfg kinesis.LogConfig) string {
	t.Helper()
	name := "st-" + random()
	if err := b.CreateLog(t.Context(), name, cfg); err != nil {
		t.Fatalf("CreateLog(%s): %v", name, err)
	}
	return name
}

// appendN appends n messages "<tag>-<i>" (i from 1) and checks that they
// get consecutive sequences after first-1.
func appendN(t *testing.T, b Backend, name, tag string, first uint64, n int) {
	t.Helper()
	for i := range n {
		want := first + uint64(i)
		seq, err := b.Append(t.Context(), name, fmt.Appendf(nil, "%s-%d", tag, i+1))
		if err != nil {
			t.Fatalf("Append %d: %v", i+1, err)
		}
		if seq != want {
			t.Fatalf("Append %d: seq %d, want %d", i+1, seq, want)
		}
	}
}

// eventually retries check until it returns nil, failing the test with
// its last error after settle.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(settle)
	wait := 5 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v (still after %v)", what, err, settle)
		}
		time.Sleep(wait)
		wait = min(2*wait, 200*time.Millisecond)
	}
}

func seqs(msgs []kinesis.Message) []uint64 {
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// readSeqs returns a check that Read(from, maxMsgs, maxBytes) yields
// exactly the sequences want.
func readSeqs(t *testing.T, b Backend, name string, from uint64, maxMsgs, maxBytes int, want []uint64) func() error {
	return func() error {
		msgs, err := b.Read(t.Context(), name, from, maxMsgs, maxBytes)
		if err != nil {
			return fmt.Errorf("Read(%d, %d, %d): %w", from, maxMsgs, maxBytes, err)
		}
		if got := seqs(msgs); !slices.Equal(got, want) {
			return fmt.Errorf("Read(%d, %d, %d) = seqs %v, want %v", from, maxMsgs, maxBytes, got, want)
		}
		return nil
	}
}

func wantState(t *testing.T, b Backend, name string, first, last uint64) {
	t.Helper()
	st, err := b.State(t.Context(), name)
	if err != nil {
		t.Fatalf("State: %v", err)
	}
	if st.FirstSeq != first || st.LastSeq != last {
		t.Fatalf("State = first %d last %d, want first %d last %d", st.FirstSeq, st.LastSeq, first, last)
	}
}

// --- Log ---

func testCreateIdempotent(t *testing.T, b Backend) {
	name := newLog(t, b, kinesis.LogConfig{})
	wantState(t, b, name, 1, 0)
	appendN(t, b, name, "m", 1, 2)
	if err := b.CreateLog(t.Context(), name, kinesis.LogConfig{}); err != nil {
		t.Fatalf("second CreateLog: %v", err)
	}
	if err := b.CreateLog(t.Context(), name, kinesis.LogConfig{MaxAge: time.Hour}); err != nil {
		t.Fatalf("CreateLog with another config: %v", err)
	}
	wantState(t, b, name, 1, 2) // nothing lost
}

func testAppendSequences(t *testing.T, b Backend) {
	name := newLog(t, b, kinesis.LogConfig{})
	before := time.Now()
	appendN(t, b, name, "m", 1, 3)
	wantState(t, b, name, 1, 3)
	st, err := b.State(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	// Allow for a backend clock a little apart from ours.
	if st.LastTime.Before(before.Add(-time.Minute)) || st.LastTime.After(time.Now().Add(time.Minute)) {
		t.Errorf("State.LastTime = %v, want about %v", st.LastTime, before)
	}
}

func testReadFromPositions(t *testing.T, b Backend) {
	name := newLog(t, b, kinesis.LogConfig{})
	appendN(t, b, name, "m", 1, 5)
	eventually(t, "read all", readSeqs(t, b, name, 1, 10, 0, seqRange(1, 5)))
	eventually(t, "read from 3", readSeqs(t, b, name, 3, 10, 0, seqRange(3, 5)))
	eventually(t, "read from 0", readSeqs(t, b, name, 0, 10, 0, seqRange(1, 5)))

	msgs, err := b.Read(t.Context(), name, 1, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	var prev time.Time
	for i, m := range msgs {
		if want := fmt.Sprintf("m-%d", i+1); string(m.Data) != want {
			t.Errorf("message %d: data %q, want %q", m.Seq, m.Data, want)
		}
		if m.Time.IsZero() || m.Time.Before(prev) {
			t.Errorf("message %d: time %v after %v", m.Seq, m.Time, prev)
		}
		prev = m.Time
	}
}

func testReadLimits(t *testing.T, b Backend) {
	name := newLog(t, b, kinesis.LogConfig{})
	payload := bytes.Repeat([]byte("x"), 100)
	for range 10 {
		if _, err := b.Append(t.Context(), name, payload); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "all visible", readSeqs(t, b, name, 1, 100, 0, seqRange(1, 10)))
	eventually(t, "maxMsgs 3", readSeqs(t, b, name, 1, 3, 0, seqRange(1, 3)))
	eventually(t, "maxMsgs 1 from 7", readSeqs(t, b, name, 7, 1, 0, []uint64{7}))
	eventually(t, "maxMsgs 0 reads one", readSeqs(t, b, name, 2, 0, 0, []uint64{2}))
	eventually(t, "maxBytes 1 reads one", readSeqs(t, b, name, 4, 10, 1, []uint64{4}))
	eventually(t, "maxBytes above all", readSeqs(t, b, name, 1, 100, 1<<20, seqRange(1, 10)))
	// "About maxBytes": every message but the last starts below the limit.
	for _, maxBytes := range []int{99, 100, 101, 250, 555} {
		msgs, err := b.Read(t.Context(), name, 1, 100, maxBytes)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			t.Fatalf("Read(maxBytes %d): no message", maxBytes)
		}
		total := 0
		for _, m := range msgs[:len(msgs)-1] {
			total += len(m.Data)
		}
		if total >= maxBytes {
			t.Errorf("Read(maxBytes %d): %d messages, %d bytes before the last", maxBytes, len(msgs), total)
		}
	}
}

func testReadPastEnd(t *testing.T, b Backend) {
	name := newLog(t, b, kinesis.LogConfig{})
	eventually(t, "empty log", readSeqs(t, b, name, 1, 10, 0, nil))
	appendN(t, b, name, "m", 1, 3)
	eventually(t, "last", readSeqs(t, b, name, 3, 10, 0, []uint64{3}))
	for _, from := range []uint64{4, 5, 1000} {
		msgs, err := b.Read(t.Context(), name, from, 10, 0)
		if err != nil || len(msgs) != 0 {
			t.Errorf("Read(%d) past the end = %v, %v; want nothing", from, seqs(msgs), err)
		}
	}
}

func testReadOwnedData(t *testing.T, b Backend) {
	name := newLog(t, b, kinesis.LogConfig{})
	appendN(t, b, name, "m", 1, 4)
	eventually(t, "visible", readSeqs(t, b, name, 1, 10, 0, seqRange(1, 4)))
	first, err := b.Read(t.Context(), name, 1, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Further reads must not reuse the buffers handed out before.
	for range 3 {
		if _, err := b.Read(t.Context(), name, 3, 2, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range first {
		if want := fmt.Sprintf("m-%d", i+1); string(m.Data) != want {
			t.Fatalf("message %d changed by later reads: %q, want %q", m.Seq, m.Data, want)
		}
		for j := range m.Data {
			m.Data[j] = '!'
		}
	}
	msgs, err := b.Read(t.Context(), name, 1, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		if want := fmt.Sprintf("m-%d", i+1); string(m.Data) != want {
			t.Fatalf("message %d changed by the caller's writes: %q, want %q", m.Seq, m.Data, want)
		}
	}
}

func testMessageSizes(t *testing.T, b Backend) {
	name := newLog(t, b, kinesis.LogConfig{})
	big := make([]byte, 2<<20+17) // a full Kinesis record with framing fits
	_, _ = rand.Read(big)
	payloads := [][]byte{{}, []byte("x"), big}
	for i, p := range payloads {
		seq, err := b.Append(t.Context(), name, p)
		if err != nil {
			t.Fatalf("Append(%d bytes): %v", len(p), err)
		}
		if seq != uint64(i+1) {
			t.Fatalf("Append(%d bytes): seq %d, want %d", len(p), seq, i+1)
		}
	}
	eventually(t, "visible", readSeqs(t, b, name, 1, 10, 0, seqRange(1, 3)))
	msgs, err := b.Read(t.Context(), name, 1, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		if !bytes.Equal(m.Data, payloads[i]) {
			t.Errorf("message %d: %d bytes differ from the %d appended", m.Seq, len(m.Data), len(payloads[i]))
		}
	}
}

func testSeekTime(t *testing.T, b Backend) {
	name := newLog(t, b, kinesis.LogConfig{})
	seek := func(at time.Time) uint64 {
		t.Helper()
		seq, err := b.SeekTime(t.Context(), name, at)
		if err != nil {
			t.Fatalf("SeekTime(%v): %v", at, err)
		}
		return seq
	}
	if got := seek(time.Now()); got != 1 {
		t.Errorf("SeekTime on an empty log = %d, want 1", got)
	}
	for i := range 3 {
		if i > 0 {
			time.Sleep(5 * time.Millisecond) // distinct store times
		}
		appendN(t, b, name, "m", uint64(i+1), 1)
	}
	eventually(t, "visible", readSeqs(t, b, name, 1, 10, 0, seqRange(1, 3)))
	msgs, err := b.Read(t.Context(), name, 1, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	t1, t2, t3 := msgs[0].Time, msgs[1].Time, msgs[2].Time
	if !t1.Before(t2) || !t2.Before(t3) {
		t.Fatalf("store times not increasing: %v %v %v", t1, t2, t3)
	}
	cases := []struct {
		name string
		at   time.Time
		want uint64
	}{
		{"long before", t1.Add(-time.Hour), 1},
		{"at first", t1, 1},
		{"just after first", t1.Add(time.Nanosecond), 2},
		{"at second", t2, 2},
		{"between second and third", t2.Add(t3.Sub(t2) / 2), 3},
		{"at last", t3, 3},
		{"just after last", t3.Add(time.Nanosecond), 4},
		{"future", time.Now().Add(time.Hour), 4},
	}
	for _, c := range cases {
		if got := seek(c.at); got != c.want {
			t.Errorf("SeekTime(%s) = %d, want %d", c.name, got, c.want)
		}
	}
}

func testRetention(t *testing.T, b Backend) {
	ctx := t.Context()
	if err := b.UpdateLog(ctx, "st-absent-"+random(), kinesis.LogConfig{MaxAge: time.Hour}); !errors.Is(err, kinesis.ErrLogNotFound) {
		t.Errorf("UpdateLog of an absent log: %v, want ErrLogNotFound", err)
	}
	name := newLog(t, b, kinesis.LogConfig{})
	appendN(t, b, name, "old", 1, 3)
	if err := b.UpdateLog(ctx, name, kinesis.LogConfig{MaxAge: time.Second}); err != nil {
		t.Fatalf("UpdateLog(MaxAge 1s): %v", err)
	}
	eventually(t, "messages expire", func() error {
		st, err := b.State(ctx, name)
		if err != nil {
			return err
		}
		if st.FirstSeq != 4 || st.LastSeq != 3 {
			return fmt.Errorf("state first %d last %d, want first 4 last 3 (empty)", st.FirstSeq, st.LastSeq)
		}
		return nil
	})
	eventually(t, "expired unreadable", readSeqs(t, b, name, 1, 10, 0, nil))
	if err := b.UpdateLog(ctx, name, kinesis.LogConfig{}); err != nil {
		t.Fatalf("UpdateLog(MaxAge 0): %v", err)
	}
	appendN(t, b, name, "new", 4, 2)
	wantState(t, b, name, 4, 5)
	// A position before the first retained message reads from that one.
	eventually(t, "read from trimmed", readSeqs(t, b, name, 1, 10, 0, []uint64{4, 5}))
	eventually(t, "seek into trimmed", func() error {
		seq, err := b.SeekTime(ctx, name, time.Now().Add(-time.Hour))
		if err != nil || seq != 4 {
			return fmt.Errorf("SeekTime(an hour ago) = %d, %v; want 4", seq, err)
		}
		return nil
	})
}

func testDeleteLog(t *testing.T, b Backend) {
	ctx := t.Context()
	name := newLog(t, b, kinesis.LogConfig{})
	appendN(t, b, name, "m", 1, 2)
	if err := b.DeleteLog(ctx, name); err != nil {
		t.Fatalf("DeleteLog: %v", err)
	}
	if err := b.DeleteLog(ctx, name); err != nil {
		t.Fatalf("DeleteLog of a deleted log: %v", err)
	}
	if _, err := b.Append(ctx, name, []byte("x")); !errors.Is(err, kinesis.ErrLogNotFound) {
		t.Errorf("Append after DeleteLog: %v, want ErrLogNotFound", err)
	}
	if _, err := b.State(ctx, name); !errors.Is(err, kinesis.ErrLogNotFound) {
		t.Errorf("State after DeleteLog: %v, want ErrLogNotFound", err)
	}
	if err := b.UpdateLog(ctx, name, kinesis.LogConfig{}); !errors.Is(err, kinesis.ErrLogNotFound) {
		t.Errorf("UpdateLog after DeleteLog: %v, want ErrLogNotFound", err)
	}
	if err := b.DeleteLog(ctx, "st-never-"+random()); err != nil {
		t.Errorf("DeleteLog of a log never created: %v", err)
	}
}

func testConcurrentAppends(t *testing.T, b Backend) {
	const logs, writers, each = 2, 4, 15
	names := make([]string, logs)
	for i := range names {
		names[i] = newLog(t, b, kinesis.LogConfig{})
	}
	type result struct {
		log  int
		seq  uint64
		data string
	}
	results := make(chan result, logs*writers*each)
	var wg sync.WaitGroup
	for l := range logs {
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					data := fmt.Sprintf("w%d-%d", w, i)
					seq, err := b.Append(t.Context(), names[l], []byte(data))
					if err != nil {
						t.Errorf("Append: %v", err)
						return
					}
					results <- result{l, seq, data}
				}
			})
		}
	}
	wg.Wait()
	close(results)
	if t.Failed() {
		return
	}
	bySeq := make([]map[uint64]string, logs)
	for i := range bySeq {
		bySeq[i] = make(map[uint64]string)
	}
	for r := range results {
		if prev, dup := bySeq[r.log][r.seq]; dup {
			t.Fatalf("log %d: seq %d returned for %q and %q", r.log, r.seq, prev, r.data)
		}
		bySeq[r.log][r.seq] = r.data
	}
	const n = writers * each
	for l, name := range names {
		wantState(t, b, name, 1, n)
		eventually(t, "all visible", readSeqs(t, b, name, 1, 2*n, 0, seqRange(1, n)))
		msgs, err := b.Read(t.Context(), name, 1, 2*n, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if want := bySeq[l][m.Seq]; string(m.Data) != want {
				t.Errorf("log %d seq %d: data %q, but Append of %q returned that seq", l, m.Seq, m.Data, want)
			}
		}
	}
}

// testWatchAppends checks that a watch learns of every append made after
// it is in place (the newest sequence, at least), that the message is
// readable by then, and that an absent log is ErrLogNotFound.
func testWatchAppends(t *testing.T, b Backend) {
	ctx := t.Context()
	if err := b.WatchAppends(ctx, "st-absent-"+random(), func(uint64) {}); !errors.Is(err, kinesis.ErrLogNotFound) {
		t.Fatalf("WatchAppends on an absent log: %v, want ErrLogNotFound", err)
	}
	name := newLog(t, b, kinesis.LogConfig{})
	appendN(t, b, name, "before", 1, 2) // before the watch: not reported

	var mu sync.Mutex
	var got []uint64
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := b.WatchAppends(wctx, name, func(seq uint64) {
		mu.Lock()
		got = append(got, seq)
		mu.Unlock()
	})
	if err != nil {
		t.Fatalf("WatchAppends: %v", err)
	}
	appendN(t, b, name, "after", 3, 3)
	eventually(t, "watch sees sequence 5", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) == 0 || got[len(got)-1] != 5 {
			return fmt.Errorf("reported %v, want ending in 5", got)
		}
		return nil
	})
	mu.Lock()
	for i, s := range got {
		if s < 3 || (i > 0 && s <= got[i-1]) {
			t.Errorf("reported %v: want growing sequences from 3", got)
			break
		}
	}
	mu.Unlock()
	eventually(t, "reported message readable", readSeqs(t, b, name, 5, 1, 0, []uint64{5}))

}

// --- Meta ---

// keyPrefix returns a fresh prefix for a subtest's keys.
func testSeal(t *testing.T, b Backend) {
	ctx := t.Context()
	if _, err := b.SealLog(ctx, "st-"+random()); !errors.Is(err, kinesis.ErrLogNotFound) {
		t.Fatalf("SealLog of a missing log: %v, want ErrLogNotFound", err)
	}
	name := newLog(t, b, kinesis.LogConfig{})
	appendN(t, b, name, "m", 1, 3)
	last, err := b.SealLog(ctx, name)
	if err != nil {
		t.Fatalf("SealLog: %v", err)
	}
	if last != 3 {
		t.Fatalf("SealLog = %d, want 3", last)
	}
	if _, err := b.Append(ctx, name, []byte("late")); !errors.Is(err, kinesis.ErrLogSealed) {
		t.Fatalf("Append after SealLog: %v, want ErrLogSealed", err)
	}
	again, err := b.SealLog(ctx, name)
	if err != nil {
		t.Fatalf("second SealLog: %v", err)
	}
	if again != last {
		t.Fatalf("second SealLog = %d, want %d as the first", again, last)
	}
	eventually(t, "read a sealed log", readSeqs(t, b, name, 1, 100, 0, seqRange(1, 3)))
	eventually(t, "read a sealed log past its end", readSeqs(t, b, name, 4, 100, 0, nil))
	st, err := b.State(ctx, name)
	if err != nil {
		t.Fatalf("State of a sealed log: %v", err)
	}
	if st.FirstSeq != 1 || st.LastSeq < 3 {
		t.Fatalf("State of a sealed log = %+v", st)
	}
	if err := b.CreateLog(ctx, name, kinesis.LogConfig{}); err != nil {
		t.Fatalf("CreateLog of a sealed log: %v", err)
	}
	if err := b.UpdateLog(ctx, name, kinesis.LogConfig{MaxAge: time.Hour}); err != nil {
		t.Fatalf("UpdateLog of a sealed log: %v", err)
	}
	if _, err := b.Append(ctx, name, []byte("late")); !errors.Is(err, kinesis.ErrLogSealed) {
		t.Fatalf("Append after UpdateLog of a sealed log: %v, want ErrLogSealed", err)
	}
}

// testSealConcurrentAppends seals a log under a write load: every append
// acknowledged has a sequence at most SealLog's, every later one fails. In
// a cluster, a publish that races the seal can go unanswered and time out;
// it was not acknowledged, so it only has to stay out of the way.
func testSealConcurrentAppends(t *testing.T, b Backend) {
	ctx := t.Context()
	name := newLog(t, b, kinesis.LogConfig{})
	var (
		mu    sync.Mutex
		acked []uint64
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				seq, err := b.Append(ctx, name, []byte("m"))
				if errors.Is(err, kinesis.ErrLogSealed) {
					return
				}
				if errors.Is(err, context.DeadlineExceeded) {
					t.Logf("Append raced the seal and timed out (not acknowledged): %v", err)
					return
				}
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, seq)
				mu.Unlock()
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	last, err := b.SealLog(ctx, name)
	if err != nil {
		t.Fatalf("SealLog: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	for _, s := range acked {
		if s > last {
			t.Fatalf("append acknowledged with sequence %d after SealLog returned %d", s, last)
		}
	}
	eventually(t, "read a sealed log", readSeqs(t, b, name, 1, 100000, 0, seqRange(1, last)))
	// Concurrent seals agree on the end.
	ends := make([]uint64, 4)
	for i := range ends {
		wg.Go(func() {
			var err error
			if ends[i], err = b.SealLog(ctx, name); err != nil {
				t.Errorf("concurrent SealLog: %v", err)
			}
		})
	}
	wg.Wait()
	for _, e := range ends {
		if e != last {
			t.Fatalf("concurrent SealLog = %v, want all %d", ends, last)
		}
	}
}

func keyPrefix() string { return "storetest/" + random() + "/" }

func mustCreate(t *testing.T, b kinesis.MetaStore, key string, value string) uint64 {
	t.Helper()
	rev, err := b.Create(t.Context(), key, []byte(value))
	if err != nil {
		t.Fatalf("Create(%q): %v", key, err)
	}
	if rev == 0 {
		t.Fatalf("Create(%q): revision 0", key)
	}
	return rev
}

func wantGet(t *testing.T, b kinesis.MetaStore, key, value string, rev uint64) {
	t.Helper()
	e, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if e.Key != key || string(e.Value) != value || e.Revision != rev || e.Deleted {
		t.Fatalf("Get(%q) = %+v, want value %q revision %d", key, e, value, rev)
	}
}

func testMetaCreateGet(t *testing.T, b kinesis.MetaStore) {
	ctx := t.Context()
	p := keyPrefix()
	if _, err := b.Get(ctx, p+"missing"); !errors.Is(err, kinesis.ErrKeyNotFound) {
		t.Errorf("Get of a missing key: %v, want ErrKeyNotFound", err)
	}
	rev := mustCreate(t, b, p+"k", "v1")
	wantGet(t, b, p+"k", "v1", rev)
	if _, err := b.Create(ctx, p+"k", []byte("v2")); !errors.Is(err, kinesis.ErrKeyExists) {
		t.Errorf("second Create: %v, want ErrKeyExists", err)
	}
	wantGet(t, b, p+"k", "v1", rev)
	rev2 := mustCreate(t, b, p+"empty", "")
	wantGet(t, b, p+"empty", "", rev2)
}

func testMetaUpdate(t *testing.T, b kinesis.MetaStore) {
	ctx := t.Context()
	p := keyPrefix()
	rev := mustCreate(t, b, p+"k", "v1")
	if _, err := b.Update(ctx, p+"k", []byte("bad"), rev+100); !errors.Is(err, kinesis.ErrRevisionMismatch) {
		t.Errorf("Update with a wrong revision: %v, want ErrRevisionMismatch", err)
	}
	rev2, err := b.Update(ctx, p+"k", []byte("v2"), rev)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if rev2 <= rev {
		t.Errorf("Update revision %d, not after %d", rev2, rev)
	}
	wantGet(t, b, p+"k", "v2", rev2)
	if _, err := b.Update(ctx, p+"k", []byte("stale"), rev); !errors.Is(err, kinesis.ErrRevisionMismatch) {
		t.Errorf("Update with the old revision: %v, want ErrRevisionMismatch", err)
	}
	if _, err := b.Update(ctx, p+"absent", []byte("x"), rev2); !errors.Is(err, kinesis.ErrRevisionMismatch) {
		t.Errorf("Update of an absent key: %v, want ErrRevisionMismatch", err)
	}
	wantGet(t, b, p+"k", "v2", rev2)
}

func testMetaDelete(t *testing.T, b kinesis.MetaStore) {
	ctx := t.Context()
	p := keyPrefix()
	rev := mustCreate(t, b, p+"k", "v1")
	if err := b.Delete(ctx, p+"k", rev+100); !errors.Is(err, kinesis.ErrRevisionMismatch) {
		t.Errorf("Delete with a wrong revision: %v, want ErrRevisionMismatch", err)
	}
	wantGet(t, b, p+"k", "v1", rev)
	if err := b.Delete(ctx, p+"k", rev); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := b.Get(ctx, p+"k"); !errors.Is(err, kinesis.ErrKeyNotFound) {
		t.Errorf("Get after Delete: %v, want ErrKeyNotFound", err)
	}
	if _, err := b.Update(ctx, p+"k", []byte("x"), rev); !errors.Is(err, kinesis.ErrRevisionMismatch) {
		t.Errorf("Update of a deleted key: %v, want ErrRevisionMismatch", err)
	}
	if err := b.Delete(ctx, p+"k", rev); !errors.Is(err, kinesis.ErrRevisionMismatch) {
		t.Errorf("second Delete with the old revision: %v, want ErrRevisionMismatch", err)
	}
	rev2 := mustCreate(t, b, p+"k", "again")
	if rev2 <= rev {
		t.Errorf("Create after Delete: revision %d, not after %d", rev2, rev)
	}
	wantGet(t, b, p+"k", "again", rev2)
}

// oddKeys are keys that stress an escaping scheme: dots, escapes that look
// like escapes, separators, wildcards and bytes beyond ASCII.
func oddKeys(p string) []string {
	return []string{
		p + "stream/my.stream-name",
		p + "a.b..c",
		p + ".leading",
		p + "trailing.",
		p + "a=2E", // must not collide with "a."
		p + "a.",
		p + "eq=",
		p + "with space",
		p + "tab\tand\nnewline",
		p + "star*gt>",
		p + "double//slash/",
		p + "percent%2E",
		p + "ünïcødé",
		p + "UPPER_lower-09",
		p + "$KV.x",
	}
}

func testMetaOddKeys(t *testing.T, b kinesis.MetaStore) {
	p := keyPrefix()
	keys := oddKeys(p)
	revs := make(map[string]uint64)
	for _, k := range keys {
		revs[k] = mustCreate(t, b, k, "value of "+k)
	}
	for _, k := range keys {
		wantGet(t, b, k, "value of "+k, revs[k])
	}
	slices.Sort(keys)
	eventually(t, "List", func() error {
		entries, err := b.List(t.Context(), p)
		if err != nil {
			return err
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Key)
			if string(e.Value) != "value of "+e.Key || e.Revision != revs[e.Key] {
				return fmt.Errorf("list entry %+v, want value %q revision %d", e, "value of "+e.Key, revs[e.Key])
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, keys) {
			return fmt.Errorf("list keys %q, want %q", got, keys)
		}
		return nil
	})
}

func testMetaList(t *testing.T, b kinesis.MetaStore) {
	ctx := t.Context()
	p := keyPrefix()
	for _, k := range []string{"a/1", "a/2", "a/sub/3", "a", "a.x", "ab/1", "b/1", "gone/1"} {
		mustCreate(t, b, p+k, k)
	}
	gone, err := b.Get(ctx, p+"gone/1")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, p+"gone/1", gone.Revision); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{"a/", []string{"a/1", "a/2", "a/sub/3"}},
		{"a", []string{"a", "a.x", "a/1", "a/2", "a/sub/3", "ab/1"}},
		{"a.", []string{"a.x"}},
		{"b/1", []string{"b/1"}},
		{"gone/", nil},
		{"nothing/", nil},
		{"", []string{"a", "a.x", "a/1", "a/2", "a/sub/3", "ab/1", "b/1"}},
	}
	for _, c := range cases {
		eventually(t, fmt.Sprintf("List(%q)", c.prefix), func() error {
			entries, err := b.List(ctx, p+c.prefix)
			if err != nil {
				return err
			}
			var got []string
			for _, e := range entries {
				k := strings.TrimPrefix(e.Key, p)
				if string(e.Value) != k || e.Deleted || e.Revision == 0 {
					return fmt.Errorf("entry %+v: want value %q, live, with a revision", e, k)
				}
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				return fmt.Errorf("keys %q, want %q", got, c.want)
			}
			return nil
		})
	}
}

func testMetaWatch(t *testing.T, b kinesis.MetaStore) {
	ctx := t.Context()
	p := keyPrefix()
	w := p + "w/"
	rev1 := mustCreate(t, b, w+"k1", "v1")
	goneRev := mustCreate(t, b, w+"gone", "x")
	if err := b.Delete(ctx, w+"gone", goneRev); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, b, p+"outside", "x")

	var mu sync.Mutex
	var events []kinesis.MetaEntry
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := b.Watch(wctx, w, func(e kinesis.MetaEntry) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	snapshot := func() []kinesis.MetaEntry {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(events)
	}
	// Initial values are delivered before Watch returns; deleted keys and
	// keys outside the prefix are not.
	initial := snapshot()
	if len(initial) != 1 || initial[0].Key != w+"k1" || string(initial[0].Value) != "v1" || initial[0].Revision != rev1 || initial[0].Deleted {
		t.Fatalf("initial events %+v, want only k1=v1 at revision %d", initial, rev1)
	}

	rev2 := mustCreate(t, b, w+"k2", "v2")
	rev1b, err := b.Update(ctx, w+"k1", []byte("v1b"), rev1)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, b, p+"outside2", "x")
	if err := b.Delete(ctx, w+"k2", rev2); err != nil {
		t.Fatal(err)
	}
	type ev struct {
		key, value string
		deleted    bool
	}
	want := []ev{{w + "k1", "v1", false}, {w + "k2", "v2", false}, {w + "k1", "v1b", false}, {w + "k2", "", true}}
	eventually(t, "watch events", func() error {
		var got []ev
		for _, e := range snapshot() {
			got = append(got, ev{e.Key, string(e.Value), e.Deleted})
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("events %+v, want %+v", got, want)
		}
		return nil
	})
	if got := snapshot()[2].Revision; got != rev1b {
		t.Errorf("update event revision %d, want %d", got, rev1b)
	}
}

func testMetaConcurrentCAS(t *testing.T, b kinesis.MetaStore) {
	const workers, each = 4, 5
	key := keyPrefix() + "counter"
	mustCreate(t, b, key, "0")
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := 0; i < each; {
				ctx := t.Context()
				e, err := b.Get(ctx, key)
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				var n int
				fmt.Sscan(string(e.Value), &n)
				_, err = b.Update(ctx, key, fmt.Append(nil, n+1), e.Revision)
				if errors.Is(err, kinesis.ErrRevisionMismatch) {
					continue // lost the race: read again
				}
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
				i++
			}
		})
	}
	wg.Wait()
	e, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint(workers * each); string(e.Value) != want {
		t.Errorf("counter = %s after %d CAS increments, want %s", e.Value, workers*each, want)
	}
}
