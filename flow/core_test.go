package flow

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestWindowing_WindowsOf(t *testing.T) {
	starts := func(w Windowing, at int64) []int64 {
		var out []int64
		w.windowsOf(at, func(s int64) { out = append(out, s) })
		return out
	}
	for _, tc := range []struct {
		w    Windowing
		at   int64
		want []int64
	}{
		{Tumbling(time.Minute), 0, []int64{0}},
		{Tumbling(time.Minute), 59_999, []int64{0}},
		{Tumbling(time.Minute), 60_000, []int64{60_000}},
		{Tumbling(time.Minute), -1, []int64{-60_000}},
		{Hopping(3*time.Second, time.Second), 2_500, []int64{2_000, 1_000, 0}},
		{Hopping(3*time.Second, time.Second), 3_000, []int64{3_000, 2_000, 1_000}},
		{Hopping(2*time.Second, time.Second), -500, []int64{-1_000, -2_000}},
	} {
		if got := starts(tc.w, tc.at); !slices.Equal(got, tc.want) {
			t.Errorf("%v at %d: windows %v, want %v", tc.w, tc.at, got, tc.want)
		}
	}
	for _, bad := range []Windowing{Tumbling(0), Hopping(3*time.Second, 2*time.Second), Session(0), {}} {
		if bad.validate() == nil {
			t.Errorf("%v: validated", bad)
		}
	}
}

func testSpec(w Windowing, lateness time.Duration) *aggSpec {
	return &aggSpec{name: "counts", window: w, aggs: []Aggregate{Count("n", nil)}, lateness: lateness.Milliseconds(), arrival: false}
}

func pos(i int) position { return position{Sequence: fmt.Sprintf("%05d", i)} }

// collect gathers what a flush sends.
type collect struct{ parts []*partial }

func (c *collect) emit(p *partial) error { c.parts = append(c.parts, p); return nil }

func countOf(t *testing.T, p *partial) int64 {
	t.Helper()
	acc, err := Count("n", nil).Unmarshal(p.accs[0])
	if err != nil {
		t.Fatal(err)
	}
	return acc.Result().(int64)
}

func TestPreAgg_TumblingLateness(t *testing.T) {
	a := newPreAgg(testSpec(Tumbling(10*time.Second), 5*time.Second), "s/1")
	add := func(i int, ev int64) bool {
		t.Helper()
		late, err := a.add(pos(i), ev, before(pos(i)), []byte("k"), []any{true})
		if err != nil {
			t.Fatal(err)
		}
		a.observe(ev)
		return late
	}
	var c collect
	add(1, 1_000)
	add(2, 9_000)
	if a.flush(c.emit, false, false); len(c.parts) != 0 {
		t.Fatalf("sent %d partials before the watermark passed the window's end", len(c.parts))
	}
	add(3, 10_500) // the watermark passes 10s: [0, 10s) fires
	a.flush(c.emit, false, false)
	if len(c.parts) != 1 || c.parts[0].start != 0 || countOf(t, c.parts[0]) != 2 || c.parts[0].version != 2 {
		t.Fatalf("after the window's end: %+v, want [0,10s) with 2 records, version 2", c.parts)
	}
	if late := add(4, 3_000); late { // within the lateness: an update
		t.Fatal("a record within the allowed lateness was late")
	}
	a.flush(c.emit, false, false)
	if len(c.parts) != 2 || countOf(t, c.parts[1]) != 3 || c.parts[1].version != 3 {
		t.Fatalf("after a record within the lateness: %+v, want an update with 3 records, version 3", c.parts[1:])
	}
	add(5, 15_000) // the watermark passes 10s + 5s: [0, 10s) is closed
	a.flush(c.emit, false, false)
	if _, open := a.windows[0]; open {
		t.Fatal("a window past its allowed lateness is still held")
	}
	if late := add(6, 2_000); !late {
		t.Fatal("a record after the allowed lateness was not late")
	}
	if r, wm, _, ok := a.retained(); !ok || r != before(pos(3)) || wm != 9_000 {
		t.Fatalf("retained %v %d %v, want the first record of [10s, 20s) and the watermark before it", r, wm, ok)
	}
}

