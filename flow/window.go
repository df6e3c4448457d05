package flow

import (
	"fmt"
	"math"
	"time"
)

// Windowing says how an aggregation groups records by event time.
type Windowing struct {
	kind windowKind
	size time.Duration // tumbling and hopping
	step time.Duration // hopping; equal to size for tumbling
	gap  time.Duration // session
}

type windowKind int

const (
	tumbling windowKind = iota + 1
	hopping
	session
)

// Tumbling windows are fixed, back to back and never overlap: with a size
// of a minute, [12:00, 12:01), [12:01, 12:02), ... Windows are aligned to
// the Unix epoch.
func Tumbling(size time.Duration) Windowing {
	return Windowing{kind: tumbling, size: size, step: size}
}

// Hopping windows have a fixed size and start every step, so that they
// overlap when step is smaller than size (Flink's sliding windows): with a
// size of 10 minutes and a step of 1 minute, a record is in 10 windows.
// size must be a multiple of step.
func Hopping(size, step time.Duration) Windowing {
	return Windowing{kind: hopping, size: size, step: step}
}

// Session windows group a key's records that follow each other with less
// than gap between them: a session is [first record, last record + gap).
// Sessions of one key merge when a record bridges them.
func Session(gap time.Duration) Windowing {
	return Windowing{kind: session, gap: gap}
}

func (w Windowing) String() string {
	switch w.kind {
	case tumbling:
		return fmt.Sprintf("tumbling %v", w.size)
	case hopping:
		return fmt.Sprintf("hopping %v every %v", w.size, w.step)
	case session:
		return fmt.Sprintf("session gap %v", w.gap)
	}
	return "no windowing"
}

func (w Windowing) validate() error {
	switch w.kind {
	case tumbling:
		if w.size < time.Millisecond {
			return fmt.Errorf("tumbling window size %v: want at least 1ms", w.size)
		}
	case hopping:
		if w.step < time.Millisecond || w.size < w.step || w.size%w.step != 0 {
			return fmt.Errorf("hopping windows of %v every %v: want a step of at least 1ms that divides the size", w.size, w.step)
		}
	case session:
		if w.gap < time.Millisecond {
			return fmt.Errorf("session gap %v: want at least 1ms", w.gap)
		}
	default:
		return fmt.Errorf("no windowing: use Tumbling, Hopping or Session")
	}
	return nil
}

// Time in a pipeline is Unix milliseconds: event times, watermarks and
// window bounds.
const (
	minTime = math.MinInt64 // a watermark before anything
	maxTime = math.MaxInt64 // the watermark of a shard read to its end
)

// floorDiv is ⌊a/b⌋ for b > 0, also for negative a.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// windowsOf calls fn with the start of each fixed window (tumbling or
// hopping) that contains the event time t, latest first.
func (w Windowing) windowsOf(t int64, fn func(start int64)) {
	size, step := w.size.Milliseconds(), w.step.Milliseconds()
	last := floorDiv(t, step) * step
	for s := last; s > t-size; s -= step {
		fn(s)
	}
}

// sizeMillis is a fixed window's length.
func (w Windowing) sizeMillis() int64 { return w.size.Milliseconds() }

// addSat adds without overflowing past the ends of int64, so that a
// watermark at minTime or maxTime stays there.
func addSat(a, b int64) int64 {
	s := a + b
	switch {
	case b > 0 && s < a:
		return maxTime
	case b < 0 && s > a:
		return minTime
	}
	return s
}

func millisTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
