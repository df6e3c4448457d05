package main

// `sluice bench hostile`: hostile load against an endpoint, and what it
// costs the server's well-behaved clients and memory. Attacks:
//
//	slow-body     connections that declare a large body (16 MiB) and send
//	              it a byte at a time (--rate bytes a second each)
//	stalled-body  connections that send --burst bytes of such a body and
//	              then nothing
//	expression    DynamoDB PutItem calls whose ConditionExpression nests
//	              100,000 or 800,000 parentheses, or NOT 4,000,000 times
//	              (issue 13), one after another, each timed
//
// The body attacks keep --connections requests open, starting a new one
// whenever the server ends one, over HTTP/1.1 or (--h2c) HTTP/2 streams.
// Meanwhile a probe puts one small record at a time and reports latency
// percentiles, first for --duration without the attack (the baseline),
// then for --duration under it, side by side; the server's resident
// memory is sampled throughout (from /proc with --server-pid, else from
// its /metrics).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
)

// hostileConfig is one run of `sluice bench hostile`.
type hostileConfig struct {
	Attack        string        // slow-body, stalled-body, expression
	Connections   int           // body attacks: requests kept open
	Declared      int64         // body attacks: Content-Length declared
	Rate          int           // slow-body: bytes a second per request
	Burst         int64         // stalled-body: bytes sent before stalling
	H2C           bool          // body attacks over HTTP/2 with prior knowledge
	Duration      time.Duration // each phase
	ProbeInterval time.Duration // least time between two probe puts
	Stream        string        // the probe's stream
	ServerPID     int           // read the server's memory from /proc; 0: from /metrics
	Cases         []string      // expression: the cases to run; nil: all
}

func (c hostileConfig) validate() error {
	switch c.Attack {
	case "slow-body", "stalled-body":
		if c.Connections < 1 || c.Declared < 1 || c.Duration <= 0 {
			return errors.New("--connections, --declare and --duration must be positive")
		}
		if c.Attack == "slow-body" && c.Rate < 1 {
			return errors.New("--rate must be at least 1 byte a second")
		}
		if c.Attack == "stalled-body" && (c.Burst < 1 || c.Burst >= c.Declared) {
			return errors.New("--burst must be positive and below --declare")
		}
	case "expression":
		for _, c := range c.Cases {
			if !slices.ContainsFunc(expressionCases(), func(e expressionCase) bool { return e.name == c }) {
				return fmt.Errorf("--cases: no case %q", c)
			}
		}
	default:
		return fmt.Errorf("--attack %q: want slow-body, stalled-body or expression", c.Attack)
	}
	return nil
}

// hostileReport is what a run measured.
type hostileReport struct {
	Attack      string             `json:"attack"`
	Connections int                `json:"connections,omitempty"`
	Baseline    *probeSummary      `json:"baseline,omitempty"`
	UnderAttack *probeSummary      `json:"under_attack,omitempty"`
	Attackers   *attackSummary     `json:"attackers,omitempty"`
	Expressions []expressionResult `json:"expressions,omitempty"`
}

// probeSummary is the probe's view of one phase, with the server's memory.
type probeSummary struct {
	Puts          int     `json:"puts"`
	Errors        int     `json:"errors"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
	LastError     string  `json:"last_error,omitempty"`
	ServerSampled bool    `json:"server_sampled"`
}

// attackSummary counts how the server ended the attacking requests.
type attackSummary struct {
	Requests  int            `json:"requests"`
	Outcomes  map[string]int `json:"outcomes"` // HTTP status or error kind
	MaxHeldMs float64        `json:"max_held_ms"`
	P50HeldMs float64        `json:"p50_held_ms"`
	StillOpen int            `json:"still_open"`
}

// expressionResult is one expression attack.
type expressionResult struct {
	Case       string  `json:"case"`
	BodyBytes  int     `json:"body_bytes"`
	Ms         float64 `json:"ms"`
	Outcome    string  `json:"outcome"`
	Message    string  `json:"message,omitempty"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	Alive      bool    `json:"server_alive_after"`
}

