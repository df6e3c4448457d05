package dynamodb

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// TransactWriteItems and TransactGetItems. A write transaction reads every
// item it names, checks every condition, and then writes all of them in
// one atomic, compare-and-swap commit of the store (Committer): each item
// only if its revision is still the one read, so a transaction is
// all-or-nothing and serializable with every other write, on one server or
// many. A condition check rewrites its item unchanged, which makes its
// check part of the same commit. A commit that loses a race is run again
// from the reads. ClientRequestToken makes a retry within 10 minutes
// succeed without writing again, as on DynamoDB.

// Committer is a Store that can change several keys atomically (a
// JetStream KV bucket; commit.go there). TransactWriteItems needs it.
type Committer interface {
	// Commit applies every write or none; kinesis.ErrRevisionMismatch if
	// a key's revision is not the one given.
	Commit(ctx context.Context, writes []kinesis.MetaWrite) error
}

// tokenPrefix keys the ClientRequestTokens of recent transactions.
const tokenPrefix = "txtoken/"

// tokenLifetime is how long a ClientRequestToken is remembered.
const tokenLifetime = 10 * time.Minute

type transactAction struct {
	TableName                           *string
	Key                                 map[string]*rawValue
	Item                                map[string]*rawValue
	ConditionExpression                 *string
	UpdateExpression                    *string
	ProjectionExpression                *string
	ExpressionAttributeNames            map[string]string
	ExpressionAttributeValues           map[string]*rawValue
	ReturnValuesOnConditionCheckFailure *string
}

type transactWriteInput struct {
	TransactItems []struct {
		ConditionCheck *transactAction
		Put            *transactAction
		Delete         *transactAction
		Update         *transactAction
	}
	ClientRequestToken          *string
	ReturnConsumedCapacity      *string
	ReturnItemCollectionMetrics *string
}

// txAction is one checked action of a write transaction.
type txAction struct {
	kind string // ConditionCheck, Put, Delete, Update
	in   *itemInput
	t    *table
	p    *parsed
	key  Item
	item Item // Put
	sk   string
}

// cancellationReason is one entry of TransactionCanceledException's
// CancellationReasons.
type cancellationReason struct {
	Code    string
	Message string `json:",omitempty"`
	Item    Item   `json:",omitempty"`
}

func transactionCanceled(reasons []cancellationReason) *apiError {
	codes := make([]string, len(reasons))
	for i, r := range reasons {
		codes[i] = r.Code
	}
	return &apiError{typ: prefixDynamoDB + "TransactionCanceledException",
		msg:     "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]",
		status:  http.StatusBadRequest,
		reasons: reasons}
}

func (h *Handler) transactWriteItems(ctx context.Context, body []byte) (any, error) {
	var in transactWriteInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.TransactItems == nil {
		return nil, validationError("1 validation error detected: Value null at 'transactItems' failed to satisfy constraint: Member must not be null")
	}
	if n := len(in.TransactItems); n < 1 || n > 100 {
		return nil, validationError("1 validation error detected: Value '[...]' at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1")
	}
	if tok := in.ClientRequestToken; tok != nil && (len(*tok) < 1 || len(*tok) > 36) {
		return nil, validationError("1 validation error detected: Value '%s' at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to 36", *tok)
	}
	committer, ok := h.store.(Committer)
	if !ok {
		return nil, fmt.Errorf("transactions need a store with atomic commits")
	}
	actions := make([]txAction, len(in.TransactItems))
	seen := map[string]bool{}
	for i, ti := range in.TransactItems {
		var a txAction
		n := 0
		for _, c := range []struct {
			kind string
			act  *transactAction
		}{{"ConditionCheck", ti.ConditionCheck}, {"Put", ti.Put}, {"Delete", ti.Delete}, {"Update", ti.Update}} {
			if c.act != nil {
				n++
				a.kind = c.kind
				a.in = &itemInput{TableName: c.act.TableName, Key: c.act.Key, Item: c.act.Item,
					ConditionExpression: c.act.ConditionExpression, UpdateExpression: c.act.UpdateExpression,
					ExpressionAttributeNames: c.act.ExpressionAttributeNames, ExpressionAttributeValues: c.act.ExpressionAttributeValues,
					ReturnValuesOnConditionCheckFailure: c.act.ReturnValuesOnConditionCheckFailure}
			}
		}
		if n != 1 {
			return nil, validationError("TransactItems can only contain one of Check, Put, Update or Delete")
		}
		if err := h.checkTxAction(ctx, &a); err != nil {
			return nil, err
		}
		if seen[a.sk] {
			return nil, validationError("Transaction request cannot include multiple operations on one item")
		}
		seen[a.sk] = true
		actions[i] = a
	}
	var token, digest string
	if in.ClientRequestToken != nil {
		token = tokenPrefix + *in.ClientRequestToken
		sum := sha256.Sum256(body)
		digest = fmt.Sprintf("%x", sum)
	}
	for range maxAttempts {
		writes, err := h.planTransaction(ctx, actions)
		if err != nil {
			return nil, err
		}
		if token != "" {
			w, done, err := h.tokenWrite(ctx, token, digest)
			if err != nil {
				return nil, err
			}
			if done {
				return map[string]any{}, nil // a retry of a committed transaction
			}
			writes = append(writes, w)
		}
		err = committer.Commit(ctx, writes)
		if errors.Is(err, kinesis.ErrRevisionMismatch) {
			continue // a write came between the reads and the commit
		}
		if err != nil {
			return nil, fmt.Errorf("commit transaction: %w", err)
		}
		return map[string]any{}, nil
	}
	reasons := make([]cancellationReason, len(actions))
	for i := range reasons {
		reasons[i] = cancellationReason{Code: "TransactionConflict", Message: "Transaction is ongoing for the item"}
	}
	return nil, transactionCanceled(reasons)
}

