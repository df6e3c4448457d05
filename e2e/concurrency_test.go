package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestRecords_ConcurrentWritersAndTailingReaders writes from several
// producers at once while readers follow every shard at its tip, as
// consumers do: each reader sees every record of its shard exactly once,
// in sequence order, and a reader that starts at LATEST sees every record
// sent after its iterator was handed out.
func TestRecords_ConcurrentWritersAndTailingReaders(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	name := "busy"
	shards := createStream(t, c, name, 2)

	type put struct {
		seq, data string
		sent      time.Time // before PutRecords was called
	}
	var (
		mu    sync.Mutex
		acked = map[string][]put{} // shard -> records, in no particular order
	)
	writeCtx, stopWriting := context.WithCancel(t.Context())
	readCtx, stopReading := context.WithCancel(t.Context())
	var writers, readers sync.WaitGroup
	defer func() { stopWriting(); stopReading(); writers.Wait(); readers.Wait() }()

	// follow reads a shard from it until readCtx ends and returns what it read.
	type result struct {
		recs []types.Record
		err  error
	}
	follow := func(it string) <-chan result {
		ch := make(chan result, 1)
		readers.Go(func() {
			var res result
			defer func() { ch <- res }()
			for {
				// Only an empty response to a call made after the writers
				// finished means the reader has caught up for good.
				stopped := readCtx.Err() != nil
				out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(25)})
				if err != nil {
					res.err = err
					return
				}
				res.recs = append(res.recs, out.Records...)
				if aws.ToString(out.NextShardIterator) == "" {
					res.err = fmt.Errorf("open shard returned no NextShardIterator")
					return
				}
				it = *out.NextShardIterator
				if len(out.Records) == 0 {
					if stopped {
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
		return ch
	}

	fromStart := map[string]<-chan result{}
	for _, sh := range shards {
		fromStart[*sh.ShardId] = follow(iterator(t, c, name, *sh.ShardId, types.ShardIteratorTypeTrimHorizon))
	}
	for w := range 6 {
		writers.Go(func() {
			for n := 0; writeCtx.Err() == nil; n++ {
				in := entries(fmt.Sprintf("w%d.%d", w, n), 1+n%20)
				sent := time.Now()
				// Not writeCtx: a request cut off would be unacknowledged
				// yet possibly written.
				out, err := c.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: in})
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				mu.Lock()
				for i, r := range out.Records {
					if r.ErrorCode != nil {
						t.Errorf("writer %d: entry failed: %s", w, aws.ToString(r.ErrorMessage))
						continue
					}
					acked[*r.ShardId] = append(acked[*r.ShardId], put{*r.SequenceNumber, string(in[i].Data), sent})
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	latestAt := map[string]time.Time{}
	fromLatest := map[string]<-chan result{}
	for _, sh := range shards {
		it := iterator(t, c, name, *sh.ShardId, types.ShardIteratorTypeLatest)
		latestAt[*sh.ShardId] = time.Now()
		fromLatest[*sh.ShardId] = follow(it)
	}
	time.Sleep(1500 * time.Millisecond)
	stopWriting()
	writers.Wait()
	stopReading()

	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, sh := range shards {
		id := *sh.ShardId
		want := map[string]put{}
		for _, p := range acked[id] {
			want[p.seq] = p
		}
		total += len(want)

		res := <-fromStart[id]
		if res.err != nil {
			t.Fatalf("%s: reader from TRIM_HORIZON: %v", id, res.err)
		}
		checkOrdered(t, id, res.recs)
		seen := map[string]bool{}
		for _, r := range res.recs {
			p, ok := want[*r.SequenceNumber]
			switch {
			case !ok:
				t.Errorf("%s: reader got %s (%q), never acknowledged", id, *r.SequenceNumber, r.Data)
			case p.data != string(r.Data):
				t.Errorf("%s: reader got %s as %q, acknowledged as %q", id, *r.SequenceNumber, r.Data, p.data)
			}
			seen[*r.SequenceNumber] = true
		}
		if len(seen) != len(want) {
			t.Errorf("%s: reader from TRIM_HORIZON saw %d of %d acknowledged records", id, len(seen), len(want))
		}

		res = <-fromLatest[id]
		if res.err != nil {
			t.Fatalf("%s: reader from LATEST: %v", id, res.err)
		}
		checkOrdered(t, id, res.recs)
		seen = map[string]bool{}
		for _, r := range res.recs {
			seen[*r.SequenceNumber] = true
		}
		missed := 0
		for _, p := range acked[id] {
			if p.sent.After(latestAt[id]) && !seen[p.seq] {
				missed++
				if missed > 5 {
					continue
				}
				// Say where the miss is, relative to what the reader read.
				where := "with no records read"
				if n := len(res.recs); n > 0 {
					first, last := seqNum(t, *res.recs[0].SequenceNumber), seqNum(t, *res.recs[n-1].SequenceNumber)
					switch q := seqNum(t, p.seq); {
					case q.Cmp(first) < 0:
						where = "before the reader's first record " + first.String()
					case q.Cmp(last) > 0:
						where = "after the reader's last record " + last.String()
					default:
						where = "a gap inside what the reader read"
					}
				}
				t.Errorf("%s: reader from LATEST (handed out at %s) missed %s %q, sent at %s: %s",
					id, latestAt[id].Format("15:04:05.000000"), p.seq, p.data, p.sent.Format("15:04:05.000000"), where)
			}
		}
		if missed > 0 {
			t.Errorf("%s: reader from LATEST missed %d records sent after its iterator was handed out", id, missed)
		}
	}
	if total == 0 {
		t.Fatal("nothing was written")
	}
	t.Logf("%d records written by 6 writers and read by 4 readers", total)
}
