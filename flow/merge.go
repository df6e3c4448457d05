package flow

import (
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Stage 2 of an aggregation: on each repartition shard, the partials of
// every source shard are merged per (window, key), keeping the highest
// version of each, and a window fires once the watermark, the minimum over
// the source shards of what their markers announced, passes its end.

// srcShard is what stage 2 knows of one source shard.
type srcShard struct {
	wm       int64 // the highest watermark it announced
	reported bool  // it announced one
	root     bool  // ListShards showed it without a listed parent
	ended    bool  // read to its end; its children replace it
	final    int64 // its watermark at its end (its children start from it)
	children []string
	parents  []string // learned from the parents' end markers
}

// srcTable is the source shards of one aggregation as one repartition
// shard knows them. It is never changed in place (a change copies it), so
// the state at any point can be kept by reference.
type srcTable struct {
	shards map[string]*srcShard // by "stream/shardId"
	// listed holds the source streams whose shards were listed, so their
	// roots are known.
	listed map[string]bool
}

func newSrcTable() *srcTable {
	return &srcTable{shards: map[string]*srcShard{}, listed: map[string]bool{}}
}

func (t *srcTable) clone() *srcTable {
	n := &srcTable{shards: make(map[string]*srcShard, len(t.shards)), listed: maps.Clone(t.listed)}
	for k, s := range t.shards {
		c := *s
		n.shards[k] = &c
	}
	return n
}

// markerEntry is one source shard's announcement in a marker.
type markerEntry struct {
	agg      string
	source   string
	wm       int64
	ended    bool
	final    int64
	children []string // with ended
}

// apply returns the table after a marker entry.
func (t *srcTable) apply(m markerEntry) *srcTable {
	n := t.clone()
	s := n.shard(m.source)
	if m.wm > s.wm || !s.reported {
		s.wm = max(s.wm, m.wm)
	}
	s.reported = true
	if m.ended && !s.ended {
		s.ended, s.final, s.children = true, m.final, slices.Clone(m.children)
		for _, c := range m.children {
			ch := n.shard(c)
			if !slices.Contains(ch.parents, m.source) {
				ch.parents = append(ch.parents, m.source)
			}
		}
	}
	return n
}

func (t *srcTable) shard(key string) *srcShard {
	s := t.shards[key]
	if s == nil {
		s = &srcShard{wm: minTime, final: minTime}
		t.shards[key] = s
	}
	return s
}

// withRoots returns the table knowing the root shards (keys) of stream.
func (t *srcTable) withRoots(stream string, roots []string) *srcTable {
	n := t.clone()
	n.listed[stream] = true
	for _, r := range roots {
		n.shard(r).root = true
	}
	return n
}

// watermark is the minimum over the source shards still being read of
// their watermarks; streams lists the aggregation's source streams, whose
// roots must be known first.
func (t *srcTable) watermark(streams []string) int64 {
	for _, s := range streams {
		if !t.listed[s] {
			return minTime
		}
	}
	wm := int64(maxTime)
	active := 0
	for _, s := range t.shards {
		if s.ended {
			continue
		}
		w, ok := t.shardWatermark(s)
		if !ok {
			continue
		}
		active++
		wm = min(wm, w)
	}
	if active == 0 {
		return minTime // nothing to read yet (or a stream without open shards)
	}
	return wm
}

// shardWatermark is a source shard's watermark, and whether it counts: a
// child counts once all its known parents ended (until then they stand for
// it), starting from the lowest of their final watermarks.
func (t *srcTable) shardWatermark(s *srcShard) (int64, bool) {
	inherited := int64(minTime)
	if len(s.parents) > 0 {
		inherited = maxTime
		for _, p := range s.parents {
			ps := t.shards[p]
			if ps == nil || !ps.ended {
				return 0, false
			}
			inherited = min(inherited, ps.final)
		}
	} else if !s.root && !s.reported {
		return 0, false
	}
	if s.reported {
		return max(s.wm, inherited), true
	}
	return inherited, true
}

// mergeAgg merges one aggregation's partials on one repartition shard.
type mergeAgg struct {
	spec    *aggSpec
	streams []string // the aggregation's source streams
	src     *srcTable

	windows  map[int64]*mergeWindow
	sessions map[string]map[string]*mergeEntry // key → session identity → entry
}

type mergeWindow struct {
	start, end int64
	keys       map[string]*mergeKey
}

type mergeKey struct {
	parts     map[string]*mergeEntry // by source shard
	dirty     bool
	finalSent bool
}

// mergeEntry is the latest version of one partial, where it was read and
// the source table then (for a checkpoint that replays it).
type mergeEntry struct {
	source     string
	start, end int64
	version    int64
	accs       [][]byte
	pos        position
	table      *srcTable
}

func newMergeAgg(spec *aggSpec, streams []string) *mergeAgg {
	return &mergeAgg{spec: spec, streams: streams, src: newSrcTable(), windows: map[int64]*mergeWindow{}, sessions: map[string]map[string]*mergeEntry{}}
}

func (m *mergeAgg) watermark() int64 { return m.src.watermark(m.streams) }

// marker applies a marker entry.
func (m *mergeAgg) marker(e markerEntry) { m.src = m.src.apply(e) }

// closed reports whether a window or session ending at end is past the
// allowed lateness: partials for it are replays and are ignored.
func (m *mergeAgg) closed(end int64, wm int64) bool {
	return addSat(end, m.spec.lateness) <= wm
}

// add merges a partial read at pos.
func (m *mergeAgg) add(p *partial, pos position) {
	wm := m.watermark()
	if m.closed(p.end, wm) {
		return
	}
	entry := &mergeEntry{source: p.source, start: p.start, end: p.end, version: p.version, accs: p.accs, pos: pos, table: m.src}
	if m.spec.window.kind == session {
		id := p.source + "@" + p.session.String()
		byID := m.sessions[p.key]
		if byID == nil {
			byID = map[string]*mergeEntry{}
			m.sessions[p.key] = byID
		}
		if old := byID[id]; old != nil && old.version >= p.version {
			return
		}
		if p.tombstone {
			delete(byID, id)
			if len(byID) == 0 {
				delete(m.sessions, p.key)
			}
			return
		}
		byID[id] = entry
		return
	}
	w := m.windows[p.start]
	if w == nil {
		w = &mergeWindow{start: p.start, end: p.end, keys: map[string]*mergeKey{}}
		m.windows[p.start] = w
	}
	k := w.keys[p.key]
	if k == nil {
		k = &mergeKey{parts: map[string]*mergeEntry{}}
		w.keys[p.key] = k
	}
	if old := k.parts[p.source]; old != nil && old.version >= p.version {
		return
	}
	k.parts[p.source] = entry
	k.dirty = true
}

// result is one fired (window, key).
type result struct {
	start, end int64
	key        string
	values     []any
	final      bool
}

// fire returns the results due at the current watermark and forgets what
// is past the allowed lateness.
func (m *mergeAgg) fire() ([]result, error) {
	wm := m.watermark()
	var out []result
	if m.spec.window.kind == session {
		for key, byID := range m.sessions {
			entries := slices.Collect(maps.Values(byID))
			sort.Slice(entries, func(i, j int) bool { return entries[i].start < entries[j].start })
			for i := 0; i < len(entries); {
				j, end := i+1, entries[i].end
				for j < len(entries) && entries[j].start < end {
					end = max(end, entries[j].end)
					j++
				}
				group := entries[i:j]
				if m.closed(end, wm) {
					vals, err := m.merge(group)
					if err != nil {
						return nil, err
					}
					out = append(out, result{start: group[0].start, end: end, key: key, values: vals, final: true})
					for id, e := range byID {
						if slices.Contains(group, e) {
							delete(byID, id)
						}
					}
				}
				i = j
			}
			if len(byID) == 0 {
				delete(m.sessions, key)
			}
		}
		return out, nil
	}
	for start, w := range m.windows {
		if w.end > wm {
			continue
		}
		final := m.closed(w.end, wm)
		for key, k := range w.keys {
			if !k.dirty && (!final || k.finalSent) {
				continue
			}
			vals, err := m.merge(slices.Collect(maps.Values(k.parts)))
			if err != nil {
				return nil, err
			}
			out = append(out, result{start: w.start, end: w.end, key: key, values: vals, final: final})
			k.dirty, k.finalSent = false, final
		}
		if final {
			delete(m.windows, start)
		}
	}
	return out, nil
}

// merge folds partials into one accumulator per aggregate and returns the
// results.
func (m *mergeAgg) merge(entries []*mergeEntry) ([]any, error) {
	vals := make([]any, len(m.spec.aggs))
	for i, ag := range m.spec.aggs {
		acc := ag.New()
		for _, e := range entries {
			part, err := ag.Unmarshal(e.accs[i])
			if err != nil {
				return nil, fmt.Errorf("unmarshal %s partial: %w", ag.Name(), err)
			}
			if err := acc.Merge(part); err != nil {
				return nil, fmt.Errorf("merge %s: %w", ag.Name(), err)
			}
		}
		vals[i] = acc.Result()
	}
	return vals, nil
}

// retained returns the checkpoint that replays every partial still held
// and the source table just before it; ok is false when nothing is held.
func (m *mergeAgg) retained() (resume position, table *srcTable, ok bool) {
	consider := func(e *mergeEntry) {
		if p := before(e.pos); !ok || p.Compare(resume) < 0 {
			resume, table, ok = p, e.table, true
		}
	}
	for _, w := range m.windows {
		for _, k := range w.keys {
			for _, e := range k.parts {
				consider(e)
			}
		}
	}
	for _, byID := range m.sessions {
		for _, e := range byID {
			consider(e)
		}
	}
	return resume, table, ok
}
