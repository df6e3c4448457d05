package e2e

import (
	"runtime"
	"time"
)

// waitNextMillisecond waits for the wall clock, which the server shares,
// to reach the next whole millisecond and returns it. Arrival times are
// whole milliseconds: a record stored before the call arrived before the
// returned time, one stored after it arrives at it or later. It replaces
// sleeping "long enough" between two batches.
func waitNextMillisecond() time.Time {
	next := time.Now().Truncate(time.Millisecond).Add(time.Millisecond)
	for time.Now().Before(next) {
		runtime.Gosched()
	}
	return next
}
