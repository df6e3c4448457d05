package httpapi

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// fakeService is a trivial in-memory kinesis.Service for this package's
// tests: enough behaviour for SDK round trips, and a record of what it was
// called with. Real semantics are the broker's and are tested there.
type fakeService struct {
	mu      sync.Mutex
	streams map[string]*fakeStream
	now     time.Time
	// fail, when set, is returned by every call.
	fail error
	// failKeys makes records with the partition keys "throttle" and
	// "explode" fail, the latter as an internal failure.
	failKeys bool
	// subEnd ends every subscription after its one event; nil ends it
	// with io.EOF.
	subEnd error
	// calls records the inputs the service received, by operation.
	calls map[string][]any
}

type fakeStream struct {
	kinesis.Stream
	records map[string][]kinesis.Record // by shard id
}

var _ kinesis.Service = (*fakeService)(nil)

const fakeAccount = "123456789012"

func newFakeService() *fakeService {
	return &fakeService{
		streams: map[string]*fakeStream{},
		now:     time.Date(2026, 4, 5, 6, 7, 8, 480_000_000, time.UTC),
		calls:   map[string][]any{},
	}
}

func (f *fakeService) record(op string, in any) error {
	f.calls[op] = append(f.calls[op], in)
	return f.fail
}

func (f *fakeService) lastCall(op string) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls[op]
	if len(c) == 0 {
		return nil
	}
	return c[len(c)-1]
}

func (f *fakeService) lookup(ref kinesis.StreamRef) (*fakeStream, error) {
	name := ref.Name
	if name == "" {
		_, _, n, ok := kinesis.ParseStreamARN(ref.ARN)
		if !ok {
			return nil, kinesis.Errorf(kinesis.ErrInvalidArgument, "bad ARN")
		}
		name = n
	}
	s, ok := f.streams[name]
	if !ok {
		return nil, kinesis.StreamNotFound(name, fakeAccount)
	}
	return s, nil
}

func (f *fakeService) CreateStream(ctx context.Context, in kinesis.CreateStreamInput) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("CreateStream", in); err != nil {
		return err
	}
	if _, ok := f.streams[in.Name]; ok {
		return kinesis.Errorf(kinesis.ErrResourceInUse, "Stream %s under account %s already exists.", in.Name, fakeAccount)
	}
	n := in.ShardCount
	if n > 100 {
		return kinesis.Errorf(kinesis.ErrLimitExceeded, "This fake holds at most 100 shards per stream.")
	}
	if n == 0 {
		n = kinesis.OnDemandInitialShards
	}
	s := &fakeStream{Stream: kinesis.Stream{
		Name: in.Name, ARN: kinesis.StreamARN("us-east-1", fakeAccount, in.Name), Mode: in.Mode,
		RetentionHours: kinesis.DefaultRetentionHours, CreatedAt: f.now, Tags: in.Tags,
	}, records: map[string][]kinesis.Record{}}
	for i, r := range kinesis.SplitHashSpace(n) {
		s.Shards = append(s.Shards, kinesis.Shard{ID: kinesis.ShardID(i), HashRange: r, Epoch: uint64(i + 1), CreatedAt: f.now})
	}
	f.streams[in.Name] = s
	return nil
}

func (f *fakeService) DeleteStream(ctx context.Context, ref kinesis.StreamRef, enforce bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DeleteStream", ref); err != nil {
		return err
	}
	s, err := f.lookup(ref)
	if err != nil {
		return err
	}
	delete(f.streams, s.Name)
	return nil
}

func (f *fakeService) DescribeStream(ctx context.Context, ref kinesis.StreamRef) (kinesis.StreamDescription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DescribeStream", ref); err != nil {
		return kinesis.StreamDescription{}, err
	}
	s, err := f.lookup(ref)
	if err != nil {
		return kinesis.StreamDescription{}, err
	}
	d := kinesis.StreamDescription{Stream: s.Stream, Status: kinesis.StatusActive}
	d.Shards = slices.Clone(s.Shards)
	d.OpenShardCount = len(s.OpenShards())
	d.ConsumerCount = len(s.Consumers)
	return d, nil
}

