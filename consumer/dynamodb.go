package consumer

// The DynamoDB lease store: the KCL's table layout, written only with
// conditional UpdateItem/PutItem, so it runs on AWS and on Sluice, which
// answers the same DynamoDB operations on its Kinesis port.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of the KCL's lease table.
const (
	attrLeaseKey         = "leaseKey"
	attrLeaseOwner       = "leaseOwner"
	attrLeaseCounter     = "leaseCounter"
	attrCheckpoint       = "checkpoint"
	attrCheckpointSubSeq = "checkpointSubSequenceNumber"
	attrPending          = "pendingCheckpoint"
	attrPendingSubSeq    = "pendingCheckpointSubSequenceNumber"
	attrPendingState     = "pendingCheckpointState"
	attrOwnerSwitches    = "ownerSwitchesSinceCheckpoint"
	attrParentShardID    = "parentShardId"
	attrChildShardIDs    = "childShardIds"
	attrStartingHashKey  = "startingHashKey"
	attrEndingHashKey    = "endingHashKey"
	attrCheckpointOwner  = "checkpointOwner"
	attrCheckpointState  = "checkpointState" // ours, not the KCL's
)

// DynamoDBAPI is the part of the DynamoDB client the lease store uses;
// *dynamodb.Client implements it.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// DynamoDBLeaseStore keeps leases in one DynamoDB table with the KCL's schema.
type DynamoDBLeaseStore struct {
	api   DynamoDBAPI
	table string
}

var _ CheckpointStateStore = (*DynamoDBLeaseStore)(nil)

// NewDynamoDBLeaseStore returns a store over table; EnsureTable creates it.
func NewDynamoDBLeaseStore(api DynamoDBAPI, table string) *DynamoDBLeaseStore {
	return &DynamoDBLeaseStore{api: api, table: table}
}

// Table returns the table's name.
func (s *DynamoDBLeaseStore) Table() string { return s.table }

// EnsureTable creates the table (hash key leaseKey, on-demand billing) if
// DescribeTable does not find it, then waits for it to become ACTIVE.
func (s *DynamoDBLeaseStore) EnsureTable(ctx context.Context) error {
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		out, err := s.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table})
		var notFound *types.ResourceNotFoundException
		switch {
		case errors.As(err, &notFound):
			_, err := s.api.CreateTable(ctx, &dynamodb.CreateTableInput{
				TableName:            &s.table,
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(attrLeaseKey), AttributeType: types.ScalarAttributeTypeS}},
				KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(attrLeaseKey), KeyType: types.KeyTypeHash}},
				BillingMode:          types.BillingModePayPerRequest,
			})
			var inUse *types.ResourceInUseException
			if err != nil && !errors.As(err, &inUse) { // in use: another worker created it first
				return fmt.Errorf("create lease table %s: %w", s.table, err)
			}
		case err != nil:
			return fmt.Errorf("describe lease table %s: %w", s.table, err)
		case out.Table != nil && out.Table.TableStatus == types.TableStatusActive:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for lease table %s: %w", s.table, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// ListLeases reads the whole table with consistent, paged Scans.
func (s *DynamoDBLeaseStore) ListLeases(ctx context.Context) ([]Lease, error) {
	var leases []Lease
	in := &dynamodb.ScanInput{TableName: &s.table, ConsistentRead: aws.Bool(true)}
	for {
		out, err := s.api.Scan(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("scan lease table %s: %w", s.table, err)
		}
		for _, item := range out.Items {
			l, err := leaseFromItem(item)
			if err != nil {
				return nil, err
			}
			leases = append(leases, l)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return leases, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// GetLease reads one lease consistently.
func (s *DynamoDBLeaseStore) GetLease(ctx context.Context, key string) (Lease, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: leaseKeyAttr(key), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Lease{}, fmt.Errorf("get lease %s: %w", key, err)
	}
	if len(out.Item) == 0 {
		return Lease{}, fmt.Errorf("get lease %s: %w", key, ErrLeaseNotFound)
	}
	return leaseFromItem(out.Item)
}

// CreateLease puts l if no item has its key.
func (s *DynamoDBLeaseStore) CreateLease(ctx context.Context, l Lease) error {
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                &s.table,
		Item:                     leaseToItem(l),
		ConditionExpression:      aws.String("attribute_not_exists(#k)"),
		ExpressionAttributeNames: map[string]string{"#k": attrLeaseKey},
	})
	if isConditionFailed(err) {
		return fmt.Errorf("create lease %s: %w", l.Key, ErrLeaseExists)
	}
	if err != nil {
		return fmt.Errorf("create lease %s: %w", l.Key, err)
	}
	return nil
}

