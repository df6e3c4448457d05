package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/kinesis"
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
	now := h.now()
	for _, e := range entries {
		var it Item
		if err := json.Unmarshal(e.Value, &it); err != nil {
			return nil, fmt.Errorf("decode item %q: %w", e.Key, err)
		}
		if t.expired(it, now) {
			// Time to Live: an expired item goes when a read meets it. A
			// miss means it was written meanwhile; either way it is left
			// out of this answer.
			if err := h.store.Delete(ctx, e.Key, e.Revision); err != nil && !errors.Is(err, kinesis.ErrRevisionMismatch) {
				return nil, fmt.Errorf("delete expired item %q: %w", e.Key, err)
			}
			continue
		}
		out = append(out, scanned{e.Key, it})
	}
	return out, nil
}

// view is what a Scan or Query reads: a table, or one of its indexes.
type view struct {
	t  *table
	ix *index // nil: the table itself
	// all: the request asked for every attribute (Select ALL_ATTRIBUTES),
	// which a local index fetches from the table.
	all bool
}

func (v view) keys() keySchema {
	if v.ix == nil {
		return v.t.keys()
	}
	return v.ix.keys(v.t)
}

// keyAttrs returns an item's key in the view: LastEvaluatedKey.
func (v view) keyAttrs(it Item) Item {
	if v.ix == nil {
		return keyAttrs(v.t, it)
	}
	return v.ix.keyAttrs(v.t, it)
}

// shown returns what the view holds of an item.
func (v view) shown(it Item) Item {
	if v.ix == nil || (v.ix.Local && v.all) {
		return it
	}
	return v.ix.project(v.t, it)
}

// items returns the items of the table that the view holds.
func (v view) items(all []scanned) []scanned {
	if v.ix == nil {
		return all
	}
	out := all[:0]
	for _, s := range all {
		if v.ix.holds(s.item) {
			out = append(out, s)
		}
	}
	return out
}

