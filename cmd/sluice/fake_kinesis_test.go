package main

import (
	"context"
	"crypto/md5"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// fakeKinesis is an in-memory stand-in for the data-plane operations the
// client commands use. Iterators are "shardID/position"; sequence numbers
// are positions. It pages ListShards two shards at a time so callers must
// follow NextToken.
type fakeKinesis struct {
	mu     sync.Mutex
	shards []*fakeShard
	// failNext makes the next PutRecords reject that many entries with
	// ProvisionedThroughputExceededException.
	failNext int
	// expireOnce makes the first GetRecords of each listed shard fail with
	// ExpiredIteratorException.
	expireOnce map[string]bool
	iterators  []string // every GetShardIterator request, "shard TYPE seq"
}

type fakeShard struct {
	id       string
	parents  []string
	start    *big.Int
	end      *big.Int
	closed   bool
	children []string
	records  []types.Record
}

// newFakeKinesis makes a stream of n open shards splitting the hash space evenly.
func newFakeKinesis(n int) *fakeKinesis {
	f := &fakeKinesis{expireOnce: map[string]bool{}}
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	step := new(big.Int).Div(space, big.NewInt(int64(n)))
	for i := range n {
		start := new(big.Int).Mul(step, big.NewInt(int64(i)))
		end := new(big.Int).Sub(new(big.Int).Add(start, step), big.NewInt(1))
		if i == n-1 {
			end = new(big.Int).Sub(space, big.NewInt(1))
		}
		f.shards = append(f.shards, &fakeShard{id: fmt.Sprintf("shardId-%012d", i), start: start, end: end})
	}
	return f
}

func (f *fakeKinesis) shard(id string) *fakeShard {
	for _, s := range f.shards {
		if s.id == id {
			return s
		}
	}
	return nil
}

// add appends records with the given data to a shard directly.
func (f *fakeKinesis) add(shardID string, data ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shard(shardID)
	for _, d := range data {
		s.records = append(s.records, types.Record{
			Data: []byte(d), PartitionKey: aws.String("k"),
			SequenceNumber:              aws.String(strconv.Itoa(len(s.records))),
			ApproximateArrivalTimestamp: aws.Time(time.Unix(1700000000, 0).UTC()),
		})
	}
}

// reshard closes parents and adds children that descend from all of them.
func (f *fakeKinesis) reshard(parents []string, children ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range parents {
		s := f.shard(p)
		s.closed = true
		s.children = append(s.children, children...)
	}
	base := f.shard(parents[0])
	for _, c := range children {
		f.shards = append(f.shards, &fakeShard{id: c, parents: parents, start: base.start, end: base.end})
	}
}

func (f *fakeKinesis) ListShards(ctx context.Context, in *kinesis.ListShardsInput, _ ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in.NextToken != nil && in.StreamName != nil {
		return nil, &types.InvalidArgumentException{Message: aws.String("NextToken and StreamName")}
	}
	from := 0
	if in.NextToken != nil {
		from, _ = strconv.Atoi(*in.NextToken)
	}
	out := &kinesis.ListShardsOutput{}
	for i := from; i < len(f.shards) && i < from+2; i++ {
		s := f.shards[i]
		sh := types.Shard{
			ShardId:             aws.String(s.id),
			HashKeyRange:        &types.HashKeyRange{StartingHashKey: aws.String(s.start.String()), EndingHashKey: aws.String(s.end.String())},
			SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("0")},
		}
		if len(s.parents) > 0 {
			sh.ParentShardId = aws.String(s.parents[0])
		}
		if len(s.parents) > 1 {
			sh.AdjacentParentShardId = aws.String(s.parents[1])
		}
		if s.closed {
			sh.SequenceNumberRange.EndingSequenceNumber = aws.String(strconv.Itoa(len(s.records)))
		}
		out.Shards = append(out.Shards, sh)
	}
	if from+2 < len(f.shards) {
		out.NextToken = aws.String(strconv.Itoa(from + 2))
	}
	return out, nil
}

func (f *fakeKinesis) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &kinesis.PutRecordsOutput{}
	for _, e := range in.Records {
		if f.failNext > 0 {
			f.failNext--
			out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
			out.Records = append(out.Records, types.PutRecordsResultEntry{
				ErrorCode: aws.String("ProvisionedThroughputExceededException"), ErrorMessage: aws.String("slow down"),
			})
			continue
		}
		s := f.route(e)
		seq := strconv.Itoa(len(s.records))
		s.records = append(s.records, types.Record{Data: e.Data, PartitionKey: e.PartitionKey, SequenceNumber: aws.String(seq)})
		out.Records = append(out.Records, types.PutRecordsResultEntry{ShardId: aws.String(s.id), SequenceNumber: aws.String(seq)})
	}
	return out, nil
}

func (f *fakeKinesis) route(e types.PutRecordsRequestEntry) *fakeShard {
	var h *big.Int
	if e.ExplicitHashKey != nil {
		h, _ = new(big.Int).SetString(*e.ExplicitHashKey, 10)
	} else {
		sum := md5.Sum([]byte(*e.PartitionKey))
		h = new(big.Int).SetBytes(sum[:])
	}
	for _, s := range f.shards {
		if !s.closed && s.start.Cmp(h) <= 0 && h.Cmp(s.end) <= 0 {
			return s
		}
	}
	panic("no open shard for hash key " + h.String())
}

func (f *fakeKinesis) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shard(aws.ToString(in.ShardId))
	if s == nil {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no shard " + aws.ToString(in.ShardId))}
	}
	f.iterators = append(f.iterators, strings.TrimSpace(fmt.Sprintf("%s %s %s", s.id, in.ShardIteratorType, aws.ToString(in.StartingSequenceNumber))))
	pos := 0
	switch in.ShardIteratorType {
	case types.ShardIteratorTypeLatest:
		pos = len(s.records)
	case types.ShardIteratorTypeAfterSequenceNumber:
		n, err := strconv.Atoi(aws.ToString(in.StartingSequenceNumber))
		if err != nil {
			return nil, &types.InvalidArgumentException{Message: aws.String("bad sequence number")}
		}
		pos = n + 1
	}
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(fmt.Sprintf("%s/%d", s.id, pos))}, nil
}

func (f *fakeKinesis) GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id, p, _ := strings.Cut(aws.ToString(in.ShardIterator), "/")
	pos, _ := strconv.Atoi(p)
	if f.expireOnce[id] {
		delete(f.expireOnce, id)
		return nil, &types.ExpiredIteratorException{Message: aws.String("Iterator expired")}
	}
	s := f.shard(id)
	limit := 10000
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	end := min(pos+limit, len(s.records))
	out := &kinesis.GetRecordsOutput{Records: append([]types.Record(nil), s.records[pos:end]...)}
	behind := int64(0)
	if end < len(s.records) {
		behind = 1000
	}
	out.MillisBehindLatest = aws.Int64(behind)
	if s.closed && end == len(s.records) {
		for _, c := range s.children {
			out.ChildShards = append(out.ChildShards, types.ChildShard{ShardId: aws.String(c), ParentShards: f.shard(c).parents})
		}
		return out, nil
	}
	out.NextShardIterator = aws.String(fmt.Sprintf("%s/%d", id, end))
	return out, nil
}

// count returns how many records the stream holds.
func (f *fakeKinesis) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.shards {
		n += len(s.records)
	}
	return n
}