func (f *fakeService) ListStreams(ctx context.Context, in kinesis.ListStreamsInput) (kinesis.ListStreamsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ListStreams", in); err != nil {
		return kinesis.ListStreamsOutput{}, err
	}
	after := in.ExclusiveStartStreamName
	if in.NextToken != "" {
		after = strings.TrimPrefix(in.NextToken, "token-")
	}
	names := make([]string, 0, len(f.streams))
	for n := range f.streams {
		if n > after {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var out kinesis.ListStreamsOutput
	if len(names) > in.Limit {
		names, out.HasMore, out.NextToken = names[:in.Limit], true, "token-"+names[in.Limit-1]
	}
	for _, n := range names {
		s := f.streams[n]
		out.Streams = append(out.Streams, kinesis.StreamSummary{Name: n, ARN: s.ARN, Status: kinesis.StatusActive, Mode: s.Mode, CreatedAt: s.CreatedAt})
	}
	return out, nil
}

func (f *fakeService) ListShards(ctx context.Context, in kinesis.ListShardsInput) (kinesis.ListShardsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ListShards", in); err != nil {
		return kinesis.ListShardsOutput{}, err
	}
	if in.NextToken != "" {
		return kinesis.ListShardsOutput{}, kinesis.Errorf(kinesis.ErrExpiredNextToken, "The token is expired.")
	}
	s, err := f.lookup(in.Stream)
	if err != nil {
		return kinesis.ListShardsOutput{}, err
	}
	return kinesis.ListShardsOutput{Shards: slices.Clone(s.Shards)}, nil
}

func (f *fakeService) PutRecords(ctx context.Context, ref kinesis.StreamRef, entries []kinesis.PutRecordEntry) ([]kinesis.PutRecordResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("PutRecords", entries); err != nil {
		return nil, err
	}
	s, err := f.lookup(ref)
	if err != nil {
		return nil, err
	}
	res := make([]kinesis.PutRecordResult, len(entries))
	for i, e := range entries {
		if f.failKeys && e.PartitionKey == "throttle" {
			res[i] = kinesis.PutRecordResult{ErrorCode: kinesis.ErrProvisionedThroughput, ErrorMessage: "Rate exceeded for shard shardId-000000000000 in stream " + s.Name + " under account " + fakeAccount + "."}
			continue
		}
		if f.failKeys && e.PartitionKey == "explode" {
			res[i] = kinesis.PutRecordResult{ErrorCode: kinesis.ErrInternalFailure, ErrorMessage: "disk on fire at /var/lib/secret"}
			continue
		}
		key := kinesis.HashPartitionKey(e.PartitionKey)
		if e.ExplicitHashKey != "" {
			key, _ = kinesis.ParseHashKey(e.ExplicitHashKey)
		}
		sh, _ := s.ShardForHashKey(key)
		recs := s.records[sh.ID]
		seq := kinesis.SequenceNumber{Epoch: sh.Epoch, MsgSeq: uint64(len(recs) + 1)}.String()
		s.records[sh.ID] = append(recs, kinesis.Record{
			SequenceNumber: seq, ApproximateArrivalTimestamp: f.now,
			Data: slices.Clone(e.Data), PartitionKey: e.PartitionKey,
		})
		res[i] = kinesis.PutRecordResult{ShardID: sh.ID, SequenceNumber: seq}
	}
	return res, nil
}

// Iterators are "stream/shard/position".
func (f *fakeService) GetShardIterator(ctx context.Context, in kinesis.GetShardIteratorInput) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("GetShardIterator", in); err != nil {
		return "", err
	}
	s, err := f.lookup(in.Stream)
	if err != nil {
		return "", err
	}
	if _, ok := s.Shard(in.ShardID); !ok {
		return "", kinesis.Errorf(kinesis.ErrResourceNotFound, "Shard %s in stream %s under account %s does not exist", in.ShardID, s.Name, fakeAccount)
	}
	pos := 0
	if in.Type == kinesis.Latest {
		pos = len(s.records[in.ShardID])
	}
	return s.Name + "/" + in.ShardID + "/" + strconv.Itoa(pos), nil
}