func TestPreAgg_SessionsMerge(t *testing.T) {
	spec := testSpec(Session(10*time.Second), 0)
	a := newPreAgg(spec, "s/1")
	add := func(i int, ev int64, observe bool) {
		t.Helper()
		if _, err := a.add(pos(i), ev, before(pos(i)), []byte("k"), []any{true}); err != nil {
			t.Fatal(err)
		}
		if observe {
			a.observe(ev)
		}
	}
	add(1, 0, true)
	add(2, 30_000, true)
	var c collect
	a.flush(c.emit, false, false)
	// [0,10s) starts before the watermark: sent (and forgotten, being
	// past its end); [30s,40s) may still grow.
	if len(c.parts) != 1 || c.parts[0].start != 0 || c.parts[0].end != 10_000 || len(a.sessions["k"]) != 1 {
		t.Fatalf("sent %+v, held %d: want the first session sent, the second held", c.parts, len(a.sessions["k"]))
	}

	a = newPreAgg(spec, "s/1") // the watermark stays at the minimum: nothing is late
	add(1, 0, false)
	add(2, 30_000, false)
	add(3, 9_000, false)
	add(4, 18_000, false)
	if got := len(a.sessions["k"]); got != 2 {
		t.Fatalf("%d sessions, want [0,28s) and [30s,40s)", got)
	}
	add(5, 25_000, false) // bridges [0,28s) and [30s,40s)
	if got := len(a.sessions["k"]); got != 1 {
		t.Fatalf("%d sessions, want 1 after the bridge", got)
	}
	s := a.sessions["k"][0]
	if s.start != 0 || s.end != 40_000 || s.id != pos(1) || s.version != 5 {
		t.Fatalf("merged session %+v, want [0,40s) with the first record's identity and 5 records", s)
	}
	if len(a.pending) != 1 || !a.pending[0].tombstone || a.pending[0].session != pos(2) || a.pending[0].version != 2 {
		t.Fatalf("pending %+v, want a tombstone for the absorbed session", a.pending)
	}
}

func TestSrcTable_Watermark(t *testing.T) {
	tb := newSrcTable()
	streams := []string{"in"}
	if wm := tb.watermark(streams); wm != minTime {
		t.Fatalf("before the roots are known: %d", wm)
	}
	tb = tb.withRoots("in", []string{"in/0", "in/1"})
	if wm := tb.watermark(streams); wm != minTime {
		t.Fatalf("before any marker: %d, want the minimum", wm)
	}
	tb = tb.apply(markerEntry{agg: "a", source: "in/0", wm: 100})
	tb = tb.apply(markerEntry{agg: "a", source: "in/1", wm: 50})
	if wm := tb.watermark(streams); wm != 50 {
		t.Fatalf("watermark %d, want 50", wm)
	}
	tb = tb.apply(markerEntry{agg: "a", source: "in/1", wm: 40}) // a replay's lower watermark
	if wm := tb.watermark(streams); wm != 50 {
		t.Fatalf("a lower marker moved the watermark back to %d", wm)
	}
	// in/1 splits into 2 and 3: the children start from its final
	// watermark until they report.
	tb = tb.apply(markerEntry{agg: "a", source: "in/1", wm: 70, ended: true, final: 70, children: []string{"in/2", "in/3"}})
	if wm := tb.watermark(streams); wm != 70 {
		t.Fatalf("after the split: %d, want the parent's final 70", wm)
	}
	tb = tb.apply(markerEntry{agg: "a", source: "in/2", wm: 90})
	tb = tb.apply(markerEntry{agg: "a", source: "in/3", wm: 95})
	if wm := tb.watermark(streams); wm != 90 {
		t.Fatalf("children reported: %d, want 90", wm)
	}
	// 0 and 2 merge into 4; while 2 runs, 4 waits.
	tb = tb.apply(markerEntry{agg: "a", source: "in/0", wm: 120, ended: true, final: 120, children: []string{"in/4"}})
	if wm := tb.watermark(streams); wm != 90 {
		t.Fatalf("one parent of a merge ended: %d, want 90", wm)
	}
	tb = tb.apply(markerEntry{agg: "a", source: "in/2", wm: 110, ended: true, final: 110, children: []string{"in/4"}})
	if wm := tb.watermark(streams); wm != 95 {
		t.Fatalf("both parents ended: %d, want min(in/3 95, in/4 from 110)", wm)
	}
	// The table is copied on change: an old reference still reads the same.
	old := tb
	tb = tb.apply(markerEntry{agg: "a", source: "in/3", wm: 200})
	if old.shards["in/3"].wm != 95 || tb.watermark(streams) != 110 {
		t.Fatalf("old table %d, new watermark %d", old.shards["in/3"].wm, tb.watermark(streams))
	}
}

