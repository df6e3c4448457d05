package flow

// The checker: pipeline worker processes (this test binary, re-executed)
// aggregate a stream while a writer loads it, workers are killed with
// SIGKILL at random, a source shard is split and two are merged, records
// come out of order and some far too late, and one shard gets nothing for
// a while. At the end, for every (window, key), the sink's row plus the
// records found in the late stream must equal what the writer had
// acknowledged: every record counted exactly once, in a row or as late.
//
// The short form runs in `go test ./flow` (about 30 seconds). The soak:
//
//	FLOW_SOAK=10m go test ./flow -run TestChecker -v -timeout 30m

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/consumer/leasetest"
)

func TestMain(m *testing.M) {
	if os.Getenv("FLOW_RECOVERY_WORKER") != "" {
		os.Exit(recoveryWorker())
	}
	if os.Getenv("FLOW_CHECKER_WORKER") != "" {
		os.Exit(checkerWorker())
	}
	os.Exit(m.Run())
}

// checkerEvent is a record the checker's writer puts.
type checkerEvent struct {
	ID  string `json:"id"`
	Key string `json:"key"`
	TS  int64  `json:"ts"` // event time, ms
	N   int64  `json:"n"`
}

const (
	checkerStream   = "events"
	checkerPipeline = "checker"
	checkerWindow   = 2 * time.Second
	checkerLateness = 3 * time.Second
	checkerOOO      = time.Second
)

// checkerWorker is the worker process: it runs the checker's pipeline
// until SIGTERM (or its death by SIGKILL).
func checkerWorker() int {
	endpoint, worker, table := os.Getenv("FLOW_CHECKER_ENDPOINT"), os.Getenv("FLOW_CHECKER_WORKER"), os.Getenv("FLOW_CHECKER_TABLE")
	log := testLogger().With("worker", worker)
	ddb := leasetest.DynamoDBClient(endpoint)
	kc := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: ddb.Options().Credentials})
	p, err := New(checkerPipeline, kc, ddb, WithWorkerID(worker), WithLogger(log),
		WithFailoverTime(2*time.Second), WithLeaseScanInterval(200*time.Millisecond),
		WithRetrieval(consumer.Polling{IdleTime: 50 * time.Millisecond}),
		WithRepartitionRetrieval(consumer.Polling{IdleTime: 50 * time.Millisecond}),
		WithCheckpointInterval(300*time.Millisecond), WithHeartbeat(time.Second), WithRepartitionShards(2))
	if err != nil {
		log.Error("new pipeline", "err", err)
		return 1
	}
	events := JSON[checkerEvent](Source(p, checkerStream))
	unique := Dedup(events, func(e checkerEvent) string { return e.ID }, 500*time.Millisecond)
	byKey := KeyBy(unique, func(e checkerEvent) string { return e.Key }, "key")
	AggregateWindows(byKey, "totals", Tumbling(checkerWindow),
		Count("records", nil), Sum("n", Int, From(func(e checkerEvent) int64 { return e.N }))).
		EventTime(func(e checkerEvent) time.Time { return time.UnixMilli(e.TS) }, checkerOOO).
		AllowedLateness(checkerLateness).Idleness(time.Second).
		To(&ddbSink{ddb: ddb, table: table})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := p.Run(ctx); err != nil {
		log.Error("run", "err", err)
		return 1
	}
	return 0
}

// ddbSink upserts rows into a DynamoDB table, one item per row: durable
// and safe for many processes, like a warehouse.
type ddbSink struct {
	ddb   *dynamodb.Client
	table string
}

func (s *ddbSink) Open(ctx context.Context, t Table) error {
	_, err := s.ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(s.table),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	var inUse *ddbtypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return err
	}
	return nil
}

