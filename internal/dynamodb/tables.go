package dynamodb

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Storage layout, in the Store (a JetStream KV bucket):
//
//	table/<name>                            the table's description (JSON)
//	item/<name>/<table id>/<encoded key>    one item (DynamoDB JSON)
//
// The table id is random per CreateTable, so a table deleted and created
// again never sees items a racing write left behind.

const (
	tablePrefix = "table/"
	itemPrefix  = "item/"
)

// table is a stored table description.
type table struct {
	Name        string    `json:"name"`
	ID          string    `json:"id"`
	HashKey     string    `json:"hashKey"`
	RangeKey    string    `json:"rangeKey,omitempty"`
	Attrs       []attrDef `json:"attrs"`
	BillingMode string    `json:"billingMode"`
	RCU         int64     `json:"rcu"`
	WCU         int64     `json:"wcu"`
	Created     time.Time `json:"created"`
	// Updated is when UpdateTable last changed the table; it is UPDATING
	// for Options.CreateDelay from then.
	Updated time.Time `json:"updated,omitzero"`
	// Indexes are the table's secondary indexes (indexes.go).
	Indexes []index `json:"indexes,omitempty"`
	// DeletionProtection refuses DeleteTable while set.
	DeletionProtection bool `json:"deletionProtection,omitempty"`
	// TTLAttribute names the attribute holding items' expiry times (epoch
	// seconds) while Time to Live is enabled (ttl.go); "" when disabled.
	TTLAttribute string `json:"ttlAttribute,omitempty"`
	// PITR is whether point-in-time recovery is enabled, and PITRSince
	// when it was (backups.go).
	PITR      bool      `json:"pitr,omitempty"`
	PITRSince time.Time `json:"pitrSince,omitzero"`
	rev       uint64    // the revision it was read at
}

type attrDef struct {
	AttributeName string
	AttributeType string
}

type keySchemaElement struct {
	AttributeName string
	KeyType       string
}

func (t *table) attrType(name string) string {
	for _, a := range t.Attrs {
		if a.AttributeName == name {
			return a.AttributeType
		}
	}
	return ""
}

func (t *table) itemsPrefix() string { return itemPrefix + t.Name + "/" + t.ID + "/" }

func (t *table) isKey(name string) bool {
	return name == t.HashKey || (t.RangeKey != "" && name == t.RangeKey)
}

// tableNameRe and the length bounds are the model's TableName constraints.
var tableNameRe = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)

// checkTableName returns the model validation message for a bad name.
// The table operations (CreateTable, DescribeTable, DeleteTable) check
// presence and length first, in their own words.
func checkTableName(name *string, member string) error {
	return checkName(name, member, false)
}

func checkControlTableName(name *string) error {
	return checkName(name, "tableName", true)
}

