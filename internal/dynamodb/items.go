package dynamodb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// itemInput holds the members of every item operation (GetItem, PutItem,
// UpdateItem, DeleteItem, Scan, Query); each uses its own.
type itemInput struct {
	TableName                           *string
	Key                                 map[string]*rawValue
	Item                                map[string]*rawValue
	ConditionExpression                 *string
	UpdateExpression                    *string
	ProjectionExpression                *string
	FilterExpression                    *string
	KeyConditionExpression              *string
	ExpressionAttributeNames            map[string]string
	ExpressionAttributeValues           map[string]*rawValue
	ReturnValues                        *string
	ReturnValuesOnConditionCheckFailure *string
	ReturnConsumedCapacity              *string
	ReturnItemCollectionMetrics         *string
	ConsistentRead                      *bool
	Limit                               *int
	ExclusiveStartKey                   map[string]*rawValue
	Select                              *string
	ScanIndexForward                    *bool
	IndexName                           *string
	Segment                             *int
	TotalSegments                       *int

	// Legacy parameters (legacy.go).
	Expected            map[string]*expectedAttr
	AttributesToGet     []string
	AttributeUpdates    map[string]*attributeUpdate
	ConditionalOperator *string
	ScanFilter          map[string]*legacyCondition
	QueryFilter         map[string]*legacyCondition
	KeyConditions       map[string]*legacyCondition
}

// parsed holds a request's expressions, parsed and resolved.
type parsed struct {
	condition  *node
	filter     *node
	update     []updateAction
	projection *projNode
	keyCond    keyCondition
	hasKeyCond bool // keyCond came from KeyConditionExpression or KeyConditions
}

// keySchema names the hash and range key (rng may be "") of a table or an
// index, with the types of the attributes the table defines.
type keySchema struct {
	hash, rng string
	attrType  func(string) string
}

func (t *table) keys() keySchema { return keySchema{t.HashKey, t.RangeKey, t.attrType} }

// prepare checks a request's expression members the way DynamoDB does and
// parses them: names and values first, then each expression, then unused
// names or values.
// valueExprs names the operation's expressions that take values (for
// DynamoDB's message when values come without them).
func (h *Handler) prepare(in *itemInput, t *table, valueExprs ...string) (*parsed, error) {
	return h.prepareKeys(in, t.keys(), valueExprs...)
}

