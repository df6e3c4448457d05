package broker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Page tokens (ListStreams, ListShards, ListStreamConsumers) are signed
// like iterators, and expire as AWS's do.
type pageKind string

const (
	pageStreams   pageKind = "streams"
	pageShards    pageKind = "shards"
	pageConsumers pageKind = "consumers"
)

type pageToken struct {
	Kind     pageKind             `json:"k"`
	Stream   string               `json:"s,omitempty"`
	StreamID string               `json:"i,omitempty"`
	After    string               `json:"a"`
	Max      int                  `json:"m,omitempty"`
	Filter   *kinesis.ShardFilter `json:"f,omitempty"`
	Issued   int64                `json:"t"`
}

func (b *Broker) encodePageToken(t pageToken) string {
	t.Issued = b.cfg.Now().UnixMilli()
	raw, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b.tokens.sign(raw))
}

func (b *Broker) decodePageToken(s string, kind pageKind) (pageToken, error) {
	invalid := kinesis.Errorf(kinesis.ErrInvalidArgument, "Invalid NextToken.")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return pageToken{}, invalid
	}
	body, err := b.tokens.open(base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		return pageToken{}, invalid
	}
	var t pageToken
	if json.Unmarshal(body, &t) != nil || t.Kind != kind {
		return pageToken{}, invalid
	}
	if b.cfg.Now().Sub(time.UnixMilli(t.Issued)) > kinesis.NextTokenLifetime {
		return pageToken{}, kinesis.Errorf(kinesis.ErrExpiredNextToken, "The NextToken has expired.")
	}
	return t, nil
}

// ListShards pages through a stream's shards, narrowed by a filter.
func (b *Broker) ListShards(ctx context.Context, in kinesis.ListShardsInput) (kinesis.ListShardsOutput, error) {
	name, after, max, filter := "", canonicalStart(in.ExclusiveStartShardID), in.MaxResults, in.Filter
	var wantID string
	if in.NextToken != "" {
		if in.Stream.Name != "" || in.Stream.ARN != "" {
			return kinesis.ListShardsOutput{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "NextToken and StreamName cannot be provided together.")
		}
		t, err := b.decodePageToken(in.NextToken, pageShards)
		if err != nil {
			return kinesis.ListShardsOutput{}, err
		}
		name, after, filter, wantID = t.Stream, t.After, t.Filter, t.StreamID
		if max == 0 {
			max = t.Max
		}
	} else {
		var err error
		if name, err = b.resolve(in.Stream); err != nil {
			return kinesis.ListShardsOutput{}, err
		}
	}
	if max <= 0 || max > 1000 {
		max = 1000
	}
	s, err := b.stream(ctx, name)
	if err != nil {
		return kinesis.ListShardsOutput{}, err
	}
	if wantID != "" && s.ID != wantID {
		return kinesis.ListShardsOutput{}, kinesis.StreamNotFound(name, b.cfg.AccountID)
	}
	if ts := in.StreamCreationTimestamp; ts != nil && !ts.Equal(s.CreatedAt) {
		return kinesis.ListShardsOutput{}, kinesis.StreamNotFound(name, b.cfg.AccountID)
	}
	if filter != nil && filter.Type == kinesis.FilterAfterShardID {
		if id := canonicalStart(filter.ShardID); after == "" || id > after {
			after = id
		}
	}
	var out kinesis.ListShardsOutput
	more := false
	for _, sh := range sortedShards(b.readableShards(s)) {
		if after != "" && sh.ID <= after {
			continue
		}
		if !b.shardMatches(s, sh, filter) {
			continue
		}
		if len(out.Shards) == max {
			more = true
			break
		}
		out.Shards = append(out.Shards, sh)
	}
	if more {
		out.NextToken = b.encodePageToken(pageToken{Kind: pageShards, Stream: name, StreamID: s.ID, After: out.Shards[len(out.Shards)-1].ID, Max: in.MaxResults, Filter: filter})
	}
	return out, nil
}

// shardMatches applies a ShardFilter to one readable shard.
func (b *Broker) shardMatches(s *kinesis.Stream, sh kinesis.Shard, f *kinesis.ShardFilter) bool {
	if f == nil {
		return true
	}
	openAt := func(t time.Time) bool {
		// Before the stream existed, its first shards are the answer.
		if t.Before(s.CreatedAt) {
			t = s.CreatedAt
		}
		return !sh.CreatedAt.After(t) && (sh.Open() || sh.ClosedAt.After(t))
	}
	switch f.Type {
	case kinesis.FilterAtLatest:
		return sh.Open()
	case kinesis.FilterAtTrimHorizon:
		return openAt(b.cfg.Now().Add(-b.retention(s)))
	case kinesis.FilterAtTimestamp:
		return f.Timestamp != nil && openAt(*f.Timestamp)
	case kinesis.FilterFromTimestamp:
		return f.Timestamp != nil && (sh.Open() || sh.ClosedAt.After(*f.Timestamp))
	}
	return true // FROM_TRIM_HORIZON, AFTER_SHARD_ID
}
