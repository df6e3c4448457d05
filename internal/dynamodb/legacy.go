package dynamodb

import (
	"slices"
	"strings"
)

// DynamoDB's legacy (pre-expression) parameters: Expected and
// ConditionalOperator (conditions of writes), AttributeUpdates
// (UpdateItem), AttributesToGet (projections), ScanFilter, QueryFilter and
// KeyConditions. The KCL's lease code (DynamoDBLeaseRefresher) still
// writes every lease with Expected and AttributeUpdates, so they are
// served: each is translated into the trees the expression parser
// produces and evaluated by the same code. A request may not mix them
// with expressions, as DynamoDB says.

// expectedAttr is one entry of Expected.
type expectedAttr struct {
	Value              *rawValue
	Exists             *bool
	ComparisonOperator *string
	AttributeValueList []*rawValue
}

// legacyCondition is one entry of ScanFilter, QueryFilter or
// KeyConditions.
type legacyCondition struct {
	ComparisonOperator *string
	AttributeValueList []*rawValue
}

// attributeUpdate is one entry of AttributeUpdates.
type attributeUpdate struct {
	Value  *rawValue
	Action *string
}

// operatorArgs is how many values each ComparisonOperator takes (-1: one
// or more).
var operatorArgs = map[string]int{
	"EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1,
	"NOT_NULL": 0, "NULL": 0, "CONTAINS": 1, "NOT_CONTAINS": 1, "BEGINS_WITH": 1,
	"IN": -1, "BETWEEN": 2,
}

// operatorTypes are the value types each ComparisonOperator accepts in
// ScanFilter, QueryFilter and KeyConditions.
var operatorTypes = map[string][]string{
	"EQ": {typeS, typeN, typeB, typeSS, typeNS, typeBS}, "NE": {typeS, typeN, typeB, typeSS, typeNS, typeBS},
	"LE": {typeS, typeN, typeB}, "LT": {typeS, typeN, typeB}, "GE": {typeS, typeN, typeB}, "GT": {typeS, typeN, typeB},
	"CONTAINS": {typeS, typeN, typeB}, "NOT_CONTAINS": {typeS, typeN, typeB}, "BEGINS_WITH": {typeS, typeB},
	"IN": {typeS, typeN, typeB}, "BETWEEN": {typeS, typeN, typeB},
}

const operatorEnum = "[IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"

// legacyNames lists, in DynamoDB's order, the legacy parameters a request
// carries.
func legacyNames(in *itemInput) []string {
	var out []string
	if in.AttributesToGet != nil {
		out = append(out, "AttributesToGet")
	}
	if in.QueryFilter != nil {
		out = append(out, "QueryFilter")
	}
	if in.ScanFilter != nil {
		out = append(out, "ScanFilter")
	}
	if in.KeyConditions != nil {
		out = append(out, "KeyConditions")
	}
	if in.AttributeUpdates != nil {
		out = append(out, "AttributeUpdates")
	}
	if in.Expected != nil {
		out = append(out, "Expected")
	}
	if in.ConditionalOperator != nil {
		out = append(out, "ConditionalOperator")
	}
	return out
}

// expressionNames lists the expression parameters a request carries.
func expressionNames(in *itemInput) []string {
	var out []string
	for _, e := range []struct {
		name string
		set  bool
	}{{"ProjectionExpression", in.ProjectionExpression != nil}, {"FilterExpression", in.FilterExpression != nil},
		{"KeyConditionExpression", in.KeyConditionExpression != nil}, {"UpdateExpression", in.UpdateExpression != nil},
		{"ConditionExpression", in.ConditionExpression != nil}} {
		if e.set {
			out = append(out, e.name)
		}
	}
	return out
}

