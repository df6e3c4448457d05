// Package opsmetrics exports, at scrape time, the Prometheus metrics that
// come from reading state rather than counting requests: shard-level
// series (CloudWatch's Enhanced Monitoring), the storage the streams use,
// and how far behind each consumer group (lease table) is.
//
// Every series is built from a fresh snapshot on each scrape, so the
// series of a deleted stream, shard or lease table disappear with it, and
// the data path pays nothing for them beyond the broker's activity
// counters (an atomic add per request and shard).
//
//	sluice_shard_*{stream,shard}                  broker.Activity (memory only)
//	sluice_storage_bytes, sluice_storage_logs     one JetStream account-info request
//	sluice_consumer_group_*{group,stream,shard}   lease tables, one bounded read per lagging lease
package opsmetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/dynamodb"
	"github.com/sluicehq/sluice/internal/kinesis"
)

// Activity is the broker's running totals and shard backlogs.
// *broker.Broker implements it.
type Activity interface {
	// Activity returns the totals of every stream, sorted by name.
	Activity() []kinesis.StreamActivity
	// ShardBacklog tells how far the position after a sequence number (""
	// for TRIM_HORIZON) is behind the shard's newest record.
	ShardBacklog(ctx context.Context, ref kinesis.StreamRef, shardID, after string) (kinesis.Backlog, error)
}

// Tables reads the DynamoDB tables where lease tables live.
// *dynamodb.Handler implements it.
type Tables interface {
	Tables(ctx context.Context) ([]dynamodb.TableInfo, error)
	// Items returns up to limit items; dynamodb.ErrNoSuchTable if the
	// table is gone.
	Items(ctx context.Context, table string, limit int) ([]map[string]any, error)
}

// Storage tells how much the store holds. *jetstream.Backend implements it.
type Storage interface {
	Info(ctx context.Context) (kinesis.StorageInfo, error)
}

// ShardLevel selects the streams whose shards get series of their own.
type ShardLevel string

const (
	// ShardLevelNone exports no shard-level series.
	ShardLevelNone ShardLevel = "none"
	// ShardLevelEnhanced exports, for streams with enhanced monitoring on
	// (EnableEnhancedMonitoring), the shard-level metrics turned on, as
	// CloudWatch does. The default.
	ShardLevelEnhanced ShardLevel = "enhanced"
	// ShardLevelAll exports every shard-level metric of every stream.
	ShardLevelAll ShardLevel = "all"
)

// ParseShardLevel reads a --shard-metrics value.
func ParseShardLevel(s string) (ShardLevel, error) {
	switch l := ShardLevel(s); l {
	case ShardLevelNone, ShardLevelEnhanced, ShardLevelAll:
		return l, nil
	}
	return "", fmt.Errorf("shard metrics %q: want none, enhanced or all", s)
}

// Config configures a Collector. Activity is required.
type Config struct {
	Activity Activity
	// Tables, if set, is read for lease tables (hash key leaseKey).
	Tables Tables
	// Storage, if set, is asked for the storage in use.
	Storage Storage
	// ShardLevel picks the shard-level series; "" means ShardLevelEnhanced.
	ShardLevel ShardLevel
	// ScrapeTimeout bounds the reads of one scrape (default 5s); what is
	// not read by then is left out of that scrape.
	ScrapeTimeout time.Duration
	// MaxLeases bounds the leases measured per scrape (default 10,000).
	MaxLeases int
	Logger    *slog.Logger
}

// Collector is a prometheus.Collector of the metrics above.
type Collector struct {
	cfg Config

	warnMu sync.Mutex
	warned map[string]bool // problems logged once
}

