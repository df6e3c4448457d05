package dynamodb

import (
	"encoding/json"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// conds joins n comparisons with AND: 2n-1 operators.
func conds(n int) string {
	return strings.TrimSuffix(strings.Repeat("a = :v AND ", n), " AND ")
}

// sums is n SET actions b0=:v+:v,b1=:v+:v,...: n operators.
func sums(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = "b" + strconv.Itoa(i) + "=:v+:v"
	}
	return strings.Join(parts, ",")
}

// path is a document path of n elements: a.a.a...
func path(n int) string { return strings.TrimSuffix(strings.Repeat("a.", n), ".") }

// inList is "a IN (:v, :v, ...)" with n candidates.
func inList(n int) string {
	return "a IN (" + strings.TrimSuffix(strings.Repeat(":v, ", n), ", ") + ")"
}

func TestExpressionLimits(t *testing.T) {
	values := map[string]Value{":v": nv("1")}
	long := func(n int) string { return "a = :v" + strings.Repeat(" ", n-len("a = :v")) }
	for _, tc := range []struct {
		name, kind, expr, want string
	}{
		{"4096 bytes", "cond", long(4096), ""},
		{"4097 bytes", "cond", long(4097), msgExpressionSize(4097)},
		{"4097 bytes of update", "update", "SET a = :v" + strings.Repeat(" ", 4087), msgExpressionSize(4097)},
		{"4097 bytes of projection", "projection", "a" + strings.Repeat(" ", 4096), msgExpressionSize(4097)},
		{"800,000 parentheses", "cond", strings.Repeat("(", 800_000), msgExpressionSize(800_000)},
		{"NOT × 4,000,000", "cond", strings.Repeat("NOT ", 4_000_000) + "a = :v", msgExpressionSize(16_000_006)},
		{"300 operators", "cond", "NOT " + conds(150), ""},
		{"BETWEEN is one operator", "cond", "NOT " + conds(149) + " AND a BETWEEN :v AND :v", ""},
		{"301 operators", "cond", conds(151), msgOperatorCount(301)},
		{"301 operators, more written", "cond", conds(300), msgOperatorCount(301)},
		{"NOT × 299", "cond", strings.Repeat("NOT ", 299) + "a = :v", ""},
		{"NOT × 300", "cond", strings.Repeat("NOT ", 300) + "a = :v", msgOperatorCount(301)},
		{"nested functions", "cond", "a < " + strings.Repeat("size(", 301) + "b" + strings.Repeat(")", 301), msgOperatorCount(301)},
		{"unknown nested functions", "cond", "a < " + strings.Repeat("f(", 1355) + "b" + strings.Repeat(")", 1355), msgOperatorCount(301)},
		{"300 parentheses", "cond", strings.Repeat("(", 300) + "a = :v" + strings.Repeat(")", 300), ""},
		{"301 parentheses", "cond", strings.Repeat("(", 301) + "a = :v" + strings.Repeat(")", 301), msgRedundantParen},
		{"2046 parentheses", "cond", strings.Repeat("(", 2046) + "a<b" + strings.Repeat(")", 2046), msgRedundantParen},
		{"4096 open parentheses", "cond", strings.Repeat("(", 4096), msgRedundantParen},
		{"IN 100", "cond", inList(100), ""},
		{"IN 101", "cond", inList(101), msgInOperands(101)},
		{"path 32", "cond", path(32) + " = :v", ""},
		{"path 33", "cond", path(33) + " = :v", msgPathDepth(33)},
		{"path 33 with index", "cond", path(32) + "[0] = :v", msgPathDepth(33)},
		{"projection path 33", "projection", path(33), msgPathDepth(33)},
		{"update path 33", "update", "SET " + path(33) + " = :v", msgPathDepth(33)},
		{"update 300 operators", "update", "SET " + sums(300), ""},
		{"update 301 operators", "update", "SET " + sums(301), msgOperatorCount(301)},
		{"update 300 functions", "update", "SET a = " + strings.Repeat("f(", 301) + ":v" + strings.Repeat(")", 301), msgOperatorCount(301)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msg := parseMessage(tc.kind, tc.expr, newExprContext(nil, values)); msg != tc.want {
				t.Errorf("%s %.60q...: %q, want %q", tc.kind, tc.expr, msg, tc.want)
			}
		})
	}
}

// TestExpressionLimits_Cost checks that an expression over the length
// limit costs nothing beyond its string: it is refused before it is
// tokenized, whatever its nesting.
func TestExpressionLimits_Cost(t *testing.T) {
	for _, src := range []string{strings.Repeat("(", 800_000), strings.Repeat("NOT ", 4_000_000) + "a = :v"} {
		ctx := newExprContext(nil, nil)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, msg := parseCondition(src, ctx)
		runtime.ReadMemStats(&after)
		if !strings.HasPrefix(msg, "Expression size has exceeded") {
			t.Fatalf("%.20q...: %q", src, msg)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
			t.Errorf("%.20q... allocated %d bytes to be refused", src, alloc)
		}
	}
}

