package flow

import (
	"encoding/binary"
	"fmt"
)

// The repartition stream carries two kinds of records, both binary:
//
//	partial: 'P' 1 agg source start end sessionSeq sessionSub key version flags n acc...
//	marker:  'M' 1 n (agg source wm flags final nChildren child...)...
//
// Strings and byte strings are a uvarint length and the bytes; start, end,
// wm, final and sessionSub are zig-zag varints, version and counts
// uvarints; flags bit 0 is "tombstone" (partial) or "ended" (marker).
//
// Checkpoint states (stored with a shard's checkpoint in its lease) use
// the same encoding:
//
//	source shard:      'S' 1 lastSeq lastSub flags n (agg wm nJumps (seq sub wm)...)...
//	repartition shard: 'R' 1 lastSeq lastSub n (agg nListed stream... nShards shard...)...
//	shard:             key wm final flags nChildren child... nParents parent...

const (
	kindPartial     = 'P'
	kindMarker      = 'M'
	kindSourceState = 'S'
	kindMergeState  = 'R'
	wireVersion     = 1
)

type wireWriter struct{ b []byte }

func (e *wireWriter) byte(c byte)    { e.b = append(e.b, c) }
func (e *wireWriter) uint(n uint64)  { e.b = binary.AppendUvarint(e.b, n) }
func (e *wireWriter) int(n int64)    { e.b = binary.AppendVarint(e.b, n) }
func (e *wireWriter) str(s string)   { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *wireWriter) bytes(b []byte) { e.uint(uint64(len(b))); e.b = append(e.b, b...) }
func (e *wireWriter) pos(p position) { e.str(p.Sequence); e.int(p.SubSequence) }
func (e *wireWriter) bool(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// The decoding side reads with the aggregates' reader (aggregates.go);
// these add what records and states need.

// items reads a count of items that take at least one byte each, so that
// a hostile count cannot make a large allocation.
func (r *reader) items() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail(errTruncated)
		return 0
	}
	return int(n)
}

func (r *reader) str() string   { return string(r.bytes()) }
func (r *reader) pos() position { return position{Sequence: r.str(), SubSequence: r.varint()} }

// raw reads a byte string that outlives r's buffer.
func (r *reader) raw() []byte {
	b := r.bytes()
	return b[:len(b):len(b)]
}

func (r *reader) header(kind byte) {
	if k := r.byte(); k != kind && r.err == nil {
		r.fail(fmt.Errorf("kind %q, want %q", k, kind))
	}
	if v := r.byte(); v != wireVersion && r.err == nil {
		r.fail(fmt.Errorf("version %d, want %d", v, wireVersion))
	}
}

func encodePartial(p *partial) []byte {
	e := &wireWriter{b: make([]byte, 0, 64+len(p.key)+len(p.agg)+len(p.source))}
	e.byte(kindPartial)
	e.byte(wireVersion)
	e.str(p.agg)
	e.str(p.source)
	e.int(p.start)
	e.int(p.end)
	e.pos(p.session)
	e.str(p.key)
	e.uint(uint64(p.version))
	e.byte(e.bool(p.tombstone))
	e.uint(uint64(len(p.accs)))
	for _, a := range p.accs {
		e.bytes(a)
	}
	return e.b
}

func decodePartial(b []byte) (*partial, error) {
	d := &reader{b: b}
	d.header(kindPartial)
	p := &partial{agg: d.str(), source: d.str(), start: d.varint(), end: d.varint(), session: d.pos(), key: d.str(), version: int64(d.uvarint())}
	p.tombstone = d.byte()&1 != 0
	n := d.items()
	for range n {
		p.accs = append(p.accs, d.raw())
	}
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("decode partial: %w", err)
	}
	return p, nil
}

func encodeMarkers(ms []markerEntry) []byte {
	e := &wireWriter{}
	e.byte(kindMarker)
	e.byte(wireVersion)
	e.uint(uint64(len(ms)))
	for _, m := range ms {
		e.str(m.agg)
		e.str(m.source)
		e.int(m.wm)
		e.byte(e.bool(m.ended))
		e.int(m.final)
		e.uint(uint64(len(m.children)))
		for _, c := range m.children {
			e.str(c)
		}
	}
	return e.b
}