// prepareLegacy checks and translates a request's legacy parameters into
// p. It runs before the expressions are parsed.
func prepareLegacy(in *itemInput, p *parsed, keys keySchema) error {
	legacy := legacyNames(in)
	if len(legacy) == 0 {
		return nil
	}
	if exprs := expressionNames(in); len(exprs) > 0 {
		// KeyConditions may come with expressions other than
		// KeyConditionExpression, as DynamoDB allows.
		if in.KeyConditionExpression == nil {
			legacy = slices.DeleteFunc(legacy, func(s string) bool { return s == "KeyConditions" })
		}
		if len(legacy) > 0 {
			return validationError("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {%s} Expression parameters: {%s}",
				strings.Join(legacy, ", "), strings.Join(exprs, ", "))
		}
	}
	op := "AND"
	if in.ConditionalOperator != nil {
		op = *in.ConditionalOperator
		if op != "AND" && op != "OR" {
			return validationError("1 validation error detected: Value '%s' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [OR, AND]", op)
		}
	}
	if in.AttributesToGet != nil {
		if len(in.AttributesToGet) == 0 {
			return validationError("1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1")
		}
		seen := map[string]bool{}
		paths := make([][]pathElem, 0, len(in.AttributesToGet))
		for _, a := range in.AttributesToGet {
			if seen[a] {
				return validationError("One or more parameter values were invalid: Duplicate value in attribute name: %s", a)
			}
			seen[a] = true
			paths = append(paths, []pathElem{{name: a}})
		}
		p.projection = newProjection(paths)
	}
	if in.Expected != nil {
		if len(in.Expected) == 0 && in.ConditionalOperator != nil {
			return validationError("The conditional operator can only be specified when conditions are specified")
		}
		n, err := expectedTree(in.Expected, op)
		if err != nil {
			return err
		}
		p.condition = n
	} else if in.ConditionalOperator != nil && in.ScanFilter == nil && in.QueryFilter == nil {
		return validationError("The conditional operator can only be specified when conditions are specified")
	}
	for _, f := range []map[string]*legacyCondition{in.ScanFilter, in.QueryFilter} {
		if f == nil {
			continue
		}
		n, err := filterTree(f, op)
		if err != nil {
			return err
		}
		p.filter = n
	}
	if in.KeyConditions != nil {
		kc, err := keyConditions(in.KeyConditions, keys)
		if err != nil {
			return err
		}
		p.keyCond = kc
		p.hasKeyCond = true
	}
	if in.AttributeUpdates != nil {
		actions, err := attributeUpdates(in.AttributeUpdates)
		if err != nil {
			return err
		}
		p.update = actions
	}
	return nil
}

func pathNode(name string) *node { return &node{kind: nPath, path: []pathElem{{name: name}}} }

func valueNode(v Value) *node { return &node{kind: nValue, val: v} }

// combine joins conditions with AND or OR, in attribute name order (the
// order of a JSON object is not kept).
func combine(conds map[string]*node, op string) *node {
	names := make([]string, 0, len(conds))
	for k := range conds {
		names = append(names, k)
	}
	slices.Sort(names)
	kind := nAnd
	if op == "OR" {
		kind = nOr
	}
	var out *node
	for _, k := range names {
		if out == nil {
			out = conds[k]
		} else {
			out = &node{kind: kind, args: []*node{out, conds[k]}}
		}
	}
	return out
}

// expectedTree translates Expected into a condition tree.
func expectedTree(expected map[string]*expectedAttr, op string) (*node, error) {
	conds := map[string]*node{}
	for attr, e := range expected {
		if e == nil {
			e = &expectedAttr{}
		}
		if e.AttributeValueList != nil && e.Value != nil {
			return nil, validationError("One or more parameter values were invalid: Value and AttributeValueList cannot be used together for Attribute: %s", attr)
		}
		switch {
		case e.ComparisonOperator != nil:
			if e.Exists != nil {
				return nil, validationError("One or more parameter values were invalid: Exists and ComparisonOperator cannot be used together for Attribute: %s", attr)
			}
			list := e.AttributeValueList
			if e.Value != nil {
				list = []*rawValue{e.Value}
			}
			cop := *e.ComparisonOperator
			if _, ok := operatorArgs[cop]; ok && cop != "NULL" && cop != "NOT_NULL" && e.AttributeValueList == nil && e.Value == nil {
				return nil, validationError("One or more parameter values were invalid: Value or AttributeValueList must be used with ComparisonOperator: %s for Attribute: %s", cop, attr)
			}
			n, err := comparisonTree(attr, cop, list, false)
			if err != nil {
				return nil, err
			}
			conds[attr] = n
		case e.AttributeValueList != nil:
			return nil, validationError("One or more parameter values were invalid: AttributeValueList can only be used with a ComparisonOperator for Attribute: %s", attr)
		default:
			exists := e.Exists == nil || *e.Exists
			if exists && e.Value == nil {
				word := "null"
				if e.Exists != nil {
					word = "true"
				}
				return nil, validationError("One or more parameter values were invalid: Value must be provided when Exists is %s for Attribute: %s", word, attr)
			}
			if !exists {
				if e.Value != nil {
					return nil, validationError("One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: %s", attr)
				}
				conds[attr] = &node{kind: nFunc, op: "attribute_not_exists", args: []*node{pathNode(attr)}}
				continue
			}
			v, msg := decodeValue(e.Value)
			if msg != "" {
				return nil, validationMsg(msg)
			}
			conds[attr] = &node{kind: nCompare, op: "=", args: []*node{pathNode(attr), valueNode(v)}}
		}
	}
	return combine(conds, op), nil
}

