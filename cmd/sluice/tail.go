package main

// `sluice tail`: follow every shard of a stream and print records as they
// arrive.
//
// One coordinator owns the shard map; one goroutine per shard reads it with
// GetShardIterator and GetRecords. A shard starts only once its parents are
// done, so records of a partition key print in order across a reshard. New
// shards come from ChildShards at the end of a parent and from listing the
// shards again every so often.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

const (
	// Polling delays once a shard is caught up: AWS allows 5 GetRecords
	// per second per shard, and an idle shard need not be asked that often.
	pollMinDelay = 200 * time.Millisecond
	pollMaxDelay = time.Second
	// tailRelistInterval is how often tail lists shards to find new ones
	// that no ChildShards announced (e.g. a shard count raised elsewhere).
	tailRelistInterval = 10 * time.Second
	// Backoff after a throttled or failed read that the SDK gave up on.
	readRetryMinDelay = 200 * time.Millisecond
	readRetryMaxDelay = 5 * time.Second
)

func runTail(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "tail", "sluice tail STREAM [flags]")
	var cf clientFlags
	cf.register(fs, env)
	from := fs.String("from", "latest", "`position` to start at: latest, trim-horizon, an RFC 3339 time, or a duration ago such as 15m")
	format := fs.String("format", "text", `output format: "text" prints "shardId sequenceNumber partitionKey data" per line, `+
		`data as text if it is valid UTF-8 without control characters, else base64; "json" prints one JSON object per line`)
	maxRecords := fs.Int64("max-records", 0, "stop after printing this many `records` (default 0: follow until interrupted)")
	fanOut := fs.Bool("fan-out", false, "read by enhanced fan-out: register (or reuse) a stream consumer and have SubscribeToShard push records")
	consumerName := fs.String("consumer", "sluice-tail", "`name` of the stream consumer --fan-out registers or reuses")
	var group groupFlags
	group.register(fs, env)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(fs, "tail: want exactly one STREAM, got %d arguments", len(pos))
	}
	start, err := parseStartPosition(*from, time.Now())
	if err != nil {
		return usageError(fs, "tail: %w", err)
	}
	if *format != "text" && *format != "json" {
		return usageError(fs, "tail: --format must be text or json, got %q", *format)
	}
	if *maxRecords < 0 {
		return usageError(fs, "tail: --max-records must not be negative")
	}
	out := &recordPrinter{w: env.stdout, json: *format == "json", max: *maxRecords}
	consumerSet := false
	if group.name != "" {
		if *fanOut {
			group.fanOutConsumer = *consumerName
			fs.Visit(func(f *flag.Flag) { consumerSet = consumerSet || f.Name == "consumer" })
			if !consumerSet {
				group.fanOutConsumer = group.name // one stream consumer per group
			}
		}
		return group.run(ctx, env, &cf, pos[0], start, out)
	}
	client, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	t := &tailer{
		api:    client,
		stream: pos[0],
		start:  start,
		relist: tailRelistInterval,
		out:    out,
		logger: slog.New(slog.NewTextHandler(env.stderr, nil)),
	}
	if *fanOut {
		arn, err := ensureConsumer(ctx, client, pos[0], *consumerName)
		if err != nil {
			return err
		}
		t.fanOut = &fanOutReader{consumerARN: arn, logger: t.logger,
			subscribe: func(ctx context.Context, in *kinesis.SubscribeToShardInput) (*kinesis.SubscribeToShardOutput, error) {
				return kinesis.New(client.Options()).SubscribeToShard(ctx, in)
			}}
	}
	return t.run(ctx)
}

// startPosition is where reading a shard begins.
type startPosition struct {
	typ types.ShardIteratorType
	at  time.Time // for AT_TIMESTAMP
}

