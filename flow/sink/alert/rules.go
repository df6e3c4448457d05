package alert

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/flow"
)

// Kind is what a rule watches.
type Kind int

const (
	// Threshold compares each window's value with Threshold.
	Threshold Kind = iota + 1
	// Change compares the change of the value from the key's previous,
	// adjacent window with Threshold: the difference, or the ratio of the
	// difference to the previous value with Relative (0.5 is +50 %).
	Change
	// Absence goes to ALARM when no row of the table (or of a key, with
	// PerKey) was written for Period, by the sink's clock.
	Absence
)

// State is an alarm's state, as CloudWatch names them.
type State string

const (
	OK               State = "OK"
	Alarm            State = "ALARM"
	InsufficientData State = "INSUFFICIENT_DATA"
)

// Rule is one alarm over a result table, evaluated per key.
type Rule struct {
	// Name names the alarm in notifications and logs.
	Name string
	// Table is the name of the result table the rule watches.
	Table string
	Kind  Kind
	// Value is the value column (Int, Float or Bool) a Threshold or Change
	// rule reads.
	Value string
	// Op and Threshold make the condition a datapoint breaches:
	// value (or change) Op Threshold, Op one of > >= < <= == !=.
	Op        string
	Threshold float64
	// Relative makes a Change rule's change relative to the previous value.
	Relative bool
	// DatapointsToAlarm of the last EvaluationWindows windows must breach
	// for ALARM (CloudWatch's "N out of M"). Defaults 1 and 1.
	DatapointsToAlarm int
	EvaluationWindows int
	// Period is an Absence rule's silence before ALARM.
	Period time.Duration
	// PerKey makes an Absence rule watch each key seen on its own rather
	// than the table as a whole.
	PerKey bool
}

func (r *Rule) validate() error {
	if r.Name == "" || r.Table == "" {
		return errors.New("a rule needs a name and a table")
	}
	if r.DatapointsToAlarm == 0 {
		r.DatapointsToAlarm = 1
	}
	if r.EvaluationWindows == 0 {
		r.EvaluationWindows = r.DatapointsToAlarm
	}
	switch r.Kind {
	case Threshold, Change:
		if r.Value == "" {
			return fmt.Errorf("rule %s: no value column", r.Name)
		}
		if _, err := compare(r.Op, 0, 0); err != nil {
			return fmt.Errorf("rule %s: %w", r.Name, err)
		}
		if r.DatapointsToAlarm < 1 || r.EvaluationWindows < r.DatapointsToAlarm || r.EvaluationWindows > 1000 {
			return fmt.Errorf("rule %s: %d of %d windows: want 1 ≤ N ≤ M ≤ 1000", r.Name, r.DatapointsToAlarm, r.EvaluationWindows)
		}
	case Absence:
		if r.Period <= 0 {
			return fmt.Errorf("rule %s: an absence rule needs a period", r.Name)
		}
	default:
		return fmt.Errorf("rule %s: unknown kind %d", r.Name, r.Kind)
	}
	return nil
}

func compare(op string, a, b float64) (bool, error) {
	switch op {
	case ">":
		return a > b, nil
	case ">=":
		return a >= b, nil
	case "<":
		return a < b, nil
	case "<=":
		return a <= b, nil
	case "==":
		return a == b, nil
	case "!=":
		return a != b, nil
	}
	return false, fmt.Errorf("operator %q: want one of > >= < <= == !=", op)
}

// datapoint is one window's value of a key.
type datapoint struct {
	start, end time.Time
	value      float64
	evaluated  bool // false when a Change had no previous window
	breaching  bool
}

// keyState is a rule's state for one key.
type keyState struct {
	keys     []any
	state    State
	points   []datapoint // by window end, the last M windows and the one before
	lastSeen time.Time   // Absence: when a row of the key was last written
}

// ruleState evaluates one rule.
type ruleState struct {
	Rule
	valueIdx int // in the table's values; -1 until the table is opened
	table    flow.Table
	keys     map[string]*keyState
	opened   time.Time // Absence of the whole table: counting starts here
	whole    *keyState // Absence of the whole table
	warned   bool      // the key bound was reached and logged
}

// transition is a state change to notify.
type transition struct {
	rule   *ruleState
	key    *keyState
	from   State
	to     State
	reason string
	point  *datapoint
}

