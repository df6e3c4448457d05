package console

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// overviewOut is GET /console/api/overview.
type overviewOut struct {
	Server  serverOut    `json:"server"`
	Streams []streamLine `json:"streams"`
}

type serverOut struct {
	Version       string   `json:"version,omitempty"`
	StartedAt     int64    `json:"startedAt"`
	UptimeSeconds int64    `json:"uptimeSeconds"`
	Storage       *storage `json:"storage,omitempty"`
	StorageError  string   `json:"storageError,omitempty"`
	Streams       int      `json:"streams"`
	OpenShards    int      `json:"openShards"`
	// Rates summed over every stream.
	IncomingRecords float64 `json:"incomingRecords"`
	IncomingBytes   float64 `json:"incomingBytes"`
	GetRecords      float64 `json:"getRecords"`
	IntervalMillis  int64   `json:"intervalMillis"`
}

type storage struct {
	Embedded bool   `json:"embedded"`
	Location string `json:"location"`
	Replicas int    `json:"replicas"`
	Bytes    uint64 `json:"bytes"`
	Logs     int    `json:"logs"`
}

// streamLine is one stream on the overview.
type streamLine struct {
	Name           string `json:"name"`
	ARN            string `json:"arn"`
	Status         string `json:"status"`
	Mode           string `json:"mode"`
	OpenShards     int    `json:"openShards"`
	ClosedShards   int    `json:"closedShards"`
	RetentionHours int    `json:"retentionHours"`
	Encryption     string `json:"encryption"`
	CreatedAt      int64  `json:"createdAt"`
	Consumers      int    `json:"consumers"`
	// Applications are the lease-table applications and pipelines found
	// reading the stream.
	Applications    int       `json:"applications"`
	IncomingRecords float64   `json:"incomingRecords"`
	IncomingBytes   float64   `json:"incomingBytes"`
	GetRecords      float64   `json:"getRecords"`
	WriteThrottled  float64   `json:"writeThrottled"`
	ReadThrottled   float64   `json:"readThrottled"`
	IteratorAge     float64   `json:"iteratorAgeMillis"`
	Spark           []float32 `json:"spark"`
}

// storageCache keeps the storage description for a few seconds: it is a
// request to JetStream, and every open overview polls.
type storageCache struct {
	mu   sync.Mutex
	at   time.Time
	info kinesis.StorageInfo
	err  error
}

const storageTTL = 5 * time.Second

func (c *Console) storageInfo(ctx context.Context) (kinesis.StorageInfo, error) {
	sc := &c.storage
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if now := c.cfg.Now(); now.Sub(sc.at) > storageTTL {
		sc.info, sc.err = c.cfg.Storage.Info(ctx)
		sc.at = now
	}
	return sc.info, sc.err
}

func (c *Console) overview(r *http.Request) (any, error) {
	now := c.cfg.Now()
	out := overviewOut{Server: serverOut{
		Version:        c.cfg.Version,
		StartedAt:      c.started.UnixMilli(),
		UptimeSeconds:  int64(now.Sub(c.started).Seconds()),
		IntervalMillis: c.cfg.SampleInterval.Milliseconds(),
	}}
	if c.cfg.Storage != nil {
		info, err := c.storageInfo(r.Context())
		if err != nil {
			out.Server.StorageError = "storage did not answer: " + err.Error()
		}
		out.Server.Storage = &storage{Embedded: info.Embedded, Location: info.Location, Replicas: info.Replicas, Bytes: info.Bytes, Logs: info.Logs}
	}
	readers := c.readersByStream(r.Context())
	acts := c.cfg.Activity.Activity()
	out.Streams = make([]streamLine, 0, len(acts))
	for _, a := range acts {
		l := streamLine{
			Name: a.Name, ARN: a.ARN, Status: string(a.Status), Mode: string(a.Mode), RetentionHours: a.RetentionHours,
			Encryption: encryptionName(a.EncryptionType), CreatedAt: a.CreatedAt.UnixMilli(), Consumers: len(a.Consumers),
			Applications: readers[a.Name],
		}
		for _, s := range a.Shards {
			if s.Open {
				l.OpenShards++
			} else {
				l.ClosedShards++
			}
		}
		rates, spark := c.hist.now(a.Name)
		l.IncomingRecords, l.IncomingBytes, l.GetRecords = rates[sIncomingRecords], rates[sIncomingBytes], rates[sGetRecords]
		l.WriteThrottled, l.ReadThrottled, l.IteratorAge = rates[sWriteThrottled], rates[sReadThrottled], rates[sIteratorAge]
		l.Spark = spark
		out.Streams = append(out.Streams, l)
		out.Server.Streams++
		out.Server.OpenShards += l.OpenShards
		out.Server.IncomingRecords += l.IncomingRecords
		out.Server.IncomingBytes += l.IncomingBytes
		out.Server.GetRecords += l.GetRecords
	}
	return out, nil
}