func parseStartPosition(s string, now time.Time) (startPosition, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "_", "-")) {
	case "latest":
		return startPosition{typ: types.ShardIteratorTypeLatest}, nil
	case "trim-horizon":
		return startPosition{typ: types.ShardIteratorTypeTrimHorizon}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return startPosition{typ: types.ShardIteratorTypeAtTimestamp, at: t}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return startPosition{typ: types.ShardIteratorTypeAtTimestamp, at: now.Add(-d)}, nil
	}
	return startPosition{}, fmt.Errorf("--from must be latest, trim-horizon, an RFC 3339 time or a duration, got %q", s)
}

type shardReadAPI interface {
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// shardReader reads one shard; tail and bench share it.
type shardReader struct {
	api     shardReadAPI
	stream  string
	shardID string
	limit   *int32 // GetRecords Limit; nil: the server's default (10000 on AWS)
	// stopAtTip ends the read at the first empty response that is caught up
	// (bench); otherwise the reader follows the shard until it closes.
	stopAtTip bool
	logger    *slog.Logger
	// onRecords sees every GetRecords response, empty ones too, and how
	// long the call took.
	onRecords func(out *kinesis.GetRecordsOutput, took time.Duration) error
}

// read reads the shard from start. It returns the shard's children once a
// closed shard is drained, nothing when stopAtTip ends it, and ctx's error
// when ctx ends.
func (r *shardReader) read(ctx context.Context, start startPosition) ([]types.ChildShard, error) {
	iter, err := r.iterator(ctx, start, "")
	if err != nil {
		return nil, err
	}
	var lastSeq string
	idle, retryDelay := pollMinDelay, readRetryMinDelay
	expired := 0 // in a row; a fresh iterator that is expired at once means a broken clock or server
	for {
		began := time.Now()
		out, err := r.api.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: r.limit})
		took := time.Since(began)
		var expiredErr *types.ExpiredIteratorException
		switch {
		case err == nil:
			retryDelay, expired = readRetryMinDelay, 0
		case errors.As(err, &expiredErr) && expired < 3:
			// Iterators live 5 minutes; resume right after the last record seen.
			expired++
			if iter, err = r.iterator(ctx, start, lastSeq); err != nil {
				return nil, err
			}
			continue
		case isRetryableAPIError(err) && ctx.Err() == nil:
			r.logger.Warn("get records failed, retrying", "shard", r.shardID, "delay", retryDelay, "err", err)
			if err := sleepCtx(ctx, retryDelay); err != nil {
				return nil, err
			}
			retryDelay = min(2*retryDelay, readRetryMaxDelay)
			continue
		default:
			return nil, fmt.Errorf("get records from %s: %w", r.shardID, err)
		}
		if n := len(out.Records); n > 0 {
			lastSeq = aws.ToString(out.Records[n-1].SequenceNumber)
		}
		if err := r.onRecords(out, took); err != nil {
			return nil, err
		}
		if out.NextShardIterator == nil {
			return out.ChildShards, nil // a closed shard, fully read
		}
		iter = out.NextShardIterator
		caughtUp := aws.ToInt64(out.MillisBehindLatest) == 0
		switch {
		case !caughtUp:
			idle = pollMinDelay // behind: ask again at once
			continue
		case r.stopAtTip && len(out.Records) == 0:
			return nil, nil
		case r.stopAtTip:
			continue
		case len(out.Records) > 0:
			idle = pollMinDelay
		}
		if err := sleepCtx(ctx, idle); err != nil {
			return nil, err
		}
		if len(out.Records) == 0 {
			idle = min(2*idle, pollMaxDelay)
		}
	}
}

// iterator gets a shard iterator at start, or right after sequence number
// after when it is set.
func (r *shardReader) iterator(ctx context.Context, start startPosition, after string) (*string, error) {
	name, arn := streamRef(r.stream)
	in := &kinesis.GetShardIteratorInput{StreamName: name, StreamARN: arn, ShardId: aws.String(r.shardID), ShardIteratorType: start.typ}
	switch {
	case after != "":
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(after)
	case start.typ == types.ShardIteratorTypeAtTimestamp:
		in.Timestamp = aws.Time(start.at)
	}
	out, err := r.api.GetShardIterator(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("get %s iterator for %s: %w", in.ShardIteratorType, r.shardID, err)
	}
	return out.ShardIterator, nil
}

