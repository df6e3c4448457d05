package consumer

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func shard(id string, closed bool, parents ...string) types.Shard {
	s := types.Shard{ShardId: aws.String(id), SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("1")},
		HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String("0"), EndingHashKey: aws.String("9")}}
	if closed {
		s.SequenceNumberRange.EndingSequenceNumber = aws.String("2")
	}
	if len(parents) > 0 {
		s.ParentShardId = aws.String(parents[0])
	}
	if len(parents) > 1 {
		s.AdjacentParentShardId = aws.String(parents[1])
	}
	return s
}

func TestPlanLeases(t *testing.T) {
	// s2 was split into s3 and s4, which were merged into s5.
	shards := []types.Shard{shard("s0", false), shard("s1", false), shard("s2", true), shard("s3", true, "s2"), shard("s4", true, "s2"), shard("s5", false, "s3", "s4")}
	lease := func(key, cp string) Lease { return Lease{Key: key, Checkpoint: ExtendedSequenceNumber{Sequence: cp}} }
	tests := []struct {
		name    string
		leases  []Lease
		initial InitialPosition
		want    []string // key=checkpoint
	}{
		{"new table from TRIM_HORIZON: the roots", nil, StartAtTrimHorizon(),
			[]string{"s0=TRIM_HORIZON", "s1=TRIM_HORIZON", "s2=TRIM_HORIZON"}},
		{"new table from LATEST: the open shards", nil, StartAtLatest(),
			[]string{"s0=LATEST", "s1=LATEST", "s5=LATEST"}},
		{"new table from a timestamp: the roots", nil, StartAtTimestamp(time.Unix(1, 0)),
			[]string{"s0=AT_TIMESTAMP", "s1=AT_TIMESTAMP", "s2=AT_TIMESTAMP"}},
		{"parent unfinished: no children yet", []Lease{lease("s0", "5"), lease("s1", "5"), lease("s2", "7")}, StartAtTrimHorizon(), nil},
		{"parent finished: children from TRIM_HORIZON", []Lease{lease("s0", "5"), lease("s1", "5"), lease("s2", SentinelShardEnd)}, StartAtLatest(),
			[]string{"s3=TRIM_HORIZON", "s4=TRIM_HORIZON"}},
		{"merge waits for both parents", []Lease{lease("s0", "5"), lease("s1", "5"), lease("s2", SentinelShardEnd), lease("s3", SentinelShardEnd), lease("s4", "9")}, StartAtTrimHorizon(), nil},
		{"merge after both parents", []Lease{lease("s0", "5"), lease("s1", "5"), lease("s2", SentinelShardEnd), lease("s3", SentinelShardEnd), lease("s4", SentinelShardEnd)}, StartAtTrimHorizon(),
			[]string{"s5=TRIM_HORIZON"}},
		{"a deleted ancestor is not made again", []Lease{lease("s0", "5"), lease("s1", "5"), lease("s5", "3")}, StartAtTrimHorizon(), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, l := range planLeases(shards, tc.leases, tc.initial) {
				got = append(got, l.Key+"="+l.Checkpoint.Sequence)
				if l.StartingHashKey != "0" || l.EndingHashKey != "9" {
					t.Errorf("lease %s without the hash range", l.Key)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("planLeases = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestConsumer_plan(t *testing.T) {
	now := time.Now()
	leasesOf := func(owners ...string) []Lease {
		var ls []Lease
		for i, o := range owners {
			ls = append(ls, Lease{Key: fmt.Sprintf("s%d", i), Owner: o, Counter: 1, Checkpoint: ExtendedSequenceNumber{Sequence: SentinelTrimHorizon}})
		}
		return ls
	}
	tests := []struct {
		name   string
		leases []Lease
		silent time.Duration // since each owned lease's counter last moved
		want   string        // leases to take; * marks a steal
	}{
		{"alone: take every free lease", leasesOf("", "", "", ""), 0, "s0 s1 s2 s3"},
		{"join: steal half from one busy worker", leasesOf("a", "a", "a", "a"), 0, "*2"},
		{"balanced 2/1/1: no steal", leasesOf("a", "a", "me", "c"), 0, ""},
		{"5 over 2 at 3/2: no steal", leasesOf("a", "a", "a", "me", "me"), 0, ""},
		{"3/1 at two workers: steal one", leasesOf("a", "a", "a", "me"), 0, "*1"},
		{"expired leases are taken, not stolen", leasesOf("a", "a", "a", "a"), 11 * time.Second, "s0 s1 s2 s3"},
		{"finished leases do not count", append(leasesOf("a", "a"), Lease{Key: "done", Checkpoint: ExtendedSequenceNumber{Sequence: SentinelShardEnd}}), 0, "*1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Consumer{opts: defaultOptions(), observed: map[string]*observation{}}
			c.opts.workerID = "me"
			held := map[string]*shardWorker{}
			for _, l := range tc.leases {
				c.observed[l.Key] = &observation{counter: l.Counter, changed: now.Add(-tc.silent)}
				if l.Owner == "" {
					c.observed[l.Key].changed = time.Time{}
				}
				if l.Owner == "me" {
					held[l.Key] = &shardWorker{stopping: make(chan struct{})}
				}
			}
			var got []string
			steals := 0
			for _, p := range c.plan(tc.leases, held, len(held), now) {
				if p.steal {
					steals++
					continue
				}
				got = append(got, p.lease.Key)
			}
			s := fmt.Sprint(got)
			s = s[1 : len(s)-1]
			if steals > 0 {
				s = fmt.Sprintf("*%d", steals)
			}
			if s != tc.want {
				t.Errorf("plan = %q, want %q", s, tc.want)
			}
		})
	}
}

func TestExtendedSequenceNumber_Compare(t *testing.T) {
	e := func(s string, sub int64) ExtendedSequenceNumber {
		return ExtendedSequenceNumber{Sequence: s, SubSequence: sub}
	}
	tests := []struct {
		a, b ExtendedSequenceNumber
		want int
	}{
		{e("10", 0), e("9", 0), 1},
		{e("49590338271490256608559692538361571095921575989136588898", 0), e("49590338271490256608559692538361571095921575989136588899", 0), -1},
		{e("5", 1), e("5", 2), -1},
		{e("5", 2), e("5", 2), 0},
		{e(SentinelTrimHorizon, 0), e("1", 0), -1},
		{e(SentinelShardEnd, 0), e("99999", 0), 1},
		{e("", 0), e("1", 0), -1},
	}
	for _, tc := range tests {
		if got := tc.a.Compare(tc.b); got != tc.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
