package kinesis

import (
	"testing"
	"time"
)

func TestParseStreamARN(t *testing.T) {
	region, account, name, ok := ParseStreamARN(StreamARN("eu-west-1", "123456789012", "my.stream_1"))
	if !ok || region != "eu-west-1" || account != "123456789012" || name != "my.stream_1" {
		t.Fatalf("got %q %q %q %v", region, account, name, ok)
	}
	for _, bad := range []string{"", "arn:aws:kinesis:r:1:stream/", "arn:aws:sqs:r:1:stream/x", "arn:aws:kinesis:r:1:table/x", "arn:aws:kinesis:r:1:stream/x/consumer/c:1"} {
		if _, _, _, ok := ParseStreamARN(bad); ok {
			t.Errorf("ParseStreamARN(%q) accepted", bad)
		}
	}
}

func TestStream_Status(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := &Stream{ActiveAt: t0.Add(time.Second)}
	if got := s.Status(t0); got != StatusCreating {
		t.Errorf("before ActiveAt: %s", got)
	}
	if got := s.Status(t0.Add(time.Second)); got != StatusActive {
		t.Errorf("at ActiveAt: %s", got)
	}
	s.DeletingAt = t0.Add(2 * time.Second)
	if got := s.Status(t0.Add(3 * time.Second)); got != StatusDeleting {
		t.Errorf("after delete: %s", got)
	}
}

func TestStream_ShardForHashKey(t *testing.T) {
	ranges := SplitHashSpace(4)
	s := &Stream{}
	for i, r := range ranges {
		s.Shards = append(s.Shards, Shard{ID: ShardID(i), HashRange: r, Epoch: uint64(i + 1)})
	}
	for i, r := range ranges {
		for _, k := range []HashKey{r.Start, r.End} {
			sh, ok := s.ShardForHashKey(k)
			if !ok || sh.ID != ShardID(i) {
				t.Errorf("key %s went to %s, want %s", k, sh.ID, ShardID(i))
			}
		}
	}
	if ShardID(12) != "shardId-000000000012" {
		t.Errorf("ShardID(12) = %s", ShardID(12))
	}
}

func TestCanonicalShardID(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"shardId-000000000001", "shardId-000000000001", true},
		{"shardId-0", "shardId-000000000000", true},
		{"shard-0", "shardId-000000000000", true},
		{"anything-1", "shardId-000000000001", true},
		{"2147483647", "shardId-002147483647", true},
		{"shardId-2147483648", "", false},
		{"0000000000000001", "shardId-000000000001", true},
		{"shardId-", "", false},
		{"shardId-x1", "", false},
		{"a-b-1", "", false},
		{"", "", false},
	} {
		got, ok := CanonicalShardID(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("CanonicalShardID(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
