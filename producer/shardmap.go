package producer

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// shardInfo is an open shard and its hash key range.
type shardInfo struct {
	id         string
	start, end hashKey
}

func (s shardInfo) contains(k hashKey) bool {
	return bytes.Compare(k[:], s.start[:]) >= 0 && bytes.Compare(k[:], s.end[:]) <= 0
}

// shardMap predicts the shard of a hash key. The zero map knows no shards
// and predicts none, which turns aggregation and rate limiting off until
// ListShards answers.
type shardMap struct {
	open []shardInfo          // by start
	byID map[string]shardInfo // open and closed shards
}

func (m *shardMap) predict(k hashKey) (shardInfo, bool) {
	i, found := slices.BinarySearchFunc(m.open, k, func(s shardInfo, k hashKey) int { return bytes.Compare(s.start[:], k[:]) })
	if !found {
		i--
	}
	if i < 0 || i >= len(m.open) || !m.open[i].contains(k) {
		return shardInfo{}, false
	}
	return m.open[i], true
}

// sameShards reports whether two maps hold the same open shards.
func (m *shardMap) sameShards(o *shardMap) bool {
	return slices.EqualFunc(m.open, o.open, func(a, b shardInfo) bool { return a.id == b.id })
}

// listShards loads the open shards of the stream.
func listShards(ctx context.Context, c Client, stream string) (*shardMap, error) {
	name, arn := streamRef(stream)
	// Closed shards too: a record that landed on a child shard is checked
	// against its range even if the child has since been resharded again.
	in := &kinesis.ListShardsInput{StreamName: name, StreamARN: arn}
	m := &shardMap{byID: map[string]shardInfo{}}
	for {
		out, err := c.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list shards: %w", err)
		}
		for _, s := range out.Shards {
			if s.HashKeyRange == nil {
				continue
			}
			start, ok1 := parseHashKey(aws.ToString(s.HashKeyRange.StartingHashKey))
			end, ok2 := parseHashKey(aws.ToString(s.HashKeyRange.EndingHashKey))
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("list shards: shard %s has an invalid hash key range", aws.ToString(s.ShardId))
			}
			info := shardInfo{id: aws.ToString(s.ShardId), start: start, end: end}
			m.byID[info.id] = info
			if s.SequenceNumberRange == nil || s.SequenceNumberRange.EndingSequenceNumber == nil {
				m.open = append(m.open, info)
			}
		}
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	slices.SortFunc(m.open, func(a, b shardInfo) int { return bytes.Compare(a.start[:], b.start[:]) })
	return m, nil
}