// isRetryableAPIError reports Kinesis errors worth another try after the
// SDK's own retries gave up: throttling and server-side failures.
func isRetryableAPIError(err error) bool {
	var (
		pte      *types.ProvisionedThroughputExceededException
		limit    *types.LimitExceededException
		internal *types.InternalFailureException
		kms      *types.KMSThrottlingException
	)
	return errors.As(err, &pte) || errors.As(err, &limit) || errors.As(err, &internal) || errors.As(err, &kms)
}

type tailAPI interface {
	listShardsAPI
	shardReadAPI
}

// tailer follows all shards of a stream, parents before children.
type tailer struct {
	api    tailAPI
	stream string
	start  startPosition
	relist time.Duration
	out    *recordPrinter
	logger *slog.Logger
	// fanOut, when set, reads shards by SubscribeToShard (--fan-out).
	fanOut *fanOutReader
}

type tailShardState int

const (
	shardPending tailShardState = iota
	shardReading
	shardDone
)

type tailShard struct {
	parents []string
	state   tailShardState
	// initial shards start at --from; shards found later are new since
	// tail started, so they are read from their beginning.
	initial bool
}

type shardResult struct {
	id       string
	children []types.ChildShard
	err      error
}

// errEnough ends a tail that printed --max-records records.
var errEnough = errors.New("printed enough records")

func (t *tailer) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	shards := map[string]*tailShard{}
	listed, err := listShards(ctx, t.api, t.stream)
	if err != nil {
		return err
	}
	for _, s := range listed {
		shards[aws.ToString(s.ShardId)] = &tailShard{parents: shardParents(s), initial: true}
	}
	results := make(chan shardResult)
	reading := 0
	// startReady starts every pending shard whose parents are done. A parent
	// missing from the map has expired, so it cannot hold unread records.
	startReady := func() {
		for id, s := range shards {
			if s.state != shardPending || !parentsDone(shards, s.parents) {
				continue
			}
			s.state = shardReading
			reading++
			start := startPosition{typ: types.ShardIteratorTypeTrimHorizon}
			if s.initial {
				start = t.start
			}
			go func() {
				children, err := t.readShard(ctx, id, start)
				results <- shardResult{id: id, children: children, err: err}
			}()
		}
	}
	relist := func() {
		listed, err := listShards(ctx, t.api, t.stream)
		if err != nil {
			if ctx.Err() == nil {
				t.logger.Warn("list shards failed", "stream", t.stream, "err", err)
			}
			return
		}
		for _, s := range listed {
			if id := aws.ToString(s.ShardId); shards[id] == nil {
				shards[id] = &tailShard{parents: shardParents(s)}
			}
		}
	}
	startReady()
	ticker := time.NewTicker(t.relist)
	defer ticker.Stop()
	var runErr error
	for runErr == nil && ctx.Err() == nil {
		select {
		case res := <-results:
			reading--
			if res.err != nil {
				runErr = res.err
				continue
			}
			shards[res.id].state = shardDone
			unknownParent := false
			for _, c := range res.children {
				id := aws.ToString(c.ShardId)
				if shards[id] != nil {
					continue
				}
				shards[id] = &tailShard{parents: c.ParentShards}
				for _, p := range c.ParentShards {
					unknownParent = unknownParent || shards[p] == nil
				}
			}
			// The other parent of a merge may be newer than the last
			// listing; list now rather than start its child too early.
			if unknownParent {
				relist()
			}
			startReady()
		case <-ticker.C:
			relist()
			startReady()
		case <-ctx.Done():
		}
	}
	cancel()
	for ; reading > 0; reading-- {
		<-results
	}
	if errors.Is(runErr, errEnough) || isCanceled(ctx, runErr) {
		return nil // Ctrl-C or --max-records: a normal end of tail
	}
	return runErr
}

