package broker

import (
	"context"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// putMessages stores n messages in stream s (shards shards), each one
// PutRecords of 500 records of about size bytes spread over every shard.
func putMessages(t *testing.T, b *Broker, s string, shards, n, size int) {
	t.Helper()
	ranges := kinesis.SplitHashSpace(shards)
	for i := range n {
		entries := spreadEntries(ranges, 500, fmt.Sprintf("m%d", i))
		for j := range entries {
			entries[j].Data = append(entries[j].Data, make([]byte, size)...)
		}
		if _, err := b.PutRecords(context.Background(), kinesis.StreamRef{Name: s}, entries); err != nil {
			t.Fatal(err)
		}
	}
}

// waitReads waits until no read of a log is in progress in b's cache:
// for each read under way in turn, including those the ones before it
// started.
func waitReads(b *Broker) {
	for {
		b.msgs.mu.Lock()
		var f *msgFetch
		for _, f = range b.msgs.fetches {
			break
		}
		b.msgs.mu.Unlock()
		if f == nil {
			return
		}
		<-f.done
	}
}

// TestBroker_ReadAhead: a read of a stream log that comes back full reads
// the next chunks ahead, so the readers behind it find them cached, and
// the reading ahead stops at the log's end.
func TestBroker_ReadAhead(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	const shards, msgs = 64, 24
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: shards}); err != nil {
		t.Fatal(err)
	}
	putMessages(t, b, "s", shards, msgs, 200) // about 110 KB a message: 2.6 MB
	b.DropReadCache()
	s, _ := b.stream(ctx, "s")
	cur, _ := s.CurrentLog()

	it, err := b.GetShardIterator(ctx, kinesis.GetShardIteratorInput{Stream: kinesis.StreamRef{Name: "s"}, ShardID: kinesis.ShardID(0), Type: kinesis.TrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	out, err := b.GetRecords(ctx, it, 1) // reads one message from the store
	if err != nil || len(out.Records) != 1 {
		t.Fatalf("GetRecords: %v, %d records", err, len(out.Records))
	}
	waitReads(b)
	if got := b.msgs.run(cur.Epoch, 1, msgs, nil); len(got) != msgs {
		t.Fatalf("%d messages of %d cached: the rest were not read ahead", len(got), msgs)
	}

	// Every shard reads its records, in order, from what was read ahead.
	for n := range shards {
		got := readAll(t, b, "s", kinesis.ShardID(n))
		per := 500/shards + boolInt(n < 500%shards) // records in each message
		if len(got) != msgs*per {
			t.Fatalf("%s reads %d records, want %d", kinesis.ShardID(n), len(got), msgs*per)
		}
		if want := fmt.Sprintf("m%d-%d", msgs-1, n+shards*(per-1)); string(got[len(got)-1].Data[:len(want)]) != want {
			t.Fatalf("%s: last record %q, want %s...", kinesis.ShardID(n), got[len(got)-1].Data[:len(want)], want)
		}
	}
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

// TestBroker_ReadBudget: past the read budget a reader answers with the
// records it has rather than reading on, and its next call goes on from
// there; with room it fills its answer.
func TestBroker_ReadBudget(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		budget int64
		want   int // records of the first answer
	}{{budget: 1, want: 8}, {budget: 0, want: 10}} {
		t.Run(fmt.Sprint(tc.budget), func(t *testing.T) {
			b := openBroker(t, Config{ReadBudgetBytes: tc.budget})
			const shards = 64
			if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: shards}); err != nil {
				t.Fatal(err)
			}
			putMessages(t, b, "s", shards, 8, 10) // 8 records of shard 0 per message
			it, err := b.GetShardIterator(ctx, kinesis.GetShardIteratorInput{Stream: kinesis.StreamRef{Name: "s"}, ShardID: kinesis.ShardID(0), Type: kinesis.TrimHorizon})
			if err != nil {
				t.Fatal(err)
			}
			var all []kinesis.Record
			for i := 0; ; i++ {
				// 10 records a call: the first chunk is one message.
				out, err := b.GetRecords(ctx, it, 10)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 && len(out.Records) != tc.want {
					t.Fatalf("first answer holds %d records, want %d", len(out.Records), tc.want)
				}
				if len(out.Records) == 0 {
					break
				}
				all = append(all, out.Records...)
				it = out.NextShardIterator
			}
			if len(all) != 64 {
				t.Fatalf("read %d records, want 64", len(all))
			}
			for i, r := range all {
				if want := fmt.Sprintf("m%d-%d", i/8, (i%8)*shards); string(r.Data[:len(want)]) != want {
					t.Fatalf("record %d = %q..., want %s", i, r.Data[:len(want)], want)
				}
			}
			if held := b.readHeld.Load(); held != 0 {
				t.Fatalf("answers hold %d bytes after the reads", held)
			}
		})
	}
}