// update builds one conditional UpdateItem: the condition always includes
// the expected counter, and the counter always goes up by one.
type update struct {
	set, remove, add, cond []string
	names                  map[string]string
	values                 map[string]types.AttributeValue
}

func newUpdate() *update {
	return &update{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

func (u *update) name(attr string) string {
	n := "#" + attr
	u.names[n] = attr
	return n
}

func (u *update) value(v types.AttributeValue) string {
	n := ":v" + strconv.Itoa(len(u.values))
	u.values[n] = v
	return n
}

func (u *update) setTo(attr string, v types.AttributeValue) {
	u.set = append(u.set, u.name(attr)+" = "+u.value(v))
}

func (u *update) incrementCounter() {
	c := u.name(attrLeaseCounter)
	u.set = append(u.set, c+" = "+c+" + "+u.value(num(1)))
}

func (u *update) expectCounterAndOwner(l Lease) {
	u.cond = append(u.cond, u.name(attrLeaseCounter)+" = "+u.value(num(l.Counter)))
	if l.Owner == "" {
		u.cond = append(u.cond, "attribute_not_exists("+u.name(attrLeaseOwner)+")")
	} else {
		u.cond = append(u.cond, u.name(attrLeaseOwner)+" = "+u.value(str(l.Owner)))
	}
}

func (u *update) expression() string {
	var e string
	if len(u.set) > 0 {
		e += "SET " + strings.Join(u.set, ", ")
	}
	if len(u.add) > 0 {
		e += " ADD " + strings.Join(u.add, ", ")
	}
	if len(u.remove) > 0 {
		e += " REMOVE " + strings.Join(u.remove, ", ")
	}
	return strings.TrimSpace(e)
}

func (s *DynamoDBLeaseStore) apply(ctx context.Context, op, key string, u *update) (Lease, error) {
	cond := strings.Join(u.cond, " AND ")
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       leaseKeyAttr(key),
		UpdateExpression:          aws.String(u.expression()),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  u.names,
		ExpressionAttributeValues: u.values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		return Lease{}, fmt.Errorf("%s lease %s: %w", op, key, ErrLeaseConflict)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("%s lease %s: %w", op, key, err)
	}
	return leaseFromItem(out.Attributes)
}

// RenewLease adds 1 to the counter if counter and owner are l's.
func (s *DynamoDBLeaseStore) RenewLease(ctx context.Context, l Lease) (Lease, error) {
	u := newUpdate()
	u.incrementCounter()
	u.expectCounterAndOwner(l)
	return s.apply(ctx, "renew", l.Key, u)
}

// TakeLease makes owner the holder if counter and owner are l's.
func (s *DynamoDBLeaseStore) TakeLease(ctx context.Context, l Lease, owner string, handoff bool) (Lease, error) {
	u := newUpdate()
	u.setTo(attrLeaseOwner, str(owner))
	u.incrementCounter()
	if l.Owner != owner {
		u.add = append(u.add, u.name(attrOwnerSwitches)+" "+u.value(num(1)))
	}
	if handoff && l.Owner != "" && l.Owner != owner {
		u.setTo(attrCheckpointOwner, str(l.Owner))
	} else {
		u.remove = append(u.remove, u.name(attrCheckpointOwner))
	}
	u.expectCounterAndOwner(l)
	return s.apply(ctx, "take", l.Key, u)
}

// EvictLease clears the owner if counter and owner are l's.
func (s *DynamoDBLeaseStore) EvictLease(ctx context.Context, l Lease) (Lease, error) {
	u := newUpdate()
	u.incrementCounter()
	u.remove = append(u.remove, u.name(attrLeaseOwner))
	u.expectCounterAndOwner(l)
	return s.apply(ctx, "evict", l.Key, u)
}

func (u *update) setCheckpoint(cp ExtendedSequenceNumber) {
	u.setTo(attrCheckpoint, str(cp.Sequence))
	u.setTo(attrCheckpointSubSeq, num(cp.SubSequence))
	u.setTo(attrOwnerSwitches, num(0))
	u.remove = append(u.remove, u.name(attrPending), u.name(attrPendingSubSeq), u.name(attrPendingState))
}

// UpdateCheckpoint stores cp if counter and owner are l's.
func (s *DynamoDBLeaseStore) UpdateCheckpoint(ctx context.Context, l Lease, cp ExtendedSequenceNumber, release bool) (Lease, error) {
	u := newUpdate()
	u.setCheckpoint(cp)
	u.incrementCounter()
	if release {
		u.remove = append(u.remove, u.name(attrLeaseOwner))
	}
	u.expectCounterAndOwner(l)
	return s.apply(ctx, "checkpoint", l.Key, u)
}

// UpdateCheckpointState stores cp and state if counter and owner are l's.
func (s *DynamoDBLeaseStore) UpdateCheckpointState(ctx context.Context, l Lease, cp ExtendedSequenceNumber, state []byte) (Lease, error) {
	u := newUpdate()
	u.setCheckpoint(cp)
	u.setState(state)
	u.incrementCounter()
	u.expectCounterAndOwner(l)
	return s.apply(ctx, "checkpoint", l.Key, u)
}

func (u *update) setState(state []byte) {
	if len(state) > 0 {
		u.setTo(attrCheckpointState, &types.AttributeValueMemberB{Value: state})
	} else {
		u.remove = append(u.remove, u.name(attrCheckpointState))
	}
}

// PrepareCheckpoint stores a pending checkpoint if counter and owner are l's.
func (s *DynamoDBLeaseStore) PrepareCheckpoint(ctx context.Context, l Lease, cp ExtendedSequenceNumber, state []byte) (Lease, error) {
	u := newUpdate()
	u.setTo(attrPending, str(cp.Sequence))
	u.setTo(attrPendingSubSeq, num(cp.SubSequence))
	if len(state) > 0 {
		u.setTo(attrPendingState, &types.AttributeValueMemberB{Value: state})
	} else {
		u.remove = append(u.remove, u.name(attrPendingState))
	}
	u.incrementCounter()
	u.expectCounterAndOwner(l)
	return s.apply(ctx, "prepare checkpoint", l.Key, u)
}

// FinishHandoff stores cp and clears checkpointOwner if it is from.
func (s *DynamoDBLeaseStore) FinishHandoff(ctx context.Context, key, from string, cp ExtendedSequenceNumber) error {
	u := newUpdate()
	if !cp.IsZero() {
		u.setCheckpoint(cp)
	}
	u.remove = append(u.remove, u.name(attrCheckpointOwner))
	u.cond = append(u.cond, u.name(attrCheckpointOwner)+" = "+u.value(str(from)))
	_, err := s.apply(ctx, "finish handoff of", key, u)
	return err
}

// FinishHandoffState stores cp and state and clears checkpointOwner if it
// is from.
func (s *DynamoDBLeaseStore) FinishHandoffState(ctx context.Context, key, from string, cp ExtendedSequenceNumber, state []byte) error {
	u := newUpdate()
	u.setCheckpoint(cp)
	u.setState(state)
	u.remove = append(u.remove, u.name(attrCheckpointOwner))
	u.cond = append(u.cond, u.name(attrCheckpointOwner)+" = "+u.value(str(from)))
	_, err := s.apply(ctx, "finish handoff of", key, u)
	return err
}

// UpdateLease stores l's shard metadata if counter and owner are l's.
func (s *DynamoDBLeaseStore) UpdateLease(ctx context.Context, l Lease) (Lease, error) {
	u := newUpdate()
	for attr, ids := range map[string][]string{attrParentShardID: l.ParentShardIDs, attrChildShardIDs: l.ChildShardIDs} {
		if len(ids) > 0 {
			u.setTo(attr, &types.AttributeValueMemberSS{Value: ids})
		} else {
			u.remove = append(u.remove, u.name(attr))
		}
	}
	for attr, v := range map[string]string{attrStartingHashKey: l.StartingHashKey, attrEndingHashKey: l.EndingHashKey} {
		if v != "" {
			u.setTo(attr, str(v))
		}
	}
	u.incrementCounter()
	u.expectCounterAndOwner(l)
	return s.apply(ctx, "update", l.Key, u)
}

// DeleteLease deletes a lease.
func (s *DynamoDBLeaseStore) DeleteLease(ctx context.Context, key string) error {
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: leaseKeyAttr(key)})
	if err != nil {
		return fmt.Errorf("delete lease %s: %w", key, err)
	}
	return nil
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func leaseKeyAttr(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrLeaseKey: str(key)}
}

