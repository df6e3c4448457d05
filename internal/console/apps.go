package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/dynamodb"
	"github.com/sluicehq/sluice/internal/kinesis"
)

// Applications are found in the DynamoDB tables served beside Kinesis:
//
//   - lease tables (hash key leaseKey, the KCL's schema, which the
//     consumer package writes): one row per shard with its owner,
//     leaseCounter (a heartbeat: the holder adds 1 at every renewal) and
//     checkpoint. The table does not name its stream; a checkpoint's
//     sequence number does (it carries the shard's epoch, unique across
//     streams), else the stream whose shard ids the table holds.
//   - the pipelines table sluice_pipelines (hash key pipeline, range key
//     worker), where each running flow worker registers its sources,
//     outputs, sinks and heartbeat.
//
// Lag is the broker's ShardBacklog from each checkpoint: records after
// it (exact for short backlogs, else an estimate) and the age of the
// oldest of them. Stalls need history, which the console keeps between
// computations: a held lease whose leaseCounter has not moved for
// StallAfter, or a checkpoint that has not moved for LagThreshold while
// records wait behind it. Results are cached for appsTTL, so every open
// page shares one computation, and lag reads are bounded
// (maxLagReads per computation, lagConcurrency at a time).

// PipelinesTable is the table where flow workers register.
const PipelinesTable = "sluice_pipelines"

const (
	appsTTL        = 3 * time.Second
	appsTimeout    = 10 * time.Second
	maxLeaseItems  = 10000
	maxLagReads    = 256
	lagConcurrency = 4
)

type appsOut struct {
	Applications []appOut      `json:"applications"`
	Consumers    []fanOutOut   `json:"consumers"`
	Errors       []string      `json:"errors,omitempty"`
	GeneratedAt  int64         `json:"generatedAt"`
	Thresholds   thresholdsOut `json:"thresholds"`
}

type thresholdsOut struct {
	LagMillis        int64 `json:"lagMillis"`
	StallAfterMillis int64 `json:"stallAfterMillis"`
}

// appOut is one application: a lease table, a pipeline, or both (a
// pipeline's lease table has the pipeline's name).
type appOut struct {
	Name    string      `json:"name"`
	Kind    string      `json:"kind"` // "leases" or "pipeline"
	Table   string      `json:"table,omitempty"`
	Streams []string    `json:"streams"`
	Outputs []string    `json:"outputs"`
	Sinks   []string    `json:"sinks"`
	State   string      `json:"state"` // ok, lagging, stalled, idle
	Reason  string      `json:"reason,omitempty"`
	Workers []workerOut `json:"workers"`
	Shards  []leaseOut  `json:"shards"`
	// Totals over the shards: records behind (Exact false if any is an
	// estimate) and the largest milliseconds behind.
	LagRecords       int64   `json:"lagRecords"`
	LagExact         bool    `json:"lagExact"`
	LagMillis        int64   `json:"lagMillis"`
	RecordsPerSecond float64 `json:"recordsPerSecond"`
	Ambiguous        bool    `json:"ambiguous,omitempty"`
}

type workerOut struct {
	ID     string `json:"id"`
	Leases int    `json:"leases"`
	// For pipeline workers: their registration.
	HeartbeatAgeMillis *int64   `json:"heartbeatAgeMillis,omitempty"`
	RecordsPerSecond   *float64 `json:"recordsPerSecond,omitempty"`
	LagMillis          *int64   `json:"lagMillis,omitempty"`
	LastWindowEnd      *int64   `json:"lastWindowEndMillis,omitempty"`
	Stale              bool     `json:"stale,omitempty"`
}

type leaseOut struct {
	Stream       string   `json:"stream,omitempty"`
	Shard        string   `json:"shard"`
	Owner        string   `json:"owner"`
	Checkpoint   string   `json:"checkpoint"`
	SubSequence  int64    `json:"subSequence,omitempty"`
	Counter      int64    `json:"counter"`
	Parents      []string `json:"parents,omitempty"`
	LagRecords   *int64   `json:"lagRecords,omitempty"`
	LagExact     bool     `json:"lagExact"`
	LagMillis    *int64   `json:"lagMillis,omitempty"`
	State        string   `json:"state"` // ok, lagging, stalled, unowned, finished
	Reason       string   `json:"reason,omitempty"`
	HeartbeatAge *int64   `json:"heartbeatAgeMillis,omitempty"`
}