// observe folds in one row's datapoint for the rule and returns the state
// change it causes, if any.
func (rs *ruleState) observe(ks *keyState, w flow.Window, v any) (transition, bool) {
	x, ok := number(v)
	if !ok {
		return transition{}, false // no value: a missing datapoint
	}
	i, found := slices.BinarySearchFunc(ks.points, w.End, func(p datapoint, end time.Time) int { return p.end.Compare(end) })
	if found {
		ks.points[i].start, ks.points[i].value = w.Start, x
	} else {
		ks.points = slices.Insert(ks.points, i, datapoint{start: w.Start, end: w.End, value: x})
	}
	// (Re-)evaluate this datapoint and, for Change, the next one, whose
	// change depends on it.
	for j := i; j < len(ks.points) && j <= i+1; j++ {
		rs.evaluate(ks.points, j)
	}
	// Keep the last M windows and, for Change, the one before them.
	newest := ks.points[len(ks.points)-1]
	length := newest.end.Sub(newest.start)
	horizon := newest.end.Add(-time.Duration(rs.EvaluationWindows+1) * length)
	drop := 0
	for drop < len(ks.points)-1 && !ks.points[drop].end.After(horizon) {
		drop++
	}
	ks.points = slices.Delete(ks.points, 0, drop)

	from := ks.state
	to, reason := rs.judge(ks.points)
	if to == from {
		return transition{}, false
	}
	ks.state = to
	p := newest
	return transition{rule: rs, key: ks, from: from, to: to, reason: reason, point: &p}, true
}

func (rs *ruleState) evaluate(points []datapoint, j int) {
	p := &points[j]
	x := p.value
	if rs.Kind == Change {
		if j == 0 || !points[j-1].end.Equal(p.start) {
			p.evaluated = false
			return
		}
		prev := points[j-1].value
		x -= prev
		if rs.Relative {
			if prev == 0 {
				p.evaluated = false
				return
			}
			x /= math.Abs(prev)
		}
	}
	p.breaching, _ = compare(rs.Op, x, rs.Threshold)
	p.evaluated = true
}

// judge gives the state of the last M windows: ALARM when at least N
// datapoints breach, OK when at least N were evaluated and fewer breach,
// INSUFFICIENT_DATA when fewer than N could be evaluated (missing
// windows are missing data, as CloudWatch's default treats them).
func (rs *ruleState) judge(points []datapoint) (State, string) {
	newest := points[len(points)-1]
	length := newest.end.Sub(newest.start)
	from := newest.end.Add(-time.Duration(rs.EvaluationWindows) * length)
	evaluated, breaching := 0, 0
	for _, p := range points {
		if !p.end.After(from) || !p.evaluated {
			continue
		}
		evaluated++
		if p.breaching {
			breaching++
		}
	}
	what := "value"
	if rs.Kind == Change {
		what = "change"
		if rs.Relative {
			what = "relative change"
		}
	}
	cond := fmt.Sprintf("%s %s %s %g", rs.Value, what, rs.Op, rs.Threshold)
	switch {
	case breaching >= rs.DatapointsToAlarm:
		return Alarm, fmt.Sprintf("%d of the last %d windows breach %s", breaching, rs.EvaluationWindows, cond)
	case evaluated >= rs.DatapointsToAlarm:
		return OK, fmt.Sprintf("%d of the last %d windows breach %s (%d needed)", breaching, rs.EvaluationWindows, cond, rs.DatapointsToAlarm)
	}
	return InsufficientData, fmt.Sprintf("%d of the last %d windows have data for %s (%d needed)", evaluated, rs.EvaluationWindows, cond, rs.DatapointsToAlarm)
}

// seen notes a row of ks at now for an Absence rule.
func (rs *ruleState) seen(ks *keyState, now time.Time) (transition, bool) {
	ks.lastSeen = now
	if ks.state == OK {
		return transition{}, false
	}
	from := ks.state
	ks.state = OK
	return transition{rule: rs, key: ks, from: from, to: OK, reason: "rows are being written again"}, true
}

// silent checks an Absence rule's key at now.
func (rs *ruleState) silent(ks *keyState, now time.Time) (transition, bool) {
	since := ks.lastSeen
	if since.IsZero() {
		since = rs.opened
	}
	if ks.state == Alarm || now.Sub(since) < rs.Period {
		return transition{}, false
	}
	from := ks.state
	ks.state = Alarm
	what := "table " + rs.Table
	if rs.PerKey {
		what = "this key of table " + rs.Table
	}
	return transition{rule: rs, key: ks, from: from, to: Alarm,
		reason: fmt.Sprintf("no rows of %s for %s (since %s)", what, now.Sub(since).Round(time.Second), since.UTC().Format(time.RFC3339))}, true
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x)
	case int:
		return float64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func keyID(keys []any) string {
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%T:%v\x00", k, k)
	}
	return sb.String()
}