func TestSubstitutionLimits(t *testing.T) {
	name255, name256 := "#"+strings.Repeat("n", 254), "#"+strings.Repeat("n", 255)
	value255, value256 := ":"+strings.Repeat("v", 254), ":"+strings.Repeat("v", 255)
	big := Value{Type: typeS, S: strings.Repeat("x", maxSubstitutionBytes)}
	for _, tc := range []struct {
		name   string
		names  map[string]string
		values map[string]Value
		want   string
	}{
		{"names key 255", map[string]string{name255: "a"}, nil, ""},
		{"names key 256", map[string]string{name256: "a"}, nil, msgPlaceholderSize("ExpressionAttributeNames", 256)},
		{"values key 255", nil, map[string]Value{value255: nv("1")}, ""},
		{"values key 256", nil, map[string]Value{value256: nv("1")}, msgPlaceholderSize("ExpressionAttributeValues", 256)},
		{"long name", map[string]string{"#n": strings.Repeat("a", 64<<10)}, nil, ""},
		{"2 MB of values", nil, map[string]Value{":v": {Type: typeS, S: big.S[:maxSubstitutionBytes-2]}}, ""},
		{"over 2 MB of values", nil, map[string]Value{":v": big}, msgSubstitutions},
		{"over 2 MB together", map[string]string{"#n": strings.Repeat("a", 1<<20)}, map[string]Value{":v": {Type: typeS, S: big.S[:1<<20]}}, msgSubstitutions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newExprContext(tc.names, tc.values)
			if ctx.limitMsg != tc.want {
				t.Errorf("limitMsg = %q, want %q", ctx.limitMsg, tc.want)
			}
			// Every parse reports it, so no caller can miss it.
			if _, msg := parseProjection("a", ctx); tc.want != "" && msg != tc.want {
				t.Errorf("parse with broken limits: %q, want %q", msg, tc.want)
			}
		})
	}
}

// nestedJSON is a DynamoDB JSON value with levels levels of nesting: a
// list (or map) in a list ... around a string.
func nestedJSON(levels int, kind string) string {
	var b strings.Builder
	for range levels - 1 {
		if kind == "L" {
			b.WriteString(`{"L":[`)
		} else {
			b.WriteString(`{"M":{"k":`)
		}
	}
	b.WriteString(`{"S":"x"}`)
	for range levels - 1 {
		if kind == "L" {
			b.WriteString(`]}`)
		} else {
			b.WriteString(`}}`)
		}
	}
	return b.String()
}

func TestValueNesting(t *testing.T) {
	for _, kind := range []string{"L", "M"} {
		for _, tc := range []struct {
			levels int
			want   string
		}{{1, ""}, {32, ""}, {33, msgNestingLevels}, {5000, msgNestingLevels}} {
			t.Run(kind+strconv.Itoa(tc.levels), func(t *testing.T) {
				var raw rawValue
				if err := json.Unmarshal([]byte(nestedJSON(tc.levels, kind)), &raw); err != nil {
					t.Fatal(err)
				}
				v, msg := decodeValue(&raw)
				if msg != tc.want {
					t.Fatalf("decode: %q, want %q", msg, tc.want)
				}
				if msg == "" && v.depth(maxNestingLevels) != tc.levels {
					t.Errorf("depth = %d, want %d", v.depth(maxNestingLevels), tc.levels)
				}
			})
		}
	}
	// Empty containers at the last level are allowed.
	var raw rawValue
	json.Unmarshal([]byte(strings.Replace(nestedJSON(32, "L"), `{"S":"x"}`, `{"L":[]}`, 1)), &raw)
	if _, msg := decodeValue(&raw); msg != "" {
		t.Errorf("empty list at level 32: %q", msg)
	}
}

// TestItemTooDeep checks the nesting limit on items an update builds: a
// value nested under a path.
func TestItemTooDeep(t *testing.T) {
	var raw rawValue
	json.Unmarshal([]byte(nestedJSON(32, "M")), &raw)
	deep, msg := decodeValue(&raw)
	if msg != "" {
		t.Fatal(msg)
	}
	ctx := newExprContext(nil, map[string]Value{":deep": deep, ":m": {Type: typeM, M: map[string]Value{}}})
	actions, msg := parseUpdate("SET a = :m", ctx)
	if msg != "" {
		t.Fatal(msg)
	}
	it, _ := applyUpdate(Item{"pk": sv("k")}, nil, actions)
	if it.tooDeep() {
		t.Fatalf("one map is too deep")
	}
	actions, _ = parseUpdate("SET a.b = :deep", ctx)
	it, msg = applyUpdate(it, nil, actions)
	if msg != "" {
		t.Fatal(msg)
	}
	if !it.tooDeep() {
		t.Errorf("33 levels not too deep")
	}
}