type fanOutOut struct {
	Stream        string  `json:"stream"`
	Name          string  `json:"name"`
	ARN           string  `json:"arn"`
	Status        string  `json:"status"`
	CreatedAt     int64   `json:"createdAt"`
	Subscriptions int64   `json:"subscriptions"`
	RecordsPerSec float64 `json:"recordsPerSecond"`
}

// leaseTrack is what the console remembers of a lease between
// computations, to tell a stalled one.
type leaseTrack struct {
	counter      int64
	counterAt    time.Time
	checkpoint   string
	checkpointAt time.Time
	seen         bool
}

type appsCache struct {
	mu     sync.Mutex
	at     [2]time.Time // without, with lag
	out    [2]appsOut
	tracks map[string]*leaseTrack // by table + "\x00" + leaseKey
}

func (c *Console) applications(r *http.Request) (any, error) {
	return c.appsSnapshot(r.Context(), true), nil
}

// appsSnapshot returns the applications, computing them at most every
// appsTTL; withLag adds the lag reads.
func (c *Console) appsSnapshot(ctx context.Context, withLag bool) appsOut {
	k := 0
	if withLag {
		k = 1
	}
	c.apps.mu.Lock()
	defer c.apps.mu.Unlock()
	now := c.cfg.Now()
	if !c.apps.at[k].IsZero() && now.Sub(c.apps.at[k]) < appsTTL {
		return c.apps.out[k]
	}
	// Shared by every page, so not cut short when this request goes.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appsTimeout)
	defer cancel()
	out := c.computeApps(ctx, withLag)
	c.apps.at[k], c.apps.out[k] = now, out
	return out
}

// readersByStream counts the applications reading each stream.
func (c *Console) readersByStream(ctx context.Context) map[string]int {
	out := map[string]int{}
	for _, a := range c.appsSnapshot(ctx, false).Applications {
		for _, s := range a.Streams {
			out[s]++
		}
	}
	return out
}

// readersOf lists the applications reading a stream.
func (c *Console) readersOf(ctx context.Context, stream string) []appRef {
	var out []appRef
	for _, a := range c.appsSnapshot(ctx, false).Applications {
		if slices.Contains(a.Streams, stream) {
			out = append(out, appRef{Name: a.Name, Kind: a.Kind})
		}
	}
	return out
}

// streamIndex maps what a lease can name to streams.
type streamIndex struct {
	byEpoch map[uint64]string
	shards  map[string][]string // shard id -> streams having it
	acts    []kinesis.StreamActivity
}

func newStreamIndex(acts []kinesis.StreamActivity) streamIndex {
	ix := streamIndex{byEpoch: map[uint64]string{}, shards: map[string][]string{}, acts: acts}
	for _, a := range acts {
		for _, s := range a.Shards {
			ix.byEpoch[s.Epoch] = a.Name
			ix.shards[s.ShardID] = append(ix.shards[s.ShardID], a.Name)
		}
	}
	return ix
}