func TestMergeAgg_VersionsFiringLateness(t *testing.T) {
	spec := testSpec(Tumbling(10*time.Second), 5*time.Second)
	m := newMergeAgg(spec, []string{"in"})
	m.src = m.src.withRoots("in", []string{"in/0", "in/1"})
	part := func(source string, n int64, version int64) *partial {
		b := countBytes(t, n)
		return &partial{agg: "counts", source: source, start: 0, end: 10_000, key: "k", version: version, accs: [][]byte{b}}
	}
	m.add(part("in/0", 3, 3), pos(1))
	m.add(part("in/1", 2, 2), pos(2))
	m.add(part("in/0", 1, 1), pos(3)) // a replay's stale version
	m.marker(markerEntry{source: "in/0", wm: 10_000})
	if res, _ := m.fire(); len(res) != 0 {
		t.Fatalf("fired %+v before every shard passed the end", res)
	}
	m.marker(markerEntry{source: "in/1", wm: 11_000})
	res, err := m.fire()
	if err != nil || len(res) != 1 || res[0].values[0] != int64(5) || res[0].final {
		t.Fatalf("fired %+v, %v: want 5, not final (lateness open)", res, err)
	}
	m.add(part("in/1", 4, 4), pos(4)) // a late update within the lateness
	res, _ = m.fire()
	if len(res) != 1 || res[0].values[0] != int64(7) || res[0].final {
		t.Fatalf("after an update: %+v, want 7, not final", res)
	}
	if res, _ := m.fire(); len(res) != 0 {
		t.Fatalf("fired again without a change: %+v", res)
	}
	if r, _, ok := m.retained(); !ok || r != before(pos(1)) {
		t.Fatalf("retained %v %v, want the oldest partial held", r, ok)
	}
	m.marker(markerEntry{source: "in/0", wm: 20_000})
	m.marker(markerEntry{source: "in/1", wm: 15_000})
	res, _ = m.fire()
	if len(res) != 1 || res[0].values[0] != int64(7) || !res[0].final {
		t.Fatalf("at the end of the lateness: %+v, want 7, final", res)
	}
	m.add(part("in/1", 9, 9), pos(5)) // for a closed window: a replay, ignored
	if res, _ := m.fire(); len(res) != 0 || len(m.windows) != 0 {
		t.Fatalf("a partial of a closed window was taken: %+v", res)
	}
}

func TestMergeAgg_Sessions(t *testing.T) {
	spec := testSpec(Session(10*time.Second), 0)
	m := newMergeAgg(spec, []string{"in"})
	m.src = m.src.withRoots("in", []string{"in/0", "in/1"})
	part := func(source string, id int, start, end, n int64, tomb bool) *partial {
		b := countBytes(t, n)
		return &partial{agg: "counts", source: source, start: start, end: end, session: pos(id), key: "k", version: n, tombstone: tomb, accs: [][]byte{b}}
	}
	m.add(part("in/0", 1, 0, 15_000, 2, false), pos(1))
	m.add(part("in/1", 7, 12_000, 30_000, 3, false), pos(2)) // overlaps: one session [0, 30s)
	m.add(part("in/1", 9, 50_000, 60_000, 1, false), pos(3))
	m.add(part("in/1", 9, 50_000, 60_000, 2, true), pos(4)) // withdrawn
	m.marker(markerEntry{source: "in/0", wm: 29_000})
	m.marker(markerEntry{source: "in/1", wm: 100_000})
	if res, _ := m.fire(); len(res) != 0 {
		t.Fatalf("fired %+v before the watermark passed the merged end", res)
	}
	m.marker(markerEntry{source: "in/0", wm: 30_000})
	res, _ := m.fire()
	if len(res) != 1 || res[0].start != 0 || res[0].end != 30_000 || res[0].values[0] != int64(5) || !res[0].final {
		t.Fatalf("fired %+v, want [0,30s) with 5, final", res)
	}
	if len(m.sessions) != 0 {
		t.Fatalf("sessions left: %v", m.sessions)
	}
}