func encryptionName(t string) string {
	if t == "" {
		return "NONE"
	}
	return t
}

// streamOut is GET /console/api/streams/{name}.
type streamOut struct {
	Name                string            `json:"name"`
	ARN                 string            `json:"arn"`
	ID                  string            `json:"id"`
	Status              string            `json:"status"`
	Mode                string            `json:"mode"`
	RetentionHours      int               `json:"retentionHours"`
	Encryption          string            `json:"encryption"`
	KeyID               string            `json:"keyId,omitempty"`
	CreatedAt           int64             `json:"createdAt"`
	MaxRecordSizeKiB    int               `json:"maxRecordSizeKiB"`
	ShardLevelMetrics   []string          `json:"shardLevelMetrics"`
	WarmThroughputMiBps *int              `json:"warmThroughputMiBps,omitempty"`
	ScalingTarget       int               `json:"scalingTarget,omitempty"`
	OpenShards          int               `json:"openShards"`
	Shards              []shardOut        `json:"shards"`
	Consumers           []consumerOut     `json:"consumers"`
	Tags                map[string]string `json:"tags"`
	Applications        []appRef          `json:"applications"`
	IntervalMillis      int64             `json:"intervalMillis"`
}

type shardOut struct {
	ID                     string  `json:"id"`
	Parent                 string  `json:"parent,omitempty"`
	AdjacentParent         string  `json:"adjacentParent,omitempty"`
	StartingHashKey        string  `json:"startingHashKey"`
	EndingHashKey          string  `json:"endingHashKey"`
	StartingSequenceNumber string  `json:"startingSequenceNumber"`
	EndingSequenceNumber   string  `json:"endingSequenceNumber,omitempty"`
	Open                   bool    `json:"open"`
	CreatedAt              int64   `json:"createdAt"`
	ClosedAt               int64   `json:"closedAt,omitempty"`
	IncomingRecords        float64 `json:"incomingRecords"`
	IncomingBytes          float64 `json:"incomingBytes"`
	GetRecords             float64 `json:"getRecords"`
	// HashShare is the share of the hash key space the shard covers.
	HashShare float64 `json:"hashShare"`
}

type consumerOut struct {
	Name          string  `json:"name"`
	ARN           string  `json:"arn"`
	Status        string  `json:"status"`
	CreatedAt     int64   `json:"createdAt"`
	Subscriptions int64   `json:"subscriptions"`
	RecordsPerSec float64 `json:"recordsPerSecond"`
}

// appRef names an application or pipeline reading a stream.
type appRef struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // "leases" or "pipeline"
}

