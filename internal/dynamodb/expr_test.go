package dynamodb

import (
	"encoding/json"
	"strings"
	"testing"
)

func sv(s string) Value { return Value{Type: typeS, S: s} }
func nv(s string) Value { return Value{Type: typeN, S: s} }

// testItem is the item the evaluation tests run against.
func testItem() Item {
	return Item{
		"pk":           sv("shardId-1"),
		"leaseOwner":   sv("w1"),
		"leaseCounter": nv("7"),
		"tags":         {Type: typeSS, Set: []string{"a", "b"}},
		"nums":         {Type: typeNS, Set: []string{"1", "2.5"}},
		"list":         {Type: typeL, L: []Value{sv("x"), nv("2"), {Type: typeM, M: map[string]Value{"deep": sv("y")}}}},
		"map":          {Type: typeM, M: map[string]Value{"a": nv("1"), "b": {Type: typeM, M: map[string]Value{"c": sv("hello")}}}},
		"nothing":      {Type: typeNULL},
		"flag":         {Type: typeBOOL, Bool: true},
		"bin":          {Type: typeB, S: "\x01\x02\x03"},
	}
}

func TestEvalCondition(t *testing.T) {
	values := map[string]Value{
		":w1": sv("w1"), ":w2": sv("w2"), ":seven": nv("7"), ":eight": nv("8.0"), ":one": nv("1"), ":two": nv("2"),
		":a": sv("a"), ":hel": sv("hel"), ":SS": sv("SS"), ":y": sv("y"), ":x": sv("x"), ":bin": {Type: typeB, S: "\x01"},
		":three": nv("3"), ":half": nv("2.5"), ":t": {Type: typeBOOL, Bool: true},
	}
	names := map[string]string{"#m": "map", "#l": "list"}
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{"leaseCounter = :seven AND leaseOwner = :w1", true},
		{"leaseCounter = :seven AND leaseOwner = :w2", false},
		{"leaseCounter < :eight", true},
		{"leaseCounter >= :eight OR leaseOwner <> :w2", true},
		{"NOT leaseOwner = :w1", false},
		{"attribute_not_exists(pk)", false},
		{"attribute_exists(pk) AND attribute_not_exists(gone)", true},
		{"gone = :one", false},
		{"gone <> :one", true},
		{"leaseOwner < :seven", false}, // mismatched types never compare
		{"leaseCounter BETWEEN :one AND :eight", true},
		{"leaseCounter IN (:one, :two, :seven)", true},
		{"contains(tags, :a) AND contains(nums, :half) AND contains(#l, :x)", true},
		{"contains(leaseOwner, :w1)", true},
		{"begins_with(#m.b.c, :hel) AND begins_with(bin, :bin)", true},
		{"attribute_type(tags, :SS)", true},
		{"size(tags) = :two AND size(#l) = :three AND size(#m.b.c) > :three", true},
		{"size(leaseCounter) = :one", false},
		{"#l[2].deep = :y AND #l[1] = :two AND #l[9] = :two", false},
		{"#l[2].deep = :y AND #l[1] = :two", true},
		{"(leaseOwner = :w2 OR leaseOwner = :w1) AND (flag = :t)", true},
		{"attribute_exists(nothing)", true},
	} {
		ctx := newExprContext(names, values)
		n, msg := parseCondition(tc.expr, ctx)
		if msg != "" {
			t.Errorf("parse %q: %s", tc.expr, msg)
			continue
		}
		if got := evalCondition(testItem(), n); got != tc.want {
			t.Errorf("%q = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	values := map[string]Value{":v": sv("v"), ":n": nv("1"), ":set": {Type: typeSS, Set: []string{"a"}}}
	names := map[string]string{"#n": "name"}
	for _, tc := range []struct {
		kind, expr, want string
	}{
		{"cond", "", "The expression can not be empty;"},
		{"cond", "a = ", `Syntax error; token: "<EOF>", near: "= "`},
		{"cond", "a = :v :v", `Syntax error; token: ":v", near: ":v :v"`},
		{"cond", "name = :v", "Attribute name is a reserved keyword; reserved keyword: name"},
		{"cond", "#x = :v", "An expression attribute name used in the document path is not defined; attribute name: #x"},
		{"cond", "a = :x", "An expression attribute value used in expression is not defined; attribute value: :x"},
		{"cond", "foo(a)", "Invalid function name; function: foo"},
		{"cond", "attribute_exists(a, b)", "Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"},
		{"cond", "attribute_exists(a) = :v", "The function is not allowed to be used this way in an expression; function: attribute_exists"},
		{"cond", "size(a)", "The function is not allowed to be used this way in an expression; function: size"},
		{"cond", "a = a", "The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a]"},
		{"cond", "attribute_type(a, :n)", "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N"},
		{"cond", "a BETWEEN :n AND :v", "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:v}"},
		{"update", "SET a = :v SET b = :v", `The "SET" section can only be used once in an update expression;`},
		{"update", "SET a = :v, a.b = :v", "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"},
		{"update", "SET a[0] = :v REMOVE a.b", "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, [0]], path two: [a, b]"},
		{"update", "ADD a :v", "Incorrect operand type for operator or function; operator: ADD, operand type: STRING"},
		{"update", "DELETE a :n", "Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER"},
		{"update", "SET a = :v + :n", "Incorrect operand type for operator or function; operator or function: +, operand type: S"},
		{"update", "SET a = list_append(:v, a)", "Incorrect operand type for operator or function; operator or function: list_append, operand type: S"},
		{"update", "SET a = if_not_exists(:v, :v)", "Operator or function requires a document path; operator or function: if_not_exists"},
		{"update", "SET a = foo(b)", "Invalid function name; function: foo"},
		{"update", "SET a", `Syntax error; token: "<EOF>", near: "a"`},
		{"update", "PUT a = :v", `Syntax error; token: "PUT", near: "PUT a"`},
		{"projection", "a, b.c, a", "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"},
		{"projection", "a[x]", `Syntax error; token: "x", near: "[x]"`},
	} {
		if msg := parseMessage(tc.kind, tc.expr, newExprContext(names, values)); msg != tc.want {
			t.Errorf("%s %q: %q, want %q", tc.kind, tc.expr, msg, tc.want)
		}
	}
}

// parseMessage parses expr as a kind ("cond", "update" or "projection")
// expression and returns the error message, "" if it parses.
func parseMessage(kind, expr string, ctx *exprContext) string {
	var msg string
	switch kind {
	case "cond":
		_, msg = parseCondition(expr, ctx)
	case "update":
		_, msg = parseUpdate(expr, ctx)
	case "projection":
		_, msg = parseProjection(expr, ctx)
	}
	return msg
}

func TestUnusedPlaceholders(t *testing.T) {
	ctx := newExprContext(map[string]string{"#a": "a", "#b": "b"}, map[string]Value{":v": sv("v"), ":w": sv("w")})
	if _, msg := parseCondition("#a = :v", ctx); msg != "" {
		t.Fatal(msg)
	}
	if got, want := ctx.unused(), "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"; got != want {
		t.Errorf("unused = %q, want %q", got, want)
	}
	ctx.usedNames["#b"] = true
	if got, want := ctx.unused(), "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"; got != want {
		t.Errorf("unused = %q, want %q", got, want)
	}
}

func TestApplyUpdate(t *testing.T) {
	values := map[string]Value{
		":one": nv("1"), ":c": {Type: typeSS, Set: []string{"c", "a"}}, ":a": {Type: typeSS, Set: []string{"a"}},
		":l": {Type: typeL, L: []Value{sv("z")}}, ":v": sv("v"), ":s": sv("s"),
	}
	for _, tc := range []struct {
		expr string
		want string // JSON of the result, or the error message
	}{
		{"SET leaseCounter = leaseCounter + :one", `"leaseCounter":{"N":"8"}`},
		{"REMOVE leaseOwner", `!leaseOwner`},
		{"ADD tags :c", `"tags":{"SS":["a","b","c"]}`},
		{"DELETE tags :a", `"tags":{"SS":["b"]}`},
		{"ADD fresh :one", `"fresh":{"N":"1"}`},
		{"SET #l = list_append(#l, :l)", `{"S":"z"}]}`},
		{"SET #m.b.c = :v, #m.z = :v", `"map":{"M":{"a":{"N":"1"},"b":{"M":{"c":{"S":"v"}}},"z":{"S":"v"}}}`},
		{"SET #l[9] = :v REMOVE #l[0]", `"list":{"L":[{"N":"2"},{"M":{"deep":{"S":"y"}}},{"S":"v"}]}`},
		{"SET gone.deep = :v", string(errInvalidPath)},
		{"SET x = nope + :one", string(errMissingAttr)},
		{"SET x = leaseOwner + :one", string(errOperandType)},
		{"ADD leaseOwner :one", string(errOperandType)},
		{"SET x = if_not_exists(leaseCounter, :one), y = if_not_exists(nope, :s)", `"x":{"N":"7"},"y":{"S":"s"}`},
	} {
		ctx := newExprContext(map[string]string{"#l": "list", "#m": "map"}, values)
		actions, msg := parseUpdate(tc.expr, ctx)
		if msg != "" {
			t.Errorf("parse %q: %s", tc.expr, msg)
			continue
		}
		before := testItem()
		it, msg := applyUpdate(before, nil, actions)
		if msg != "" {
			if msg != tc.want {
				t.Errorf("%q failed: %s, want %s", tc.expr, msg, tc.want)
			}
			continue
		}
		b, _ := it.MarshalJSON()
		got := string(b)
		if name, ok := strings.CutPrefix(tc.want, "!"); ok {
			if strings.Contains(got, `"`+name+`"`) {
				t.Errorf("%q kept %s: %s", tc.expr, name, got)
			}
		} else if !strings.Contains(got, tc.want) {
			t.Errorf("%q = %s, want it to contain %s", tc.expr, got, tc.want)
		}
		if b2, _ := before.MarshalJSON(); string(b2) != string(mustJSON(testItem())) {
			t.Errorf("%q changed the old item", tc.expr)
		}
	}
}

func mustJSON(it Item) []byte { b, _ := it.MarshalJSON(); return b }

func TestProjection(t *testing.T) {
	ctx := newExprContext(map[string]string{"#m": "map", "#l": "list"}, nil)
	paths, msg := parseProjection("leaseOwner, #m.b.c, #l[2].deep, #l[0], nope", ctx)
	if msg != "" {
		t.Fatal(msg)
	}
	got := string(mustJSON(newProjection(paths).project(testItem())))
	want := `{"leaseOwner":{"S":"w1"},"list":{"L":[{"S":"x"},{"M":{"deep":{"S":"y"}}}]},"map":{"M":{"b":{"M":{"c":{"S":"hello"}}}}}}`
	if got != want {
		t.Errorf("projection = %s, want %s", got, want)
	}
}

// FuzzParseExpressions feeds arbitrary text to every expression parser and
// evaluates what parses: no panic, no hang.
func FuzzParseExpressions(f *testing.F) {
	for _, s := range []string{
		"leaseCounter = :v AND leaseOwner = :v", "attribute_not_exists(pk)", "size(#n.a[1]) > :v OR NOT (a IN (:v, :v))",
		"a BETWEEN :v AND :v", "SET a = a + :v, b = list_append(if_not_exists(b, :v), :v) REMOVE c ADD d :v DELETE e :v",
		"a.b[0].c, #n", "((a = :v))", "a[99999999999999999999] = :v", "contains(a, :v", ":v = :v",
		// The attacks of issue 13 and their shapes within the length limit.
		strings.Repeat("(", 800_000), strings.Repeat("NOT ", 4_000_000) + "a = :v",
		strings.Repeat("(", 4096), strings.Repeat("NOT ", 1020) + "a = :v", conds(160),
		"a < " + strings.Repeat("size(", 800) + "b" + strings.Repeat(")", 800), inList(500),
		"SET a = " + strings.Repeat("if_not_exists(b, ", 200) + ":v" + strings.Repeat(")", 200),
		path(40) + " = :v", strings.Repeat("a[0]", 1000) + " = :v",
	} {
		f.Add(s)
	}
	values := map[string]Value{":v": nv("1")}
	names := map[string]string{"#n": "n"}
	f.Fuzz(func(t *testing.T, src string) {
		if n, msg := parseCondition(src, newExprContext(names, values)); msg == "" {
			evalCondition(testItem(), n)
			evalCondition(nil, n)
		}
		if actions, msg := parseUpdate(src, newExprContext(names, values)); msg == "" {
			applyUpdate(testItem(), nil, actions)
			applyUpdate(nil, Item{"pk": sv("k")}, actions)
		}
		if paths, msg := parseProjection(src, newExprContext(names, values)); msg == "" {
			newProjection(paths).project(testItem())
		}
		parseKeyCondition(src, newExprContext(names, values), "pk", "n")
	})
}

// FuzzDecodeValue feeds arbitrary JSON to the attribute value decoder:
// no panic, and nothing it accepts nests deeper than DynamoDB allows.
func FuzzDecodeValue(f *testing.F) {
	for _, s := range []string{
		`{"S":"x"}`, `{"N":"1.5e3"}`, `{"B":"AAE="}`, `{"BOOL":true}`, `{"NULL":true}`, `{"SS":["a","b"]}`,
		`{"NS":["1","2"]}`, `{"BS":["AA=="]}`, `{"L":[{"S":"x"},{"M":{"a":{"N":"1"}}}]}`, `{"M":{}}`, `{"S":"x","N":"1"}`,
		nestedJSON(32, "L"), nestedJSON(33, "M"), nestedJSON(9000, "L"),
		strings.Repeat(`{"L":[`, 20000) + strings.Repeat(`]}`, 20000),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var raw rawValue
		if json.Unmarshal(b, &raw) != nil {
			return
		}
		v, msg := decodeValue(&raw)
		if msg == "" && v.depth(maxNestingLevels) > maxNestingLevels {
			t.Fatalf("accepted a value nested %d levels deep", v.depth(maxNestingLevels))
		}
	})
}