func runBenchHostile(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "bench hostile", "sluice bench hostile --attack slow-body|stalled-body|expression [flags]")
	var cf clientFlags
	cf.register(fs, env)
	cfg := hostileConfig{Declared: 16 << 20, Burst: 16_000_000}
	fs.StringVar(&cfg.Attack, "attack", "", "`kind` of attack: slow-body, stalled-body or expression")
	fs.IntVar(&cfg.Connections, "connections", 200, "body attacks: `requests` kept open at once")
	fs.Var(sizeFlag{&cfg.Declared}, "declare", "body attacks: Content-Length `bytes` each request declares")
	fs.IntVar(&cfg.Rate, "rate", 1, "slow-body: body `bytes` a second each request sends")
	fs.Var(sizeFlag{&cfg.Burst}, "burst", "stalled-body: `bytes` each request sends before it stalls")
	fs.BoolVar(&cfg.H2C, "h2c", false, "body attacks: send them as HTTP/2 streams (prior knowledge) instead of HTTP/1.1 connections")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "length of the baseline phase and of the attack phase")
	fs.DurationVar(&cfg.ProbeInterval, "probe-interval", 20*time.Millisecond, "least time between two PutRecord calls of the probe")
	fs.StringVar(&cfg.Stream, "stream", "hostile-probe", "`stream` the probe writes to (created with 1 shard if absent)")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "`pid` of a local server, to read its memory from /proc (default: from its /metrics)")
	cases := fs.String("cases", "", "expression: comma-separated `cases` to run, of parens-100k, parens-800k, not-4m (default all)")
	asJSON := fs.Bool("json", false, "print the report as one line of JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError(fs, "bench hostile: unexpected arguments %q", pos)
	}
	if *cases != "" {
		cfg.Cases = strings.Split(*cases, ",")
	}
	if err := cfg.validate(); err != nil {
		return usageError(fs, "bench hostile: %v", err)
	}
	awsCfg, endpoint, err := cf.awsConfig(ctx, cf.endpoint)
	if err != nil {
		return err
	}
	if endpoint == nil {
		return errors.New("bench hostile: attacking AWS is not what this is for; give --endpoint")
	}
	h := &hostile{cfg: cfg, endpoint: *endpoint, mem: newMemSampler(*endpoint, cfg.ServerPID)}
	var report hostileReport
	if cfg.Attack == "expression" {
		h.ddb = dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
			o.BaseEndpoint = endpoint
			o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1) // one request per attack
		})
		report, err = h.expressions(ctx)
	} else {
		h.kinesis = kinesis.NewFromConfig(awsCfg, func(o *kinesis.Options) { o.BaseEndpoint = endpoint })
		report, err = h.bodies(ctx)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(env.stdout).Encode(report)
	}
	report.write(env.stdout)
	return nil
}

// hostile runs the attacks of one configuration.
type hostile struct {
	cfg      hostileConfig
	endpoint string
	kinesis  *kinesis.Client
	ddb      *dynamodb.Client
	mem      *memSampler
}

// bodies runs the baseline phase, then the attack phase.
func (h *hostile) bodies(ctx context.Context) (hostileReport, error) {
	if err := ensureStream(ctx, h.kinesis, h.cfg.Stream, 1); err != nil {
		return hostileReport{}, err
	}
	r := hostileReport{Attack: h.cfg.Attack, Connections: h.cfg.Connections}
	base := h.probe(ctx, h.cfg.Duration)
	r.Baseline = &base
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	actx, stop := context.WithCancel(ctx)
	attackers := h.startBodies(actx)
	under := h.probe(ctx, h.cfg.Duration)
	stop()
	sum := attackers.wait()
	r.UnderAttack, r.Attackers = &under, &sum
	return r, ctx.Err()
}