func leaseToItem(l Lease) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		attrLeaseKey:      str(l.Key),
		attrLeaseCounter:  num(l.Counter),
		attrOwnerSwitches: num(l.OwnerSwitchesSinceCheckpoint),
	}
	putS := func(attr, v string) {
		if v != "" {
			item[attr] = str(v)
		}
	}
	putS(attrLeaseOwner, l.Owner)
	putS(attrCheckpointOwner, l.CheckpointOwner)
	putS(attrStartingHashKey, l.StartingHashKey)
	putS(attrEndingHashKey, l.EndingHashKey)
	if !l.Checkpoint.IsZero() {
		item[attrCheckpoint] = str(l.Checkpoint.Sequence)
		item[attrCheckpointSubSeq] = num(l.Checkpoint.SubSequence)
	}
	if !l.PendingCheckpoint.IsZero() {
		item[attrPending] = str(l.PendingCheckpoint.Sequence)
		item[attrPendingSubSeq] = num(l.PendingCheckpoint.SubSequence)
	}
	if len(l.PendingCheckpointState) > 0 {
		item[attrPendingState] = &types.AttributeValueMemberB{Value: l.PendingCheckpointState}
	}
	if len(l.CheckpointState) > 0 {
		item[attrCheckpointState] = &types.AttributeValueMemberB{Value: l.CheckpointState}
	}
	if len(l.ParentShardIDs) > 0 {
		item[attrParentShardID] = &types.AttributeValueMemberSS{Value: l.ParentShardIDs}
	}
	if len(l.ChildShardIDs) > 0 {
		item[attrChildShardIDs] = &types.AttributeValueMemberSS{Value: l.ChildShardIDs}
	}
	return item
}