func (f *fakeService) GetRecords(ctx context.Context, iterator string, limit int) (kinesis.GetRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("GetRecords", limit); err != nil {
		return kinesis.GetRecordsOutput{}, err
	}
	parts := strings.Split(iterator, "/")
	if len(parts) != 3 {
		return kinesis.GetRecordsOutput{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "Invalid ShardIterator.")
	}
	s, ok := f.streams[parts[0]]
	pos, err := strconv.Atoi(parts[2])
	if !ok || err != nil {
		return kinesis.GetRecordsOutput{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "Invalid ShardIterator.")
	}
	recs := s.records[parts[1]][min(pos, len(s.records[parts[1]])):]
	recs = recs[:min(limit, len(recs))]
	return kinesis.GetRecordsOutput{
		Records:           slices.Clone(recs),
		NextShardIterator: fmt.Sprintf("%s/%s/%d", parts[0], parts[1], pos+len(recs)),
	}, nil
}

func (f *fakeService) SetRetention(ctx context.Context, ref kinesis.StreamRef, hours int, increase bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("SetRetention", []any{ref, hours, increase}); err != nil {
		return err
	}
	s, err := f.lookup(ref)
	if err != nil {
		return err
	}
	s.RetentionHours = hours
	return nil
}

func (f *fakeService) AddTags(ctx context.Context, ref kinesis.StreamRef, tags map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("AddTags", tags); err != nil {
		return err
	}
	s, err := f.lookup(ref)
	if err != nil {
		return err
	}
	if s.Tags == nil {
		s.Tags = map[string]string{}
	}
	for k, v := range tags {
		s.Tags[k] = v
	}
	return nil
}

func (f *fakeService) RemoveTags(ctx context.Context, ref kinesis.StreamRef, keys []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("RemoveTags", keys); err != nil {
		return err
	}
	s, err := f.lookup(ref)
	if err != nil {
		return err
	}
	for _, k := range keys {
		delete(s.Tags, k)
	}
	return nil
}

func (f *fakeService) ListTags(ctx context.Context, ref kinesis.StreamRef) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ListTags", ref); err != nil {
		return nil, err
	}
	s, err := f.lookup(ref)
	if err != nil {
		return nil, err
	}
	return s.Tags, nil
}

func (f *fakeService) TagResource(ctx context.Context, arn string, tags map[string]string) error {
	return f.AddTags(ctx, kinesis.StreamRef{ARN: arn}, tags)
}

func (f *fakeService) UntagResource(ctx context.Context, arn string, keys []string) error {
	return f.RemoveTags(ctx, kinesis.StreamRef{ARN: arn}, keys)
}

func (f *fakeService) ListTagsForResource(ctx context.Context, arn string) (map[string]string, error) {
	return f.ListTags(ctx, kinesis.StreamRef{ARN: arn})
}

func (f *fakeService) DescribeLimits(ctx context.Context) (kinesis.Limits, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DescribeLimits", nil); err != nil {
		return kinesis.Limits{}, err
	}
	return kinesis.Limits{ShardLimit: 20000, OpenShardCount: 3, OnDemandStreamCount: 1, OnDemandStreamCountLimit: 50}, nil
}

func (f *fakeService) UpdateMaxRecordSize(ctx context.Context, ref kinesis.StreamRef, kib int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("UpdateMaxRecordSize", kib); err != nil {
		return err
	}
	_, err := f.lookup(ref)
	return err
}

func (f *fakeService) UpdateStreamWarmThroughput(ctx context.Context, ref kinesis.StreamRef, mibps int) (kinesis.WarmThroughputOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("UpdateStreamWarmThroughput", mibps); err != nil {
		return kinesis.WarmThroughputOutput{}, err
	}
	s, err := f.lookup(ref)
	if err != nil {
		return kinesis.WarmThroughputOutput{}, err
	}
	return kinesis.WarmThroughputOutput{StreamName: s.Name, StreamARN: s.ARN, WarmThroughput: kinesis.WarmThroughput{TargetMiBps: mibps, CurrentMiBps: mibps}}, nil
}

func (f *fakeService) SplitShard(ctx context.Context, ref kinesis.StreamRef, shardID, newStartingHashKey string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("SplitShard", []string{shardID, newStartingHashKey}); err != nil {
		return err
	}
	_, err := f.lookup(ref)
	return err
}

func (f *fakeService) MergeShards(ctx context.Context, ref kinesis.StreamRef, shardToMerge, adjacentShardToMerge string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("MergeShards", []string{shardToMerge, adjacentShardToMerge}); err != nil {
		return err
	}
	_, err := f.lookup(ref)
	return err
}