// probe puts a record every ProbeInterval for d and samples the server's
// memory meanwhile.
func (h *hostile) probe(ctx context.Context, d time.Duration) probeSummary {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	peak, sampled := h.mem.peakDuring(ctx)
	var hist latencyHist
	var s probeSummary
	data := make([]byte, 100)
	for ctx.Err() == nil {
		start := time.Now()
		_, err := h.kinesis.PutRecord(ctx, &kinesis.PutRecordInput{
			StreamName: aws.String(h.cfg.Stream), PartitionKey: aws.String("probe"), Data: data,
		})
		took := time.Since(start)
		switch {
		case err != nil && ctx.Err() != nil: // the phase ended mid-call
		case err != nil:
			s.Errors++
			s.LastError = err.Error()
		default:
			s.Puts++
			hist.record(took)
		}
		if wait := h.cfg.ProbeInterval - took; wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
	l := hist.summary()
	s.P50ms, s.P99ms, s.MaxMs = ms(l.P50), ms(l.P99), ms(l.Max)
	s.PeakRSSMiB = float64(<-peak) / (1 << 20)
	s.ServerSampled = <-sampled
	return s
}

// attackers are the running requests of a body attack.
type attackers struct {
	wg       sync.WaitGroup
	mu       sync.Mutex
	outcomes map[string]int
	held     latencyHist
	open     atomic.Int64
}

func (a *attackers) record(outcome string, held time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.outcomes[outcome]++
	a.held.record(held)
}

func (a *attackers) wait() attackSummary {
	open := int(a.open.Load())
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.held.summary()
	return attackSummary{Requests: int(a.held.n), Outcomes: a.outcomes, MaxHeldMs: ms(l.Max), P50HeldMs: ms(l.P50), StillOpen: open}
}

// startBodies starts Connections attackers, each sending one hostile body
// after another until ctx ends.
func (h *hostile) startBodies(ctx context.Context) *attackers {
	tr := &http.Transport{
		DisableKeepAlives: !h.cfg.H2C,
		MaxConnsPerHost:   0,
		DialContext:       (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
	}
	if h.cfg.H2C {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	client := &http.Client{Transport: tr}
	a := &attackers{outcomes: map[string]int{}}
	for i := range h.cfg.Connections {
		a.wg.Go(func() {
			for ctx.Err() == nil {
				a.open.Add(1)
				start := time.Now()
				outcome := h.sendBody(ctx, client, i)
				a.open.Add(-1)
				if ctx.Err() == nil {
					a.record(outcome, time.Since(start))
				}
			}
		})
	}
	go func() { <-ctx.Done(); a.wg.Wait(); tr.CloseIdleConnections() }()
	return a
}

// sendBody sends one hostile PutRecords request and returns how the server
// ended it: its status, or the kind of error.
func (h *hostile) sendBody(ctx context.Context, client *http.Client, i int) string {
	var body io.ReadCloser
	if h.cfg.Attack == "slow-body" {
		body = &slowBody{ctx: ctx, every: time.Second / time.Duration(h.cfg.Rate)}
	} else {
		body = &stalledBody{ctx: ctx, left: h.cfg.Burst}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.endpoint, body)
	if err != nil {
		return "bad request: " + err.Error()
	}
	req.ContentLength = h.cfg.Declared
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
	req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDHOSTILE"+strconv.Itoa(i)+
		"/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	resp, err := client.Do(req)
	if err != nil {
		return errorKind(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return strconv.Itoa(resp.StatusCode)
}

// errorKind names a transport error briefly for the outcome counts.
func errorKind(err error) string {
	s := err.Error()
	for _, k := range []string{"connection reset", "broken pipe", "EOF", "timeout", "refused", "stream error", "closed"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	return "error"
}

// slowBody sends the start of a PutRecords body, one byte every every,
// until ctx ends.
type slowBody struct {
	ctx   context.Context
	every time.Duration
	n     int
}

const hostileBody = `{"StreamName":"hostile","Records":[{"PartitionKey":"k","Data":"`

func (b *slowBody) Read(p []byte) (int, error) {
	if b.n > 0 {
		select {
		case <-b.ctx.Done():
			return 0, b.ctx.Err()
		case <-time.After(b.every):
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = 'A'
	if b.n < len(hostileBody) {
		p[0] = hostileBody[b.n]
	}
	b.n++
	return 1, nil
}

func (b *slowBody) Close() error { return nil }

// stalledBody sends left bytes of a PutRecords body at once, then nothing
// until ctx ends.
type stalledBody struct {
	ctx  context.Context
	left int64
	sent bool
}

func (b *stalledBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		<-b.ctx.Done()
		return 0, b.ctx.Err()
	}
	n := min(int64(len(p)), b.left, 32<<10)
	for i := range p[:n] {
		p[i] = 'A'
	}
	if !b.sent {
		n = int64(copy(p[:n], hostileBody))
		b.sent = true
	}
	b.left -= n
	return int(n), nil
}

func (b *stalledBody) Close() error { return nil }

// expressionCase is one expression attack: a ConditionExpression.
type expressionCase struct{ name, expr string }

// expressionCases are the expression attacks of issue 13.
func expressionCases() []expressionCase {
	nest := func(n int) string { return strings.Repeat("(", n) + "pk = :v" + strings.Repeat(")", n) }
	return []expressionCase{
		{"parens-100k", nest(100_000)},
		{"parens-800k", nest(800_000)},
		{"not-4m", strings.Repeat("NOT ", 4_000_000) + "pk = :v"},
	}
}

// expressions sends each expression attack once and reports what it cost.
func (h *hostile) expressions(ctx context.Context) (hostileReport, error) {
	const table = "hostile-expressions"
	if err := h.ensureTable(ctx, table); err != nil {
		return hostileReport{}, err
	}
	r := hostileReport{Attack: h.cfg.Attack}
	for _, c := range expressionCases() {
		if h.cfg.Cases != nil && !slices.Contains(h.cfg.Cases, c.name) {
			continue
		}
		cctx, cancel := context.WithCancel(ctx)
		peak, _ := h.mem.peakDuring(cctx)
		start := time.Now()
		_, err := h.ddb.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 aws.String(table),
			Item:                      map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "k"}},
			ConditionExpression:       aws.String(c.expr),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": &ddbtypes.AttributeValueMemberS{Value: "k"}},
		})
		res := expressionResult{Case: c.name, BodyBytes: len(c.expr) + 150, Ms: ms(time.Since(start)), Outcome: "accepted"}
		time.Sleep(500 * time.Millisecond) // a last memory sample after the answer
		cancel()
		res.PeakRSSMiB = float64(<-peak) / (1 << 20)
		var apiErr smithy.APIError
		switch {
		case errors.As(err, &apiErr):
			res.Outcome, res.Message = apiErr.ErrorCode(), apiErr.ErrorMessage()
			if len(res.Message) > 120 {
				res.Message = res.Message[:120] + "…"
			}
		case err != nil:
			res.Outcome = "transport error: " + errorKind(err)
		}
		_, aerr := h.ddb.ListTables(ctx, &dynamodb.ListTablesInput{})
		res.Alive = aerr == nil
		r.Expressions = append(r.Expressions, res)
		if !res.Alive {
			break // the server is gone: the rest would measure nothing
		}
	}
	return r, ctx.Err()
}

func (h *hostile) ensureTable(ctx context.Context, table string) error {
	_, err := h.ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	var inUse *ddbtypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(h.ddb, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	return w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute)
}

// memSampler reads a server's resident memory: from /proc for a local
// process, else from process_resident_memory_bytes on its /metrics.
type memSampler struct {
	pid     int
	metrics string
	http    *http.Client
}

func newMemSampler(endpoint string, pid int) *memSampler {
	return &memSampler{pid: pid, metrics: strings.TrimRight(endpoint, "/") + "/metrics", http: &http.Client{Timeout: 5 * time.Second}}
}

// rss returns the server's resident memory in bytes.
func (m *memSampler) rss() (int64, error) {
	if m.pid > 0 {
		f, err := os.Open("/proc/" + strconv.Itoa(m.pid) + "/status")
		if err != nil {
			return 0, err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				return kb << 10, err
			}
		}
		return 0, errors.New("no VmRSS in /proc status")
	}
	resp, err := m.http.Get(m.metrics)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err
		}
	}
	return 0, errors.New("no process_resident_memory_bytes in /metrics")
}