func (c *Console) stream(r *http.Request) (any, error) {
	ctx := r.Context()
	name := r.PathValue("name")
	d, err := c.svc.DescribeStream(ctx, kinesis.StreamRef{Name: name})
	if err != nil {
		return nil, err
	}
	now := c.cfg.Now()
	out := streamOut{
		Name: d.Name, ARN: d.ARN, ID: d.ID, Status: string(d.Status), Mode: string(d.Mode), RetentionHours: d.RetentionHours,
		Encryption: encryptionName(d.EncryptionType), KeyID: d.KeyID, CreatedAt: d.CreatedAt.UnixMilli(),
		MaxRecordSizeKiB: d.MaxRecordBytes() >> 10, ShardLevelMetrics: d.ShardLevelMetrics, WarmThroughputMiBps: d.WarmThroughputMiBps,
		OpenShards: d.OpenShardCount, Tags: d.Tags, IntervalMillis: c.cfg.SampleInterval.Milliseconds(),
		Shards: make([]shardOut, 0, len(d.Shards)), Consumers: []consumerOut{}, Applications: []appRef{},
	}
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	if out.ShardLevelMetrics == nil {
		out.ShardLevelMetrics = []string{}
	}
	if d.Scaling != nil {
		out.ScalingTarget = d.Scaling.Target
	}
	for _, sh := range d.Shards {
		s := shardOut{
			ID: sh.ID, Parent: sh.ParentShardID, AdjacentParent: sh.AdjacentParentShardID,
			StartingHashKey: sh.HashRange.Start.String(), EndingHashKey: sh.HashRange.End.String(),
			StartingSequenceNumber: sh.StartingSequenceNumber(), EndingSequenceNumber: sh.EndingSequenceNumber(),
			Open: sh.Open(), CreatedAt: sh.CreatedAt.UnixMilli(), HashShare: hashShare(sh.HashRange),
		}
		if !sh.Open() {
			s.ClosedAt = sh.ClosedAt.UnixMilli()
		}
		s.IncomingRecords = c.hist.shardNow(d.Name, sh.ID, sIncomingRecords)
		s.IncomingBytes = c.hist.shardNow(d.Name, sh.ID, sIncomingBytes)
		s.GetRecords = c.hist.shardNow(d.Name, sh.ID, sGetRecords)
		out.Shards = append(out.Shards, s)
	}
	subs := map[string]int64{}
	for _, a := range c.cfg.Activity.Activity() {
		if a.Name == d.Name {
			for _, ca := range a.Consumers {
				subs[ca.ARN] = ca.Subscriptions
			}
		}
	}
	rates := c.hist.consumerRates(d.Name)
	for _, sc := range d.Consumers {
		if sc.Gone(now) {
			continue
		}
		out.Consumers = append(out.Consumers, consumerOut{
			Name: sc.Name, ARN: sc.ARN, Status: string(sc.Status(now)), CreatedAt: sc.CreatedAt.UnixMilli(),
			Subscriptions: subs[sc.ARN], RecordsPerSec: rates[sc.ARN],
		})
	}
	out.Applications = append(out.Applications, c.readersOf(ctx, d.Name)...)
	return out, nil
}

// hashShare is the share of the 128-bit hash key space a range covers.
func hashShare(r kinesis.HashRange) float64 {
	const two64 = 18446744073709551616.0
	start := float64(r.Start.Hi)*two64 + float64(r.Start.Lo)
	end := float64(r.End.Hi)*two64 + float64(r.End.Lo)
	return (end - start + 1) / (two64 * two64)
}

// metrics is GET /console/api/streams/{name}/metrics[?shard=ID].
func (c *Console) metrics(r *http.Request) (any, error) {
	name, shard := r.PathValue("name"), r.URL.Query().Get("shard")
	s, ok := c.hist.series(name, shard, c.cfg.SampleInterval)
	if !ok {
		if shard != "" {
			return nil, kinesis.Errorf(kinesis.ErrResourceNotFound, "No history of shard %s in stream %s (a new or untracked shard).", shard, name)
		}
		if _, err := c.svc.DescribeStream(r.Context(), kinesis.StreamRef{Name: name}); err != nil {
			return nil, err
		}
		// A stream the sampler has not seen yet: no points so far.
		s = Series{Times: []int64{}, Values: map[string][]*float64{}, IntervalMillis: c.cfg.SampleInterval.Milliseconds()}
		for _, n := range seriesNames {
			s.Values[n] = []*float64{}
		}
	}
	return s, nil
}