func (f *fakeService) RegisterStreamConsumer(ctx context.Context, streamARN, name string, tags map[string]string) (kinesis.ConsumerDescription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("RegisterStreamConsumer", []string{streamARN, name}); err != nil {
		return kinesis.ConsumerDescription{}, err
	}
	s, err := f.lookup(kinesis.StreamRef{ARN: streamARN})
	if err != nil {
		return kinesis.ConsumerDescription{}, err
	}
	c := kinesis.Consumer{Name: name, ARN: kinesis.ConsumerARN(streamARN, name, f.now), CreatedAt: f.now, ActiveAt: f.now, Tags: tags}
	s.Consumers = append(s.Consumers, c)
	return kinesis.ConsumerDescription{Name: name, ARN: c.ARN, Status: kinesis.ConsumerActive, CreatedAt: f.now, StreamARN: streamARN}, nil
}

func (f *fakeService) DeregisterStreamConsumer(ctx context.Context, ref kinesis.ConsumerRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.record("DeregisterStreamConsumer", ref)
}

func (f *fakeService) DescribeStreamConsumer(ctx context.Context, ref kinesis.ConsumerRef) (kinesis.ConsumerDescription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DescribeStreamConsumer", ref); err != nil {
		return kinesis.ConsumerDescription{}, err
	}
	return kinesis.ConsumerDescription{Name: ref.Name, ARN: ref.ARN, Status: kinesis.ConsumerActive, CreatedAt: f.now, StreamARN: ref.StreamARN}, nil
}

func (f *fakeService) ListStreamConsumers(ctx context.Context, in kinesis.ListStreamConsumersInput) (kinesis.ListStreamConsumersOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ListStreamConsumers", in); err != nil {
		return kinesis.ListStreamConsumersOutput{}, err
	}
	s, err := f.lookup(kinesis.StreamRef{ARN: in.StreamARN})
	if err != nil {
		return kinesis.ListStreamConsumersOutput{}, err
	}
	var out kinesis.ListStreamConsumersOutput
	for _, c := range s.Consumers {
		out.Consumers = append(out.Consumers, kinesis.ConsumerDescription{Name: c.Name, ARN: c.ARN, Status: kinesis.ConsumerActive, CreatedAt: c.CreatedAt, StreamARN: in.StreamARN})
	}
	return out, nil
}

func (f *fakeService) SetEnhancedMonitoring(ctx context.Context, ref kinesis.StreamRef, metrics []string, enable bool) (kinesis.MonitoringOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("SetEnhancedMonitoring", metrics); err != nil {
		return kinesis.MonitoringOutput{}, err
	}
	s, err := f.lookup(ref)
	if err != nil {
		return kinesis.MonitoringOutput{}, err
	}
	out := kinesis.MonitoringOutput{StreamName: s.Name, StreamARN: s.ARN, Current: s.ShardLevelMetrics}
	if enable {
		s.ShardLevelMetrics = slices.Clone(metrics)
	} else {
		s.ShardLevelMetrics = nil
	}
	out.Desired = s.ShardLevelMetrics
	return out, nil
}

func (f *fakeService) PutResourcePolicy(ctx context.Context, arn, policy string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.record("PutResourcePolicy", []string{arn, policy})
}

func (f *fakeService) GetResourcePolicy(ctx context.Context, arn string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return "{}", f.record("GetResourcePolicy", arn)
}

func (f *fakeService) DeleteResourcePolicy(ctx context.Context, arn string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.record("DeleteResourcePolicy", arn)
}

func (f *fakeService) DescribeAccountSettings(ctx context.Context) (kinesis.AccountSettings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return kinesis.AccountSettings{CommitmentStatus: kinesis.CommitmentDisabled}, f.record("DescribeAccountSettings", nil)
}

func (f *fakeService) UpdateAccountSettings(ctx context.Context, enable bool) (kinesis.AccountSettings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("UpdateAccountSettings", enable); err != nil {
		return kinesis.AccountSettings{}, err
	}
	if !enable {
		return kinesis.AccountSettings{CommitmentStatus: kinesis.CommitmentDisabled}, nil
	}
	return kinesis.AccountSettings{CommitmentStatus: kinesis.CommitmentEnabled, StartedAt: f.now, EarliestAllowedEndAt: f.now.Add(kinesis.MinimumCommitmentPeriod)}, nil
}