func (t *tailer) readShard(ctx context.Context, shardID string, start startPosition) ([]types.ChildShard, error) {
	if t.fanOut != nil {
		return t.fanOut.read(ctx, shardID, start, func(records []types.Record) error {
			return t.out.print(shardID, records)
		})
	}
	r := &shardReader{
		api:     t.api,
		stream:  t.stream,
		shardID: shardID,
		logger:  t.logger,
		onRecords: func(out *kinesis.GetRecordsOutput, _ time.Duration) error {
			return t.out.print(shardID, out.Records)
		},
	}
	return r.read(ctx, start)
}

func shardParents(s types.Shard) []string {
	return nonEmpty(aws.ToString(s.ParentShardId), aws.ToString(s.AdjacentParentShardId))
}

func parentsDone(shards map[string]*tailShard, parents []string) bool {
	for _, p := range parents {
		if s := shards[p]; s != nil && s.state != shardDone {
			return false
		}
	}
	return true
}

// recordPrinter writes records from all shard readers to one writer, a
// whole GetRecords response at a time so lines never interleave.
type recordPrinter struct {
	w    io.Writer
	json bool
	max  int64 // stop after this many records; 0: no limit

	mu      sync.Mutex
	printed int64
}

func (p *recordPrinter) print(shardID string, records []types.Record) error {
	if len(records) == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.max > 0 {
		records = records[:min(int64(len(records)), p.max-p.printed)]
	}
	var buf bytes.Buffer
	for _, r := range records {
		var err error
		if p.json {
			err = appendRecordJSON(&buf, shardID, r)
		} else {
			appendRecordText(&buf, shardID, r)
		}
		if err != nil {
			return err
		}
	}
	if _, err := p.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	p.printed += int64(len(records))
	if p.max > 0 && p.printed >= p.max {
		return errEnough
	}
	return nil
}

// appendRecordText appends "shardId sequenceNumber partitionKey data\n".
func appendRecordText(buf *bytes.Buffer, shardID string, r types.Record) {
	buf.WriteString(shardID)
	buf.WriteByte(' ')
	buf.WriteString(aws.ToString(r.SequenceNumber))
	buf.WriteByte(' ')
	buf.WriteString(aws.ToString(r.PartitionKey))
	buf.WriteByte(' ')
	if isPrintableText(r.Data) {
		buf.Write(r.Data)
	} else {
		buf.WriteString(base64.StdEncoding.EncodeToString(r.Data))
	}
	buf.WriteByte('\n')
}

// isPrintableText reports whether data can be printed as-is on one line:
// valid UTF-8 with no control characters but tab.
func isPrintableText(data []byte) bool {
	if !utf8.Valid(data) {
		return false
	}
	for _, r := range string(data) {
		if r != '\t' && unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// recordJSON is one line of `tail --format json`: AWS's record fields plus
// the shard, and Text when Data is valid UTF-8 (Data is base64, as on the wire).
type recordJSON struct {
	ShardId                     string     `json:"ShardId"`
	SequenceNumber              string     `json:"SequenceNumber"`
	PartitionKey                string     `json:"PartitionKey"`
	ApproximateArrivalTimestamp *time.Time `json:"ApproximateArrivalTimestamp,omitempty"`
	Data                        []byte     `json:"Data"`
	Text                        *string    `json:"Text,omitempty"`
}

func appendRecordJSON(buf *bytes.Buffer, shardID string, r types.Record) error {
	j := recordJSON{
		ShardId:                     shardID,
		SequenceNumber:              aws.ToString(r.SequenceNumber),
		PartitionKey:                aws.ToString(r.PartitionKey),
		ApproximateArrivalTimestamp: r.ApproximateArrivalTimestamp,
		Data:                        r.Data,
	}
	if j.Data == nil {
		j.Data = []byte{} // "" rather than null
	}
	if utf8.Valid(r.Data) {
		j.Text = aws.String(string(r.Data))
	}
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode record %s: %w", j.SequenceNumber, err)
	}
	buf.Write(b)
	buf.WriteByte('\n')
	return nil
}