// readInput checks what Scan and Query share: Limit, Select, the index,
// ConsistentRead, ExclusiveStartKey.
func (h *Handler) readInput(in *itemInput, t *table) (v view, exclusiveStart Item, count bool, err error) {
	v.t = t
	if in.Limit != nil && *in.Limit < 1 {
		return v, nil, false, validationError("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *in.Limit)
	}
	if in.IndexName != nil {
		if v.ix = t.index(*in.IndexName); v.ix == nil {
			return v, nil, false, validationError("The table does not have the specified index: %s", *in.IndexName)
		}
		if !v.ix.Local && in.ConsistentRead != nil && *in.ConsistentRead {
			return v, nil, false, validationError("Consistent reads are not supported on global secondary indexes")
		}
		if !v.ix.Local && h.indexStatus(v.ix) != "ACTIVE" {
			return v, nil, false, validationError("Cannot read from backfilling global secondary index: %s", v.ix.Name)
		}
	}
	if in.Select != nil {
		switch *in.Select {
		case "ALL_ATTRIBUTES":
			v.all = true
			if v.ix != nil && !v.ix.Local && v.ix.Projection.ProjectionType != "ALL" {
				return v, nil, false, validationError("One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index %s because its projection type is not ALL", v.ix.Name)
			}
		case "COUNT":
			count = true
		case "SPECIFIC_ATTRIBUTES":
			if in.ProjectionExpression == nil && in.AttributesToGet == nil {
				return v, nil, false, validationError("1 validation error detected: Value 'SPECIFIC_ATTRIBUTES' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]")
			}
		case "ALL_PROJECTED_ATTRIBUTES":
			if v.ix == nil {
				return v, nil, false, validationError("One or more parameter values were invalid: Select type ALL_PROJECTED_ATTRIBUTES is supported only for index queries")
			}
		default:
			return v, nil, false, validationError("1 validation error detected: Value '%s' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]", *in.Select)
		}
		if *in.Select != "SPECIFIC_ATTRIBUTES" && in.ProjectionExpression != nil {
			return v, nil, false, validationError("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {Select} Expression parameters: {ProjectionExpression}")
		}
	}
	if (in.ProjectionExpression != nil || in.AttributesToGet != nil) && v.ix != nil && v.ix.Local {
		v.all = true // a local index fetches what the projection names
	}
	if in.ExclusiveStartKey != nil {
		k, err := startKey(v, in.ExclusiveStartKey)
		if err != nil {
			if ae, ok := err.(*apiError); ok && strings.HasPrefix(ae.typ, prefixValidate) {
				ae.msg = "The provided starting key is invalid: " + ae.msg
			}
			return v, nil, false, err
		}
		exclusiveStart = k
	}
	return v, exclusiveStart, count, nil
}

// startKey validates an ExclusiveStartKey: the table's key, and for an
// index also the index's key attributes.
func startKey(v view, raw map[string]*rawValue) (Item, error) {
	if v.ix == nil {
		return keyFromKey(v.t, raw)
	}
	k, msg := decodeItem(raw)
	if msg != "" {
		return nil, validationMsg(msg)
	}
	want := v.ix.keyAttrs(v.t, Item{})
	if len(k) != len(want) {
		return nil, validationError("The provided key element does not match the schema")
	}
	for name := range want {
		x, ok := k[name]
		if !ok || x.Type != v.t.attrType(name) {
			return nil, validationError("The provided key element does not match the schema")
		}
	}
	return k, nil
}

// page runs the shared tail of Scan and Query over items in order: skip
// to after the start key, evaluate up to Limit items and 1 MB, filter,
// project, count.
func page(in *itemInput, v view, p *parsed, items []scanned, start int, count bool) map[string]any {
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
		it := v.shown(items[i].item)
		n++
		bytes += it.size()
		lastKey = v.keyAttrs(items[i].item)
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

// scan pages through a table (or an index) in store-key order. Segments
// split the table by a hash of the store key.
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
	v, start, count, err := h.readInput(in, t)
	if err != nil {
		return nil, err
	}
	p, err := h.prepare(in, t, "FilterExpression")
	if err != nil {
		return nil, err
	}
	all, err := h.listItems(ctx, t)
	if err != nil {
		return nil, err
	}
	items := v.items(all)
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
	return page(in, v, p, items, from, count), nil
}

// query reads the items of one hash key (of the table or an index) in
// range key order; items of an index with equal range keys follow their
// table keys.
func (h *Handler) query(ctx context.Context, body []byte) (any, error) {
	in, t, err := h.itemRequest(ctx, body)
	if err != nil {
		return nil, err
	}
	if in.KeyConditionExpression == nil && in.KeyConditions == nil {
		return nil, validationError("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	v, start, count, err := h.readInput(in, t)
	if err != nil {
		return nil, err
	}
	keys := v.keys()
	p, err := h.prepareKeys(in, keys, "KeyConditionExpression", "FilterExpression")
	if err != nil {
		return nil, err
	}
	all, err := h.listItems(ctx, t)
	if err != nil {
		return nil, err
	}
	kc := p.keyCond
	held := v.items(all)
	items := held[:0]
	for _, s := range held {
		if s.item[keys.hash].equal(kc.hash) && matchRange(kc, s.item[keys.rng]) {
			items = append(items, s)
		}
	}
	forward := in.ScanIndexForward == nil || *in.ScanIndexForward
	order := func(rngA Value, keyA string, rngB Value, keyB string) int {
		c := 0
		if keys.rng != "" {
			c, _ = rngA.compare(rngB)
		}
		if c == 0 && v.ix != nil {
			c = strings.Compare(keyA, keyB)
		}
		if !forward {
			c = -c
		}
		return c
	}
	slices.SortFunc(items, func(a, b scanned) int {
		return order(a.item[keys.rng], a.key, b.item[keys.rng], b.key)
	})
	from := 0
	if start != nil {
		if !start[keys.hash].equal(kc.hash) {
			return nil, validationError("The provided starting key does not match the range key predicate")
		}
		sk := storeKey(t, start)
		for from < len(items) {
			if keys.rng == "" && v.ix == nil {
				from = len(items)
				break
			}
			if order(items[from].item[keys.rng], items[from].key, start[keys.rng], sk) > 0 {
				break
			}
			from++
		}
	}
	return page(in, v, p, items, from, count), nil
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
