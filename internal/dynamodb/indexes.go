package dynamodb

import (
	"slices"
	"strings"
	"time"
)

// Secondary indexes. An index is kept as a view, not as stored data:
// Query and Scan with IndexName read the table's items and keep those
// that carry the index's key attributes (an index is sparse), ordered by
// the index's keys and shown through its projection. Writes check the
// index key attributes' types, as DynamoDB does. The KCL 3.x lease table's
// LeaseOwnerToLeaseKeyIndex (hash leaseOwner, range leaseKey, KEYS_ONLY)
// is the index this exists for.

// index is a stored secondary index.
type index struct {
	Name       string     `json:"name"`
	HashKey    string     `json:"hashKey"`
	RangeKey   string     `json:"rangeKey,omitempty"`
	Projection projection `json:"projection"`
	Local      bool       `json:"local,omitempty"`
	RCU        int64      `json:"rcu,omitempty"`
	WCU        int64      `json:"wcu,omitempty"`
	// Created is when the index was added; a global index added by
	// UpdateTable is CREATING for Options.CreateDelay from then.
	Created time.Time `json:"created"`
}

// projection is an index's Projection.
type projection struct {
	ProjectionType   string
	NonKeyAttributes []string `json:",omitempty"`
}

func (ix *index) keys(t *table) keySchema { return keySchema{ix.HashKey, ix.RangeKey, t.attrType} }

// holds reports whether an item appears in the index: it has the index's
// key attributes.
func (ix *index) holds(it Item) bool {
	if _, ok := it[ix.HashKey]; !ok {
		return false
	}
	if ix.RangeKey != "" {
		if _, ok := it[ix.RangeKey]; !ok {
			return false
		}
	}
	return true
}

// keyAttrs returns the attributes that identify an item in the index: the
// table's key and the index's key.
func (ix *index) keyAttrs(t *table, it Item) Item {
	k := keyAttrs(t, it)
	k[ix.HashKey] = it[ix.HashKey]
	if ix.RangeKey != "" {
		k[ix.RangeKey] = it[ix.RangeKey]
	}
	return k
}

// project returns what the index holds of an item.
func (ix *index) project(t *table, it Item) Item {
	switch ix.Projection.ProjectionType {
	case "ALL":
		return it
	case "INCLUDE":
		out := ix.keyAttrs(t, it)
		for _, a := range ix.Projection.NonKeyAttributes {
			if v, ok := it[a]; ok {
				out[a] = v
			}
		}
		return out
	}
	return ix.keyAttrs(t, it)
}

func (t *table) index(name string) *index {
	for i := range t.Indexes {
		if t.Indexes[i].Name == name {
			return &t.Indexes[i]
		}
	}
	return nil
}

// checkIndexKeys applies DynamoDB's rules for index key attributes to an
// item about to be written: the type the table defines, and not empty.
func (t *table) checkIndexKeys(it Item) error {
	for _, ix := range t.Indexes {
		for _, name := range []string{ix.HashKey, ix.RangeKey} {
			if name == "" || t.isKey(name) {
				continue
			}
			v, ok := it[name]
			if !ok {
				continue
			}
			if want := t.attrType(name); v.Type != want {
				return validationError("One or more parameter values were invalid: Type mismatch for Index Key %s Expected: %s Actual: %s IndexName: %s", name, want, v.Type, ix.Name)
			}
			if v.Type != typeN && v.S == "" {
				return validationError("One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty %s value. IndexName: %s, IndexKey: %s",
					map[string]string{typeS: "string", typeB: "binary"}[v.Type], ix.Name, name)
			}
		}
	}
	return nil
}

// indexInput is a secondary index as CreateTable and UpdateTable take it.
type indexInput struct {
	IndexName             *string
	KeySchema             []keySchemaElement
	Projection            *projection
	ProvisionedThroughput *throughputInput
}

type throughputInput struct {
	ReadCapacityUnits  *int64
	WriteCapacityUnits *int64
}

