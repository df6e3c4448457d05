package console

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

func act(name string, shards ...kinesis.ShardActivity) kinesis.StreamActivity {
	return kinesis.StreamActivity{Name: name, Shards: shards}
}

func TestHistory_Sample(t *testing.T) {
	h := newHistory(4, 2, 10)
	t0 := time.Unix(1000, 0)
	sh := func(id string, in, calls, age int64) kinesis.ShardActivity {
		return kinesis.ShardActivity{ShardID: id, Open: true, IncomingRecords: in, IncomingBytes: in * 10, GetRecordsCalls: calls, IteratorAgeMillis: age}
	}
	// The first sample only sets the baseline.
	h.sample([]kinesis.StreamActivity{act("s", sh("a", 100, 0, 0), sh("b", 0, 0, 0))}, t0)
	if got, ok := h.series("s", "", time.Second); !ok || len(got.Times) != 0 {
		t.Fatalf("after one sample: %v points, ok %v; want none", len(got.Times), ok)
	}
	// 2 s later: a wrote 200 records, b 100; b was read (age 1500 ms).
	h.sample([]kinesis.StreamActivity{act("s", sh("a", 300, 0, 0), sh("b", 100, 3, 1500))}, t0.Add(2*time.Second))
	s, _ := h.series("s", "", time.Second)
	if len(s.Times) != 1 || s.Times[0] != t0.Add(2*time.Second).UnixMilli() {
		t.Fatalf("times = %v", s.Times)
	}
	if v := *s.Values["incomingRecords"][0]; v != 150 {
		t.Errorf("incoming records/s = %v, want 150", v)
	}
	if v := *s.Values["incomingBytes"][0]; v != 1500 {
		t.Errorf("incoming bytes/s = %v, want 1500", v)
	}
	if v := s.Values["iteratorAgeMillis"][0]; v == nil || *v != 1500 {
		t.Errorf("iterator age = %v, want 1500 (the read shard's)", v)
	}
	a, _ := h.series("s", "a", time.Second)
	if v := a.Values["iteratorAgeMillis"][0]; v != nil {
		t.Errorf("iterator age of an unread shard = %v, want no point", *v)
	}
	if v := *a.Values["incomingRecords"][0]; v != 100 {
		t.Errorf("shard a records/s = %v, want 100", v)
	}
	// The rings wrap: after 5 more samples the stream keeps 4, the
	// shards 2, all of them the latest.
	for i := 2; i <= 6; i++ {
		h.sample([]kinesis.StreamActivity{act("s", sh("a", 300+int64(i)*10, 0, 0), sh("b", 100, 3, 0))}, t0.Add(time.Duration(2*i)*time.Second))
	}
	s, _ = h.series("s", "", time.Second)
	if len(s.Times) != 4 || s.Times[3] != t0.Add(12*time.Second).UnixMilli() {
		t.Errorf("stream times = %v, want the last 4", s.Times)
	}
	a, _ = h.series("s", "a", time.Second)
	if len(a.Times) != 2 || *a.Values["incomingRecords"][1] != 5 {
		t.Errorf("shard history = %v %v, want 2 points ending at 5 records/s", a.Times, a.Values["incomingRecords"])
	}
	// A deleted stream's history goes with it.
	h.sample(nil, t0.Add(14*time.Second))
	if _, ok := h.series("s", "", time.Second); ok {
		t.Error("deleted stream still has a history")
	}
	if h.shardsNow != 0 {
		t.Errorf("shards tracked = %d, want 0", h.shardsNow)
	}
}

func TestHistory_MaxShards(t *testing.T) {
	h := newHistory(4, 4, 2)
	shards := []kinesis.ShardActivity{{ShardID: "a"}, {ShardID: "b"}, {ShardID: "c"}}
	h.sample([]kinesis.StreamActivity{act("s", shards...)}, time.Unix(0, 0))
	if h.shardsNow != 2 {
		t.Fatalf("shards tracked = %d, want the cap 2", h.shardsNow)
	}
	if _, ok := h.series("s", "c", time.Second); ok {
		t.Error("a shard past the cap has a history")
	}
	if _, ok := h.series("s", "", time.Second); !ok {
		t.Error("the stream lost its history")
	}
}

func TestFilter_Match(t *testing.T) {
	for _, tc := range []struct {
		f    filter
		pk   string
		data string
		want bool
	}{
		{filter{}, "k", "x", true},
		{filter{pk: "user-1"}, "user-1", "x", true},
		{filter{pk: "user-1"}, "user-10", "x", false},
		{filter{pk: "user-", prefix: true}, "user-10", "x", true},
		{filter{text: []byte("error")}, "k", `{"level":"ERROR"}`, true},
		{filter{text: []byte("error")}, "k", `{"level":"info"}`, false},
		{filter{pk: "a", text: []byte("x")}, "a", "y", false},
	} {
		if got := tc.f.match(tc.pk, []byte(tc.data)); got != tc.want {
			t.Errorf("%+v.match(%q, %q) = %v, want %v", tc.f, tc.pk, tc.data, got, tc.want)
		}
	}
}

func TestMidpoint(t *testing.T) {
	r := kinesis.HashRange{Start: kinesis.HashKey{}, End: kinesis.MaxHashKey}
	if got, want := midpoint(r), "170141183460469231731687303715884105728"; got != want {
		t.Errorf("midpoint of the whole space = %s, want %s", got, want)
	}
}