func leaseFromItem(item map[string]types.AttributeValue) (Lease, error) {
	var l Lease
	var firstErr error
	getS := func(attr string) string {
		switch v := item[attr].(type) {
		case *types.AttributeValueMemberS:
			return v.Value
		case nil:
		default:
			firstErr = cmpErr(firstErr, fmt.Errorf("lease attribute %s is %T, want a string", attr, v))
		}
		return ""
	}
	getN := func(attr string) int64 {
		switch v := item[attr].(type) {
		case *types.AttributeValueMemberN:
			n, err := strconv.ParseInt(v.Value, 10, 64)
			if err != nil {
				firstErr = cmpErr(firstErr, fmt.Errorf("lease attribute %s: %w", attr, err))
			}
			return n
		case nil:
		default:
			firstErr = cmpErr(firstErr, fmt.Errorf("lease attribute %s is %T, want a number", attr, v))
		}
		return 0
	}
	getSS := func(attr string) []string {
		switch v := item[attr].(type) {
		case *types.AttributeValueMemberSS:
			return v.Value
		case *types.AttributeValueMemberS: // older KCLs wrote one parent as a string
			return []string{v.Value}
		case nil:
		default:
			firstErr = cmpErr(firstErr, fmt.Errorf("lease attribute %s is %T, want a string set", attr, v))
		}
		return nil
	}
	l.Key = getS(attrLeaseKey)
	l.Owner = getS(attrLeaseOwner)
	l.Counter = getN(attrLeaseCounter)
	l.Checkpoint = ExtendedSequenceNumber{Sequence: getS(attrCheckpoint), SubSequence: getN(attrCheckpointSubSeq)}
	l.PendingCheckpoint = ExtendedSequenceNumber{Sequence: getS(attrPending), SubSequence: getN(attrPendingSubSeq)}
	if b, ok := item[attrPendingState].(*types.AttributeValueMemberB); ok {
		l.PendingCheckpointState = b.Value
	}
	if b, ok := item[attrCheckpointState].(*types.AttributeValueMemberB); ok {
		l.CheckpointState = b.Value
	}
	l.OwnerSwitchesSinceCheckpoint = getN(attrOwnerSwitches)
	l.ParentShardIDs = getSS(attrParentShardID)
	l.ChildShardIDs = getSS(attrChildShardIDs)
	l.StartingHashKey = getS(attrStartingHashKey)
	l.EndingHashKey = getS(attrEndingHashKey)
	l.CheckpointOwner = getS(attrCheckpointOwner)
	if firstErr != nil {
		return Lease{}, fmt.Errorf("decode lease %q: %w", l.Key, firstErr)
	}
	if l.Key == "" {
		return Lease{}, errors.New("decode lease: no leaseKey")
	}
	return l, nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
