package dynamodb

import (
	"context"
	"slices"
	"strings"
)

// BatchWriteItem and BatchGetItem: several independent item operations in
// one request, across tables. Each write is an ordinary unconditional put
// or delete (not atomic together, as on DynamoDB); nothing is ever left
// unprocessed, so UnprocessedItems and UnprocessedKeys are always empty.

type writeRequest struct {
	PutRequest *struct {
		Item map[string]*rawValue
	}
	DeleteRequest *struct {
		Key map[string]*rawValue
	}
}

type batchWriteInput struct {
	RequestItems                map[string][]writeRequest
	ReturnConsumedCapacity      *string
	ReturnItemCollectionMetrics *string
}

// batchWrite is one checked write of a BatchWriteItem.
type batchWrite struct {
	t    *table
	key  Item
	item Item // nil: delete
}

func (h *Handler) batchWriteItem(ctx context.Context, body []byte) (any, error) {
	var in batchWriteInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkRequestItems(in.RequestItems); err != nil {
		return nil, err
	}
	names := sortedKeys(in.RequestItems)
	n := 0
	for _, name := range names {
		if err := checkTableName(&name, "requestItems"); err != nil {
			return nil, err
		}
		reqs := in.RequestItems[name]
		if len(reqs) < 1 || len(reqs) > 25 {
			return nil, validationError("1 validation error detected: Value '%d' at 'requestItems.%s.member' failed to satisfy constraint: Member must have length less than or equal to 25 and greater than or equal to 1", len(reqs), name)
		}
		n += len(reqs)
	}
	if n > 25 {
		return nil, validationError("Too many items requested for the BatchWriteItem call")
	}
	var writes []batchWrite
	for _, name := range names {
		t, err := h.loadTable(ctx, &name, true)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, r := range in.RequestItems[name] {
			var w batchWrite
			switch {
			case r.PutRequest != nil && r.DeleteRequest == nil:
				if r.PutRequest.Item == nil {
					return nil, validationError("1 validation error detected: Value null at 'requestItems.%s.member.putRequest.item' failed to satisfy constraint: Member must not be null", name)
				}
				item, msg := decodeItem(r.PutRequest.Item)
				if msg != "" {
					return nil, validationMsg(msg)
				}
				if item.size() > maxItemSize {
					return nil, validationError("Item size has exceeded the maximum allowed size")
				}
				key, err := keyOfItem(t, item)
				if err != nil {
					return nil, err
				}
				if err := t.checkIndexKeys(item); err != nil {
					return nil, err
				}
				w = batchWrite{t, key, item}
			case r.DeleteRequest != nil && r.PutRequest == nil:
				key, err := keyFromKey(t, r.DeleteRequest.Key)
				if err != nil {
					return nil, err
				}
				w = batchWrite{t: t, key: key}
			default:
				return nil, validationError("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
			}
			k := storeKey(t, w.key)
			if seen[k] {
				return nil, validationError("Provided list of item keys contains duplicates")
			}
			seen[k] = true
			writes = append(writes, w)
		}
	}
	for _, w := range writes {
		if _, _, err := h.mutate(ctx, storeKey(w.t, w.key), func(Item) (Item, error) { return w.item, nil }); err != nil {
			return nil, err
		}
	}
	return map[string]any{"UnprocessedItems": map[string]any{}}, nil
}

func (h *Handler) batchGetItem(ctx context.Context, body []byte) (any, error) {
	var in struct {
		RequestItems map[string]*struct {
			Keys                     []map[string]*rawValue
			ProjectionExpression     *string
			ExpressionAttributeNames map[string]string
			AttributesToGet          []string
			ConsistentRead           *bool
		}
		ReturnConsumedCapacity *string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkRequestItems(in.RequestItems); err != nil {
		return nil, err
	}
	type get struct {
		t    *table
		p    *parsed
		keys []Item
	}
	var gets []get
	n := 0
	for _, name := range sortedKeys(in.RequestItems) {
		r := in.RequestItems[name]
		if err := checkTableName(&name, "requestItems"); err != nil {
			return nil, err
		}
		if r == nil || r.Keys == nil {
			return nil, validationError("1 validation error detected: Value null at 'requestItems.%s.member.keys' failed to satisfy constraint: Member must not be null", name)
		}
		if len(r.Keys) < 1 || len(r.Keys) > 100 {
			return nil, validationError("1 validation error detected: Value '%d' at 'requestItems.%s.member.keys' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1", len(r.Keys), name)
		}
		t, err := h.loadTable(ctx, &name, true)
		if err != nil {
			return nil, err
		}
		p, err := h.prepare(&itemInput{ProjectionExpression: r.ProjectionExpression, ExpressionAttributeNames: r.ExpressionAttributeNames,
			AttributesToGet: r.AttributesToGet}, t)
		if err != nil {
			return nil, err
		}
		g := get{t: t, p: p}
		seen := map[string]bool{}
		for _, raw := range r.Keys {
			key, err := keyFromKey(t, raw)
			if err != nil {
				return nil, err
			}
			k := storeKey(t, key)
			if seen[k] {
				return nil, validationError("Provided list of item keys contains duplicates")
			}
			seen[k] = true
			if n++; n > 100 {
				return nil, validationError("Too many items requested for the BatchGetItem call")
			}
			g.keys = append(g.keys, key)
		}
		gets = append(gets, g)
	}
	responses := map[string][]Item{}
	for _, g := range gets {
		found := []Item{}
		for _, key := range g.keys {
			it, _, err := h.readItem(ctx, storeKey(g.t, key))
			if err != nil {
				return nil, err
			}
			if it == nil {
				continue
			}
			if g.p.projection != nil {
				it = g.p.projection.project(it)
			}
			found = append(found, it)
		}
		responses[g.t.Name] = found
	}
	return map[string]any{"Responses": responses, "UnprocessedKeys": map[string]any{}}, nil
}

// checkRequestItems applies the model's constraints on a batch's
// RequestItems: present, and not empty.
func checkRequestItems[V any](m map[string]V) error {
	if m == nil {
		return validationError("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null")
	}
	if len(m) == 0 {
		return validationError("1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	return nil
}

// sortedKeys returns a map's keys in order, so that a request's tables are
// checked in the same order every time.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, strings.Compare)
	return out
}
