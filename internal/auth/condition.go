package auth

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// condition is one key of one operator of a Condition element:
// {"StringEquals": {"aws:PrincipalArn": ["a", "b"]}} is one condition.
type condition struct {
	op       string // the base operator, e.g. StringEquals
	ifExists bool
	set      string // "", "ForAnyValue" or "ForAllValues"
	key      string // lower case: keys match case-insensitively
	values   []string
	prefixes []netip.Prefix // IpAddress, NotIpAddress
	times    []time.Time    // Date*
	numbers  []float64      // Numeric*
}

// operators are the condition operators understood, and whether each is
// negated (true when the key is absent, and when the value matches none).
var operators = map[string]bool{
	"StringEquals": false, "StringNotEquals": true,
	"StringEqualsIgnoreCase": false, "StringNotEqualsIgnoreCase": true,
	"StringLike": false, "StringNotLike": true,
	"NumericEquals": false, "NumericNotEquals": true,
	"NumericLessThan": false, "NumericLessThanEquals": false,
	"NumericGreaterThan": false, "NumericGreaterThanEquals": false,
	"DateEquals": false, "DateNotEquals": true,
	"DateLessThan": false, "DateLessThanEquals": false,
	"DateGreaterThan": false, "DateGreaterThanEquals": false,
	"Bool":      false,
	"IpAddress": false, "NotIpAddress": true,
	"ArnEquals": false, "ArnLike": false, "ArnNotEquals": true, "ArnNotLike": true,
	"Null": false,
}

func parseConditions(raw json.RawMessage) ([]condition, error) {
	var block map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &block); err != nil {
		return nil, fmt.Errorf(`the Condition must be an object such as {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}`)
	}
	var out []condition
	for opName, keys := range block {
		c := condition{op: opName}
		if set, rest, ok := strings.Cut(c.op, ":"); ok {
			if set != "ForAnyValue" && set != "ForAllValues" {
				return nil, fmt.Errorf("condition operator %q: unknown set operator %q", opName, set)
			}
			c.set, c.op = set, rest
		}
		if base, ok := strings.CutSuffix(c.op, "IfExists"); ok && c.op != "Null" {
			c.op, c.ifExists = base, true
		}
		if _, ok := operators[c.op]; !ok {
			return nil, fmt.Errorf("unknown condition operator %q", opName)
		}
		for key, v := range keys {
			k := c
			k.key = strings.ToLower(key)
			vals, err := conditionValues(v)
			if err != nil {
				return nil, fmt.Errorf("condition %s %s: %w", opName, key, err)
			}
			k.values = vals
			if err := k.compile(); err != nil {
				return nil, fmt.Errorf("condition %s %s: %w", opName, key, err)
			}
			out = append(out, k)
		}
	}
	return out, nil
}

// conditionValues reads a value or a list of values; numbers and booleans
// count as their JSON text.
func conditionValues(raw json.RawMessage) ([]string, error) {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		list = []json.RawMessage{raw}
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("no values")
	}
	out := make([]string, 0, len(list))
	for _, v := range list {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out = append(out, s)
			continue
		}
		var f float64
		var b bool
		switch {
		case json.Unmarshal(v, &f) == nil, json.Unmarshal(v, &b) == nil:
			out = append(out, string(v))
		default:
			return nil, fmt.Errorf("values must be strings, numbers or booleans")
		}
	}
	return out, nil
}

// compile parses the values of typed operators once.
func (c *condition) compile() error {
	switch {
	case strings.HasSuffix(c.op, "IpAddress"):
		for _, v := range c.values {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				a, aerr := netip.ParseAddr(v)
				if aerr != nil {
					return fmt.Errorf("%q is not an IP address or CIDR block", v)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			c.prefixes = append(c.prefixes, p.Masked())
		}
	case strings.HasPrefix(c.op, "Date"):
		for _, v := range c.values {
			t, ok := parseDate(v)
			if !ok {
				return fmt.Errorf("%q is not a date (ISO 8601, or epoch seconds)", v)
			}
			c.times = append(c.times, t)
		}
	case strings.HasPrefix(c.op, "Numeric"):
		for _, v := range c.values {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", v)
			}
			c.numbers = append(c.numbers, f)
		}
	case c.op == "Bool", c.op == "Null":
		for _, v := range c.values {
			if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
				return fmt.Errorf("%q is not true or false", v)
			}
		}
	}
	return nil
}

func parseDate(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return time.UnixMilli(int64(f * 1000)), true
	}
	return time.Time{}, false
}

// eval decides the condition for the request's keys.
func (c *condition) eval(keys func(string) (string, bool)) bool {
	v, present := keys(c.key)
	if c.op == "Null" {
		// "true": the key must be absent; "false": present.
		return strings.EqualFold(c.values[0], "true") != present
	}
	negated := operators[c.op]
	if !present {
		switch {
		case c.set == "ForAllValues":
			return true
		case c.set == "ForAnyValue":
			return false
		case c.ifExists:
			return true
		}
		return negated
	}
	hit := c.matchAny(v)
	if negated {
		return !hit
	}
	return hit
}

// matchAny reports whether v matches any of the condition's values under
// its operator (for a negated operator: equals or is like any of them).
func (c *condition) matchAny(v string) bool {
	switch c.op {
	case "StringEquals", "StringNotEquals":
		return slices.Contains(c.values, v)
	case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
		return slices.ContainsFunc(c.values, func(p string) bool { return strings.EqualFold(p, v) })
	case "StringLike", "StringNotLike":
		return slices.ContainsFunc(c.values, func(p string) bool { return glob(p, v) })
	case "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike":
		return slices.ContainsFunc(c.values, func(p string) bool { return arnLike(p, v) })
	case "Bool":
		return slices.ContainsFunc(c.values, func(p string) bool { return strings.EqualFold(p, v) })
	case "IpAddress", "NotIpAddress":
		a, err := netip.ParseAddr(v)
		if err != nil {
			return false
		}
		a = a.Unmap()
		return slices.ContainsFunc(c.prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	if strings.HasPrefix(c.op, "Numeric") {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return false
		}
		return slices.ContainsFunc(c.numbers, func(n float64) bool {
			return compare(c.op[len("Numeric"):], cmpFloat(f, n))
		})
	}
	if strings.HasPrefix(c.op, "Date") {
		t, ok := parseDate(v)
		if !ok {
			return false
		}
		return slices.ContainsFunc(c.times, func(d time.Time) bool {
			return compare(c.op[len("Date"):], t.Compare(d))
		})
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compare applies a comparison named like an operator's suffix to the
// result of comparing the request's value with the policy's.
func compare(name string, c int) bool {
	switch name {
	case "Equals", "NotEquals":
		return c == 0
	case "LessThan":
		return c < 0
	case "LessThanEquals":
		return c <= 0
	case "GreaterThan":
		return c > 0
	case "GreaterThanEquals":
		return c >= 0
	}
	return false
}

// arnLike matches an ARN against a pattern component by component (the
// six colon-separated parts), each with * and ? wildcards.
func arnLike(pattern, arn string) bool {
	pp := strings.SplitN(pattern, ":", 6)
	ap := strings.SplitN(arn, ":", 6)
	if len(pp) != 6 || len(ap) != 6 {
		return glob(pattern, arn)
	}
	for i := range pp {
		if !glob(pp[i], ap[i]) {
			return false
		}
	}
	return true
}