// checkTxAction validates one action and parses its expressions.
func (h *Handler) checkTxAction(ctx context.Context, a *txAction) error {
	t, err := h.loadTable(ctx, a.in.TableName, true)
	if err != nil {
		return err
	}
	a.t = t
	if _, err := checkReturnValues(a.in); err != nil {
		return err
	}
	switch a.kind {
	case "ConditionCheck":
		if a.in.ConditionExpression == nil {
			return validationError("1 validation error detected: Value null at 'transactItems.1.member.conditionCheck.conditionExpression' failed to satisfy constraint: Member must not be null")
		}
		a.p, err = h.prepare(a.in, t, "ConditionExpression")
	case "Put":
		if a.in.Item == nil {
			return validationError("1 validation error detected: Value null at 'transactItems.1.member.put.item' failed to satisfy constraint: Member must not be null")
		}
		item, msg := decodeItem(a.in.Item)
		if msg != "" {
			return validationMsg(msg)
		}
		if item.size() > maxItemSize {
			return validationError("Item size has exceeded the maximum allowed size")
		}
		if a.key, err = keyOfItem(t, item); err != nil {
			return err
		}
		if err := t.checkIndexKeys(item); err != nil {
			return err
		}
		a.item = item
		a.p, err = h.prepare(a.in, t, "ConditionExpression")
	case "Delete":
		a.p, err = h.prepare(a.in, t, "ConditionExpression")
	case "Update":
		if a.in.UpdateExpression == nil {
			return validationError("1 validation error detected: Value null at 'transactItems.1.member.update.updateExpression' failed to satisfy constraint: Member must not be null")
		}
		a.p, err = h.prepare(a.in, t, "UpdateExpression", "ConditionExpression")
		if err == nil {
			for _, u := range a.p.update {
				if t.isKey(u.path[0].name) {
					return validationError("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", u.path[0].name)
				}
			}
		}
	}
	if err != nil {
		return err
	}
	if a.key == nil {
		if a.key, err = keyFromKey(t, a.in.Key); err != nil {
			return err
		}
	}
	a.sk = storeKey(t, a.key)
	return nil
}

// planTransaction reads the items, checks the conditions and returns the
// writes that commit the transaction, or TransactionCanceledException.
func (h *Handler) planTransaction(ctx context.Context, actions []txAction) ([]kinesis.MetaWrite, error) {
	writes := make([]kinesis.MetaWrite, len(actions))
	reasons := make([]cancellationReason, len(actions))
	failed := false
	for i, a := range actions {
		old, rev, err := h.readItem(ctx, a.sk)
		if err != nil {
			return nil, err
		}
		reasons[i].Code = "None"
		if err := checkCondition(a.in, a.p, old); err != nil {
			var ae *apiError
			errors.As(err, &ae)
			reasons[i] = cancellationReason{Code: "ConditionalCheckFailed", Message: "The conditional request failed", Item: ae.item}
			failed = true
			continue
		}
		next := old // ConditionCheck: unchanged
		switch a.kind {
		case "Put":
			next = a.item
		case "Delete":
			next = nil
		case "Update":
			it, msg := applyUpdate(old, a.key, a.p.update)
			if msg == "" {
				if err := a.t.checkIndexKeys(it); err != nil {
					msg = err.(*apiError).msg
				} else if it.size() > maxItemSize {
					msg = "Item size has exceeded the maximum allowed size"
				} else if it.tooDeep() {
					msg = msgNestingLevels
				}
			}
			if msg != "" {
				reasons[i] = cancellationReason{Code: "ValidationError", Message: msg}
				failed = true
				continue
			}
			next = it
		}
		w := kinesis.MetaWrite{Key: a.sk, Revision: rev, Delete: next == nil}
		if next != nil {
			if w.Value, err = json.Marshal(next); err != nil {
				return nil, err
			}
		}
		writes[i] = w
	}
	if failed {
		return nil, transactionCanceled(reasons)
	}
	return writes, nil
}