func decodeMarkers(b []byte) ([]markerEntry, error) {
	d := &reader{b: b}
	d.header(kindMarker)
	n := d.items()
	ms := make([]markerEntry, 0, n)
	for range n {
		m := markerEntry{agg: d.str(), source: d.str(), wm: d.varint()}
		m.ended = d.byte()&1 != 0
		m.final = d.varint()
		for range d.items() {
			m.children = append(m.children, d.str())
		}
		ms = append(ms, m)
	}
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("decode marker: %w", err)
	}
	return ms, nil
}

// sourceState is what a source shard's checkpoint keeps besides its
// position: how far it was processed (records up to last are replayed
// silently) and each aggregation's watermark at the checkpoint.
type sourceState struct {
	last  position
	ended bool
	aggs  map[string]aggState
}

type aggState struct {
	wm    int64
	jumps []jump
}

func encodeSourceState(s *sourceState) []byte {
	e := &wireWriter{}
	e.byte(kindSourceState)
	e.byte(wireVersion)
	e.pos(s.last)
	e.byte(e.bool(s.ended))
	e.uint(uint64(len(s.aggs)))
	for name, a := range s.aggs {
		e.str(name)
		e.int(a.wm)
		e.uint(uint64(len(a.jumps)))
		for _, j := range a.jumps {
			e.pos(j.pos)
			e.int(j.wm)
		}
	}
	return e.b
}

func decodeSourceState(b []byte) (*sourceState, error) {
	d := &reader{b: b}
	d.header(kindSourceState)
	s := &sourceState{last: d.pos(), aggs: map[string]aggState{}}
	s.ended = d.byte()&1 != 0
	for range d.items() {
		name := d.str()
		a := aggState{wm: d.varint()}
		for range d.items() {
			a.jumps = append(a.jumps, jump{pos: d.pos(), wm: d.varint()})
		}
		s.aggs[name] = a
	}
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("decode source shard state: %w", err)
	}
	return s, nil
}

// mergeState is what a repartition shard's checkpoint keeps: how far it
// was processed and each aggregation's source table at the checkpoint.
type mergeState struct {
	last   position
	tables map[string]*srcTable
}

func encodeMergeState(s *mergeState) []byte {
	e := &wireWriter{}
	e.byte(kindMergeState)
	e.byte(wireVersion)
	e.pos(s.last)
	e.uint(uint64(len(s.tables)))
	for name, t := range s.tables {
		e.str(name)
		e.uint(uint64(len(t.listed)))
		for st := range t.listed {
			e.str(st)
		}
		e.uint(uint64(len(t.shards)))
		for key, sh := range t.shards {
			e.str(key)
			e.int(sh.wm)
			e.int(sh.final)
			e.byte(e.bool(sh.reported) | e.bool(sh.root)<<1 | e.bool(sh.ended)<<2)
			e.uint(uint64(len(sh.children)))
			for _, c := range sh.children {
				e.str(c)
			}
			e.uint(uint64(len(sh.parents)))
			for _, p := range sh.parents {
				e.str(p)
			}
		}
	}
	return e.b
}

func decodeMergeState(b []byte) (*mergeState, error) {
	d := &reader{b: b}
	d.header(kindMergeState)
	s := &mergeState{last: d.pos(), tables: map[string]*srcTable{}}
	for range d.items() {
		name := d.str()
		t := newSrcTable()
		for range d.items() {
			t.listed[d.str()] = true
		}
		for range d.items() {
			key := d.str()
			sh := &srcShard{wm: d.varint(), final: d.varint()}
			f := d.byte()
			sh.reported, sh.root, sh.ended = f&1 != 0, f&2 != 0, f&4 != 0
			for range d.items() {
				sh.children = append(sh.children, d.str())
			}
			for range d.items() {
				sh.parents = append(sh.parents, d.str())
			}
			t.shards[key] = sh
		}
		s.tables[name] = t
	}
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("decode repartition shard state: %w", err)
	}
	return s, nil
}
