package flow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The registry: each running worker keeps one item in a DynamoDB table
// (sluice_pipelines by default), on the endpoint of its lease tables, so
// that a console or `sluice pipeline list` can draw the graph of streams
// and pipelines:
//
//	pipeline (S, hash key), worker (S, range key)
//	sources, outputs, sinks (L of S)
//	heartbeatMillis, recordsPerSecond, lagMillis, lastWindowEndMillis (N)
//
// A worker refreshes its item every heartbeat and deletes it when it
// stops cleanly; an item whose heartbeat is old belongs to a worker that
// died.

// Stats are a worker's figures, as its registry item shows them.
type Stats struct {
	Pipeline string
	Worker   string
	Sources  []string // stream names
	Outputs  []string // streams written: repartition, late records, outputs, dead letters
	Sinks    []string // e.g. "duckdb:/data/views.db#page_views"
	// Records read from the sources since the start, and per second over
	// the last seconds.
	Records          int64
	RecordsPerSecond float64
	// LagMillis is the largest MillisBehindLatest over the shards held.
	LagMillis int64
	// ShardLagMillis is MillisBehindLatest of each shard held, source and
	// repartition, by "stream/shardId".
	ShardLagMillis map[string]int64
	// LastWindowEnd is the end of the last window whose rows the sinks
	// acknowledged (zero if none yet).
	LastWindowEnd time.Time
	Rows          int64 // rows written to sinks
	LateRecords   int64 // records sent to late streams
	DeadLetters   int64 // records sent to the dead-letter stream
	SourceShards  int   // source shards held
	MergeShards   int   // repartition shards held
}

// Stats returns the worker's figures; zero before Run.
func (p *Pipeline) Stats() Stats {
	p.runMu.Lock()
	rt := p.rt
	p.runMu.Unlock()
	s := Stats{Pipeline: p.name, Worker: p.opts.workerID}
	for _, src := range p.sources {
		s.Sources = append(s.Sources, streamName(src.name))
	}
	for name := range p.outputs {
		s.Outputs = append(s.Outputs, streamName(name))
	}
	slices.Sort(s.Outputs)
	for _, a := range p.aggs {
		for _, sk := range a.sinks {
			s.Sinks = append(s.Sinks, sinkName(sk, a.table))
		}
	}
	if rt == nil {
		return s
	}
	s.Records = rt.records.Load()
	s.RecordsPerSecond = rt.rate.update(s.Records, time.Now())
	if end := rt.lastWindow.Load(); end != minTime {
		s.LastWindowEnd = millisTime(end)
	}
	s.Rows, s.LateRecords, s.DeadLetters = rt.rows.Load(), rt.lateCount.Load(), rt.deadCount.Load()
	rt.mu.Lock()
	s.SourceShards, s.MergeShards = len(rt.shards), len(rt.merges)
	held := map[string]bool{}
	for r := range rt.shards {
		held[r.key] = true
	}
	for m := range rt.merges {
		held[streamName(p.RepartitionStream())+"/"+m.shardID] = true
	}
	s.ShardLagMillis = make(map[string]int64, len(held))
	for shard, lag := range rt.lag {
		if held[shard] {
			s.LagMillis = max(s.LagMillis, lag)
			s.ShardLagMillis[shard] = lag
		}
	}
	rt.mu.Unlock()
	return s
}

