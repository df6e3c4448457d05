//go:build linux

package faults

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/sluicetest"
)

// outcome is what the writer was told about one attempt to write a record.
type outcome int

const (
	// acked: the record's result had a sequence number.
	acked outcome = iota
	// failed: Sluice answered that the record failed (an error code in
	// its result, or an error response to the call). It must never be
	// stored afterwards.
	failed
	// unanswered: the call got no answer (the connection broke, or the
	// server was killed): the record may or may not be stored.
	unanswered
	// unsent: the call never reached a server (connection refused).
	unsent
)

func (o outcome) String() string {
	return [...]string{"acked", "failed", "unanswered", "unsent"}[o]
}

// attempt is one try at writing one record.
type attempt struct {
	writer, key, n, a int
	outcome           outcome
	seq               string    // when acked
	detail            string    // the error, when not acked
	sent              time.Time // when its call was sent
	at                time.Time // when its call was answered (or gave up)
}

// recordID names a record: writer, key, number within the key.
type recordID struct{ writer, key, n int }

// payload is what the writer stores, so that every stored copy says which
// attempt it came from.
func payload(w, k, n, a int) []byte {
	return fmt.Appendf(nil, "w%02d k%02d n%07d a%03d %s", w, k, n, a, strings.Repeat(".", 40))
}

func parsePayload(b []byte) (w, k, n, a int, ok bool) {
	_, err := fmt.Sscanf(string(b), "w%02d k%02d n%07d a%03d", &w, &k, &n, &a)
	return w, k, n, a, err == nil
}

// workload runs writers against the Sluice servers of a cluster. Each
// writer owns keys; a call carries the next record of every key, and a
// key's next record is sent only once the one before is acknowledged, so
// any stored record of a key after one with a higher number is a
// reordering. A writer keeps to one server and moves to the next when a
// call fails, as a client behind a load balancer would.
type workload struct {
	stream  string
	writers int
	keys    int

	mu       sync.Mutex
	attempts []attempt
}

func newClient(endpoint string) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("faults", "faults", ""),
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: 1, // the writer sees every outcome and retries itself
		// Longer than Sluice ever takes to answer (its write timeout plus
		// the log's): a call that times out here got no answer.
		HTTPClient: sluicetest.OwnBodies(&http.Client{Timeout: 60 * time.Second}),
	})
}

// run writes until ctx ends.
func (w *workload) run(ctx context.Context, endpoints []string) {
	clients := make([]*kinesis.Client, len(endpoints))
	for i, e := range endpoints {
		clients[i] = newClient(e)
	}
	var wg sync.WaitGroup
	for i := range w.writers {
		wg.Go(func() { w.writer(ctx, i, clients) })
	}
	wg.Wait()
}

func (w *workload) writer(ctx context.Context, id int, clients []*kinesis.Client) {
	next := make([]int, w.keys) // next record number of each key
	tries := make([]int, w.keys)
	server := id % len(clients)
	for ctx.Err() == nil {
		entries := make([]types.PutRecordsRequestEntry, w.keys)
		for k := range w.keys {
			tries[k]++
			entries[k] = types.PutRecordsRequestEntry{
				PartitionKey:    aws.String(fmt.Sprintf("w%d-k%d", id, k)),
				ExplicitHashKey: aws.String(hashKey(id, k)),
				Data:            payload(id, k, next[k], tries[k]),
			}
		}
		// Not ctx: a call under way finishes, so that its outcome is known.
		sent := time.Now()
		out, err := clients[server].PutRecords(context.WithoutCancel(ctx), &kinesis.PutRecordsInput{StreamName: aws.String(w.stream), Records: entries})
		now := time.Now()
		res := make([]attempt, w.keys)
		anyFailed := err != nil
		for k := range w.keys {
			at := attempt{writer: id, key: k, n: next[k], a: tries[k], sent: sent, at: now}
			switch {
			case err != nil:
				at.outcome, at.detail = classify(err), err.Error()
			case out.Records[k].ErrorCode != nil:
				at.outcome, at.detail = failed, aws.ToString(out.Records[k].ErrorCode)+": "+aws.ToString(out.Records[k].ErrorMessage)
				anyFailed = true
			default:
				at.outcome, at.seq = acked, aws.ToString(out.Records[k].SequenceNumber)
				next[k]++
				tries[k] = 0
			}
			res[k] = at
		}
		w.mu.Lock()
		w.attempts = append(w.attempts, res...)
		w.mu.Unlock()
		if anyFailed {
			server = (server + 1) % len(clients)
			if err != nil && classify(err) == unsent {
				sleepCtx(ctx, 50*time.Millisecond) // that server is down: don't spin
			}
		}
	}
}

// hashKey places key k of writer w in shard k mod shards (of equal hash
// ranges), so that every call of every writer spans every shard: one
// shard without a leader holds up every call, as it does a Kinesis
// client's PutRecords spanning shards.
func hashKey(w, k int) string {
	h := new(big.Int).Lsh(big.NewInt(int64(k%shards)), 128-2) // shards = 4 = 2^2
	return h.Add(h, big.NewInt(int64(1+w*keys+k))).String()
}

// classify tells an error response (Sluice answered) from a call that got
// no answer or never left.
func classify(err error) outcome {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() > 0 {
		return failed
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return unsent
	}
	return unanswered
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// ackTimes returns the times of every acknowledgement, in order.
func (w *workload) ackTimes() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ts []time.Time
	for _, a := range w.attempts {
		if a.outcome == acked {
			ts = append(ts, a.at)
		}
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return ts
}

// ackedBetween returns the acknowledged attempts answered within
// (from, to), in the order they were answered.
func (w *workload) ackedBetween(from, to time.Time) []attempt {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []attempt
	for _, a := range w.attempts {
		if a.outcome == acked && a.at.After(from) && a.at.Before(to) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b attempt) int { return a.at.Compare(b.at) })
	return out
}

