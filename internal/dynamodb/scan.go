package dynamodb

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
)

// maxPageBytes is DynamoDB's limit on the data one Scan or Query reads.
const maxPageBytes = 1 << 20

// scanned is an item with its store key, the order Scan pages by.
type scanned struct {
	key  string
	item Item
}

// listItems reads every item of a table. In a cluster the listing may lag
// a just acknowledged write by a moment (see docs/compatibility.md).
func (h *Handler) listItems(ctx context.Context, t *table) ([]scanned, error) {
	entries, err := h.store.List(ctx, t.itemsPrefix())
	if err != nil {
		return nil, fmt.Errorf("list items of %s: %w", t.Name, err)
	}
	out := make([]scanned, 0, len(entries))
	for _, e := range entries {
		var it Item
		if err := json.Unmarshal(e.Value, &it); err != nil {
			return nil, fmt.Errorf("decode item %q: %w", e.Key, err)
		}
		out = append(out, scanned{e.Key, it})
	}
	return out, nil
}

// readInput checks what Scan and Query share: Limit, Select, indexes,
// ExclusiveStartKey.
func (h *Handler) readInput(in *itemInput, t *table) (exclusiveStart Item, count bool, err error) {
	if in.Limit != nil && *in.Limit < 1 {
		return nil, false, validationError("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *in.Limit)
	}
	if in.IndexName != nil {
		return nil, false, validationError("The table does not have the specified index: %s", *in.IndexName)
	}
	if in.Select != nil {
		switch *in.Select {
		case "ALL_ATTRIBUTES":
		case "COUNT":
			count = true
		case "SPECIFIC_ATTRIBUTES":
			if in.ProjectionExpression == nil {
				return nil, false, validationError("1 validation error detected: Value 'SPECIFIC_ATTRIBUTES' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]")
			}
		case "ALL_PROJECTED_ATTRIBUTES":
			return nil, false, validationError("One or more parameter values were invalid: Select type ALL_PROJECTED_ATTRIBUTES is supported only for index queries")
		default:
			return nil, false, validationError("1 validation error detected: Value '%s' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]", *in.Select)
		}
		if *in.Select != "SPECIFIC_ATTRIBUTES" && in.ProjectionExpression != nil {
			return nil, false, validationError("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {Select} Expression parameters: {ProjectionExpression}")
		}
	}
	if in.ExclusiveStartKey != nil {
		k, err := keyFromKey(t, in.ExclusiveStartKey)
		if err != nil {
			if ae, ok := err.(*apiError); ok && strings.HasPrefix(ae.typ, prefixValidate) {
				ae.msg = "The provided starting key is invalid: " + ae.msg
			}
			return nil, false, err
		}
		exclusiveStart = k
	}
	return exclusiveStart, count, nil
}

// page runs the shared tail of Scan and Query over items in order: skip
// to after the start key, evaluate up to Limit items and 1 MB, filter,
// project, count.
func page(in *itemInput, t *table, p *parsed, items []scanned, start int, count bool) map[string]any {
	limit := -1
	if in.Limit != nil {
		limit = *in.Limit
	}
	var (
		out      []Item
		n        int
		bytes    int
		lastKey  Item
		complete = true
	)
	for i := start; i < len(items); i++ {
		if n == limit || bytes >= maxPageBytes {
			complete = false
			break
		}
		it := items[i].item
		n++
		bytes += it.size()
		lastKey = keyAttrs(t, it)
		if p.filter != nil && !evalCondition(it, p.filter) {
			continue
		}
		if p.projection != nil {
			it = p.projection.project(it)
		}
		out = append(out, it)
	}
	res := map[string]any{"Count": len(out), "ScannedCount": n}
	if !count {
		if out == nil {
			out = []Item{}
		}
		res["Items"] = out
	}
	// DynamoDB ends a page at the limit with a LastEvaluatedKey even when
	// nothing follows; so does this server.
	if (!complete || n == limit) && lastKey != nil {
		res["LastEvaluatedKey"] = lastKey
	}
	return res
}

// scan pages through a table in store-key order. Segments split the
// table by a hash of the store key.
func (h *Handler) scan(ctx context.Context, body []byte) (any, error) {
	in, t, err := h.itemRequest(ctx, body)
	if err != nil {
		return nil, err
	}
	if (in.Segment == nil) != (in.TotalSegments == nil) {
		missing := "TotalSegments"
		if in.Segment == nil {
			missing = "Segment"
		}
		return nil, validationError("The %s parameter is required but was not present in the request when parameter %s is present",
			missing, map[string]string{"Segment": "TotalSegments", "TotalSegments": "Segment"}[missing])
	}
	if in.TotalSegments != nil && (*in.TotalSegments < 1 || *in.TotalSegments > 1000000 || *in.Segment < 0 || *in.Segment >= *in.TotalSegments) {
		return nil, validationError("The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: %d is not less than TotalSegments: %d", *in.Segment, *in.TotalSegments)
	}
	if in.KeyConditionExpression != nil {
		return nil, serializationError()
	}
	start, count, err := h.readInput(in, t)
	if err != nil {
		return nil, err
	}
	p, err := h.prepare(in, t, "FilterExpression")
	if err != nil {
		return nil, err
	}
	items, err := h.listItems(ctx, t)
	if err != nil {
		return nil, err
	}
	if in.TotalSegments != nil {
		items = slices.DeleteFunc(items, func(s scanned) bool {
			f := fnv.New32a()
			f.Write([]byte(s.key))
			return int(f.Sum32()%uint32(*in.TotalSegments)) != *in.Segment
		})
	}
	slices.SortFunc(items, func(a, b scanned) int { return strings.Compare(a.key, b.key) })
	from := 0
	if start != nil {
		sk := storeKey(t, start)
		from, _ = slices.BinarySearchFunc(items, sk, func(s scanned, k string) int { return strings.Compare(s.key, k) })
		if from < len(items) && items[from].key == sk {
			from++
		}
	}
	return page(in, t, p, items, from, count), nil
}

// query reads the items of one hash key in range key order.
func (h *Handler) query(ctx context.Context, body []byte) (any, error) {
	in, t, err := h.itemRequest(ctx, body)
	if err != nil {
		return nil, err
	}
	if in.KeyConditionExpression == nil {
		return nil, validationError("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	start, count, err := h.readInput(in, t)
	if err != nil {
		return nil, err
	}
	p, err := h.prepare(in, t, "KeyConditionExpression", "FilterExpression")
	if err != nil {
		return nil, err
	}
	all, err := h.listItems(ctx, t)
	if err != nil {
		return nil, err
	}
	kc := p.keyCond
	items := all[:0]
	for _, s := range all {
		if s.item[t.HashKey].equal(kc.hash) && matchRange(kc, s.item[t.RangeKey]) {
			items = append(items, s)
		}
	}
	forward := in.ScanIndexForward == nil || *in.ScanIndexForward
	slices.SortFunc(items, func(a, b scanned) int {
		c := 0
		if t.RangeKey != "" {
			c, _ = a.item[t.RangeKey].compare(b.item[t.RangeKey])
		}
		if !forward {
			c = -c
		}
		return c
	})
	from := 0
	if start != nil {
		if !start[t.HashKey].equal(kc.hash) {
			return nil, validationError("The provided starting key does not match the range key predicate")
		}
		for from < len(items) {
			if t.RangeKey == "" {
				from = len(items)
				break
			}
			c, _ := items[from].item[t.RangeKey].compare(start[t.RangeKey])
			if !forward {
				c = -c
			}
			if c > 0 {
				break
			}
			from++
		}
	}
	return page(in, t, p, items, from, count), nil
}

// matchRange applies the range key condition.
func matchRange(kc keyCondition, v Value) bool {
	if kc.rangeOp == "" {
		return true
	}
	if v.Type == "" {
		return false
	}
	if kc.rangeOp == "begins_with" {
		return v.Type == kc.rangeArg[0].Type && strings.HasPrefix(v.S, kc.rangeArg[0].S)
	}
	c, ok := v.compare(kc.rangeArg[0])
	if !ok {
		return false
	}
	if kc.rangeOp == "BETWEEN" {
		c2, ok := v.compare(kc.rangeArg[1])
		return c >= 0 && ok && c2 <= 0
	}
	return comparatorHolds(kc.rangeOp, c)
}