// newIndex checks an index definition against the attribute definitions
// (defs) and the billing mode, in DynamoDB's words, and builds it.
func newIndex(in indexInput, defs []string, billing string, local bool, tableHash string, now time.Time) (index, error) {
	if in.IndexName == nil {
		return index{}, validationError("1 validation error detected: Value null at 'indexName' failed to satisfy constraint: Member must not be null")
	}
	name := *in.IndexName
	if len(name) < 3 || len(name) > 255 || !tableNameRe.MatchString(name) {
		return index{}, validationError("1 validation error detected: Value '%s' at 'indexName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255", name)
	}
	if n := len(in.KeySchema); n < 1 || n > 2 {
		return index{}, validationError("1 validation error detected: Value '%v' at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2 and greater than or equal to 1", in.KeySchema)
	}
	keys := make([]string, len(in.KeySchema))
	for i, k := range in.KeySchema {
		keys[i] = k.AttributeName
		if k.KeyType != "HASH" && k.KeyType != "RANGE" {
			return index{}, validationError("1 validation error detected: Value '%s' at 'keySchema.%d.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]", k.KeyType, i+1)
		}
	}
	for _, k := range keys {
		if !slices.Contains(defs, k) {
			return index{}, validationError("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: [%s]",
				strings.Join(keys, ", "), strings.Join(defs, ", "))
		}
	}
	if len(keys) == 2 && keys[0] == keys[1] {
		return index{}, validationError("Both the Hash Key and the Range Key element in the KeySchema have the same name")
	}
	if in.KeySchema[0].KeyType != "HASH" {
		return index{}, validationError("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
	}
	if len(keys) == 2 && in.KeySchema[1].KeyType != "RANGE" {
		return index{}, validationError("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
	}
	if local {
		if len(keys) != 2 {
			return index{}, validationError("One or more parameter values were invalid: Index KeySchema does not have a range key for index: %s", name)
		}
		if keys[0] != tableHash {
			return index{}, validationError("One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: %s. index hash key: %s, table hash key: %s", name, keys[0], tableHash)
		}
	}
	if in.Projection == nil || in.Projection.ProjectionType == "" {
		return index{}, validationError("One or more parameter values were invalid: Unknown ProjectionType: null")
	}
	pt := in.Projection.ProjectionType
	switch pt {
	case "ALL", "KEYS_ONLY":
		if in.Projection.NonKeyAttributes != nil {
			return index{}, validationError("One or more parameter values were invalid: ProjectionType is %s, but NonKeyAttributes is specified", pt)
		}
	case "INCLUDE":
		if len(in.Projection.NonKeyAttributes) == 0 {
			return index{}, validationError("One or more parameter values were invalid: NonKeyAttributes must not be empty")
		}
	default:
		return index{}, validationError("1 validation error detected: Value '%s' at 'projection.projectionType' failed to satisfy constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]", pt)
	}
	ix := index{Name: name, HashKey: keys[0], Projection: *in.Projection, Local: local, Created: now}
	if len(keys) == 2 {
		ix.RangeKey = keys[1]
	}
	if !local {
		pt := in.ProvisionedThroughput
		switch {
		case billing == "PAY_PER_REQUEST" && pt != nil:
			return index{}, validationError("One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: %s when BillingMode is PAY_PER_REQUEST", name)
		case billing != "PAY_PER_REQUEST" && pt == nil:
			return index{}, validationError("One or more parameter values were invalid: ProvisionedThroughput must be specified for index: %s", name)
		case pt != nil:
			if pt.ReadCapacityUnits == nil || pt.WriteCapacityUnits == nil || *pt.ReadCapacityUnits < 1 || *pt.WriteCapacityUnits < 1 {
				return index{}, validationError("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified and at least 1 for index: %s", name)
			}
			ix.RCU, ix.WCU = *pt.ReadCapacityUnits, *pt.WriteCapacityUnits
		}
	}
	return ix, nil
}

// usedAttributes lists the attributes the table's and its indexes' key
// schemas use, in first-use order.
func (t *table) usedAttributes() []string {
	var out []string
	add := func(n string) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	add(t.HashKey)
	add(t.RangeKey)
	for _, ix := range t.Indexes {
		add(ix.HashKey)
		add(ix.RangeKey)
	}
	return out
}

// indexDescription is the wire form of an index in DescribeTable.
type indexDescription struct {
	IndexName             string
	KeySchema             []keySchemaElement
	Projection            projection
	IndexStatus           string                 `json:",omitempty"`
	Backfilling           *bool                  `json:",omitempty"`
	ProvisionedThroughput *throughputDescription `json:",omitempty"`
	IndexSizeBytes        int64
	ItemCount             int64
	IndexArn              string
}

type throughputDescription struct {
	NumberOfDecreasesToday int64
	ReadCapacityUnits      int64
	WriteCapacityUnits     int64
}

// indexStatus is a global index's status now: CREATING while it is being
// built (Options.CreateDelay after it was added), then ACTIVE.
func (h *Handler) indexStatus(ix *index) string {
	if h.now().Before(ix.Created.Add(h.opts.CreateDelay)) {
		return "CREATING"
	}
	return "ACTIVE"
}

// describeIndexes adds the table's indexes to d. override gives statuses
// that the answer of an UpdateTable shows instead of the derived one.
func (h *Handler) describeIndexes(t *table, d *tableDescription, override map[string]string) {
	for i := range t.Indexes {
		ix := &t.Indexes[i]
		desc := indexDescription{
			IndexName:  ix.Name,
			KeySchema:  []keySchemaElement{{ix.HashKey, "HASH"}},
			Projection: ix.Projection,
			IndexArn:   d.TableArn + "/index/" + ix.Name,
		}
		if ix.RangeKey != "" {
			desc.KeySchema = append(desc.KeySchema, keySchemaElement{ix.RangeKey, "RANGE"})
		}
		if ix.Local {
			d.LocalSecondaryIndexes = append(d.LocalSecondaryIndexes, desc)
			continue
		}
		desc.IndexStatus = h.indexStatus(ix)
		if s, ok := override[ix.Name]; ok {
			desc.IndexStatus = s
		}
		if desc.IndexStatus == "CREATING" && ix.Created.After(t.Created) {
			backfilling := true
			desc.Backfilling = &backfilling
		}
		desc.ProvisionedThroughput = &throughputDescription{ReadCapacityUnits: ix.RCU, WriteCapacityUnits: ix.WCU}
		d.GlobalSecondaryIndexes = append(d.GlobalSecondaryIndexes, desc)
	}
}
