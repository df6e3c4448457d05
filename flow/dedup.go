package flow

import "sort"

// dedupShard is Dedup on one source shard: an id is a duplicate if the
// same id arrived less than within before. Its decision for a record
// depends only on the records that arrived within before it, so a replay
// decides the same as long as it starts that far back: resumeFor says
// where.
type dedupShard struct {
	within int64            // ms
	last   map[string]int64 // id → arrival of its last occurrence
	// recent holds the records of the last within, oldest first, to expire
	// ids and to find where a replay must start.
	recent []dedupEntry
	head   int
}

type dedupEntry struct {
	arrival int64
	resume  position
	id      string
}

func newDedupShard(within int64) *dedupShard {
	return &dedupShard{within: within, last: map[string]int64{}}
}

// seen records an occurrence of id at arrival (ms), at pos, and reports
// whether it is a duplicate.
func (d *dedupShard) seen(id string, arrival int64, pos position) bool {
	d.expire(arrival - d.within)
	prev, ok := d.last[id]
	dup := ok && arrival-prev < d.within
	d.last[id] = arrival
	d.recent = append(d.recent, dedupEntry{arrival: arrival, resume: before(pos), id: id})
	return dup
}

// expire forgets occurrences that arrived before horizon.
func (d *dedupShard) expire(horizon int64) {
	for d.head < len(d.recent) && d.recent[d.head].arrival < horizon {
		e := d.recent[d.head]
		if d.last[e.id] == e.arrival {
			delete(d.last, e.id)
		}
		d.recent[d.head] = dedupEntry{}
		d.head++
	}
	if d.head > 1024 && d.head*2 > len(d.recent) {
		d.recent = append(d.recent[:0], d.recent[d.head:]...)
		d.head = 0
	}
}

// resumeFor returns the checkpoint that replays every record this dedup
// may consult for a record arriving at arrival: the oldest kept record
// that arrived within before it.
func (d *dedupShard) resumeFor(arrival int64) (position, bool) {
	horizon := arrival - d.within
	kept := d.recent[d.head:]
	i := sort.Search(len(kept), func(i int) bool { return kept[i].arrival >= horizon })
	if i == len(kept) {
		return position{}, false
	}
	return kept[i].resume, true
}
