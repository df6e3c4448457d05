package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrNoSuchTable is returned by Items for a table that does not exist.
var ErrNoSuchTable = errors.New("no such table")

// TableInfo is a table as the console lists it.
type TableInfo struct {
	Name     string
	HashKey  string
	RangeKey string // "" for a table without one
}

// Tables returns every table, sorted by name: a read for in-process
// readers (the console), beside the API.
func (h *Handler) Tables(ctx context.Context) ([]TableInfo, error) {
	entries, err := h.store.List(ctx, tablePrefix)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	out := make([]TableInfo, 0, len(entries))
	for _, e := range entries {
		var t table
		if err := json.Unmarshal(e.Value, &t); err != nil {
			return nil, fmt.Errorf("decode table %s: %w", strings.TrimPrefix(e.Key, tablePrefix), err)
		}
		out = append(out, TableInfo{Name: t.Name, HashKey: t.HashKey, RangeKey: t.RangeKey})
	}
	slices.SortFunc(out, func(a, b TableInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Items returns up to limit items of a table as plain Go values: S and N
// as string (numbers keep their exact decimal form), B as []byte, BOOL as
// bool, NULL as nil, SS, NS and BS as []string, L as []any and M as
// map[string]any. More items than limit are left out; the order is the
// store's. ErrNoSuchTable if the table does not exist.
func (h *Handler) Items(ctx context.Context, name string, limit int) ([]map[string]any, error) {
	t, err := h.loadTable(ctx, &name, false)
	var ae *apiError
	if errors.As(err, &ae) && strings.HasSuffix(ae.typ, "#ResourceNotFoundException") {
		return nil, fmt.Errorf("items of %s: %w", name, ErrNoSuchTable)
	}
	if err != nil {
		return nil, err
	}
	items, err := h.listItems(ctx, t)
	if err != nil {
		return nil, err
	}
	if len(items) > limit {
		items = items[:limit]
	}
	out := make([]map[string]any, len(items))
	for i, it := range items {
		m := make(map[string]any, len(it.item))
		for k, v := range it.item {
			m[k] = plainValue(v)
		}
		out[i] = m
	}
	return out, nil
}

func plainValue(v Value) any {
	switch v.Type {
	case typeS, typeN:
		return v.S
	case typeB:
		return []byte(v.S)
	case typeBOOL:
		return v.Bool
	case typeSS, typeNS, typeBS:
		return slices.Clone(v.Set)
	case typeL:
		out := make([]any, len(v.L))
		for i, e := range v.L {
			out[i] = plainValue(e)
		}
		return out
	case typeM:
		out := make(map[string]any, len(v.M))
		for k, e := range v.M {
			out[k] = plainValue(e)
		}
		return out
	}
	return nil
}
