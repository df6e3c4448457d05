package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/kinesis"
)

type updateTableInput struct {
	TableName                   *string
	AttributeDefinitions        []attrDef
	BillingMode                 *string
	ProvisionedThroughput       *throughputInput
	GlobalSecondaryIndexUpdates []struct {
		Create *indexInput
		Update *struct {
			IndexName             *string
			ProvisionedThroughput *throughputInput
		}
		Delete *struct{ IndexName *string }
	}
	DeletionProtectionEnabled *bool
	StreamSpecification       *struct{ StreamEnabled bool }
	SSESpecification          json.RawMessage
	ReplicaUpdates            json.RawMessage
	TableClass                *string
}

// updateTable changes a table: billing mode and provisioned throughput,
// deletion protection, and its global secondary indexes (one created or
// deleted per call, as DynamoDB allows). A new index is CREATING (and
// backfilling) for Options.CreateDelay, the table UPDATING as long; a
// deleted index is gone at once, though the answer shows it DELETING, as
// DynamoDB's does.
func (h *Handler) updateTable(ctx context.Context, body []byte) (any, error) {
	var in updateTableInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkControlTableName(in.TableName); err != nil {
		return nil, err
	}
	if in.BillingMode == nil && in.ProvisionedThroughput == nil && in.GlobalSecondaryIndexUpdates == nil &&
		in.DeletionProtectionEnabled == nil && in.StreamSpecification == nil && in.SSESpecification == nil &&
		in.ReplicaUpdates == nil && in.TableClass == nil {
		return nil, validationError("At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required")
	}
	if in.StreamSpecification != nil && in.StreamSpecification.StreamEnabled {
		return nil, validationError("DynamoDB Streams are not supported by this server")
	}
	if in.ReplicaUpdates != nil {
		return nil, validationError("Global tables (ReplicaUpdates) are not supported by this server")
	}
	if in.BillingMode != nil && *in.BillingMode != "PROVISIONED" && *in.BillingMode != "PAY_PER_REQUEST" {
		return nil, validationError("1 validation error detected: Value '%s' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]", *in.BillingMode)
	}
	if n := len(in.GlobalSecondaryIndexUpdates); n > 1 {
		return nil, validationError("One or more parameter values were invalid: Only one global secondary index update is allowed per UpdateTable request")
	}
	for attempt := 0; ; attempt++ {
		t, err := h.loadTable(ctx, in.TableName, false)
		if err != nil {
			return nil, err
		}
		switch h.status(t) {
		case "CREATING":
			return nil, resourceInUse("Attempt to change a resource which is still in use: Table is being created: " + t.Name)
		case "UPDATING":
			return nil, resourceInUse("Attempt to change a resource which is still in use: Table is being updated: " + t.Name)
		}
		override, deleted, err := h.applyTableUpdate(t, &in)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		if _, err := h.store.Update(ctx, tablePrefix+t.Name, b, t.rev); errors.Is(err, kinesis.ErrRevisionMismatch) && attempt < maxAttempts {
			continue // changed meanwhile: apply to the new description
		} else if err != nil {
			return nil, fmt.Errorf("update table %s: %w", t.Name, err)
		}
		status := "ACTIVE"
		if in.GlobalSecondaryIndexUpdates != nil || in.BillingMode != nil || in.ProvisionedThroughput != nil {
			status = "UPDATING"
		}
		shown := *t
		shown.Indexes = append(slices.Clone(t.Indexes), deleted...)
		return map[string]any{"TableDescription": h.describeWith(&shown, status, override)}, nil
	}
}