// New returns a Collector; register it on the server's registry.
func New(cfg Config) (*Collector, error) {
	if cfg.Activity == nil {
		return nil, errors.New("opsmetrics: Activity is required")
	}
	if cfg.ShardLevel == "" {
		cfg.ShardLevel = ShardLevelEnhanced
	}
	if _, err := ParseShardLevel(string(cfg.ShardLevel)); err != nil {
		return nil, err
	}
	if cfg.ScrapeTimeout <= 0 {
		cfg.ScrapeTimeout = 5 * time.Second
	}
	if cfg.MaxLeases <= 0 {
		cfg.MaxLeases = 10_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Collector{cfg: cfg, warned: map[string]bool{}}, nil
}

// shardMetric is one shard-level series and the enhanced monitoring
// metric that turns it on.
type shardMetric struct {
	desc    *prometheus.Desc
	typ     prometheus.ValueType
	enabler string // a kinesis.ShardLevelMetrics name
	value   func(a *kinesis.ShardActivity) float64
}

var shardLabels = []string{"stream", "shard"}

var shardMetrics = []shardMetric{
	{prometheus.NewDesc("sluice_shard_incoming_records_total", "Records written to the shard (CloudWatch shard-level IncomingRecords).", shardLabels, nil),
		prometheus.CounterValue, "IncomingRecords", func(a *kinesis.ShardActivity) float64 { return float64(a.IncomingRecords) }},
	{prometheus.NewDesc("sluice_shard_incoming_bytes_total", "Bytes written to the shard (CloudWatch shard-level IncomingBytes).", shardLabels, nil),
		prometheus.CounterValue, "IncomingBytes", func(a *kinesis.ShardActivity) float64 { return float64(a.IncomingBytes) }},
	{prometheus.NewDesc("sluice_shard_outgoing_records_total", "Records read from the shard by GetRecords and sent by SubscribeToShard (CloudWatch shard-level OutgoingRecords).", shardLabels, nil),
		prometheus.CounterValue, "OutgoingRecords", func(a *kinesis.ShardActivity) float64 { return float64(a.GetRecordsRecords + a.SubscribeRecords) }},
	{prometheus.NewDesc("sluice_shard_outgoing_bytes_total", "Bytes of record data read from the shard by GetRecords and sent by SubscribeToShard (CloudWatch shard-level OutgoingBytes).", shardLabels, nil),
		prometheus.CounterValue, "OutgoingBytes", func(a *kinesis.ShardActivity) float64 { return float64(a.GetRecordsBytes + a.SubscribeBytes) }},
	{prometheus.NewDesc("sluice_shard_write_provisioned_throughput_exceeded_total", "Records the shard's write quota refused with --shard-limits aws (CloudWatch shard-level WriteProvisionedThroughputExceeded).", shardLabels, nil),
		prometheus.CounterValue, "WriteProvisionedThroughputExceeded", func(a *kinesis.ShardActivity) float64 { return float64(a.WriteThrottled) }},
	{prometheus.NewDesc("sluice_shard_read_provisioned_throughput_exceeded_total", "GetRecords calls the shard's read quota refused with --shard-limits aws (CloudWatch shard-level ReadProvisionedThroughputExceeded).", shardLabels, nil),
		prometheus.CounterValue, "ReadProvisionedThroughputExceeded", func(a *kinesis.ShardActivity) float64 { return float64(a.ReadThrottled) }},
	{prometheus.NewDesc("sluice_shard_iterator_age_seconds", "How far behind the newest record the shard's latest GetRecords read (CloudWatch shard-level IteratorAgeMilliseconds, in seconds).", shardLabels, nil),
		prometheus.GaugeValue, "IteratorAgeMilliseconds", func(a *kinesis.ShardActivity) float64 { return float64(a.IteratorAgeMillis) / 1000 }},
}

var (
	storageBytes = prometheus.NewDesc("sluice_storage_bytes",
		"Bytes the store's logs (one per shard) hold, each replicated log counted once (JetStream account storage).", nil, nil)
	storageLogs = prometheus.NewDesc("sluice_storage_logs",
		"Logs in the store: one per shard not yet expired, and a few of Sluice's own.", nil, nil)
	groupLabels  = []string{"group", "stream", "shard"}
	groupRecords = prometheus.NewDesc("sluice_consumer_group_records_behind",
		"Records after a consumer group's checkpoint in a shard (group: the lease table); beyond 16 messages an estimate. No series for a finished shard or a checkpoint that names no record (LATEST, AT_TIMESTAMP).", groupLabels, nil)
	groupAge = prometheus.NewDesc("sluice_consumer_group_lag_seconds",
		"Age of the oldest record after a consumer group's checkpoint in a shard, 0 when caught up (the KCL's MillisBehindLatest, in seconds).", groupLabels, nil)
	scrapeFailed = prometheus.NewDesc("sluice_metrics_scrape_failed",
		"1 when a part of this scrape (storage, consumer_groups) could not be read, whose series are then missing from it; else 0.", []string{"part"}, nil)
)

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range shardMetrics {
		ch <- m.desc
	}
	ch <- storageBytes
	ch <- storageLogs
	ch <- groupRecords
	ch <- groupAge
	ch <- scrapeFailed
}

