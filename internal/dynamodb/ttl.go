package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Time to Live. With TTL enabled on an attribute, an item whose attribute
// is a number of epoch seconds in the past has expired. DynamoDB deletes
// expired items in the background, typically within days, and reads
// return them until then; this server deletes them when a Scan or Query
// meets them (and leaves them out of its answer), so an expired item
// stays readable by GetItem until the table is next scanned or queried.
// As on DynamoDB, a value more than five years in the past is not taken
// for an expiry time.

type ttlSpecification struct {
	Enabled       *bool
	AttributeName *string
}

func (h *Handler) describeTimeToLive(ctx context.Context, body []byte) (any, error) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := h.loadTable(ctx, in.TableName, false)
	if err != nil {
		return nil, err
	}
	d := map[string]any{"TimeToLiveStatus": "DISABLED"}
	if t.TTLAttribute != "" {
		d = map[string]any{"TimeToLiveStatus": "ENABLED", "AttributeName": t.TTLAttribute}
	}
	return map[string]any{"TimeToLiveDescription": d}, nil
}

func (h *Handler) updateTimeToLive(ctx context.Context, body []byte) (any, error) {
	var in struct {
		TableName               *string
		TimeToLiveSpecification *ttlSpecification
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	spec := in.TimeToLiveSpecification
	if spec == nil {
		return nil, validationError("1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: Member must not be null")
	}
	if spec.Enabled == nil {
		return nil, validationError("1 validation error detected: Value null at 'timeToLiveSpecification.enabled' failed to satisfy constraint: Member must not be null")
	}
	if spec.AttributeName == nil {
		return nil, validationError("1 validation error detected: Value null at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must not be null")
	}
	if n := len(*spec.AttributeName); n < 1 || n > 255 {
		return nil, validationError("1 validation error detected: Value '%s' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length less than or equal to 255 and greater than or equal to 1", *spec.AttributeName)
	}
	err := h.changeTable(ctx, in.TableName, func(t *table) error {
		switch {
		case *spec.Enabled && t.TTLAttribute != "":
			return validationError("TimeToLive is already enabled")
		case !*spec.Enabled && t.TTLAttribute == "":
			return validationError("TimeToLive is already disabled")
		case !*spec.Enabled && t.TTLAttribute != *spec.AttributeName:
			return validationError("TimeToLive is active on a different AttributeName: current AttributeName is %s", t.TTLAttribute)
		}
		if *spec.Enabled {
			t.TTLAttribute = *spec.AttributeName
		} else {
			t.TTLAttribute = ""
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"TimeToLiveSpecification": map[string]any{"Enabled": *spec.Enabled, "AttributeName": *spec.AttributeName}}, nil
}

// changeTable applies f to the stored table description with a
// compare-and-swap, again on a conflict.
func (h *Handler) changeTable(ctx context.Context, name *string, f func(*table) error) error {
	for range maxAttempts {
		t, err := h.loadTable(ctx, name, false)
		if err != nil {
			return err
		}
		if err := f(t); err != nil {
			return err
		}
		b, err := json.Marshal(t)
		if err != nil {
			return err
		}
		_, err = h.store.Update(ctx, tablePrefix+t.Name, b, t.rev)
		if errors.Is(err, kinesis.ErrRevisionMismatch) {
			continue
		}
		if err != nil {
			return fmt.Errorf("update table %s: %w", t.Name, err)
		}
		return nil
	}
	return fmt.Errorf("update table %s: still contended after %d attempts", *name, maxAttempts)
}

// ttlHorizon is how far in the past a TTL value may lie and still count.
const ttlHorizon = 5 * 365 * 24 * time.Hour

// expired reports whether an item of t has expired at now.
func (t *table) expired(it Item, now time.Time) bool {
	if t.TTLAttribute == "" {
		return false
	}
	v, ok := it[t.TTLAttribute]
	if !ok || v.Type != typeN {
		return false
	}
	r, ok := new(big.Rat).SetString(v.S)
	if !ok {
		return false
	}
	at := new(big.Rat).SetInt64(now.Unix())
	if r.Cmp(at) > 0 {
		return false
	}
	return r.Cmp(new(big.Rat).SetInt64(now.Add(-ttlHorizon).Unix())) >= 0
}