// filterTree translates a ScanFilter or QueryFilter.
func filterTree(filter map[string]*legacyCondition, op string) (*node, error) {
	conds := map[string]*node{}
	for attr, c := range filter {
		if c == nil || c.ComparisonOperator == nil {
			return nil, validationError("1 validation error detected: Value null at '%s.member.comparisonOperator' failed to satisfy constraint: Member must not be null", attr)
		}
		n, err := comparisonTree(attr, *c.ComparisonOperator, c.AttributeValueList, true)
		if err != nil {
			return nil, err
		}
		conds[attr] = n
	}
	return combine(conds, op), nil
}

// comparisonTree translates one ComparisonOperator condition on attr.
// strictTypes applies the operators' value types (filters and key
// conditions check them; Expected does not).
func comparisonTree(attr, op string, list []*rawValue, strictTypes bool) (*node, error) {
	want, ok := operatorArgs[op]
	if !ok {
		return nil, validationError("1 validation error detected: Value '%s' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: %s", op, operatorEnum)
	}
	vals := make([]Value, len(list))
	for i, r := range list {
		v, msg := decodeValue(r)
		if msg != "" {
			return nil, validationMsg(msg)
		}
		vals[i] = v
	}
	if (want >= 0 && len(vals) != want) || (want < 0 && len(vals) == 0) {
		return nil, validationError("One or more parameter values were invalid: Invalid number of argument(s) for the %s ComparisonOperator", op)
	}
	for _, v := range vals[1:] {
		if v.Type != vals[0].Type {
			return nil, validationError("One or more parameter values were invalid: AttributeValues inside AttributeValueList must be of same type")
		}
	}
	if strictTypes {
		for _, v := range vals {
			if !slices.Contains(operatorTypes[op], v.Type) {
				return nil, validationError("One or more parameter values were invalid: ComparisonOperator %s is not valid for %s AttributeValue type", op, v.Type)
			}
		}
	}
	if op == "BETWEEN" {
		if c, ok := vals[0].compare(vals[1]); ok && c > 0 {
			return nil, validationError("The BETWEEN condition was provided a range where the lower bound is greater than the upper bound")
		}
	}
	x := pathNode(attr)
	switch op {
	case "NULL":
		return &node{kind: nFunc, op: "attribute_not_exists", args: []*node{x}}, nil
	case "NOT_NULL":
		return &node{kind: nFunc, op: "attribute_exists", args: []*node{x}}, nil
	case "CONTAINS":
		return &node{kind: nFunc, op: "contains", args: []*node{x, valueNode(vals[0])}}, nil
	case "NOT_CONTAINS":
		// A missing attribute contains nothing, so NOT_CONTAINS holds.
		return &node{kind: nNot, args: []*node{{kind: nFunc, op: "contains", args: []*node{x, valueNode(vals[0])}}}}, nil
	case "BEGINS_WITH":
		return &node{kind: nFunc, op: "begins_with", args: []*node{x, valueNode(vals[0])}}, nil
	case "IN":
		n := &node{kind: nIn, args: []*node{x}}
		for _, v := range vals {
			n.args = append(n.args, valueNode(v))
		}
		return n, nil
	case "BETWEEN":
		return &node{kind: nBetween, args: []*node{x, valueNode(vals[0]), valueNode(vals[1])}}, nil
	}
	cmp := map[string]string{"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}[op]
	return &node{kind: nCompare, op: cmp, args: []*node{x, valueNode(vals[0])}}, nil
}

// keyConditions translates a Query's KeyConditions: EQ on the hash key,
// and optionally one of EQ, LE, LT, GE, GT, BEGINS_WITH or BETWEEN on the
// range key.
func keyConditions(conds map[string]*legacyCondition, keys keySchema) (keyCondition, error) {
	var kc keyCondition
	for attr, c := range conds {
		if c == nil || c.ComparisonOperator == nil {
			return kc, validationError("1 validation error detected: Value null at 'keyConditions.%s.member.comparisonOperator' failed to satisfy constraint: Member must not be null", attr)
		}
		n, err := comparisonTree(attr, *c.ComparisonOperator, c.AttributeValueList, true)
		if err != nil {
			return kc, err
		}
		op := *c.ComparisonOperator
		switch attr {
		case keys.hash:
			if op != "EQ" {
				return kc, validationError("Query key condition not supported")
			}
			kc.hashName, kc.hash = attr, n.args[1].val
		case keys.rng:
			switch op {
			case "EQ", "LE", "LT", "GE", "GT":
				kc.rangeOp = n.op
				kc.rangeArg = []Value{n.args[1].val}
			case "BEGINS_WITH":
				kc.rangeOp = "begins_with"
				kc.rangeArg = []Value{n.args[1].val}
			case "BETWEEN":
				kc.rangeOp = "BETWEEN"
				kc.rangeArg = []Value{n.args[1].val, n.args[2].val}
			default:
				return kc, validationError("Query key condition not supported")
			}
			kc.rangeKey = attr
		default:
			return kc, validationError("Query condition missed key schema element: %s", keys.hash)
		}
	}
	if kc.hashName == "" {
		return kc, validationError("Query condition missed key schema element: %s", keys.hash)
	}
	return kc, nil
}

// attributeUpdates translates AttributeUpdates into update actions: PUT
// sets, DELETE without a value removes, DELETE with a set removes its
// elements, ADD adds to a number or a set (or sets an absent attribute).
func attributeUpdates(updates map[string]*attributeUpdate) ([]updateAction, error) {
	names := make([]string, 0, len(updates))
	for k := range updates {
		names = append(names, k)
	}
	slices.Sort(names)
	actions := make([]updateAction, 0, len(names))
	for _, attr := range names {
		u := updates[attr]
		if u == nil {
			u = &attributeUpdate{}
		}
		action := "PUT"
		if u.Action != nil {
			action = *u.Action
		}
		var v Value
		if u.Value != nil {
			var msg string
			if v, msg = decodeValue(u.Value); msg != "" {
				return nil, validationMsg(msg)
			}
		}
		path := []pathElem{{name: attr}}
		switch action {
		case "PUT":
			if u.Value == nil {
				return nil, validationError("One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified")
			}
			actions = append(actions, updateAction{section: "SET", path: path, value: valueNode(v)})
		case "DELETE":
			if u.Value == nil {
				actions = append(actions, updateAction{section: "REMOVE", path: path})
				continue
			}
			if v.Type != typeSS && v.Type != typeNS && v.Type != typeBS {
				return nil, validationError("One or more parameter values were invalid: DELETE action with value is not supported for the type %s", v.Type)
			}
			actions = append(actions, updateAction{section: "DELETE", path: path, value: valueNode(v)})
		case "ADD":
			if u.Value == nil {
				return nil, validationError("One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified")
			}
			if v.Type != typeN && v.Type != typeSS && v.Type != typeNS && v.Type != typeBS {
				return nil, validationError("One or more parameter values were invalid: ADD action is not supported for the type %s", v.Type)
			}
			actions = append(actions, updateAction{section: "ADD", path: path, value: valueNode(v)})
		default:
			return nil, validationError("1 validation error detected: Value '%s' at 'attributeUpdates.%s.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]", action, attr)
		}
	}
	return actions, nil
}