// registryLoop keeps this worker's registry item fresh.
func (rt *runtime) registryLoop(ctx context.Context) {
	table := rt.p.opts.registryTable
	if err := ensureRegistry(ctx, rt.p.ddb, table); err != nil {
		if ctx.Err() == nil {
			rt.p.log.Warn("registry table unavailable; this worker is not registered", "table", table, "err", err)
		}
		return
	}
	t := time.NewTicker(rt.p.opts.heartbeat)
	defer t.Stop()
	for {
		if err := rt.register(ctx); err != nil && ctx.Err() == nil {
			rt.p.log.Warn("registering failed", "table", table, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (rt *runtime) register(ctx context.Context) error {
	s := rt.p.Stats()
	list := func(v []string) ddbtypes.AttributeValue {
		l := make([]ddbtypes.AttributeValue, len(v))
		for i, x := range v {
			l[i] = &ddbtypes.AttributeValueMemberS{Value: x}
		}
		return &ddbtypes.AttributeValueMemberL{Value: l}
	}
	n := func(x int64) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberN{Value: itoa(x)} }
	var lastEnd int64
	if !s.LastWindowEnd.IsZero() {
		lastEnd = s.LastWindowEnd.UnixMilli()
	}
	_, err := rt.p.ddb.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(rt.p.opts.registryTable),
		Item: map[string]ddbtypes.AttributeValue{
			"pipeline":            &ddbtypes.AttributeValueMemberS{Value: s.Pipeline},
			"worker":              &ddbtypes.AttributeValueMemberS{Value: s.Worker},
			"sources":             list(s.Sources),
			"outputs":             list(s.Outputs),
			"sinks":               list(s.Sinks),
			"heartbeatMillis":     n(time.Now().UnixMilli()),
			"recordsPerSecond":    &ddbtypes.AttributeValueMemberN{Value: fmt.Sprintf("%.1f", s.RecordsPerSecond)},
			"lagMillis":           n(s.LagMillis),
			"lastWindowEndMillis": n(lastEnd),
		},
	})
	if err != nil {
		return fmt.Errorf("register in %s: %w", rt.p.opts.registryTable, err)
	}
	return nil
}

// deregister deletes this worker's registry item.
func (rt *runtime) deregister(ctx context.Context) {
	_, err := rt.p.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(rt.p.opts.registryTable),
		Key: map[string]ddbtypes.AttributeValue{
			"pipeline": &ddbtypes.AttributeValueMemberS{Value: rt.p.name},
			"worker":   &ddbtypes.AttributeValueMemberS{Value: rt.p.opts.workerID},
		},
	})
	if err != nil {
		rt.p.log.Warn("deregistering failed", "err", err)
	}
}

// ensureRegistry creates the registry table if it is missing and waits
// until it is active.
func ensureRegistry(ctx context.Context, ddb DynamoDBAPI, table string) error {
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		out, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		var notFound *ddbtypes.ResourceNotFoundException
		switch {
		case errors.As(err, &notFound):
			_, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
				TableName: aws.String(table),
				AttributeDefinitions: []ddbtypes.AttributeDefinition{
					{AttributeName: aws.String("pipeline"), AttributeType: ddbtypes.ScalarAttributeTypeS},
					{AttributeName: aws.String("worker"), AttributeType: ddbtypes.ScalarAttributeTypeS},
				},
				KeySchema: []ddbtypes.KeySchemaElement{
					{AttributeName: aws.String("pipeline"), KeyType: ddbtypes.KeyTypeHash},
					{AttributeName: aws.String("worker"), KeyType: ddbtypes.KeyTypeRange},
				},
				BillingMode: ddbtypes.BillingModePayPerRequest,
			})
			var inUse *ddbtypes.ResourceInUseException
			if err != nil && !errors.As(err, &inUse) {
				return fmt.Errorf("create registry table %s: %w", table, err)
			}
		case err != nil:
			return fmt.Errorf("describe registry table %s: %w", table, err)
		case out.Table != nil && out.Table.TableStatus == ddbtypes.TableStatusActive:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// Metrics receives a pipeline's measurements as they happen.
// Implementations must be safe for concurrent use and quick; embed
// NopMetrics to implement only some.
type Metrics interface {
	// RecordsProcessed counts records of a source shard ("stream/shardId")
	// run through the operators.
	RecordsProcessed(shard string, n int)
	// LateRecord counts a record sent to an aggregation's late stream.
	LateRecord(aggregation string)
	// DeadLetter counts a record sent to the dead-letter stream.
	DeadLetter(shard string)
	// RowsWritten counts rows of an aggregation acknowledged by every
	// sink; windowEnd is the latest end among them.
	RowsWritten(aggregation string, rows int, windowEnd time.Time)
}

// NopMetrics discards every measurement.
type NopMetrics struct{}

func (NopMetrics) RecordsProcessed(string, int)       {}
func (NopMetrics) LateRecord(string)                  {}
func (NopMetrics) DeadLetter(string)                  {}
func (NopMetrics) RowsWritten(string, int, time.Time) {}