// longestGap is the longest time between two acknowledgements within
// [from, to] (the ends count as acknowledgements), and when it began.
func longestGap(acks []time.Time, from, to time.Time) (time.Duration, time.Time) {
	prev := from
	var gap time.Duration
	var at time.Time
	for _, t := range append(acks, to) {
		if t.Before(from) {
			continue
		}
		if t.After(to) {
			t = to
		}
		if d := t.Sub(prev); d > gap {
			gap, at = d, prev
		}
		prev = t
	}
	return gap, at
}

// stored is one record read back.
type stored struct {
	id    recordID
	a     int
	seq   string
	shard string
}

// readAll reads every shard of the stream from its start through one
// server, until a read returns nothing and is not behind.
func readAll(ctx context.Context, c *kinesis.Client, stream string) ([]stored, int, error) {
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		return nil, 0, fmt.Errorf("list shards: %w", err)
	}
	var out []stored
	foreign := 0
	for _, sh := range shards.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			return nil, 0, fmt.Errorf("iterator of %s: %w", aws.ToString(sh.ShardId), err)
		}
		iter := it.ShardIterator
		for iter != nil {
			r, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				return nil, 0, fmt.Errorf("read %s: %w", aws.ToString(sh.ShardId), err)
			}
			for _, rec := range r.Records {
				w, k, n, a, ok := parsePayload(rec.Data)
				if !ok {
					foreign++
					continue
				}
				out = append(out, stored{id: recordID{w, k, n}, a: a, seq: aws.ToString(rec.SequenceNumber), shard: aws.ToString(sh.ShardId)})
			}
			if len(r.Records) == 0 && aws.ToInt64(r.MillisBehindLatest) == 0 {
				break
			}
			iter = r.NextShardIterator
		}
	}
	return out, foreign, nil
}

// verdict is what the checker found in one scenario.
type verdict struct {
	Acked       int      `json:"acked"`       // records acknowledged
	Lost        int      `json:"lost"`        // acknowledged, not read back at their sequence number
	Reordered   int      `json:"reordered"`   // stored after a later record of their key
	Duplicates  int      `json:"duplicates"`  // stored copies beyond the first of a record
	Unanswered  int      `json:"unanswered"`  // duplicates from attempts that got no answer: allowed
	AfterFailed int      `json:"afterFailed"` // copies from attempts answered as failed
	Unexpected  int      `json:"unexpected"`  // copies of attempts never sent, or stored twice
	Examples    []string `json:"examples,omitempty"`
}

func (v *verdict) example(format string, args ...any) {
	if len(v.Examples) < 10 {
		v.Examples = append(v.Examples, fmt.Sprintf(format, args...))
	}
}

// check compares what was read back with what the writers were told.
func (w *workload) check(records []stored) verdict {
	w.mu.Lock()
	attempts := slices.Clone(w.attempts)
	w.mu.Unlock()
	var v verdict
	type attemptID struct {
		id recordID
		a  int
	}
	told := make(map[attemptID]attempt, len(attempts))
	for _, a := range attempts {
		told[attemptID{recordID{a.writer, a.key, a.n}, a.a}] = a
	}
	bySeq := make(map[string]stored, len(records))
	copies := make(map[recordID]int)
	copiesOf := make(map[attemptID]int)
	for _, r := range records {
		bySeq[r.seq] = r
		copies[r.id]++
		copiesOf[attemptID{r.id, r.a}]++
	}
	for _, a := range attempts {
		if a.outcome != acked {
			continue
		}
		v.Acked++
		r, ok := bySeq[a.seq]
		if !ok || r.id != (recordID{a.writer, a.key, a.n}) || r.a != a.a {
			v.Lost++
			v.example("lost: w%d k%d n%d (attempt %d) acknowledged as %s", a.writer, a.key, a.n, a.a, a.seq)
		}
	}
	for aid, n := range copiesOf {
		a, ok := told[aid]
		switch {
		case !ok || a.outcome == unsent:
			v.Unexpected += n
			v.example("unexpected: w%d k%d n%d attempt %d stored, never sent", aid.id.writer, aid.id.key, aid.id.n, aid.a)
			continue
		case n > 1:
			v.Unexpected += n - 1
			v.example("unexpected: w%d k%d n%d attempt %d stored %d times", aid.id.writer, aid.id.key, aid.id.n, aid.a, n)
		}
		switch a.outcome {
		case failed:
			v.AfterFailed++
			v.example("stored after failure: w%d k%d n%d attempt %d was answered %q", aid.id.writer, aid.id.key, aid.id.n, aid.a, a.detail)
		case unanswered:
			if copies[aid.id] > 1 {
				v.Unanswered++
			}
		}
	}
	for _, n := range copies {
		v.Duplicates += n - 1
	}
	// Per key, in log order: a record below the highest number seen before
	// it was stored after a later one.
	type keyID struct{ writer, key int }
	highest := make(map[keyID]int)
	seen := make(map[keyID]bool)
	for _, r := range records { // readAll returns each shard in log order
		k := keyID{r.id.writer, r.id.key}
		if h, ok := highest[k]; ok && seen[k] && r.id.n < h {
			v.Reordered++
			v.example("reordered: w%d k%d n%d (attempt %d) stored after n%d", r.id.writer, r.id.key, r.id.n, r.a, h)
		}
		if !seen[k] || r.id.n > highest[k] {
			highest[k] = r.id.n
		}
		seen[k] = true
	}
	sort.Strings(v.Examples)
	return v
}