func (c *Console) computeApps(ctx context.Context, withLag bool) appsOut {
	now := c.cfg.Now()
	out := appsOut{
		Applications: []appOut{}, Consumers: []fanOutOut{}, GeneratedAt: now.UnixMilli(),
		Thresholds: thresholdsOut{LagMillis: c.cfg.LagThreshold.Milliseconds(), StallAfterMillis: c.cfg.StallAfter.Milliseconds()},
	}
	acts := c.cfg.Activity.Activity()
	ix := newStreamIndex(acts)
	if c.cfg.Tables != nil {
		tables, err := c.cfg.Tables.Tables(ctx)
		if err != nil {
			out.Errors = append(out.Errors, "listing tables: "+err.Error())
		}
		pipelines := map[string]*appOut{}
		for _, t := range tables {
			if t.Name == PipelinesTable && t.HashKey == "pipeline" {
				for _, p := range c.readPipelines(ctx, &out) {
					pipelines[p.Name] = p
				}
			}
		}
		for _, t := range tables {
			if t.HashKey != "leaseKey" || t.RangeKey != "" {
				continue
			}
			a, err := c.readLeaseTable(ctx, t, ix, pipelines[t.Name], now)
			if err != nil {
				out.Errors = append(out.Errors, "lease table "+t.Name+": "+err.Error())
				continue
			}
			if p := pipelines[t.Name]; p != nil {
				// A pipeline's lease table: one application.
				p.Table, p.Shards = a.Table, a.Shards
				for i := range p.Workers {
					for _, w := range a.Workers {
						if w.ID == p.Workers[i].ID {
							p.Workers[i].Leases = w.Leases
						}
					}
				}
				if len(p.Streams) == 0 {
					p.Streams = a.Streams
				}
				continue
			}
			out.Applications = append(out.Applications, *a)
		}
		for _, p := range pipelines {
			out.Applications = append(out.Applications, *p)
		}
		c.pruneTracks()
	}
	if withLag {
		c.fillLag(ctx, out.Applications)
	}
	for i := range out.Applications {
		c.judge(&out.Applications[i])
	}
	slices.SortFunc(out.Applications, func(a, b appOut) int { return strings.Compare(a.Name, b.Name) })
	for _, a := range acts {
		if len(a.Consumers) == 0 {
			continue
		}
		rates := c.hist.consumerRates(a.Name)
		subs := map[string]int64{}
		for _, ca := range a.Consumers {
			subs[ca.ARN] = ca.Subscriptions
		}
		res, err := c.svc.ListStreamConsumers(ctx, kinesis.ListStreamConsumersInput{StreamARN: a.ARN, MaxResults: 100})
		if err != nil {
			out.Errors = append(out.Errors, "consumers of "+a.Name+": "+err.Error())
			continue
		}
		for _, sc := range res.Consumers {
			out.Consumers = append(out.Consumers, fanOutOut{
				Stream: a.Name, Name: sc.Name, ARN: sc.ARN, Status: string(sc.Status), CreatedAt: sc.CreatedAt.UnixMilli(),
				Subscriptions: subs[sc.ARN], RecordsPerSec: rates[sc.ARN],
			})
		}
	}
	return out
}

// readPipelines reads the registrations of flow workers.
func (c *Console) readPipelines(ctx context.Context, out *appsOut) []*appOut {
	items, err := c.cfg.Tables.Items(ctx, PipelinesTable, maxLeaseItems)
	if err != nil {
		if !errors.Is(err, dynamodb.ErrNoSuchTable) {
			out.Errors = append(out.Errors, "pipelines: "+err.Error())
		}
		return nil
	}
	now := c.cfg.Now()
	byName := map[string]*appOut{}
	var order []string
	for _, it := range items {
		name, worker := str(it["pipeline"]), str(it["worker"])
		if name == "" {
			continue
		}
		p := byName[name]
		if p == nil {
			p = &appOut{Name: name, Kind: "pipeline", Streams: []string{}, Outputs: []string{}, Sinks: []string{}, Workers: []workerOut{}, Shards: []leaseOut{}, LagExact: true}
			byName[name] = p
			order = append(order, name)
		}
		p.Streams = union(p.Streams, strs(it["sources"]))
		p.Outputs = union(p.Outputs, strs(it["outputs"]))
		p.Sinks = union(p.Sinks, strs(it["sinks"]))
		w := workerOut{ID: worker}
		if hb, ok := num(it["heartbeatMillis"]); ok {
			age := max(0, now.UnixMilli()-int64(hb))
			w.HeartbeatAgeMillis = &age
			w.Stale = time.Duration(age)*time.Millisecond > c.cfg.StallAfter
		}
		if v, ok := num(it["recordsPerSecond"]); ok {
			w.RecordsPerSecond = &v
			if !w.Stale {
				p.RecordsPerSecond += v
			}
		}
		if v, ok := num(it["lagMillis"]); ok {
			l := int64(v)
			w.LagMillis = &l
			if !w.Stale {
				p.LagMillis = max(p.LagMillis, l)
			}
		}
		if v, ok := num(it["lastWindowEndMillis"]); ok {
			l := int64(v)
			w.LastWindowEnd = &l
		}
		p.Workers = append(p.Workers, w)
	}
	res := make([]*appOut, 0, len(order))
	for _, n := range order {
		res = append(res, byName[n])
	}
	return res
}

