package flow

import (
	"fmt"
	"slices"
	"sort"

	"github.com/sluicehq/sluice/consumer"
)

// Stage 1 of an aggregation: on each source shard, records are folded into
// accumulators per (window, key), and a window's partial result is sent to
// the repartition stream once the shard's watermark passes the window's end
// (and again if a late record within the allowed lateness changes it).
// Everything here is a function of the shard's records in order (and of
// the idle-time watermark jumps, which are persisted before they are
// announced), so that a replay from a checkpoint rebuilds the same state.

// position is a place in a shard: a record's sequence and sub-sequence
// number. A checkpoint {seq, sub-1} resumes at the record {seq, sub}.
type position = consumer.ExtendedSequenceNumber

// before returns the checkpoint that resumes at p.
func before(p position) position {
	return position{Sequence: p.Sequence, SubSequence: p.SubSequence - 1}
}

// partial is one message of stage 1 to stage 2: the accumulators of one
// (source shard, window, key), or of one session of a key on a source
// shard. Its identity is (agg, source, start/session, key); a message with
// a higher version replaces one with a lower version.
type partial struct {
	agg    string
	source string // the source shard, "stream/shardId"
	// start and end bound the window, or for a session its current extent
	// [first record, last record + gap).
	start, end int64
	// session identifies a session on its source shard: the position of
	// its first record. Zero for fixed windows.
	session   position
	key       string
	version   int64
	tombstone bool     // a session merged into another: forget it
	accs      [][]byte // one per aggregate
}

// jump is a watermark advance that no record caused: an idle shard's. It
// happened after the record at pos.
type jump struct {
	pos position
	wm  int64
}

// preAgg pre-aggregates one aggregation on one source shard.
type preAgg struct {
	spec   *aggSpec
	source string

	// wm is the shard's watermark for this aggregation: the largest event
	// time seen minus the allowed out-of-orderness (rec), or a later idle
	// jump.
	wm    int64
	rec   int64
	jumps []jump // jumps after the oldest retained record, oldest first

	windows  map[int64]*fixedWindow   // fixed windows by start
	sessions map[string][]*keySession // sessions by key, by start
	pending  []*partial               // tombstones to send at the next flush

	touched    bool  // a record reached the aggregation in this batch
	lastRecord int64 // wall-clock ms of the last batch with a record for the aggregation
}

type fixedWindow struct {
	start, end int64
	keys       map[string]*keyState
	// resume is the checkpoint that replays the window's first record (and
	// what deciding on it needs); first is that record's position,
	// resumeWM the watermark just before it.
	resume   position
	first    position
	resumeWM int64
}

type keyState struct {
	accs    []Accumulator
	version int64 // records folded
	dirty   bool  // changed since last sent
}

type keySession struct {
	id         position // the first record's position: the session's identity
	start, end int64
	keyState
	resume   position
	resumeWM int64 // the watermark just before the first record (id)
}

func newPreAgg(spec *aggSpec, source string) *preAgg {
	return &preAgg{spec: spec, source: source, wm: minTime, rec: minTime, windows: map[int64]*fixedWindow{}, sessions: map[string][]*keySession{}}
}

func (a *preAgg) newAccs() []Accumulator {
	accs := make([]Accumulator, len(a.spec.aggs))
	for i, ag := range a.spec.aggs {
		accs[i] = ag.New()
	}
	return accs
}

func (k *keyState) fold(vals []any, ev int64) error {
	for i, acc := range k.accs {
		if err := acc.Add(vals[i], ev); err != nil {
			return fmt.Errorf("aggregate %d: %w", i, err)
		}
	}
	k.version++
	k.dirty = true
	return nil
}

// observe advances the watermark to t minus the allowed out-of-orderness.
func (a *preAgg) observe(t int64) {
	if w := addSat(t, -a.spec.maxOOO); w > a.rec {
		a.rec = w
		a.wm = max(a.wm, w)
	}
}

// restore sets the watermark and the jumps a checkpoint kept.
func (a *preAgg) restore(wm int64, jumps []jump) {
	a.wm, a.rec, a.jumps = wm, wm, jumps
}

// advance applies an idle jump after the record at pos; it reports whether
// the watermark moved.
func (a *preAgg) advance(pos position, wm int64) bool {
	if wm <= a.wm {
		return false
	}
	a.wm = wm
	if n := len(a.jumps); n > 0 && a.jumps[n-1].pos == pos {
		a.jumps[n-1].wm = wm
	} else {
		a.jumps = append(a.jumps, jump{pos: pos, wm: wm})
	}
	return true
}

// replayJumps applies the persisted jumps at or before pos (during a
// replay, before the record after pos).
func (a *preAgg) replayJumps(pos position) {
	for _, j := range a.jumps {
		if j.pos.Compare(pos) <= 0 && j.wm > a.wm {
			a.wm = j.wm
		}
	}
}

// add folds one record, at pos, with event time ev (ms), into its
// window(s). It reports whether the record was late for
// any of them: then it must go to the side output.
//
// resume is the checkpoint that replays this record and whatever its
// processing depends on (a Dedup upstream looks back at earlier records).
func (a *preAgg) add(pos position, ev int64, resume position, key []byte, vals []any) (late bool, err error) {
	lateness := a.spec.lateness
	if a.spec.window.kind == session {
		if addSat(ev, lateness) < a.wm {
			return true, nil
		}
		return false, a.addSession(pos, ev, resume, key, vals)
	}
	size := a.spec.window.sizeMillis()
	a.spec.window.windowsOf(ev, func(start int64) {
		if err != nil {
			return
		}
		end := start + size
		if addSat(end, lateness) <= a.wm {
			late = true
			return
		}
		w := a.windows[start]
		if w == nil {
			w = &fixedWindow{start: start, end: end, keys: map[string]*keyState{}, resume: resume, first: pos, resumeWM: a.wm}
			a.windows[start] = w
		}
		k := w.keys[string(key)]
		if k == nil {
			k = &keyState{accs: a.newAccs()}
			w.keys[string(key)] = k
		}
		err = k.fold(vals, ev)
	})
	return late, err
}

