package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestCrash_AcknowledgedRecordsSurviveSIGKILL writes continuously from
// several producers while the server is killed with SIGKILL at random
// moments and restarted on its data directory, then reads every shard from
// TRIM_HORIZON and checks the history (reference/reliability.md §4):
//
//   - every acknowledged record is present, on its shard, with the sequence
//     number, partition key and data it was acknowledged with (lost = 0);
//   - each shard reads in strictly increasing sequence order, so no
//     sequence number appears twice;
//   - no record appears twice: producers never retry a payload, so a
//     second copy would be the server's doing.
//
// Records of puts that failed (connection reset by the kill) may or may
// not be present.
func TestCrash_AcknowledgedRecordsSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	cycles := 10
	if testing.Short() {
		cycles = 3
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d, %d kill cycles", seed, cycles)

	s := startServer(t)
	// No retries inside the SDK: a request cut off by a kill may have been
	// stored, and a silent resend would store its records twice.
	c := s.Client(func(o *kinesis.Options) { o.Retryer = aws.NopRetryer{} })
	name := "crash"
	createStream(t, c, name, 4)

	type ackedRecord struct {
		writer, req           int
		key, data, shard, seq string
	}
	var (
		mu       sync.Mutex
		acked    []ackedRecord
		ackCount atomic.Int64
		failed   atomic.Int64 // requests that returned an error
		partial  atomic.Int64 // entries a successful request reported failed
	)
	ctx, stopWriters := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() { stopWriters(); wg.Wait() }()
	const writers, batch = 4, 20
	pad := strings.Repeat("p", 100)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				in := make([]types.PutRecordsRequestEntry, batch)
				for i := range in {
					in[i] = types.PutRecordsRequestEntry{
						PartitionKey: aws.String(fmt.Sprintf("w%d-key%d", w, (n*batch+i)%16)),
						Data:         []byte(fmt.Sprintf("w%d-%d-%d-%s", w, n, i, pad[:n%len(pad)])),
					}
				}
				out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: in})
				if err != nil {
					failed.Add(1)
					select {
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
					continue
				}
				mu.Lock()
				for i, r := range out.Records {
					if r.ErrorCode != nil {
						partial.Add(1)
						continue
					}
					acked = append(acked, ackedRecord{w, n, *in[i].PartitionKey, string(in[i].Data), aws.ToString(r.ShardId), aws.ToString(r.SequenceNumber)})
					ackCount.Add(1)
				}
				mu.Unlock()
			}
		}()
	}

	// waitForAcks waits until writers have had more acknowledgements than
	// n: the server took writes since it last started.
	waitForAcks := func(n int64, what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for ackCount.Load() <= n {
			if time.Now().After(deadline) {
				stopWriters()
				wg.Wait()
				t.Fatalf("%s: no write acknowledged within 30s (%d acknowledged so far, %d requests failed)", what, n, failed.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for cycle := range cycles {
		waitForAcks(ackCount.Load(), fmt.Sprintf("cycle %d", cycle))
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		s.Kill()
		s.Start()
	}
	waitForAcks(ackCount.Load(), "after the last restart")
	time.Sleep(200 * time.Millisecond)
	stopWriters()
	wg.Wait()
	// One more kill right after the last acknowledgements.
	s.Kill()
	s.Start()

	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no record was acknowledged")
	}
	type stored struct{ key, data string }
	got := map[string]map[string]stored{} // shard -> sequence number -> record
	dataSeen := map[string]string{}       // data -> shard/seq
	total := 0
	for _, sh := range listAllShards(t, c, name) {
		id := *sh.ShardId
		recs := readShard(t, c, name, id)
		checkOrdered(t, id, recs)
		got[id] = map[string]stored{}
		for _, r := range recs {
			got[id][*r.SequenceNumber] = stored{aws.ToString(r.PartitionKey), string(r.Data)}
			if prev, dup := dataSeen[string(r.Data)]; dup {
				t.Errorf("record %q stored twice: %s and %s/%s", r.Data, prev, id, *r.SequenceNumber)
			}
			dataSeen[string(r.Data)] = id + "/" + *r.SequenceNumber
		}
		total += len(recs)
	}
	lost := 0
	for _, a := range acked {
		r, ok := got[a.shard][a.seq]
		switch {
		case !ok:
			lost++
			if lost <= 10 {
				t.Errorf("acknowledged record %q (key %s) lost: %s/%s not found", a.data, a.key, a.shard, a.seq)
			}
		case r.data != a.data || r.key != a.key:
			t.Errorf("%s/%s holds %q (key %s), acknowledged as %q (key %s)", a.shard, a.seq, r.data, r.key, a.data, a.key)
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged records lost", lost, len(acked))
	}
	// Each writer waits for one request before sending the next, so on a
	// shard every record of a later request of the writer has a higher
	// sequence number than those of its earlier requests, kills and
	// restarts notwithstanding. (Within one request AWS promises no order.)
	type lane struct {
		writer int
		shard  string
	}
	type progress struct {
		req       int
		prev, cur string // highest of the earlier requests, of request req
	}
	lanes := map[lane]*progress{}
	for _, a := range acked {
		p := lanes[lane{a.writer, a.shard}]
		if p == nil {
			p = &progress{req: a.req}
			lanes[lane{a.writer, a.shard}] = p
		}
		if a.req != p.req {
			if p.prev == "" || seqNum(t, p.cur).Cmp(seqNum(t, p.prev)) > 0 {
				p.prev = p.cur
			}
			p.req, p.cur = a.req, ""
		}
		if p.prev != "" && seqNum(t, a.seq).Cmp(seqNum(t, p.prev)) <= 0 {
			t.Errorf("writer %d, %s: %q acknowledged as %s, not above %s of an earlier request", a.writer, a.shard, a.data, a.seq, p.prev)
		}
		if p.cur == "" || seqNum(t, a.seq).Cmp(seqNum(t, p.cur)) > 0 {
			p.cur = a.seq
		}
	}
	// New writes after the last crash get numbers above everything stored.
	for _, r := range putRecords(t, c, name, entries("final", 40)) {
		for seq := range got[*r.ShardId] {
			if seqNum(t, *r.SequenceNumber).Cmp(seqNum(t, seq)) <= 0 {
				t.Errorf("%s: new record got sequence number %s, not above the stored %s", *r.ShardId, *r.SequenceNumber, seq)
				break
			}
		}
	}
	t.Logf("%d kill cycles: %d records acknowledged, %d requests failed, %d entries reported failed; %d records stored (%d unacknowledged)",
		cycles+1, len(acked), failed.Load(), partial.Load(), total, total-len(acked)+lost)
}

// TestCrash_StreamCreateAndDeleteSurviveSIGKILL creates and deletes
// streams while the server is killed with SIGKILL at random moments. After
// a restart every acknowledged create is a working stream, every
// acknowledged delete is gone, and a create or delete cut off by the kill
// left the name either free or a working stream, never stuck half made.
func TestCrash_StreamCreateAndDeleteSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	cycles := 6
	if testing.Short() {
		cycles = 3
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d, %d kill cycles", seed, cycles)
	s := startServer(t)
	// No retries inside the SDK: a retried call that was carried out
	// before a kill would answer as if it had not been.
	c := s.Client(func(o *kinesis.Options) { o.Retryer = aws.NopRetryer{} })

	const (
		unknown = iota // the call failed: it may or may not have happened
		created
		deleted
	)
	var (
		mu    sync.Mutex
		state = map[string]int{}
		ops   atomic.Int64 // acknowledged calls
	)
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			name := fmt.Sprintf("s%03d", i)
			_, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(1 + i%3))})
			mu.Lock()
			state[name] = unknown
			if err == nil {
				state[name] = created
				ops.Add(1)
			}
			mu.Unlock()
			if err != nil {
				time.Sleep(20 * time.Millisecond)
			}
			// Delete every other stream created two steps ago.
			old := fmt.Sprintf("s%03d", i-2)
			mu.Lock()
			st, ok := state[old]
			mu.Unlock()
			if !ok || st != created || i%2 == 1 {
				continue
			}
			_, err = c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(old)})
			mu.Lock()
			if err == nil {
				state[old] = deleted
				ops.Add(1)
			} else if apiErrorCode(err) == "" {
				state[old] = unknown
			}
			mu.Unlock()
		}
	})
	for cycle := range cycles {
		before := ops.Load()
		deadline := time.Now().Add(30 * time.Second)
		for ops.Load() <= before {
			if time.Now().After(deadline) {
				t.Fatalf("cycle %d: no create or delete acknowledged within 30s", cycle)
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		s.Kill()
		s.Start()
	}
	stop()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	counts := map[int]int{}
	for name, st := range state {
		counts[st]++
		_, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		exists := err == nil
		if err != nil && apiErrorCode(err) != "ResourceNotFoundException" {
			t.Errorf("%s: DescribeStreamSummary: %v", name, err)
			continue
		}
		switch {
		case st == created && !exists:
			t.Errorf("%s: acknowledged CreateStream, but the stream is gone after the crash", name)
			continue
		case st == deleted && exists:
			t.Errorf("%s: acknowledged DeleteStream, but the stream is back after the crash", name)
			continue
		}
		if exists {
			// Whatever exists works: it becomes ACTIVE and takes and
			// serves records.
			waitActive(t, c, name)
			out := putRecord(t, c, name, "k", []byte("after the crash"))
			if recs := readShard(t, c, name, *out.ShardId); len(recs) != 1 || string(recs[0].Data) != "after the crash" {
				t.Errorf("%s: read %v after one put", name, datasOf(recs))
			}
			if _, err := c.DeleteStream(t.Context(), &kinesis.DeleteStreamInput{StreamName: aws.String(name)}); err != nil {
				t.Errorf("%s: DeleteStream: %v", name, err)
				continue
			}
			kinesisWaitGone(t, c, name)
		}
		// The name is free again.
		if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
			t.Errorf("%s: CreateStream of a free name after the crash: %v", name, err)
		}
	}
	t.Logf("%d streams: %d created, %d deleted, %d cut off by a kill", len(state), counts[created], counts[deleted], counts[unknown])
}