// readLeaseTable reads one lease table into an application.
func (c *Console) readLeaseTable(ctx context.Context, t dynamodb.TableInfo, ix streamIndex, pipeline *appOut, now time.Time) (*appOut, error) {
	items, err := c.cfg.Tables.Items(ctx, t.Name, maxLeaseItems)
	if err != nil {
		return nil, err
	}
	a := &appOut{Name: t.Name, Kind: "leases", Table: t.Name, Streams: []string{}, Outputs: []string{}, Sinks: []string{}, Workers: []workerOut{}, Shards: []leaseOut{}, LagExact: true}
	owners := map[string]int{}
	var shardIDs []string
	for _, it := range items {
		key := str(it["leaseKey"])
		if key == "" {
			continue
		}
		l := leaseOut{Shard: key, Owner: str(it["leaseOwner"]), Checkpoint: str(it["checkpoint"]), Parents: strs(it["parentShardId"])}
		// KCL multi-stream keys: account:stream:creationEpoch:shardId.
		if parts := strings.Split(key, ":"); len(parts) == 4 {
			l.Stream, l.Shard = parts[1], parts[3]
		}
		if v, ok := num(it["leaseCounter"]); ok {
			l.Counter = int64(v)
		}
		if v, ok := num(it["checkpointSubSequenceNumber"]); ok {
			l.SubSequence = int64(v)
		}
		if l.Owner != "" {
			owners[l.Owner]++
		}
		c.track(t.Name, key, l.Counter, l.Checkpoint, now, &l)
		a.Shards = append(a.Shards, l)
		shardIDs = append(shardIDs, l.Shard)
	}
	// The stream: named by a checkpoint's epoch, else by the shard ids.
	stream := ""
	for _, l := range a.Shards {
		if seq, ok := kinesis.ParseSequenceNumber(l.Checkpoint); ok {
			if s, ok := ix.byEpoch[seq.Epoch]; ok {
				stream = s
				break
			}
		}
	}
	if stream == "" && len(shardIDs) > 0 {
		cands := ix.shards[shardIDs[0]]
		var fit []string
		for _, s := range cands {
			all := true
			for _, id := range shardIDs {
				if !slices.Contains(ix.shards[id], s) {
					all = false
					break
				}
			}
			if all {
				fit = append(fit, s)
			}
		}
		switch {
		case len(fit) == 1:
			stream = fit[0]
		case pipeline != nil && len(pipeline.Streams) == 1 && slices.Contains(fit, pipeline.Streams[0]):
			stream = pipeline.Streams[0]
		case slices.Contains(fit, t.Name):
			stream = t.Name
		case len(fit) > 1:
			a.Ambiguous = true
		}
	}
	for i := range a.Shards {
		if a.Shards[i].Stream == "" {
			a.Shards[i].Stream = stream
		}
		if s := a.Shards[i].Stream; s != "" && !slices.Contains(a.Streams, s) {
			a.Streams = append(a.Streams, s)
		}
	}
	slices.SortFunc(a.Shards, func(x, y leaseOut) int { return strings.Compare(x.Shard, y.Shard) })
	for id, n := range owners {
		a.Workers = append(a.Workers, workerOut{ID: id, Leases: n})
	}
	slices.SortFunc(a.Workers, func(x, y workerOut) int { return strings.Compare(x.ID, y.ID) })
	return a, nil
}

// track updates what the console remembers of a lease and sets its
// heartbeat age.
func (c *Console) track(table, key string, counter int64, checkpoint string, now time.Time, l *leaseOut) {
	k := table + "\x00" + key
	tr, ok := c.apps.tracks[k]
	if !ok {
		tr = &leaseTrack{counter: counter, counterAt: now, checkpoint: checkpoint, checkpointAt: now}
		c.apps.tracks[k] = tr
	}
	tr.seen = true
	if counter != tr.counter {
		tr.counter, tr.counterAt = counter, now
	}
	if checkpoint != tr.checkpoint {
		tr.checkpoint, tr.checkpointAt = checkpoint, now
	}
	if l.Owner != "" && ok {
		age := now.Sub(tr.counterAt).Milliseconds()
		l.HeartbeatAge = &age
	}
}