// tokenRecord is what a ClientRequestToken key holds.
type tokenRecord struct {
	Digest string    `json:"digest"`
	At     time.Time `json:"at"`
}

// tokenWrite returns the write that records token with the transaction's
// digest, or done if a transaction with this token committed less than
// 10 minutes ago (IdempotentParameterMismatchException if it was another).
func (h *Handler) tokenWrite(ctx context.Context, token, digest string) (w kinesis.MetaWrite, done bool, err error) {
	now := h.now().UTC()
	val, err := json.Marshal(tokenRecord{digest, now})
	if err != nil {
		return w, false, err
	}
	w = kinesis.MetaWrite{Key: token, Value: val}
	e, err := h.store.Get(ctx, token)
	if errors.Is(err, kinesis.ErrKeyNotFound) {
		return w, false, nil
	}
	if err != nil {
		return w, false, fmt.Errorf("read client request token: %w", err)
	}
	var rec tokenRecord
	if json.Unmarshal(e.Value, &rec) == nil && now.Sub(rec.At) < tokenLifetime {
		if rec.Digest != digest {
			return w, false, &apiError{typ: prefixDynamoDB + "IdempotentParameterMismatchException",
				msg: "The request uses the same client token as a previous, but non-identical request.", status: http.StatusBadRequest}
		}
		return w, true, nil
	}
	w.Revision = e.Revision // an expired token is taken over
	return w, false, nil
}

func (h *Handler) transactGetItems(ctx context.Context, body []byte) (any, error) {
	var in struct {
		TransactItems []struct {
			Get *transactAction
		}
		ReturnConsumedCapacity *string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if n := len(in.TransactItems); n < 1 || n > 100 {
		return nil, validationError("1 validation error detected: Value '[...]' at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1")
	}
	type get struct {
		t   *table
		p   *parsed
		key string
	}
	gets := make([]get, len(in.TransactItems))
	seen := map[string]bool{}
	for i, ti := range in.TransactItems {
		g := ti.Get
		if g == nil {
			return nil, validationError("1 validation error detected: Value null at 'transactItems.%d.member.get' failed to satisfy constraint: Member must not be null", i+1)
		}
		t, err := h.loadTable(ctx, g.TableName, true)
		if err != nil {
			return nil, err
		}
		p, err := h.prepare(&itemInput{ProjectionExpression: g.ProjectionExpression, ExpressionAttributeNames: g.ExpressionAttributeNames}, t)
		if err != nil {
			return nil, err
		}
		key, err := keyFromKey(t, g.Key)
		if err != nil {
			return nil, err
		}
		sk := storeKey(t, key)
		if seen[sk] {
			return nil, validationError("Transaction request cannot include multiple operations on one item")
		}
		seen[sk] = true
		gets[i] = get{t, p, sk}
	}
	// Read every item, then check that none changed meanwhile: the
	// answer is one moment's state.
	for range maxAttempts {
		items := make([]Item, len(gets))
		revs := make([]uint64, len(gets))
		for i, g := range gets {
			it, rev, err := h.readItem(ctx, g.key)
			if err != nil {
				return nil, err
			}
			items[i], revs[i] = it, rev
		}
		stable := true
		for i, g := range gets {
			_, rev, err := h.readItem(ctx, g.key)
			if err != nil {
				return nil, err
			}
			stable = stable && rev == revs[i]
		}
		if !stable {
			continue
		}
		responses := make([]map[string]any, len(gets))
		for i, it := range items {
			responses[i] = map[string]any{}
			if it != nil {
				if gets[i].p.projection != nil {
					it = gets[i].p.projection.project(it)
				}
				responses[i]["Item"] = it
			}
		}
		return map[string]any{"Responses": responses}, nil
	}
	reasons := make([]cancellationReason, len(gets))
	for i := range reasons {
		reasons[i] = cancellationReason{Code: "TransactionConflict", Message: "Transaction is ongoing for the item"}
	}
	return nil, transactionCanceled(reasons)
}