// Collect reads a snapshot and sends its series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ScrapeTimeout)
	defer cancel()
	streams := c.cfg.Activity.Activity()
	c.collectShards(ch, streams)
	failed := map[string]bool{}
	if c.cfg.Storage != nil {
		info, err := c.cfg.Storage.Info(ctx)
		if err != nil {
			failed["storage"] = true
			c.warnOnce("storage", "read storage use for /metrics", err)
		} else {
			ch <- prometheus.MustNewConstMetric(storageBytes, prometheus.GaugeValue, float64(info.Bytes))
			ch <- prometheus.MustNewConstMetric(storageLogs, prometheus.GaugeValue, float64(info.Logs))
		}
	}
	if c.cfg.Tables != nil {
		if err := c.collectGroups(ctx, ch, streams); err != nil {
			failed["consumer_groups"] = true
			c.warnOnce("consumer_groups", "read consumer group lag for /metrics", err)
		}
	}
	for _, part := range []string{"storage", "consumer_groups"} {
		v := 0.0
		if failed[part] {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(scrapeFailed, prometheus.GaugeValue, v, part)
	}
}

func (c *Collector) collectShards(ch chan<- prometheus.Metric, streams []kinesis.StreamActivity) {
	if c.cfg.ShardLevel == ShardLevelNone {
		return
	}
	for i := range streams {
		s := &streams[i]
		if c.cfg.ShardLevel == ShardLevelEnhanced && len(s.ShardLevelMetrics) == 0 {
			continue
		}
		for _, m := range shardMetrics {
			if c.cfg.ShardLevel == ShardLevelEnhanced && !slices.Contains(s.ShardLevelMetrics, m.enabler) {
				continue
			}
			for j := range s.Shards {
				a := &s.Shards[j]
				ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(a), s.Name, a.ShardID)
			}
		}
	}
}

// collectGroups measures every lease of every lease table against its
// shard. The shard is found by the checkpoint's sequence number, whose
// epoch names one shard of one stream, so KCL lease keys of any form
// (shard ids, multi-stream keys) work.
func (c *Collector) collectGroups(ctx context.Context, ch chan<- prometheus.Metric, streams []kinesis.StreamActivity) error {
	type shardRef struct{ stream, shard string }
	byEpoch := map[uint64]shardRef{}
	for _, s := range streams {
		for _, sh := range s.Shards {
			byEpoch[sh.Epoch] = shardRef{s.Name, sh.ShardID}
		}
	}
	tables, err := c.cfg.Tables.Tables(ctx)
	if err != nil {
		return err
	}
	measured := 0
	for _, t := range tables {
		if t.HashKey != "leaseKey" || t.RangeKey != "" {
			continue
		}
		items, err := c.cfg.Tables.Items(ctx, t.Name, c.cfg.MaxLeases-measured)
		if errors.Is(err, dynamodb.ErrNoSuchTable) {
			continue // deleted since listed
		}
		if err != nil {
			return err
		}
		for _, it := range items {
			cp, _ := it["checkpoint"].(string)
			seq, ok := kinesis.ParseSequenceNumber(cp)
			if !ok {
				continue // a sentinel, or not a lease of this server's streams
			}
			ref, ok := byEpoch[seq.Epoch]
			if !ok {
				continue // the shard expired, or the stream is gone
			}
			measured++
			backlog, err := c.cfg.Activity.ShardBacklog(ctx, kinesis.StreamRef{Name: ref.stream}, ref.shard, cp)
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("consumer group lag: %w", ctx.Err())
				}
				continue // resharded or deleted meanwhile
			}
			ch <- prometheus.MustNewConstMetric(groupRecords, prometheus.GaugeValue, float64(backlog.Records), t.Name, ref.stream, ref.shard)
			ch <- prometheus.MustNewConstMetric(groupAge, prometheus.GaugeValue, float64(backlog.MillisBehind)/1000, t.Name, ref.stream, ref.shard)
		}
		if measured >= c.cfg.MaxLeases {
			c.warnOnce("max_leases", fmt.Sprintf("more than %d leases: /metrics measures the first of them only", c.cfg.MaxLeases), nil)
			break
		}
	}
	return nil
}

func (c *Collector) warnOnce(key, msg string, err error) {
	c.warnMu.Lock()
	defer c.warnMu.Unlock()
	if c.warned[key] {
		return
	}
	c.warned[key] = true
	if err != nil {
		c.cfg.Logger.Warn(msg, "err", err)
	} else {
		c.cfg.Logger.Warn(msg)
	}
}