func TestDedupShard(t *testing.T) {
	d := newDedupShard(1000)
	if d.seen("a", 0, pos(1)) || d.seen("b", 100, pos(2)) {
		t.Fatal("a first occurrence was a duplicate")
	}
	if !d.seen("a", 900, pos(3)) {
		t.Fatal("a repeat within the window was not a duplicate")
	}
	if d.seen("b", 1200, pos(4)) {
		t.Fatal("a repeat after the window was a duplicate")
	}
	if !d.seen("a", 1800, pos(5)) { // within 1s of the duplicate at 900
		t.Fatal("a repeat within 1s of the last occurrence was not a duplicate")
	}
	if r, ok := d.resumeFor(1900); !ok || r != before(pos(3)) {
		t.Fatalf("resume for 1900: %v %v, want before record 3 (arrived at 900)", r, ok)
	}
}

func TestKeyCodec(t *testing.T) {
	type pageCountry struct {
		PageURL string
		Country string `flow:"cc"`
		Mobile  bool
		Hour    int
	}
	c, err := newKeyCodec[pageCountry](nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Column{{"page_url", String}, {"cc", String}, {"mobile", Bool}, {"hour", Int}}
	if !reflect.DeepEqual(c.cols, want) {
		t.Fatalf("columns %v, want %v", c.cols, want)
	}
	b, err := c.encode(nil, pageCountry{"/a", "fr", true, 7})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeKey(string(b), c.cols)
	if err != nil || !reflect.DeepEqual(got, []any{"/a", "fr", true, int64(7)}) {
		t.Fatalf("decoded %v, %v", got, err)
	}
	s, err := newKeyCodec[string]([]string{"page"})
	if err != nil || s.cols[0] != (Column{"page", String}) {
		t.Fatalf("string key: %v %v", s.cols, err)
	}
	if _, err := newKeyCodec[*int](nil); err == nil {
		t.Fatal("a pointer key was accepted")
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, tc := range []struct {
		t ColumnType
		v any
	}{{Int, int64(-3)}, {Float, 2.5}, {String, "x"}, {Bool, false}, {Timestamp, ts}, {Int, nil}} {
		b, err := appendKeyValue(nil, tc.t, tc.v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeKey(string(b), []Column{{"c", tc.t}})
		if err != nil || !reflect.DeepEqual(got[0], tc.v) {
			t.Errorf("%v %v: decoded %v, %v", tc.t, tc.v, got, err)
		}
	}
}

func TestWire_RoundTrip(t *testing.T) {
	p := &partial{agg: "a", source: "in/shardId-1", start: -5, end: 10, session: position{Sequence: "123", SubSequence: -1}, key: "k\x00", version: 9, tombstone: true, accs: [][]byte{{1, 2}, {}}}
	got, err := decodePartial(encodePartial(p))
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("partial %+v, %v; want %+v", got, err, p)
	}
	ms := []markerEntry{{agg: "a", source: "in/1", wm: minTime}, {agg: "b", source: "in/2", wm: 5, ended: true, final: 5, children: []string{"in/3", "in/4"}}}
	gotM, err := decodeMarkers(encodeMarkers(ms))
	if err != nil || !reflect.DeepEqual(gotM, ms) {
		t.Fatalf("markers %+v, %v", gotM, err)
	}
	ss := &sourceState{last: pos(7), ended: true, aggs: map[string]aggState{"a": {wm: 3, jumps: []jump{{pos(5), 4}}}}}
	gotS, err := decodeSourceState(encodeSourceState(ss))
	if err != nil || !reflect.DeepEqual(gotS, ss) {
		t.Fatalf("source state %+v, %v", gotS, err)
	}
	tb := newSrcTable().withRoots("in", []string{"in/1"}).apply(markerEntry{source: "in/1", wm: 4, ended: true, final: 4, children: []string{"in/2"}})
	ms2 := &mergeState{last: pos(9), tables: map[string]*srcTable{"a": tb}}
	gotR, err := decodeMergeState(encodeMergeState(ms2))
	if err != nil || !reflect.DeepEqual(gotR, ms2) {
		t.Fatalf("merge state %+v, %v", gotR, err)
	}
	for _, bad := range [][]byte{nil, {'P'}, {'P', 1, 200}, {'M', 1, 5, 1}, {'X', 1}} {
		if _, err := decodePartial(bad); err == nil {
			t.Errorf("decoded %v as a partial", bad)
		}
		if _, err := decodeMarkers(bad); err == nil {
			t.Errorf("decoded %v as markers", bad)
		}
	}
}

// TestTwoStages_Model runs both stages in memory: random records on three
// shards, out of order, pre-aggregated per shard with random flush points,
// merged through per-shard markers; the rows must equal counts computed
// directly, with late records counted apart.
func TestTwoStages_Model(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		spec := testSpec(Tumbling(10*time.Second), 3*time.Second)
		spec.maxOOO = 2000
		m := newMergeAgg(spec, []string{"in"})
		var roots []string
		pres := make([]*preAgg, 3)
		for i := range pres {
			roots = append(roots, fmt.Sprintf("in/%d", i))
			pres[i] = newPreAgg(spec, roots[i])
		}
		m.src = m.src.withRoots("in", roots)
		want := map[[2]int64]int64{} // (window start, key) → count
		got := map[[2]int64]int64{}
		late := 0
		seq := 0
		clock := make([]int64, 3)
		deliver := func(p *partial) error {
			seq++
			m.add(p, pos(seq))
			return nil
		}
		for range 3000 {
			i := rng.IntN(3)
			clock[i] += rng.Int64N(100)
			ev := clock[i] - rng.Int64N(6000) // out of order by up to 6s
			key := rng.Int64N(4)
			seq++
			isLate, err := pres[i].add(pos(seq), ev, before(pos(seq)), []byte{byte(key)}, []any{true})
			if err != nil {
				t.Fatal(err)
			}
			pres[i].observe(ev)
			if isLate {
				late++
			} else {
				want[[2]int64{floorDiv(ev, 10_000) * 10_000, key}]++
			}
			if rng.IntN(20) == 0 {
				pres[i].flush(deliver, false, false)
				seq++
				m.marker(markerEntry{source: roots[i], wm: pres[i].wm})
				res, err := m.fire()
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range res {
					got[[2]int64{r.start, int64(r.key[0])}] = r.values[0].(int64)
				}
			}
		}
		for i, p := range pres {
			p.flush(deliver, false, true)
			m.marker(markerEntry{source: roots[i], wm: p.wm, ended: true, final: p.wm})
		}
		// Every shard ended: stage 2 sees no open shard and stops; fire
		// what the last markers allow, then everything at +inf.
		m.src = m.src.withRoots("in", nil)
		m.src.shards["in/end"] = &srcShard{root: true, reported: true, wm: maxTime}
		res, err := m.fire()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			got[[2]int64{r.start, int64(r.key[0])}] = r.values[0].(int64)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: rows differ from the direct counts (%d late):\n got %v\nwant %v", seed, late, got, want)
		}
	}
}