func checkName(name *string, member string, control bool) error {
	if control && name == nil {
		return validationError("The parameter 'TableName' is required but was not present in the request")
	}
	if control && (len(*name) < 3 || len(*name) > 255) {
		return validationError("TableName must be at least 3 characters long and at most 255 characters long")
	}
	if name == nil {
		return validationError("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
	var errs []string
	if !tableNameRe.MatchString(*name) {
		errs = append(errs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+", *name, member))
	}
	if len(*name) < 3 {
		errs = append(errs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to 3", *name, member))
	}
	if len(*name) > 255 {
		errs = append(errs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to 255", *name, member))
	}
	if len(errs) == 0 {
		return nil
	}
	noun := "error"
	if len(errs) > 1 {
		noun = "errors"
	}
	return validationError("%d validation %s detected: %s", len(errs), noun, strings.Join(errs, "; "))
}

// loadTable reads a table's description. ResourceNotFoundException if
// there is none (or it is still CREATING, when item operations ask).
func (h *Handler) loadTable(ctx context.Context, name *string, forItems bool) (*table, error) {
	check := checkTableName(name, "tableName")
	if !forItems {
		check = checkControlTableName(name)
	}
	if check != nil {
		return nil, check
	}
	e, err := h.store.Get(ctx, tablePrefix+*name)
	if errors.Is(err, kinesis.ErrKeyNotFound) {
		if forItems {
			return nil, resourceNotFound("Requested resource not found")
		}
		return nil, resourceNotFound("Requested resource not found: Table: " + *name + " not found")
	}
	if err != nil {
		return nil, fmt.Errorf("read table %s: %w", *name, err)
	}
	var t table
	if err := json.Unmarshal(e.Value, &t); err != nil {
		return nil, fmt.Errorf("decode table %s: %w", *name, err)
	}
	t.rev = e.Revision
	if forItems && h.status(&t) == "CREATING" {
		return nil, resourceNotFound("Requested resource not found")
	}
	return &t, nil
}

// status is the table's status now: CREATING for Options.CreateDelay after
// CreateTable, UPDATING as long after an UpdateTable, else ACTIVE.
func (h *Handler) status(t *table) string {
	now := h.now()
	if now.Before(t.Created.Add(h.opts.CreateDelay)) {
		return "CREATING"
	}
	if now.Before(t.Updated.Add(h.opts.CreateDelay)) {
		return "UPDATING"
	}
	return "ACTIVE"
}

// tableDescription is the wire form of a table.
type tableDescription struct {
	AttributeDefinitions  []attrDef
	KeySchema             []keySchemaElement
	TableName             string
	TableStatus           string
	CreationDateTime      float64
	ItemCount             int64
	TableSizeBytes        int64
	TableArn              string
	TableId               string
	ProvisionedThroughput struct {
		NumberOfDecreasesToday int64
		ReadCapacityUnits      int64
		WriteCapacityUnits     int64
	}
	BillingModeSummary *struct {
		BillingMode                       string
		LastUpdateToPayPerRequestDateTime float64
	} `json:",omitempty"`
	DeletionProtectionEnabled bool
	GlobalSecondaryIndexes    []indexDescription `json:",omitempty"`
	LocalSecondaryIndexes     []indexDescription `json:",omitempty"`
}

func (h *Handler) describe(t *table, status string) tableDescription {
	return h.describeWith(t, status, nil)
}

// describeWith is describe with index statuses to show instead of the
// derived ones (an UpdateTable's answer).
func (h *Handler) describeWith(t *table, status string, indexStatus map[string]string) tableDescription {
	d := tableDescription{
		AttributeDefinitions: t.Attrs,
		KeySchema:            []keySchemaElement{{t.HashKey, "HASH"}},
		TableName:            t.Name,
		TableStatus:          status,
		CreationDateTime:     float64(t.Created.UnixMilli()) / 1000,
		TableArn:             "arn:aws:dynamodb:" + h.opts.Region + ":" + h.opts.Account + ":table/" + t.Name,
		TableId:              t.ID,
	}
	if t.RangeKey != "" {
		d.KeySchema = append(d.KeySchema, keySchemaElement{t.RangeKey, "RANGE"})
	}
	d.ProvisionedThroughput.ReadCapacityUnits = t.RCU
	d.ProvisionedThroughput.WriteCapacityUnits = t.WCU
	if t.BillingMode == "PAY_PER_REQUEST" {
		d.BillingModeSummary = &struct {
			BillingMode                       string
			LastUpdateToPayPerRequestDateTime float64
		}{"PAY_PER_REQUEST", d.CreationDateTime}
	}
	d.DeletionProtectionEnabled = t.DeletionProtection
	h.describeIndexes(t, &d, indexStatus)
	return d
}

type createTableInput struct {
	TableName             *string
	AttributeDefinitions  []attrDef
	KeySchema             []keySchemaElement
	BillingMode           *string
	ProvisionedThroughput *struct {
		ReadCapacityUnits  *int64
		WriteCapacityUnits *int64
	}
	LocalSecondaryIndexes     []indexInput
	GlobalSecondaryIndexes    []indexInput
	StreamSpecification       *struct{ StreamEnabled bool }
	SSESpecification          json.RawMessage
	Tags                      json.RawMessage
	TableClass                *string
	DeletionProtectionEnabled *bool
}

// createTable: hash key, optional range key, billing mode, global and
// local secondary indexes. Streams are refused. The table is stored ACTIVE after
// Options.CreateDelay (default at once); the answer says CREATING, as
// DynamoDB's does.
func (h *Handler) createTable(ctx context.Context, body []byte) (any, error) {
	var in createTableInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkControlTableName(in.TableName); err != nil {
		return nil, err
	}
	if in.AttributeDefinitions == nil {
		return nil, validationError("1 validation error detected: Value null at 'attributeDefinitions' failed to satisfy constraint: Member must not be null")
	}
	if in.KeySchema == nil {
		return nil, validationError("1 validation error detected: Value null at 'keySchema' failed to satisfy constraint: Member must not be null")
	}
	if n := len(in.KeySchema); n < 1 || n > 2 {
		return nil, validationError("1 validation error detected: Value '%v' at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2", in.KeySchema)
	}
	for i, a := range in.AttributeDefinitions {
		if a.AttributeType != typeS && a.AttributeType != typeN && a.AttributeType != typeB {
			return nil, validationError("1 validation error detected: Value '%s' at 'attributeDefinitions.%d.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]", a.AttributeType, i+1)
		}
	}
	for i, k := range in.KeySchema {
		if k.KeyType != "HASH" && k.KeyType != "RANGE" {
			return nil, validationError("1 validation error detected: Value '%s' at 'keySchema.%d.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]", k.KeyType, i+1)
		}
	}
	if in.StreamSpecification != nil && in.StreamSpecification.StreamEnabled {
		return nil, validationError("DynamoDB Streams are not supported by this server")
	}
	billing := "PROVISIONED"
	if in.BillingMode != nil {
		billing = *in.BillingMode
		if billing != "PROVISIONED" && billing != "PAY_PER_REQUEST" {
			return nil, validationError("1 validation error detected: Value '%s' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]", billing)
		}
	}
	var rcu, wcu int64
	pt := in.ProvisionedThroughput
	if billing == "PAY_PER_REQUEST" {
		if pt != nil {
			return nil, validationError("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
	} else {
		if pt == nil || pt.ReadCapacityUnits == nil || pt.WriteCapacityUnits == nil || *pt.ReadCapacityUnits < 1 || *pt.WriteCapacityUnits < 1 {
			return nil, validationError("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
		}
		rcu, wcu = *pt.ReadCapacityUnits, *pt.WriteCapacityUnits
	}
	defs := make([]string, len(in.AttributeDefinitions))
	for i, a := range in.AttributeDefinitions {
		defs[i] = a.AttributeName
	}
	keys := make([]string, len(in.KeySchema))
	for i, k := range in.KeySchema {
		keys[i] = k.AttributeName
	}
	if len(keys) > len(defs) {
		return nil, validationError("Invalid KeySchema: Some index key attribute have no definition")
	}
	for _, k := range keys {
		if !slices.Contains(defs, k) {
			return nil, validationError("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: [%s]",
				strings.Join(keys, ", "), strings.Join(defs, ", "))
		}
	}
	if len(keys) == 2 && keys[0] == keys[1] {
		return nil, validationError("Both the Hash Key and the Range Key element in the KeySchema have the same name")
	}
	if in.KeySchema[0].KeyType != "HASH" {
		return nil, validationError("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
	}
	if len(keys) == 2 && in.KeySchema[1].KeyType != "RANGE" {
		return nil, validationError("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
	}
	if in.LocalSecondaryIndexes == nil && in.GlobalSecondaryIndexes == nil && len(keys) != len(defs) {
		return nil, validationError("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	now := h.now().UTC()
	var indexes []index
	if in.LocalSecondaryIndexes != nil {
		if len(in.LocalSecondaryIndexes) == 0 {
			return nil, validationError("One or more parameter values were invalid: List of LocalSecondaryIndexes is empty")
		}
		if len(keys) != 2 {
			return nil, validationError("One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex")
		}
		if len(in.LocalSecondaryIndexes) > 5 {
			return nil, validationError("One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds per-table limit of 5")
		}
	}
	if in.GlobalSecondaryIndexes != nil {
		if len(in.GlobalSecondaryIndexes) == 0 {
			return nil, validationError("One or more parameter values were invalid: List of GlobalSecondaryIndexes is empty")
		}
		if len(in.GlobalSecondaryIndexes) > 20 {
			return nil, validationError("One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of 20")
		}
	}
	for i, list := range [][]indexInput{in.LocalSecondaryIndexes, in.GlobalSecondaryIndexes} {
		for _, ii := range list {
			// Indexes created with the table are built with it.
			ix, err := newIndex(ii, defs, billing, i == 0, keys[0], now)
			if err != nil {
				return nil, err
			}
			if slices.ContainsFunc(indexes, func(o index) bool { return o.Name == ix.Name }) {
				return nil, validationError("One or more parameter values were invalid: Duplicate index name: %s", ix.Name)
			}
			indexes = append(indexes, ix)
		}
	}
	t := &table{
		Name:        *in.TableName,
		ID:          newTableID(),
		HashKey:     keys[0],
		Attrs:       in.AttributeDefinitions,
		BillingMode: billing,
		RCU:         rcu,
		WCU:         wcu,
		Created:     now,
		Indexes:     indexes,
	}
	if in.DeletionProtectionEnabled != nil {
		t.DeletionProtection = *in.DeletionProtectionEnabled
	}
	if len(keys) == 2 {
		t.RangeKey = keys[1]
	}
	if used := t.usedAttributes(); len(used) != len(defs) {
		return nil, validationError("One or more parameter values were invalid: Some AttributeDefinitions are not used. AttributeDefinitions: [%s], keys used: [%s]",
			strings.Join(defs, ", "), strings.Join(used, ", "))
	}
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	if _, err := h.store.Create(ctx, tablePrefix+t.Name, b); errors.Is(err, kinesis.ErrKeyExists) {
		return nil, resourceInUse("Table already exists: " + t.Name)
	} else if err != nil {
		return nil, fmt.Errorf("create table %s: %w", t.Name, err)
	}
	return map[string]any{"TableDescription": h.describe(t, "CREATING")}, nil
}

// newTableID returns a UUID v4, the form of DynamoDB's TableId.
func newTableID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

type tableNameInput struct {
	TableName *string
}

func (h *Handler) describeTable(ctx context.Context, body []byte) (any, error) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	t, err := h.loadTable(ctx, in.TableName, false)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Table": h.describe(t, h.status(t))}, nil
}

// deleteTable removes the description, then the items. The answer says
// DELETING; the table is gone for every later request.
func (h *Handler) deleteTable(ctx context.Context, body []byte) (any, error) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
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
	if t.DeletionProtection {
		return nil, validationError("Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.")
	}
	if err := h.store.Delete(ctx, tablePrefix+t.Name, t.rev); errors.Is(err, kinesis.ErrRevisionMismatch) {
		return nil, resourceNotFound("Requested resource not found: Table: " + t.Name + " not found")
	} else if err != nil {
		return nil, fmt.Errorf("delete table %s: %w", t.Name, err)
	}
	items, err := h.store.List(ctx, t.itemsPrefix())
	if err != nil {
		return nil, fmt.Errorf("list items of deleted table %s: %w", t.Name, err)
	}
	for _, e := range items {
		// A miss is an item written or removed meanwhile; its table id is
		// dead, so nothing will read it again.
		if err := h.store.Delete(ctx, e.Key, e.Revision); err != nil && !errors.Is(err, kinesis.ErrRevisionMismatch) {
			return nil, fmt.Errorf("delete items of table %s: %w", t.Name, err)
		}
	}
	return map[string]any{"TableDescription": h.describe(t, "DELETING")}, nil
}

type listTablesInput struct {
	ExclusiveStartTableName *string
	Limit                   *int
}

func (h *Handler) listTables(ctx context.Context, body []byte) (any, error) {
	var in listTablesInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit := 100
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 100 {
			bound := "greater than or equal to 1"
			if *in.Limit > 100 {
				bound = "less than or equal to 100"
			}
			return nil, validationError("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value %s", *in.Limit, bound)
		}
		limit = *in.Limit
	}
	if in.ExclusiveStartTableName != nil {
		if err := checkTableName(in.ExclusiveStartTableName, "exclusiveStartTableName"); err != nil {
			return nil, err
		}
	}
	entries, err := h.store.List(ctx, tablePrefix)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		name := strings.TrimPrefix(e.Key, tablePrefix)
		if in.ExclusiveStartTableName == nil || name > *in.ExclusiveStartTableName {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := map[string]any{}
	if len(names) > limit {
		names = names[:limit]
		out["LastEvaluatedTableName"] = names[limit-1]
	}
	out["TableNames"] = names
	return out, nil
}