// peakDuring samples the memory every 250 ms until ctx ends, then sends
// the peak, and whether any sample succeeded.
func (m *memSampler) peakDuring(ctx context.Context) (<-chan int64, <-chan bool) {
	peak, ok := make(chan int64, 1), make(chan bool, 1)
	go func() {
		var p int64
		var any bool
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := m.rss(); err == nil {
				p, any = max(p, v), true
			}
			select {
			case <-ctx.Done():
				peak <- p
				ok <- any
				return
			case <-t.C:
			}
		}
	}()
	return peak, ok
}

func (r hostileReport) write(w io.Writer) {
	fmt.Fprintf(w, "attack: %s", r.Attack)
	if r.Connections > 0 {
		fmt.Fprintf(w, ", %d at once", r.Connections)
	}
	fmt.Fprintln(w)
	for _, p := range []struct {
		name string
		s    *probeSummary
	}{{"baseline", r.Baseline}, {"under attack", r.UnderAttack}} {
		if p.s == nil {
			continue
		}
		fmt.Fprintf(w, "%-13s PutRecord p50 %.2f ms  p99 %.2f ms  max %.2f ms  (%d puts, %d errors)  server peak RSS %.0f MiB\n",
			p.name, p.s.P50ms, p.s.P99ms, p.s.MaxMs, p.s.Puts, p.s.Errors, p.s.PeakRSSMiB)
		if p.s.LastError != "" {
			fmt.Fprintf(w, "              last error: %s\n", p.s.LastError)
		}
	}
	if a := r.Attackers; a != nil {
		keys := make([]string, 0, len(a.Outcomes))
		for k := range a.Outcomes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s ×%d", k, a.Outcomes[k]))
		}
		fmt.Fprintf(w, "attacking requests ended by the server: %d (%s); held p50 %.0f ms, max %.0f ms; %d open at the end\n",
			a.Requests, strings.Join(parts, ", "), a.P50HeldMs, a.MaxHeldMs, a.StillOpen)
	}
	for _, e := range r.Expressions {
		fmt.Fprintf(w, "%-22s %8d bytes  %8.1f ms  peak RSS %4.0f MiB  alive after: %-5v  %s %s\n",
			e.Case, e.BodyBytes, e.Ms, e.PeakRSSMiB, e.Alive, e.Outcome, e.Message)
	}
}