// pruneTracks forgets leases not seen in the last computation.
func (c *Console) pruneTracks() {
	for k, tr := range c.apps.tracks {
		if !tr.seen {
			delete(c.apps.tracks, k)
			continue
		}
		tr.seen = false
	}
}

// fillLag reads the backlog of every unfinished lease, bounded.
func (c *Console) fillLag(ctx context.Context, apps []appOut) {
	type job struct{ a, s int }
	var jobs []job
	for ai := range apps {
		for si, l := range apps[ai].Shards {
			if l.Stream == "" || l.Checkpoint == "SHARD_END" || len(jobs) >= maxLagReads {
				continue
			}
			jobs = append(jobs, job{ai, si})
		}
	}
	sem := make(chan struct{}, lagConcurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, j := range jobs {
		l := &apps[j.a].Shards[j.s]
		after := ""
		switch {
		case l.Checkpoint == "TRIM_HORIZON" || l.Checkpoint == "":
		case l.Checkpoint == "LATEST" || l.Checkpoint == "AT_TIMESTAMP":
			continue // where it starts is not recorded
		default:
			after = l.Checkpoint
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			b, err := c.cfg.Activity.ShardBacklog(ctx, kinesis.StreamRef{Name: l.Stream}, l.Shard, after)
			if err != nil {
				return // a shard expired or another stream's: no lag shown
			}
			mu.Lock()
			defer mu.Unlock()
			l.LagRecords, l.LagMillis, l.LagExact = &b.Records, &b.MillisBehind, b.Exact
		})
	}
	wg.Wait()
}

// judge sets the state of each lease and of the application.
func (c *Console) judge(a *appOut) {
	lagMs := c.cfg.LagThreshold.Milliseconds()
	stallMs := c.cfg.StallAfter.Milliseconds()
	rank := map[string]int{"ok": 0, "idle": 0, "finished": 0, "unowned": 1, "lagging": 2, "stalled": 3}
	state, reason := "ok", ""
	if a.Kind == "pipeline" {
		alive := 0
		for _, w := range a.Workers {
			if !w.Stale {
				alive++
			}
		}
		if alive == 0 && len(a.Workers) > 0 {
			state, reason = "stalled", "no worker has sent a heartbeat for "+c.cfg.StallAfter.String()
		} else if a.LagMillis >= lagMs {
			state, reason = "lagging", "behind by "+fmtMillis(a.LagMillis)
		}
	}
	for i := range a.Shards {
		l := &a.Shards[i]
		waiting := l.LagRecords != nil && *l.LagRecords > 0
		switch {
		case l.Checkpoint == "SHARD_END":
			l.State = "finished"
		case l.Owner != "" && l.HeartbeatAge != nil && *l.HeartbeatAge >= stallMs:
			l.State, l.Reason = "stalled", "no heartbeat for "+fmtMillis(*l.HeartbeatAge)
		case l.Owner == "" && waiting:
			l.State, l.Reason = "unowned", "no worker holds this shard"
		case l.LagMillis != nil && *l.LagMillis >= lagMs:
			l.State, l.Reason = "lagging", "behind by "+fmtMillis(*l.LagMillis)
		default:
			l.State = "ok"
		}
		if l.LagRecords != nil {
			a.LagRecords += *l.LagRecords
			if !l.LagExact {
				a.LagExact = false
			}
		}
		if l.LagMillis != nil {
			a.LagMillis = max(a.LagMillis, *l.LagMillis)
		}
		if rank[l.State] > rank[state] {
			state = l.State
			reason = l.Shard + ": " + l.Reason
		}
	}
	if state == "ok" && len(a.Shards) > 0 && len(a.Workers) == 0 && a.Kind == "leases" {
		state = "idle"
		reason = "no worker holds a lease"
	}
	a.State, a.Reason = state, reason
}

func fmtMillis(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	switch {
	case d < time.Second:
		return strconv.FormatInt(ms, 10) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
	return d.Round(time.Second).String()
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// strs reads a list or set of strings.
func strs(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func num(v any) (float64, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

func union(a, b []string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}