func (a *preAgg) addSession(pos position, ev int64, resume position, k []byte, vals []any) error {
	gap := a.spec.window.gap.Milliseconds()
	key := string(k)
	list := a.sessions[key]
	// The sessions this record touches: those overlapping [ev, ev+gap).
	var hit []*keySession
	rest := list[:0:0]
	for _, s := range list {
		if s.start < ev+gap && ev < s.end {
			hit = append(hit, s)
		} else {
			rest = append(rest, s)
		}
	}
	var s *keySession
	switch len(hit) {
	case 0:
		s = &keySession{id: pos, start: ev, end: ev + gap, keyState: keyState{accs: a.newAccs()}, resume: resume, resumeWM: a.wm}
	default:
		// The oldest session (by first record) absorbs the others, which
		// are withdrawn with a tombstone.
		slices.SortFunc(hit, func(x, y *keySession) int { return x.id.Compare(y.id) })
		s = hit[0]
		for _, o := range hit[1:] {
			for i, acc := range s.accs {
				if err := acc.Merge(o.accs[i]); err != nil {
					return fmt.Errorf("merge sessions: %w", err)
				}
			}
			s.version += o.version
			s.start, s.end = min(s.start, o.start), max(s.end, o.end)
			s.resume = minPos(s.resume, o.resume)
			a.pending = append(a.pending, &partial{agg: a.spec.name, source: a.source, start: o.start, end: o.end, session: o.id, key: key, version: o.version + 1, tombstone: true})
		}
		s.start, s.end = min(s.start, ev), max(s.end, ev+gap)
	}
	if err := s.fold(vals, ev); err != nil {
		return err
	}
	rest = append(rest, s)
	sort.Slice(rest, func(i, j int) bool { return rest[i].start < rest[j].start })
	a.sessions[key] = rest
	return nil
}

// flush sends (to emit, unless silent) the partials stage 2 may need given
// the current watermark, and forgets windows past the allowed lateness.
// With final, the shard has ended: everything is sent and forgotten.
func (a *preAgg) flush(emit func(*partial) error, silent, final bool) error {
	send := func(p *partial) error {
		if silent {
			return nil
		}
		return emit(p)
	}
	for _, p := range a.pending {
		if err := send(p); err != nil {
			return err
		}
	}
	a.pending = a.pending[:0]
	wm, lateness := a.wm, a.spec.lateness
	if final {
		wm = maxTime
	}
	if a.spec.window.kind == session {
		for key, list := range a.sessions {
			keep := list[:0]
			for _, s := range list {
				// Stage 2 fires a merged session once the watermark passes
				// its end plus the lateness; every session starting before
				// that point may be part of one, so it must be there.
				if s.dirty && s.start < addSat(wm, -lateness) {
					p, err := a.partialOf(s.start, s.end, s.id, key, &s.keyState)
					if err != nil {
						return err
					}
					if err := send(p); err != nil {
						return err
					}
					s.dirty = false
				}
				if addSat(s.end, lateness) > wm {
					keep = append(keep, s)
				}
			}
			if len(keep) == 0 {
				delete(a.sessions, key)
			} else {
				a.sessions[key] = keep
			}
		}
		return nil
	}
	for start, w := range a.windows {
		if w.end > wm {
			continue
		}
		for key, k := range w.keys {
			if !k.dirty {
				continue
			}
			p, err := a.partialOf(w.start, w.end, position{}, key, k)
			if err != nil {
				return err
			}
			if err := send(p); err != nil {
				return err
			}
			k.dirty = false
		}
		if addSat(w.end, lateness) <= wm {
			delete(a.windows, start)
		}
	}
	return nil
}

func (a *preAgg) partialOf(start, end int64, id position, key string, k *keyState) (*partial, error) {
	p := &partial{agg: a.spec.name, source: a.source, start: start, end: end, session: id, key: key, version: k.version, accs: make([][]byte, len(k.accs))}
	for i, acc := range k.accs {
		b, err := acc.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("marshal %s accumulator: %w", a.spec.aggs[i].Name(), err)
		}
		p.accs[i] = b
	}
	return p, nil
}

// retained reports what a checkpoint must keep for this aggregation: the
// position that replays the oldest record still needed (by a window not
// yet past its allowed lateness), and the watermark just before that
// record together with the jumps after it; ok is false when nothing is
// retained.
func (a *preAgg) retained() (resume position, wm int64, jumps []jump, ok bool) {
	var first position
	consider := func(r, f position, w int64) {
		if !ok || r.Compare(resume) < 0 {
			resume, ok = r, true
		}
		if first.IsZero() || f.Compare(first) < 0 {
			first, wm = f, w
		}
	}
	for _, w := range a.windows {
		consider(w.resume, w.first, w.resumeWM)
	}
	for _, list := range a.sessions {
		for _, s := range list {
			consider(s.resume, s.id, s.resumeWM)
		}
	}
	if !ok {
		return position{}, a.wm, nil, false
	}
	for _, j := range a.jumps {
		if j.pos.Compare(first) >= 0 {
			jumps = append(jumps, j)
		}
	}
	return resume, wm, jumps, true
}

// prune forgets jumps that a checkpoint no longer needs.
func (a *preAgg) prune(kept []jump) { a.jumps = append(a.jumps[:0], kept...) }

func minPos(a, b position) position {
	if b.Compare(a) < 0 {
		return b
	}
	return a
}