// applyTableUpdate changes t as the request asks. It returns the index
// statuses the answer shows instead of the derived ones, and the index it
// deleted, which the answer still shows.
func (h *Handler) applyTableUpdate(t *table, in *updateTableInput) (override map[string]string, deleted []index, err error) {
	now := h.now().UTC()
	billing := t.BillingMode
	if in.BillingMode != nil {
		billing = *in.BillingMode
	}
	if pt := in.ProvisionedThroughput; pt != nil {
		if billing == "PAY_PER_REQUEST" {
			return nil, nil, validationError("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
		if pt.ReadCapacityUnits == nil || pt.WriteCapacityUnits == nil || *pt.ReadCapacityUnits < 1 || *pt.WriteCapacityUnits < 1 {
			return nil, nil, validationError("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
		}
		t.RCU, t.WCU = *pt.ReadCapacityUnits, *pt.WriteCapacityUnits
	} else if billing == "PROVISIONED" && t.BillingMode == "PAY_PER_REQUEST" {
		return nil, nil, validationError("One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED")
	}
	if billing == "PAY_PER_REQUEST" {
		t.RCU, t.WCU = 0, 0
		for i := range t.Indexes {
			t.Indexes[i].RCU, t.Indexes[i].WCU = 0, 0
		}
	}
	changed := billing != t.BillingMode || in.ProvisionedThroughput != nil
	t.BillingMode = billing
	if in.DeletionProtectionEnabled != nil {
		t.DeletionProtection = *in.DeletionProtectionEnabled
	}
	for _, u := range in.GlobalSecondaryIndexUpdates {
		n := 0
		for _, set := range []bool{u.Create != nil, u.Update != nil, u.Delete != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, nil, validationError("One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null")
		}
		changed = true
		switch {
		case u.Create != nil:
			// The new index's key attributes join the definitions; a
			// definition may not change an existing attribute's type.
			attrs := slices.Clone(t.Attrs)
			for _, a := range in.AttributeDefinitions {
				if a.AttributeType != typeS && a.AttributeType != typeN && a.AttributeType != typeB {
					return nil, nil, validationError("1 validation error detected: Value '%s' at 'attributeDefinitions.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]", a.AttributeType)
				}
				if old := t.attrType(a.AttributeName); old != "" {
					if old != a.AttributeType {
						return nil, nil, validationError("One or more parameter values were invalid: Cannot change the type of an existing attribute %s from %s to %s", a.AttributeName, old, a.AttributeType)
					}
					continue
				}
				attrs = append(attrs, a)
			}
			defs := make([]string, len(attrs))
			for i, a := range attrs {
				defs[i] = a.AttributeName
			}
			ix, err := newIndex(*u.Create, defs, billing, false, t.HashKey, now)
			if err != nil {
				return nil, nil, err
			}
			if t.index(ix.Name) != nil {
				return nil, nil, validationError("One or more parameter values were invalid: Index with name %s already exists", ix.Name)
			}
			if n := len(slices.DeleteFunc(slices.Clone(t.Indexes), func(ix index) bool { return ix.Local })); n >= 20 {
				return nil, nil, limitExceeded("Subscriber limit exceeded: Number of global secondary indexes exceeds the per-table limit of 20")
			}
			t.Attrs = attrs
			t.Indexes = append(t.Indexes, ix)
			override = map[string]string{ix.Name: "CREATING"}
		case u.Update != nil:
			if u.Update.IndexName == nil {
				return nil, nil, validationError("1 validation error detected: Value null at 'globalSecondaryIndexUpdates.1.member.update.indexName' failed to satisfy constraint: Member must not be null")
			}
			ix := t.index(*u.Update.IndexName)
			if ix == nil || ix.Local {
				return nil, nil, resourceNotFound("Requested resource not found: Index: " + *u.Update.IndexName + " not found")
			}
			pt := u.Update.ProvisionedThroughput
			if billing == "PAY_PER_REQUEST" || pt == nil || pt.ReadCapacityUnits == nil || pt.WriteCapacityUnits == nil {
				return nil, nil, validationError("One or more parameter values were invalid: ProvisionedThroughput must be specified, and the table must be PROVISIONED, to update index: %s", ix.Name)
			}
			ix.RCU, ix.WCU = *pt.ReadCapacityUnits, *pt.WriteCapacityUnits
		case u.Delete != nil:
			if u.Delete.IndexName == nil {
				return nil, nil, validationError("1 validation error detected: Value null at 'globalSecondaryIndexUpdates.1.member.delete.indexName' failed to satisfy constraint: Member must not be null")
			}
			i := slices.IndexFunc(t.Indexes, func(ix index) bool { return ix.Name == *u.Delete.IndexName && !ix.Local })
			if i < 0 {
				return nil, nil, resourceNotFound("Requested resource not found: Index: " + *u.Delete.IndexName + " not found")
			}
			deleted = append(deleted, t.Indexes[i])
			t.Indexes = slices.Delete(t.Indexes, i, i+1)
			// Definitions no key schema uses any more are dropped.
			used := t.usedAttributes()
			t.Attrs = slices.DeleteFunc(t.Attrs, func(a attrDef) bool { return !slices.Contains(used, a.AttributeName) })
			override = map[string]string{deleted[0].Name: "DELETING"}
		}
	}
	if in.AttributeDefinitions != nil && in.GlobalSecondaryIndexUpdates == nil {
		for _, a := range in.AttributeDefinitions {
			if t.attrType(a.AttributeName) != a.AttributeType {
				return nil, nil, validationError("One or more parameter values were invalid: Some AttributeDefinitions are not used. AttributeDefinitions: [%s], keys used: [%s]",
					a.AttributeName, strings.Join(t.usedAttributes(), ", "))
			}
		}
	}
	if changed {
		t.Updated = now
	}
	return override, deleted, nil
}
