package dynamodb

import (
	"context"
	"net/http"
)

// Continuous backups. UpdateContinuousBackups records whether
// point-in-time recovery is enabled, and DescribeContinuousBackups reports
// it, so that clients that switch it on (the KCL does, when asked) work.
// This server keeps no backups of its own: there is no restore operation,
// and a table's durability is the store's (JetStream replicas and its own
// snapshots). docs/compatibility.md says so.

// recoveryPeriodDays is the recovery window reported while PITR is on,
// DynamoDB's default.
const recoveryPeriodDays = 35

func tableNotFound(name string) *apiError {
	return &apiError{typ: prefixDynamoDB + "TableNotFoundException", msg: "Table not found: " + name, status: http.StatusBadRequest}
}

func (h *Handler) describeContinuousBackups(ctx context.Context, body []byte) (any, error) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := h.backupTable(ctx, in.TableName)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ContinuousBackupsDescription": h.backupsDescription(t)}, nil
}

func (h *Handler) updateContinuousBackups(ctx context.Context, body []byte) (any, error) {
	var in struct {
		TableName                        *string
		PointInTimeRecoverySpecification *struct {
			PointInTimeRecoveryEnabled *bool
			RecoveryPeriodInDays       *int
		}
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	spec := in.PointInTimeRecoverySpecification
	if spec == nil {
		return nil, validationError("1 validation error detected: Value null at 'pointInTimeRecoverySpecification' failed to satisfy constraint: Member must not be null")
	}
	if spec.PointInTimeRecoveryEnabled == nil {
		return nil, validationError("1 validation error detected: Value null at 'pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled' failed to satisfy constraint: Member must not be null")
	}
	if d := spec.RecoveryPeriodInDays; d != nil && (*d < 1 || *d > 35) {
		return nil, validationError("1 validation error detected: Value '%d' at 'pointInTimeRecoverySpecification.recoveryPeriodInDays' failed to satisfy constraint: Member must have value less than or equal to 35 and greater than or equal to 1", *d)
	}
	if _, err := h.backupTable(ctx, in.TableName); err != nil {
		return nil, err
	}
	var t *table
	err := h.changeTable(ctx, in.TableName, func(cur *table) error {
		on := *spec.PointInTimeRecoveryEnabled
		if on && !cur.PITR {
			cur.PITRSince = h.now().UTC()
		}
		cur.PITR = on
		t = cur
		return nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"ContinuousBackupsDescription": h.backupsDescription(t)}, nil
}

// backupTable loads a table for the backup operations, which name a
// missing table TableNotFoundException.
func (h *Handler) backupTable(ctx context.Context, name *string) (*table, error) {
	t, err := h.loadTable(ctx, name, false)
	if ae, ok := err.(*apiError); ok && ae.typ == prefixDynamoDB+"ResourceNotFoundException" {
		return nil, tableNotFound(*name)
	}
	return t, err
}

func (h *Handler) backupsDescription(t *table) map[string]any {
	pitr := map[string]any{"PointInTimeRecoveryStatus": "DISABLED"}
	if t.PITR {
		now := h.now()
		earliest := t.PITRSince
		if w := now.AddDate(0, 0, -recoveryPeriodDays); earliest.Before(w) {
			earliest = w
		}
		pitr = map[string]any{
			"PointInTimeRecoveryStatus":  "ENABLED",
			"EarliestRestorableDateTime": float64(earliest.UnixMilli()) / 1000,
			"LatestRestorableDateTime":   float64(now.UnixMilli()) / 1000,
			"RecoveryPeriodInDays":       recoveryPeriodDays,
		}
	}
	return map[string]any{"ContinuousBackupsStatus": "ENABLED", "PointInTimeRecoveryDescription": pitr}
}