// countBytes is a Count accumulator of n records, marshalled.
func countBytes(t *testing.T, n int64) []byte {
	t.Helper()
	acc := Count("n", nil).New()
	for range n {
		acc.Add(true, 0)
	}
	b, err := acc.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzWire feeds arbitrary bytes to the decoders of the repartition
// stream's records and of the checkpoint states: an error, never a panic,
// and what decodes encodes back to the same value.
func FuzzWire(f *testing.F) {
	f.Add(encodePartial(&partial{agg: "a", source: "s/1", start: 1, end: 2, key: "k", version: 3, accs: [][]byte{{1}}}))
	f.Add(encodeMarkers([]markerEntry{{agg: "a", source: "s/1", wm: 5, ended: true, children: []string{"s/2"}}}))
	f.Add(encodeSourceState(&sourceState{last: pos(1), aggs: map[string]aggState{"a": {wm: 1, jumps: []jump{{pos(1), 2}}}}}))
	f.Add(encodeMergeState(&mergeState{last: pos(1), tables: map[string]*srcTable{"a": newSrcTable().withRoots("s", []string{"s/1"})}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := decodePartial(b); err == nil {
			if q, err := decodePartial(encodePartial(p)); err != nil || !reflect.DeepEqual(p, q) {
				t.Fatalf("partial %+v re-decoded as %+v, %v", p, q, err)
			}
		}
		if m, err := decodeMarkers(b); err == nil {
			if _, err := decodeMarkers(encodeMarkers(m)); err != nil {
				t.Fatalf("markers %+v: %v", m, err)
			}
		}
		decodeSourceState(b)
		decodeMergeState(b)
	})
}