func (s *ddbSink) Write(ctx context.Context, t Table, rows []Row) error {
	sem := make(chan struct{}, 8)
	errs := make(chan error, len(rows))
	var wg sync.WaitGroup
	for _, r := range rows {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := s.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: map[string]ddbtypes.AttributeValue{
				"id":      &ddbtypes.AttributeValueMemberS{Value: fmt.Sprintf("%d|%v", r.Window.Start.UnixMilli(), r.Keys[0])},
				"start":   &ddbtypes.AttributeValueMemberN{Value: itoa(r.Window.Start.UnixMilli())},
				"key":     &ddbtypes.AttributeValueMemberS{Value: r.Keys[0].(string)},
				"records": &ddbtypes.AttributeValueMemberN{Value: itoa(r.Values[0].(int64))},
				"n":       &ddbtypes.AttributeValueMemberN{Value: itoa(r.Values[1].(int64))},
				"final":   &ddbtypes.AttributeValueMemberBOOL{Value: r.Final},
			}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *ddbSink) Close() error   { return nil }
func (s *ddbSink) String() string { return "dynamodb:" + s.table }

// checkerWorkerProc is one running worker process.
type checkerWorkerProc struct {
	id     string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	mu     *sync.Mutex
	exited chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startCheckerWorker(t *testing.T, endpoint, table, id string) *checkerWorkerProc {
	t.Helper()
	w := &checkerWorkerProc{id: id, stderr: &bytes.Buffer{}, mu: &sync.Mutex{}, exited: make(chan struct{})}
	w.cmd = exec.Command(os.Args[0], "-test.run=^$")
	w.cmd.Env = append(os.Environ(), "FLOW_CHECKER_WORKER="+id, "FLOW_CHECKER_ENDPOINT="+endpoint, "FLOW_CHECKER_TABLE="+table)
	w.cmd.Stderr = lockedWriter{w.mu, w.stderr}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.cmd.Wait(); close(w.exited) }()
	t.Cleanup(func() {
		w.cmd.Process.Kill()
		<-w.exited
		if t.Failed() {
			w.mu.Lock()
			t.Logf("worker %s stderr (tail):\n%s", id, tail(w.stderr.String(), 3000))
			w.mu.Unlock()
		}
	})
	return w
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// hashKeyAt is the hash key at fraction num/den of the key space.
func hashKeyAt(num, den int64) string {
	max := new(big.Int).Lsh(big.NewInt(1), 128)
	k := new(big.Int).Mul(max, big.NewInt(num))
	k.Div(k, big.NewInt(den))
	return k.String()
}

func TestChecker(t *testing.T) {
	if testing.Short() {
		t.Skip("the checker runs worker processes for about 30 seconds")
	}
	load, killEvery := 15*time.Second, 3*time.Second
	if d, err := time.ParseDuration(os.Getenv("FLOW_SOAK")); err == nil {
		load = d
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	t.Logf("seed %d, load %v", seed, load)
	e := newTestEnv(t)
	ctx := ctxFor(t, load+5*time.Minute)
	e.srv.CreateStream(ctx, checkerStream, 3)
	table := "checker_rows"

	// Workers: three at a time; one is killed every few seconds and
	// replaced.
	var workers []*checkerWorkerProc
	next := 0
	spawn := func() {
		next++
		workers = append(workers, startCheckerWorker(t, e.srv.Endpoint(), table, fmt.Sprintf("w%d", next)))
	}
	for range 3 {
		spawn()
	}

	// The writer: keys over the first two thirds of the key space (the
	// last shard stays idle until the merge), event times up to 6s in the
	// past, 2% of them 20s in the past (later than the lateness allows).
	type acked struct {
		key   string
		start int64
		n     int64
	}
	var (
		mu    sync.Mutex
		got   = map[string]acked{} // id → event
		seq   atomic.Int64
		wdone = make(chan struct{})
	)
	writeCtx, stopWriting := context.WithCancel(ctx)
	go func() {
		defer close(wdone)
		wr := rand.New(rand.NewPCG(seed, 3))
		kc := e.kc
		for writeCtx.Err() == nil {
			var entries []types.PutRecordsRequestEntry
			var evs []checkerEvent
			for range 50 {
				i := seq.Add(1)
				now := time.Now().UnixMilli()
				ev := checkerEvent{ID: "e" + strconv.FormatInt(i, 10), Key: fmt.Sprintf("k%d", wr.IntN(8)), TS: now - wr.Int64N(6000), N: wr.Int64N(100)}
				if wr.IntN(50) == 0 {
					ev.TS = now - 20_000
				}
				b, _ := json.Marshal(ev)
				ehk := hashKeyAt(wr.Int64N(2000), 3000) // [0, 2/3)
				entries = append(entries, types.PutRecordsRequestEntry{Data: b, PartitionKey: aws.String(ev.Key), ExplicitHashKey: aws.String(ehk)})
				evs = append(evs, ev)
			}
			// Retry failed entries with the same payload: the pipeline's
			// Dedup drops the copies a lost response would make.
			for len(entries) > 0 && ctx.Err() == nil {
				out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(checkerStream), Records: entries})
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				var retry []types.PutRecordsRequestEntry
				var retryEv []checkerEvent
				mu.Lock()
				for i, r := range out.Records {
					if r.ErrorCode != nil {
						retry, retryEv = append(retry, entries[i]), append(retryEv, evs[i])
						continue
					}
					ev := evs[i]
					got[ev.ID] = acked{key: ev.Key, start: floorDiv(ev.TS, checkerWindow.Milliseconds()) * checkerWindow.Milliseconds(), n: ev.N}
				}
				mu.Unlock()
				entries, evs = retry, retryEv
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	// Chaos: kills, a split of shard 0 and a merge of shards 1 and 2.
	start := time.Now()
	split, merged := false, false
	kills := 0
	for time.Since(start) < load {
		time.Sleep(200 * time.Millisecond)
		if !split && time.Since(start) > load/3 {
			split = true
			if _, err := e.kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(checkerStream),
				ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String(hashKeyAt(1, 6))}); err != nil {
				t.Fatalf("split: %v", err)
			}
			t.Logf("split shard 0 at %v", time.Since(start).Round(time.Millisecond))
		}
		if !merged && time.Since(start) > 2*load/3 {
			merged = true
			if _, err := e.kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(checkerStream),
				ShardToMerge: aws.String("shardId-000000000001"), AdjacentShardToMerge: aws.String("shardId-000000000002")}); err != nil {
				t.Fatalf("merge: %v", err)
			}
			t.Logf("merged shards 1 and 2 at %v", time.Since(start).Round(time.Millisecond))
		}
		if time.Since(start) >= time.Duration(kills+1)*killEvery {
			i := rng.IntN(len(workers))
			w := workers[i]
			w.cmd.Process.Kill()
			<-w.exited
			workers = slices.Delete(workers, i, i+1)
			kills++
			spawn()
		}
	}
	stopWriting()
	<-wdone
	mu.Lock()
	want := map[string][2]int64{} // "start|key" → records, n
	for _, a := range got {
		k := fmt.Sprintf("%d|%s", a.start, a.key)
		v := want[k]
		want[k] = [2]int64{v[0] + 1, v[1] + a.n}
	}
	total := len(got)
	mu.Unlock()
	t.Logf("%d records acknowledged, %d workers killed", total, kills)

	// Drain: when every record is in a final row or in the late stream,
	// the totals must match exactly.
	var last string
	deadline := time.Now().Add(3 * time.Minute)
	for {
		rows, finals := readCheckerRows(t, e.ddb, table)
		late := readLate(t, e.kc)
		diff := compareTotals(want, rows, late)
		if diff == "" && finals {
			break
		}
		last = diff
		if time.Now().After(deadline) {
			t.Fatalf("totals never matched (final rows: %v): %s", finals, last)
		}
		time.Sleep(time.Second)
	}
	late := readLate(t, e.kc)
	t.Logf("totals match: %d records, %d of them late, in %d windows and keys", total, len(late), len(want))
	for _, w := range workers {
		w.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, w := range workers {
		select {
		case <-w.exited:
		case <-time.After(time.Minute):
			t.Errorf("worker %s did not stop on SIGTERM", w.id)
		}
	}
}

// readCheckerRows reads the sink's table: "start|key" → records, n; and
// whether every row is final.
func readCheckerRows(t *testing.T, ddb *dynamodb.Client, table string) (map[string][2]int64, bool) {
	t.Helper()
	rows := map[string][2]int64{}
	final := true
	in := &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)}
	for {
		out, err := ddb.Scan(ctxFor(t, time.Minute), in)
		var nf *ddbtypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return rows, false
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			id := it["id"].(*ddbtypes.AttributeValueMemberS).Value
			rec, _ := strconv.ParseInt(it["records"].(*ddbtypes.AttributeValueMemberN).Value, 10, 64)
			n, _ := strconv.ParseInt(it["n"].(*ddbtypes.AttributeValueMemberN).Value, 10, 64)
			rows[id] = [2]int64{rec, n}
			if !it["final"].(*ddbtypes.AttributeValueMemberBOOL).Value {
				final = false
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return rows, final
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// readLate reads the late stream: the distinct late events by id.
func readLate(t *testing.T, kc *kinesis.Client) map[string]checkerEvent {
	t.Helper()
	out := map[string]checkerEvent{}
	for _, r := range readAll(t, kc, checkerPipeline+"-late") {
		var lr LateRecord
		if err := json.Unmarshal(r.Data, &lr); err != nil {
			t.Fatalf("late record %q: %v", r.Data, err)
		}
		var ev checkerEvent
		if err := json.Unmarshal(lr.Data, &ev); err != nil {
			t.Fatalf("late record's data %q: %v", lr.Data, err)
		}
		out[ev.ID] = ev
	}
	return out
}

// compareTotals checks want == rows + late for every (window, key); it
// returns a description of the first differences, or "".
func compareTotals(want, rows map[string][2]int64, late map[string]checkerEvent) string {
	got := map[string][2]int64{}
	for k, v := range rows {
		got[k] = v
	}
	w := checkerWindow.Milliseconds()
	for _, ev := range late {
		k := fmt.Sprintf("%d|%s", floorDiv(ev.TS, w)*w, ev.Key)
		v := got[k]
		got[k] = [2]int64{v[0] + 1, v[1] + ev.N}
	}
	var diffs []string
	for k, v := range want {
		if got[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: got %v, want %v", k, got[k], v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: got %v, want nothing", k, v))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("... %d more", len(diffs)-5))
	}
	if len(diffs) == 0 {
		return ""
	}
	return fmt.Sprint(diffs)
}
