package broker

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

func TestLogMsg_RoundTrip(t *testing.T) {
	// Two requests; shard 7's records of both land in one section, in
	// request order, and the sections come out by shard number.
	reqs := [][]*shardBatch{
		{batchOf(7, "a1", "a2"), batchOf(2, "a3")},
		{batchOf(9, "b1"), batchOf(7, "b2", "b3", "b4")},
	}
	var mb logMsgBuilder
	var firsts [][]int
	for _, r := range reqs {
		var f []int
		for _, sb := range r {
			f = append(f, mb.add(sb))
		}
		firsts = append(firsts, f)
	}
	if !slices.Equal(firsts[0], []int{0, 0}) || !slices.Equal(firsts[1], []int{0, 2}) {
		t.Fatalf("first indexes %v", firsts)
	}
	arrival := time.UnixMilli(1_700_000_000_123)
	msg := mb.appendBody(appendLogHeader(nil, arrival))
	if msg[0] != logMsgVersion {
		t.Fatalf("version %d", msg[0])
	}
	m, err := parseLogBody(msg[logHeaderSize:])
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint32][]string{2: {"a3"}, 7: {"a1", "a2", "b2", "b3", "b4"}, 9: {"b1"}}
	if len(m.secs) != 3 || m.secs[0].shard != 2 || m.secs[1].shard != 7 || m.secs[2].shard != 9 {
		t.Fatalf("sections %+v", m.secs)
	}
	for shard, data := range want {
		br, ok := m.section(shard)
		if !ok || br.count != len(data) {
			t.Fatalf("shard %d: %v, %d records", shard, ok, br.count)
		}
		for _, d := range data {
			pk, got, err := br.next()
			if err != nil || string(got) != d || string(pk) != "pk-"+d {
				t.Fatalf("shard %d: %q %q %v, want %q", shard, pk, got, err, d)
			}
		}
	}
	if _, ok := m.section(3); ok {
		t.Error("a section for shard 3, which has no records")
	}
	mb.reset()
	if got := mb.appendBody(nil); !bytes.Equal(got, []byte{0}) {
		t.Errorf("empty builder after reset encodes %v", got)
	}
}

func batchOf(shard uint32, data ...string) *shardBatch {
	sb := &shardBatch{shard: shard}
	for _, d := range data {
		sb.recs = append(sb.recs, packedRecord{PartitionKey: "pk-" + d, Data: []byte(d)})
	}
	sb.size = batchSize(sb.recs)
	return sb
}

// FuzzParseLogBody: no body makes the parser panic or hand out a section
// reaching past the body.
func FuzzParseLogBody(f *testing.F) {
	var mb logMsgBuilder
	mb.add(batchOf(1, "x", "yy"))
	mb.add(batchOf(4, "zzz"))
	f.Add(mb.appendBody(nil))
	f.Add([]byte{1, 0, 1, 2})
	f.Add([]byte{2, 5, 1, 4, 5, 1, 4, 1, 'a', 1, 'b', 1, 'c', 1, 'd'})
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseLogBody(body)
		if err != nil {
			return
		}
		for _, s := range m.secs {
			br, ok := m.section(s.shard)
			if !ok {
				t.Fatalf("section %d not found", s.shard)
			}
			total := 0
			for range br.count {
				pk, data, err := br.next()
				if err != nil {
					break
				}
				total += len(pk) + len(data)
			}
			if total > len(body) {
				t.Fatalf("section %d reads %d bytes of a %d-byte body", s.shard, total, len(body))
			}
		}
	})
}