// prepareKeys is prepare with the key schema a Query's key condition
// refers to (a table's or an index's).
func (h *Handler) prepareKeys(in *itemInput, keys keySchema, valueExprs ...string) (*parsed, error) {
	p := &parsed{}
	if err := prepareLegacy(in, p, keys); err != nil {
		return nil, err
	}
	if in.KeyConditions != nil {
		if err := checkKeyTypes(p.keyCond, keys); err != nil {
			return nil, err
		}
	}
	exprs := []struct {
		name string
		src  *string
	}{{"UpdateExpression", in.UpdateExpression}, {"ConditionExpression", in.ConditionExpression},
		{"KeyConditionExpression", in.KeyConditionExpression}, {"FilterExpression", in.FilterExpression},
		{"ProjectionExpression", in.ProjectionExpression}}
	anyExpr, anyValueExpr := false, false
	for _, e := range exprs {
		if e.src != nil {
			anyExpr = true
			if e.name != "ProjectionExpression" {
				anyValueExpr = true
			}
		}
	}
	if in.ExpressionAttributeNames != nil && !anyExpr {
		return nil, validationError("ExpressionAttributeNames can only be specified when using expressions")
	}
	if in.ExpressionAttributeValues != nil && !anyValueExpr && len(valueExprs) > 0 {
		verb := "is"
		if len(valueExprs) > 1 {
			verb = "are"
		}
		return nil, validationError("ExpressionAttributeValues can only be specified when using expressions: %s %s null",
			strings.Join(valueExprs, " and "), verb)
	}
	if in.ExpressionAttributeNames != nil && len(in.ExpressionAttributeNames) == 0 {
		return nil, validationError("ExpressionAttributeNames must not be empty")
	}
	for k := range in.ExpressionAttributeNames {
		if !validPlaceholder(k, '#') {
			return nil, validationError(`ExpressionAttributeNames contains invalid key: Syntax error; key: "%s"`, k)
		}
	}
	if in.ExpressionAttributeValues != nil && len(in.ExpressionAttributeValues) == 0 {
		return nil, validationError("ExpressionAttributeValues must not be empty")
	}
	values := make(map[string]Value, len(in.ExpressionAttributeValues))
	for k := range in.ExpressionAttributeValues {
		if !validPlaceholder(k, ':') {
			return nil, validationError(`ExpressionAttributeValues contains invalid key: Syntax error; key: "%s"`, k)
		}
	}
	for k, r := range in.ExpressionAttributeValues {
		v, msg := decodeValue(r)
		if msg == errSerialization {
			return nil, serializationError()
		}
		if msg != "" {
			return nil, validationError("ExpressionAttributeValues contains invalid value: %s for key %s", msg, k)
		}
		values[k] = v
	}
	ctx := newExprContext(in.ExpressionAttributeNames, values)
	if ctx.limitMsg != "" {
		return nil, validationError("%s", ctx.limitMsg)
	}
	var msg string
	if in.UpdateExpression != nil {
		if p.update, msg = parseUpdate(*in.UpdateExpression, ctx); msg != "" {
			return nil, validationError("Invalid UpdateExpression: %s", msg)
		}
	}
	if in.ConditionExpression != nil {
		if p.condition, msg = parseCondition(*in.ConditionExpression, ctx); msg != "" {
			return nil, validationError("Invalid ConditionExpression: %s", msg)
		}
	}
	var keyMsg string
	if in.KeyConditionExpression != nil {
		if p.keyCond, msg, keyMsg = parseKeyCondition(*in.KeyConditionExpression, ctx, keys.hash, keys.rng); msg != "" {
			return nil, validationError("Invalid KeyConditionExpression: %s", msg)
		}
		p.hasKeyCond = true
	}
	if in.FilterExpression != nil {
		if p.filter, msg = parseCondition(*in.FilterExpression, ctx); msg != "" {
			return nil, validationError("Invalid FilterExpression: %s", msg)
		}
	}
	if in.ProjectionExpression != nil {
		paths, msg := parseProjection(*in.ProjectionExpression, ctx)
		if msg != "" {
			return nil, validationError("Invalid ProjectionExpression: %s", msg)
		}
		p.projection = newProjection(paths)
	}
	if msg := ctx.unused(); msg != "" {
		return nil, validationError("%s", msg)
	}
	if keyMsg != "" {
		return nil, validationError("%s", keyMsg)
	}
	if in.KeyConditionExpression != nil {
		if err := checkKeyTypes(p.keyCond, keys); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// checkKeyTypes checks a key condition's values against the key types.
func checkKeyTypes(kc keyCondition, keys keySchema) error {
	ok := kc.hash.Type == keys.attrType(keys.hash)
	for _, v := range kc.rangeArg {
		ok = ok && v.Type == keys.attrType(keys.rng)
	}
	if !ok {
		return validationError("One or more parameter values were invalid: Condition parameter type does not match schema type")
	}
	return nil
}

func validPlaceholder(k string, first byte) bool {
	if len(k) < 2 || k[0] != first {
		return false
	}
	for i := 1; i < len(k); i++ {
		if !isNameByte(k[i]) {
			return false
		}
	}
	return true
}

// checkReturnValues checks ReturnValues against the operation's allowed
// set and ReturnValuesOnConditionCheckFailure.
func checkReturnValues(in *itemInput, allowed ...string) (string, error) {
	rv := "NONE"
	if in.ReturnValues != nil {
		rv = *in.ReturnValues
		ok := false
		for _, a := range []string{"NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"} {
			ok = ok || rv == a
		}
		if !ok {
			return "", validationError("1 validation error detected: Value '%s' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]", rv)
		}
		ok = false
		for _, a := range allowed {
			ok = ok || rv == a
		}
		if !ok {
			return "", validationError("ReturnValues can only be ALL_OLD or NONE")
		}
	}
	if f := in.ReturnValuesOnConditionCheckFailure; f != nil && *f != "NONE" && *f != "ALL_OLD" {
		return "", validationError("1 validation error detected: Value '%s' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]", *f)
	}
	return rv, nil
}

// --- keys ---

// keyFromKey validates a Key member against the table's key schema.
func keyFromKey(t *table, raw map[string]*rawValue) (Item, error) {
	if raw == nil {
		return nil, validationError("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null")
	}
	key, msg := decodeItem(raw)
	if msg != "" {
		return nil, validationMsg(msg)
	}
	want := 1
	if t.RangeKey != "" {
		want = 2
	}
	if len(key) != want {
		return nil, validationError("The provided key element does not match the schema")
	}
	for name, v := range key {
		if !t.isKey(name) || v.Type != t.attrType(name) {
			return nil, validationError("The provided key element does not match the schema")
		}
		if err := checkKeyValue(t, name, v); err != nil {
			return nil, err
		}
	}
	return key, nil
}

// checkKeyValue applies DynamoDB's limits on key values: not empty, hash
// keys up to 2048 bytes, range keys up to 1024.
func checkKeyValue(t *table, name string, v Value) error {
	if v.Type == typeN {
		return nil
	}
	if v.S == "" {
		return validationError("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty %s value. Key: %s",
			map[string]string{typeS: "string", typeB: "binary"}[v.Type], name)
	}
	if name == t.HashKey && len(v.S) > 2048 {
		return validationError("One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes")
	}
	if name == t.RangeKey && len(v.S) > 1024 {
		return validationError("One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes")
	}
	return nil
}

// keyOfItem checks that a PutItem item holds the key and returns it.
func keyOfItem(t *table, it Item) (Item, error) {
	key := Item{}
	for _, name := range []string{t.HashKey, t.RangeKey} {
		if name == "" {
			continue
		}
		v, ok := it[name]
		if !ok {
			return nil, validationError("One or more parameter values were invalid: Missing the key %s in the item", name)
		}
		if want := t.attrType(name); v.Type != want {
			return nil, validationError("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", name, want, v.Type)
		}
		if err := checkKeyValue(t, name, v); err != nil {
			return nil, err
		}
		key[name] = v
	}
	return key, nil
}

// storeKey is the store key of an item: the table's item prefix, then the
// key values, each as type, length and bytes (a long key is hashed: NATS
// subjects should stay short).
func storeKey(t *table, key Item) string {
	var b []byte
	for _, name := range []string{t.HashKey, t.RangeKey} {
		if name == "" {
			continue
		}
		v := key[name]
		b = append(b, v.Type[0])
		b = strconv.AppendInt(b, int64(len(v.S)), 10)
		b = append(b, ':')
		b = append(b, v.S...)
	}
	if len(b) > 200 {
		sum := sha256.Sum256(b)
		return t.itemsPrefix() + "#" + hex.EncodeToString(sum[:])
	}
	return t.itemsPrefix() + string(b)
}

// keyAttrs returns the key attributes of an item.
func keyAttrs(t *table, it Item) Item {
	k := Item{t.HashKey: it[t.HashKey]}
	if t.RangeKey != "" {
		k[t.RangeKey] = it[t.RangeKey]
	}
	return k
}

// --- reads and writes ---

// readItem returns the item at key (nil if none) and its revision.
func (h *Handler) readItem(ctx context.Context, k string) (Item, uint64, error) {
	e, err := h.store.Get(ctx, k)
	if errors.Is(err, kinesis.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read item: %w", err)
	}
	var it Item
	if err := json.Unmarshal(e.Value, &it); err != nil {
		return nil, 0, fmt.Errorf("decode item %q: %w", k, err)
	}
	return it, e.Revision, nil
}

// maxAttempts bounds the compare-and-swap retries of one write; each
// retry follows a write that succeeded, so the item is contended, not
// stuck.
const maxAttempts = 1000

// mutate runs a conditional write as a compare-and-swap loop: read the
// item, let f decide (check the condition, compute the new item, or nil
// to delete), write at the read revision, retry on conflict. It returns
// the old and new items.
func (h *Handler) mutate(ctx context.Context, k string, f func(old Item) (Item, error)) (old, updated Item, err error) {
	for range maxAttempts {
		old, rev, err := h.readItem(ctx, k)
		if err != nil {
			return nil, nil, err
		}
		updated, err := f(old)
		if err != nil {
			return old, nil, err
		}
		switch {
		case updated == nil && old == nil:
			return nil, nil, nil
		case updated == nil:
			err = h.store.Delete(ctx, k, rev)
		default:
			if updated.size() > maxItemSize {
				return old, nil, validationError(msgItemSize)
			}
			if updated.tooDeep() { // an update can nest a value under a path
				return old, nil, validationError(msgNestingLevels)
			}
			var b []byte
			if b, err = json.Marshal(updated); err != nil {
				return old, nil, err
			}
			if old == nil {
				_, err = h.store.Create(ctx, k, b)
			} else {
				_, err = h.store.Update(ctx, k, b, rev)
			}
		}
		if errors.Is(err, kinesis.ErrKeyExists) || errors.Is(err, kinesis.ErrRevisionMismatch) {
			continue
		}
		if err != nil {
			return old, nil, fmt.Errorf("write item: %w", err)
		}
		return old, updated, nil
	}
	return nil, nil, fmt.Errorf("write item %q: still contended after %d attempts", k, maxAttempts)
}

// checkCondition returns ConditionalCheckFailedException, with the old
// item when asked for, if the condition does not hold.
func checkCondition(in *itemInput, p *parsed, old Item) error {
	if p.condition == nil || evalCondition(old, p.condition) {
		return nil
	}
	var item Item
	if f := in.ReturnValuesOnConditionCheckFailure; f != nil && *f == "ALL_OLD" && old != nil {
		item = old
	}
	return conditionalCheckFailed(item)
}

// itemRequest decodes the body of an item operation and loads its table,
// which must be active.
func (h *Handler) itemRequest(ctx context.Context, body []byte) (*itemInput, *table, error) {
	in := &itemInput{}
	if err := decode(body, in); err != nil {
		return nil, nil, err
	}
	t, err := h.loadTable(ctx, in.TableName, true)
	if err != nil {
		return nil, nil, err
	}
	return in, t, nil
}

// oldAttributes answers a write whose ReturnValues allows only NONE or
// ALL_OLD.
func oldAttributes(rv string, old Item) map[string]any {
	out := map[string]any{}
	if rv == "ALL_OLD" && old != nil {
		out["Attributes"] = old
	}
	return out
}

func (h *Handler) getItem(ctx context.Context, body []byte) (any, error) {
	in, t, err := h.itemRequest(ctx, body)
	if err != nil {
		return nil, err
	}
	p, err := h.prepare(in, t)
	if err != nil {
		return nil, err
	}
	key, err := keyFromKey(t, in.Key)
	if err != nil {
		return nil, err
	}
	// Every read is from the stream leader, so strongly consistent
	// whatever ConsistentRead says.
	it, _, err := h.readItem(ctx, storeKey(t, key))
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if it != nil {
		if p.projection != nil {
			it = p.projection.project(it)
		}
		out["Item"] = it
	}
	return out, nil
}

func (h *Handler) putItem(ctx context.Context, body []byte) (any, error) {
	in, t, err := h.itemRequest(ctx, body)
	if err != nil {
		return nil, err
	}
	if in.Item == nil {
		return nil, validationError("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null")
	}
	rv, err := checkReturnValues(in, "NONE", "ALL_OLD")
	if err != nil {
		return nil, err
	}
	item, msg := decodeItem(in.Item)
	if msg != "" {
		return nil, validationMsg(msg)
	}
	if item.size() > maxItemSize { // before the condition, as DynamoDB
		return nil, validationError(msgItemSize)
	}
	p, err := h.prepare(in, t, "ConditionExpression")
	if err != nil {
		return nil, err
	}
	key, err := keyOfItem(t, item)
	if err != nil {
		return nil, err
	}
	if err := t.checkIndexKeys(item); err != nil {
		return nil, err
	}
	old, _, err := h.mutate(ctx, storeKey(t, key), func(old Item) (Item, error) {
		if err := checkCondition(in, p, old); err != nil {
			return nil, err
		}
		return item, nil
	})
	if err != nil {
		return nil, err
	}
	return oldAttributes(rv, old), nil
}

func (h *Handler) deleteItem(ctx context.Context, body []byte) (any, error) {
	in, t, err := h.itemRequest(ctx, body)
	if err != nil {
		return nil, err
	}
	rv, err := checkReturnValues(in, "NONE", "ALL_OLD")
	if err != nil {
		return nil, err
	}
	p, err := h.prepare(in, t, "ConditionExpression")
	if err != nil {
		return nil, err
	}
	key, err := keyFromKey(t, in.Key)
	if err != nil {
		return nil, err
	}
	old, _, err := h.mutate(ctx, storeKey(t, key), func(old Item) (Item, error) {
		return nil, checkCondition(in, p, old)
	})
	if err != nil {
		return nil, err
	}
	return oldAttributes(rv, old), nil
}

func (h *Handler) updateItem(ctx context.Context, body []byte) (any, error) {
	in, t, err := h.itemRequest(ctx, body)
	if err != nil {
		return nil, err
	}
	rv, err := checkReturnValues(in, "NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")
	if err != nil {
		return nil, err
	}
	p, err := h.prepare(in, t, "UpdateExpression", "ConditionExpression")
	if err != nil {
		return nil, err
	}
	key, err := keyFromKey(t, in.Key)
	if err != nil {
		return nil, err
	}
	for _, a := range p.update {
		if t.isKey(a.path[0].name) {
			return nil, validationError("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", a.path[0].name)
		}
	}
	old, updated, err := h.mutate(ctx, storeKey(t, key), func(old Item) (Item, error) {
		if err := checkCondition(in, p, old); err != nil {
			return nil, err
		}
		it, msg := applyUpdate(old, key, p.update)
		if msg != "" {
			return nil, validationMsg(msg)
		}
		return it, t.checkIndexKeys(it)
	})
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	var attrs Item
	switch rv {
	case "ALL_OLD":
		attrs = old
	case "ALL_NEW":
		attrs = updated
	case "UPDATED_OLD", "UPDATED_NEW":
		paths := make([][]pathElem, len(p.update))
		for i, a := range p.update {
			paths[i] = a.path
		}
		src := old
		if rv == "UPDATED_NEW" {
			src = updated
		}
		if src != nil {
			attrs = newProjection(paths).project(src)
		}
	}
	if len(attrs) > 0 {
		out["Attributes"] = attrs
	}
	return out, nil
}
