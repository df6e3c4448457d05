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
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

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
	fs := newFlagSet(env, "tail", "sluice tail STREAM [flags]\n\n"+
		"Follows every shard of STREAM and prints its records, parents before children across reshards.\n"+
		"Records of KPL aggregates are printed one by one (--raw prints the aggregates). If the server\n"+
		"goes away, tail reconnects and carries on after the last record it printed.")
	var cf clientFlags
	cf.register(fs, env)
	from := fs.String("from", "latest", "`position` to start at: latest, trim-horizon, an RFC 3339 time, or a duration ago such as 15m")
	format := fs.String("format", "text", tailFormatHelp)
	raw := fs.Bool("raw", false, "print KPL aggregates as stored (one record, base64 data) rather than the user records in them")
	maxRecords := fs.Int64("max-records", 0, "stop after printing this many `records` (default 0: no limit)")
	untilLatest := fs.Bool("until-latest", false, "stop once every shard is read up to the newest record (as kcat -e), rather than follow")
	fanOut := fs.Bool("fan-out", false, "read by enhanced fan-out: register (or reuse) a stream consumer and have SubscribeToShard push records")
	consumerName := fs.String("consumer", "sluice-tail", "`name` of the stream consumer --fan-out registers or reuses")
	keepConsumer := fs.Bool("keep-consumer", false, "with --fan-out, leave the stream consumer tail registered when it ends (by default it is deregistered; one it found registered is always kept)")
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
		return usageError(fs, "tail: %v", err)
	}
	recFormat, err := parseRecordFormat(*format, pos[0])
	if err != nil {
		return usageError(fs, "tail: %v", err)
	}
	if *maxRecords < 0 {
		return usageError(fs, "tail: --max-records must not be negative")
	}
	out := &recordPrinter{w: env.stdout, format: recFormat, raw: *raw, max: *maxRecords}
	logger := slog.New(slog.NewTextHandler(env.stderr, nil))
	if group.name != "" {
		switch {
		case *raw:
			return usageError(fs, "tail: --raw does not go with --group: a group's workers deaggregate as the KCL does")
		case *untilLatest:
			return usageError(fs, "tail: --until-latest does not go with --group: a group follows its shards until stopped")
		case *maxRecords > 0:
			// Records cut off after the last one printed would be
			// checkpointed unprinted and lost to the group.
			return usageError(fs, "tail: --max-records does not go with --group")
		case group.failureRate < 0 || group.failureRate >= 1:
			return usageError(fs, "tail: --inject-failures must be in [0, 1)")
		}
		if *fanOut {
			group.fanOutConsumer = *consumerName
			if !isFlagSet(fs, "consumer") {
				group.fanOutConsumer = group.name // one stream consumer per group
			}
		}
		return group.run(ctx, logger, &cf, pos[0], start, out)
	}
	client, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	t := &tailer{
		api:         client,
		stream:      pos[0],
		start:       start,
		relist:      tailRelistInterval,
		out:         out,
		untilLatest: *untilLatest,
		logger:      logger,
		conn:        &connWatch{logger: logger, endpoint: normalizeEndpoint(cf.endpoint)},
	}
	if !*fanOut {
		return t.run(ctx)
	}
	arn, created, err := ensureConsumer(ctx, client, pos[0], *consumerName)
	if err != nil {
		return err
	}
	t.fanOut = &fanOutReader{consumerARN: arn, logger: t.logger, conn: t.conn, untilLatest: *untilLatest,
		subscribe: func(ctx context.Context, in *kinesis.SubscribeToShardInput) (*kinesis.SubscribeToShardOutput, error) {
			return kinesis.New(client.Options()).SubscribeToShard(ctx, in)
		}}
	err = t.run(ctx)
	if created && !*keepConsumer {
		// After Ctrl-C ctx is done; the deregistration still has to go out.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), consumerCleanupTimeout)
		defer cancel()
		if derr := deregisterConsumer(dctx, client, arn); derr != nil {
			err = errors.Join(err, fmt.Errorf("%w (remove it with `aws kinesis deregister-stream-consumer --consumer-arn %s`)", derr, arn))
		}
	}
	return err
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
	// stopAtTip ends the read at the first empty response that is caught
	// up (bench); untilLatest at the first caught-up response, after its
	// records (tail --until-latest). Otherwise the reader follows the shard
	// until it closes.
	stopAtTip, untilLatest bool
	// conn, when set, makes the reader ride out a lost connection: it
	// retries with backoff until the server answers again (tail).
	conn   *connWatch
	logger *slog.Logger
	// onRecords sees every GetRecords response, empty ones too, and how
	// long the call took.
	onRecords func(out *kinesis.GetRecordsOutput, took time.Duration) error
}

// read reads the shard from start. It returns the shard's children once a
// closed shard is drained, nothing when stopAtTip or untilLatest ends it,
// and ctx's error when ctx ends.
func (r *shardReader) read(ctx context.Context, start startPosition) ([]types.ChildShard, error) {
	var iter *string
	var lastSeq string
	idle, retryDelay := pollMinDelay, readRetryMinDelay
	expired := 0 // in a row; a fresh iterator that is expired at once means a broken clock or server
	for {
		if iter == nil {
			// At start, and after an expired iterator: resume right after
			// the last record seen (iterators live 5 minutes).
			var err error
			iter, err = r.iterator(ctx, start, lastSeq)
			if err != nil {
				if r.conn != nil && r.conn.lost(ctx, err) {
					if err := r.conn.wait(ctx, &retryDelay); err != nil {
						return nil, err
					}
					continue
				}
				return nil, err
			}
		}
		began := time.Now()
		out, err := r.api.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: r.limit})
		took := time.Since(began)
		var expiredErr *types.ExpiredIteratorException
		switch {
		case err == nil:
			retryDelay, expired = readRetryMinDelay, 0
			if r.conn != nil {
				r.conn.ok()
			}
		case errors.As(err, &expiredErr) && expired < 3:
			expired++
			iter = nil
			continue
		case r.conn != nil && r.conn.lost(ctx, err):
			// The iterator is a signed token the restarted server still
			// accepts; ask again with it.
			if err := r.conn.wait(ctx, &retryDelay); err != nil {
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
		case r.untilLatest:
			return nil, nil
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
	// untilLatest ends each shard's read once it is caught up, and tail
	// once every shard is (--until-latest).
	untilLatest bool
	// conn, when set, lets the readers ride out a lost connection.
	conn *connWatch
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
			if ctx.Err() == nil && (t.conn == nil || !t.conn.lost(ctx, err)) {
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
	if reading == 0 && t.untilLatest {
		return nil // no shard to read
	}
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
			if t.untilLatest && reading == 0 {
				return nil // every shard read up to its newest record
			}
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
			return t.out.printRaw(shardID, records)
		})
	}
	r := &shardReader{
		api:         t.api,
		stream:      t.stream,
		shardID:     shardID,
		untilLatest: t.untilLatest,
		conn:        t.conn,
		logger:      t.logger,
		onRecords: func(out *kinesis.GetRecordsOutput, _ time.Duration) error {
			return t.out.printRaw(shardID, out.Records)
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