// TestSealedLogMsg_Bound: a sealed stream-log message opens only in its
// stream and log, and not once changed; it holds no plaintext.
func TestSealedLogMsg_Bound(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "a", ShardCount: 3}); err != nil {
		t.Fatal(err)
	}
	if err := b.StartStreamEncryption(ctx, kinesis.StreamRef{Name: "a"}, kinesis.EncryptionKMS, "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	a, _ := b.stream(ctx, "a")
	c, err := b.writeCipher(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	seal := func() []byte {
		var mb logMsgBuilder
		mb.add(batchOf(1, "hello"))
		mb.add(batchOf(2, "world"))
		return c.seal(mb.appendBody(c.appendSealedLogHeader(nil, time.UnixMilli(1234))), 7)
	}
	msg := seal()
	if msg[0] != logMsgVersionSealed || bytes.Contains(msg, []byte("hello")) {
		t.Fatalf("sealed message: version %d, plaintext inside: %v", msg[0], bytes.Contains(msg, []byte("hello")))
	}
	m, err := b.decodeLogMsg(ctx, a, kinesis.Segment{Epoch: 7}, 1, msg)
	if err != nil || !m.sealed || m.arrival.UnixMilli() != 1234 {
		t.Fatalf("open: %v %+v", err, m)
	}
	if br, ok := m.section(2); !ok || br.count != 1 {
		t.Fatalf("section 2: %v", ok)
	} else if _, data, _ := br.next(); string(data) != "world" {
		t.Fatalf("record %q", data)
	}
	if _, err := b.decodeLogMsg(ctx, a, kinesis.Segment{Epoch: 8}, 1, seal()); kinesis.CodeOf(err) != kinesis.ErrKMSInvalidState {
		t.Errorf("opened in another log: %v", err)
	}
	for _, i := range []int{0, 3, 13, 20, sealedHeaderSize + 1} { // version, arrival, key id, nonce, ciphertext
		msg := seal()
		msg[i] ^= 1
		if _, err := b.decodeLogMsg(ctx, a, kinesis.Segment{Epoch: 7}, 1, msg); err == nil {
			t.Errorf("opened with byte %d changed", i)
		}
	}
}

func TestMsgCache_EvictsLeastRecentlyUsed(t *testing.T) {
	c := newMsgCache(12 << 10) // five messages of 2,000 bytes and their bookkeeping
	msg := func(n int) *logMsg { return &logMsg{body: make([]byte, n)} }
	for i := range 5 {
		c.put(msgKey{1, uint64(i)}, msg(2000))
	}
	cachedMsg(c, 1, 0) // 0 is now the most recent
	for i := 5; i < 8; i++ {
		c.put(msgKey{1, uint64(i)}, msg(2000))
	}
	if c.size > c.max {
		t.Fatalf("cache holds %d bytes, over its %d", c.size, c.max)
	}
	if cachedMsg(c, 1, 0) == nil || cachedMsg(c, 1, 7) == nil {
		t.Error("recently used messages were dropped")
	}
	if cachedMsg(c, 1, 1) != nil {
		t.Error("the least recently used message was kept")
	}
	// A message of more than a quarter of the budget is not cached.
	c.put(msgKey{2, 1}, msg(3100))
	if cachedMsg(c, 2, 1) != nil {
		t.Error("a huge message was cached")
	}
	off := newMsgCache(0)
	off.put(msgKey{1, 1}, msg(1))
	if cachedMsg(off, 1, 1) != nil {
		t.Error("a cache of no bytes kept a message")
	}
}

// TestMsgCache_FetchOnce: readers asking for the same position at once
// share one read of the log; one whose context ends stops waiting.
func TestMsgCache_FetchOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMsgCache(1 << 20)
		var reads atomic.Int32
		release := make(chan struct{})
		read := func() ([]*logMsg, error) {
			reads.Add(1)
			<-release
			return []*logMsg{{seq: 5}}, nil
		}
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				msgs, err := c.fetch(context.Background(), msgKey{1, 5}, 6, read)
				if err != nil || len(msgs) != 1 || msgs[0].seq != 5 {
					t.Errorf("fetch: %v %v", msgs, err)
				}
			})
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancelled := make(chan error)
		go func() {
			_, err := c.fetch(ctx, msgKey{1, 5}, 6, read)
			cancelled <- err
		}()
		synctest.Wait() // every caller waits for the one read
		if n := reads.Load(); n != 1 {
			t.Fatalf("%d reads for 21 callers, want 1", n)
		}
		cancel()
		if err := <-cancelled; err == nil {
			t.Error("a caller whose context ended got no error")
		}
		close(release)
		wg.Wait()
		// The read is over: the next one reads again.
		if _, err := c.fetch(context.Background(), msgKey{1, 5}, 6, read); err != nil || reads.Load() != 2 {
			t.Errorf("fetch after the first: %v, %d reads", err, reads.Load())
		}
	})
}

// TestMsgCache_Covering: a read under way from a little before a
// position, expected to bring it, is found for it; one from the position
// itself is fetch's to share, and one expected to stop before it, or of
// another log, is not.
func TestMsgCache_Covering(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMsgCache(1 << 20)
		release := make(chan struct{})
		f := c.start(msgKey{1, 5}, 10, func() ([]*logMsg, error) {
			<-release
			return nil, nil
		})
		for _, tc := range []struct {
			log, seq uint64
			want     bool
		}{{1, 7, true}, {1, 9, true}, {1, 5, false}, {1, 10, false}, {1, 4, false}, {2, 7, false}} {
			if got := c.covering(tc.log, tc.seq); (got == f) != tc.want {
				t.Errorf("covering(%d, %d) = %v, want the read from 5: %v", tc.log, tc.seq, got, tc.want)
			}
		}
		if c.wanted(msgKey{1, 7}) || !c.wanted(msgKey{1, 10}) {
			t.Error("wanted does not follow the read under way: a covered position needs no read of its own")
		}
		close(release)
		<-f.done
		synctest.Wait()
		if c.covering(1, 7) != nil || !c.wanted(msgKey{1, 7}) {
			t.Error("a finished read still covers")
		}
	})
}

// TestMsgCache_ReadEnd: a read is expected to bring want messages, or as
// many of the cached messages' mean size as fit in its bytes.
func TestMsgCache_ReadEnd(t *testing.T) {
	c := newMsgCache(1 << 20)
	if got := c.readEnd(10, 256, 1<<20); got != 266 {
		t.Errorf("empty cache: readEnd = %d, want 266", got)
	}
	for i := range 4 {
		c.put(msgKey{1, uint64(i)}, &logMsg{body: make([]byte, 100<<10-96)}) // 100 KiB each in the cache's count
	}
	if got := c.readEnd(10, 256, 1<<20); got != 20 {
		t.Errorf("100 KiB messages: readEnd = %d, want 20 (1 MiB of them)", got)
	}
	if got := c.readEnd(10, 3, 1<<20); got != 13 {
		t.Errorf("3 wanted: readEnd = %d, want 13", got)
	}
}

// cachedMsg returns message seq of log from c, if cached (and marks it
// the most recently used).
func cachedMsg(c *msgCache, log, seq uint64) *logMsg {
	if run := c.run(log, seq, 1, nil); len(run) == 1 {
		return run[0]
	}
	return nil
}
