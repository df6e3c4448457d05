package broker

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

func TestReadPace_Ahead(t *testing.T) {
	var p readPace
	t0 := time.Unix(1000, 0)
	const window = 10 // readers 11 to 40 messages behind are waited for
	if p.ahead(msgKey{1, 50}, window, t0) {
		t.Error("paced with no other readers")
	}
	p.at(101, msgKey{1, 15}, t0)
	if p.ahead(msgKey{1, 50}, window, t0) {
		t.Error("paced for one reader behind: one slow reader must not hold the others")
	}
	p.at(102, msgKey{1, 16}, t0)
	if !p.ahead(msgKey{1, 50}, window, t0) {
		t.Error("not paced with two readers 35 messages behind")
	}
	if p.ahead(msgKey{1, 25}, window, t0) {
		t.Error("paced within the window")
	}
	if p.ahead(msgKey{1, 60}, window, t0) {
		t.Error("paced by readers more than paceReach windows behind")
	}
	if p.ahead(msgKey{2, 50}, window, t0) {
		t.Error("paced by the readers of another log")
	}
	// Readers idle for paceIdle are forgotten.
	later := t0.Add(paceIdle + time.Second)
	p.at(101, msgKey{1, 15}, later)
	if p.ahead(msgKey{1, 50}, window, later) {
		t.Error("paced by a reader idle for longer than paceIdle")
	}
	much := later.Add(2 * paceIdle)
	p.at(300, msgKey{3, 1}, much)
	if len(p.logs) != 1 {
		t.Errorf("%d logs remembered, want only the one read lately", len(p.logs))
	}
}

// TestBroker_PacesReaderAhead: a reader about to fetch messages far ahead
// of two other readers of its log, past what the cache holds for them,
// answers with what it has; once those readers are idle it reads on, and
// every record comes in order.
func TestBroker_PacesReaderAhead(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	// Room for about 36 messages of 110 KB: a window of about 18.
	b := openBroker(t, Config{ReadCacheBytes: 4 << 20, Now: clock})
	const shards, msgs = 64, 60
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: shards}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute) // ACTIVE
	putMessages(t, b, "s", shards, msgs, 200)
	now = now.Add(time.Second) // the records are a second old
	b.DropReadCache()
	iterator := func(shard int) string {
		it, err := b.GetShardIterator(ctx, kinesis.GetShardIteratorInput{Stream: kinesis.StreamRef{Name: "s"}, ShardID: kinesis.ShardID(shard), Type: kinesis.TrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	// Two readers stay at the start of the log.
	for _, shard := range []int{1, 2} {
		if out, err := b.GetRecords(ctx, iterator(shard), 1); err != nil || len(out.Records) != 1 {
			t.Fatalf("GetRecords of shard %d: %v, %d records", shard, err, len(out.Records))
		}
	}
	waitReads(b)
	per := 500/shards + boolInt(0 < 500%shards) // records of shard 0 in a message
	first, err := b.GetRecords(ctx, iterator(0), kinesis.MaxGetRecordsLimit)
	if err != nil {
		t.Fatal(err)
	}
	window := int(b.paceWindow())
	if n := len(first.Records); n == 0 || n >= msgs*per || n > (window+2*readAheadChunks*10)*per {
		t.Fatalf("shard 0's first answer holds %d records of %d: want it to stop about %d messages ahead of the others", n, msgs*per, window)
	}
	t.Logf("first answer: %d records of %d, window %d messages", len(first.Records), msgs*per, window)
	if first.MillisBehindLatest == 0 {
		t.Error("a paced answer says it caught up")
	}
	// The two readers idle; shard 0's reader reads on to the end.
	now = now.Add(paceIdle + time.Second)
	all := first.Records
	for it := first.NextShardIterator; ; {
		out, err := b.GetRecords(ctx, it, kinesis.MaxGetRecordsLimit)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Records) == 0 {
			break
		}
		all = append(all, out.Records...)
		it = out.NextShardIterator
	}
	if len(all) != msgs*per {
		t.Fatalf("shard 0 read %d records, want %d", len(all), msgs*per)
	}
	for i, r := range all {
		if want := "m" + strconv.Itoa(i/per) + "-"; string(r.Data[:len(want)]) != want {
			t.Fatalf("record %d is %q..., want %s...", i, r.Data[:len(want)], want)
		}
	}
}
