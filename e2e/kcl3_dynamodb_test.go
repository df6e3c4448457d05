package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestKCL3_DynamoDBCalls replays, in order and with aws-sdk-go-v2, the
// DynamoDB calls the Java KCL 3.x makes against its lease table, its
// coordinator state table (leader lock, migration state) and its worker
// metrics table, with the shapes it sends, and checks each answer the way
// the KCL reads it. It is a sequence recorded from the KCL's source
// (awslabs/amazon-kinesis-client v3.4.3 and v3.5.1, and the
// amazon-dynamodb-lock-client it elects its leader with), not a capture of
// a running KCL: this machine cannot reach Maven Central for the KCL's
// jars. The classes each step comes from are named in it.
//
// The KCL writes leases with DynamoDB's legacy parameters (Expected,
// AttributeUpdates), discovers its leases through the global secondary
// index LeaseOwnerToLeaseKeyIndex that it adds with UpdateTable, writes
// worker metrics through the DynamoDB Enhanced Client (generated SET
// expressions with #AMZN_MAPPED_ names), and in 3.5 moves coordinator
// state between tables with TransactWriteItems.
func TestKCL3_DynamoDBCalls(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t, 2*time.Minute)
	db := startServer(t).DynamoDB()
	const (
		app         = "kcl-app"
		coordinator = "kcl-app-CoordinatorState"
		metrics     = "kcl-app-WorkerMetricStats"
		gsi         = "LeaseOwnerToLeaseKeyIndex"
		workerA     = "worker-a"
		workerB     = "worker-b"
	)
	step := func(name string) { t.Logf("step: %s", name) }

	// --- DynamoDBLeaseRefresher.createLeaseTableIfNotExists ---
	step("describe the missing lease table")
	if _, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(app)}); !isCode(err, "ResourceNotFoundException") {
		t.Fatalf("DescribeTable of a missing table: %v, want ResourceNotFoundException", err)
	}
	step("create the lease table (PAY_PER_REQUEST, deletion protection off, no tags)")
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:                 aws.String(app),
		KeySchema:                 []types.KeySchemaElement{{AttributeName: aws.String("leaseKey"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions:      []types.AttributeDefinition{{AttributeName: aws.String("leaseKey"), AttributeType: types.ScalarAttributeTypeS}},
		BillingMode:               types.BillingModePayPerRequest,
		DeletionProtectionEnabled: aws.Bool(false),
		Tags:                      []types.Tag{},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	step("waitUntilLeaseTableExists: DescribeTable until ACTIVE")
	d := waitTable(ctx, t, db, app, func(d *types.TableDescription) bool { return d.TableStatus == types.TableStatusActive })
	if d.BillingModeSummary == nil || d.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Fatalf("BillingModeSummary %+v, want PAY_PER_REQUEST", d.BillingModeSummary)
	}
	step("enable point-in-time recovery (leaseTablePitrEnabled)")
	if _, err := db.UpdateContinuousBackups(ctx, &dynamodb.UpdateContinuousBackupsInput{
		TableName:                        aws.String(app),
		PointInTimeRecoverySpecification: &types.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: aws.Bool(true)},
	}); err != nil {
		t.Fatalf("UpdateContinuousBackups: %v", err)
	}
	cb, err := db.DescribeContinuousBackups(ctx, &dynamodb.DescribeContinuousBackupsInput{TableName: aws.String(app)})
	if err != nil || cb.ContinuousBackupsDescription.PointInTimeRecoveryDescription.PointInTimeRecoveryStatus != types.PointInTimeRecoveryStatusEnabled {
		t.Fatalf("DescribeContinuousBackups: %+v, %v; want PITR ENABLED", cb, err)
	}

	// --- DynamoDBLeaseRefresher.createLeaseOwnerToLeaseKeyIndexIfNotExists ---
	step("add the LeaseOwnerToLeaseKeyIndex GSI with UpdateTable")
	ut, err := db.UpdateTable(ctx, &dynamodb.UpdateTableInput{
		TableName: aws.String(app),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("leaseOwner"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("leaseKey"), AttributeType: types.ScalarAttributeTypeS},
		},
		GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Create: &types.CreateGlobalSecondaryIndexAction{
			IndexName: aws.String(gsi),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String("leaseOwner"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("leaseKey"), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		}}},
	})
	if err != nil {
		t.Fatalf("UpdateTable adding the GSI: %v", err)
	}
	// The KCL calls toString() on this status: it must be there.
	if st := gsiStatus(ut.TableDescription, gsi); st == "" {
		t.Fatalf("UpdateTable's answer has no status for %s: %+v", gsi, ut.TableDescription.GlobalSecondaryIndexes)
	}
	step("waitUntilLeaseOwnerToLeaseKeyIndexExists: DescribeTable until the index is ACTIVE")
	waitTable(ctx, t, db, app, func(d *types.TableDescription) bool { return gsiStatus(d, gsi) == types.IndexStatusActive })

	// --- CoordinatorStateDAO.initialize (3.0-3.4; 3.5 keeps reading it) ---
	step("create the coordinator state table and wait for it (DynamoDbAsyncWaiter)")
	createHashTable(ctx, t, db, coordinator, "key")
	// --- WorkerMetricStatsDAO.initialize ---
	step("create the worker metrics table and wait for it")
	createHashTable(ctx, t, db, metrics, "wid")

	// --- MigrationState: createCoordinatorStateIfNotExists, then updates ---
	migration := map[string]types.AttributeValue{
		"key": s("Migration3.0"), "cv": s("CLIENT_VERSION_3X"), "mb": s(workerA), "mts": n("1767225600"),
		"h": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"cv": s("CLIENT_VERSION_INIT"), "mb": s(workerA), "mts": n("1767225500")}}}},
	}
	step("create the migration state, Expected {key: Exists false}")
	putExpectAbsent := func(table, keyAttr string, item map[string]types.AttributeValue) error {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item,
			Expected: map[string]types.ExpectedAttributeValue{keyAttr: {Exists: aws.Bool(false)}}})
		return err
	}
	if err := putExpectAbsent(coordinator, "key", migration); err != nil {
		t.Fatalf("PutItem migration state: %v", err)
	}
	if err := putExpectAbsent(coordinator, "key", migration); !isCode(err, "ConditionalCheckFailedException") {
		t.Fatalf("second create of the migration state: %v, want ConditionalCheckFailedException", err)
	}
	step("updateCoordinatorStateWithExpectation: Expected {key, cv}, AttributeUpdates PUT")
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(coordinator), Key: map[string]types.AttributeValue{"key": s("Migration3.0")},
		Expected: map[string]types.ExpectedAttributeValue{"key": {Value: s("Migration3.0")}, "cv": {Value: s("CLIENT_VERSION_3X")}},
		AttributeUpdates: map[string]types.AttributeValueUpdate{
			"cv": {Value: s("CLIENT_VERSION_3X"), Action: types.AttributeActionPut}, "mb": {Value: s(workerB), Action: types.AttributeActionPut},
			"mts": {Value: n("1767225700"), Action: types.AttributeActionPut},
		},
	})
	if err != nil {
		t.Fatalf("UpdateItem migration state: %v", err)
	}
	step("getCoordinatorState: GetItem, ConsistentRead")
	got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(coordinator), Key: map[string]types.AttributeValue{"key": s("Migration3.0")}, ConsistentRead: aws.Bool(true)})
	if err != nil || str(got.Item["mb"]) != workerB || len(got.Item["h"].(*types.AttributeValueMemberL).Value) != 1 {
		t.Fatalf("GetItem migration state: %v, %v", got.Item, err)
	}

	// --- DynamoDBLockBasedLeaderDecider through AmazonDynamoDBLockClient ---
	step("leader lock: GetItem, then PutItem attribute_not_exists(#pk)")
	lockKey := map[string]types.AttributeValue{"key": s("Leader")}
	if got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(coordinator), Key: lockKey, ConsistentRead: aws.Bool(true)}); err != nil || got.Item != nil {
		t.Fatalf("GetItem of the free lock: %v, %v", got.Item, err)
	}
	acquire := func(owner, rvn string) error {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(coordinator),
			Item: map[string]types.AttributeValue{"key": s("Leader"), "ownerName": s(owner), "leaseDuration": s("120000"),
				"recordVersionNumber": s(rvn)},
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": "key"},
		})
		return err
	}
	if err := acquire(workerA, "rvn-1"); err != nil {
		t.Fatalf("acquire the lock: %v", err)
	}
	if err := acquire(workerB, "rvn-x"); !isCode(err, "ConditionalCheckFailedException") {
		t.Fatalf("second acquire: %v, want ConditionalCheckFailedException", err)
	}
	step("lock heartbeat: UpdateItem SET #ld = :ld, #rvn = :newRvn if the owner and rvn hold")
	heartbeat := func(owner, rvn, newRvn string) error {
		_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(coordinator), Key: lockKey,
			ConditionExpression:       aws.String("attribute_exists(#pk) AND #rvn = :rvn AND #on = :on"),
			UpdateExpression:          aws.String("SET #ld = :ld, #rvn = :newRvn"),
			ExpressionAttributeNames:  map[string]string{"#pk": "key", "#rvn": "recordVersionNumber", "#on": "ownerName", "#ld": "leaseDuration"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":rvn": s(rvn), ":on": s(owner), ":ld": s("120000"), ":newRvn": s(newRvn)},
		})
		return err
	}
	if err := heartbeat(workerA, "rvn-1", "rvn-2"); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	if err := heartbeat(workerB, "rvn-2", "rvn-3"); !isCode(err, "ConditionalCheckFailedException") {
		t.Fatalf("heartbeat by a non-owner: %v, want ConditionalCheckFailedException", err)
	}

	// --- HierarchicalShardSyncer through DynamoDBLeaseRefresher.createLeaseIfNotExists ---
	step("create leases: PutItem with Expected {leaseKey: Exists false}")
	const maxHash = "340282366920938463463374607431768211455"
	half := []string{"0", "170141183460469231731687303715884105727", "170141183460469231731687303715884105728", maxHash}
	for i, id := range []string{"shardId-000000000000", "shardId-000000000001"} {
		lease := map[string]types.AttributeValue{
			"leaseKey": s(id), "leaseCounter": n("0"), "ownerSwitchesSinceCheckpoint": n("0"),
			"checkpoint": s("TRIM_HORIZON"), "checkpointSubSequenceNumber": n("0"),
			"startingHashKey": s(half[2*i]), "endingHashKey": s(half[2*i+1]), "entityType": s("LEASE"),
		}
		if err := putExpectAbsent(app, "leaseKey", lease); err != nil {
			t.Fatalf("create lease %s: %v", id, err)
		}
	}

	// --- LeaseAssignmentManager: list leases and worker metrics, assign ---
	step("listLeasesParallely: Scan in segments")
	var leases []map[string]types.AttributeValue
	for seg := range int32(2) {
		var start map[string]types.AttributeValue
		for {
			out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(app), Segment: aws.Int32(seg), TotalSegments: aws.Int32(2), ExclusiveStartKey: start})
			if err != nil {
				t.Fatalf("Scan segment %d: %v", seg, err)
			}
			leases = append(leases, out.Items...)
			if start = out.LastEvaluatedKey; len(start) == 0 {
				break
			}
		}
	}
	if len(leases) != 2 {
		t.Fatalf("scan found %d leases, want 2", len(leases))
	}
	step("worker metrics: Enhanced Client UpdateItem with #AMZN_MAPPED_ names, ReturnValues ALL_NEW")
	for _, w := range []string{workerA, workerB} {
		out, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(metrics), Key: map[string]types.AttributeValue{"wid": s(w)},
			UpdateExpression:         aws.String("SET #AMZN_MAPPED_lut = :AMZN_MAPPED_lut, #AMZN_MAPPED_opr = :AMZN_MAPPED_opr, #AMZN_MAPPED_sts = :AMZN_MAPPED_sts"),
			ExpressionAttributeNames: map[string]string{"#AMZN_MAPPED_lut": "lut", "#AMZN_MAPPED_opr": "opr", "#AMZN_MAPPED_sts": "sts"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":AMZN_MAPPED_lut": n("1767225600"),
				":AMZN_MAPPED_opr": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"CPU": &types.AttributeValueMemberL{Value: []types.AttributeValue{n("100")}}}},
				// Java's Double.toString: exponents and negative sentinels.
				":AMZN_MAPPED_sts": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"CPU": &types.AttributeValueMemberL{Value: []types.AttributeValue{
					n("12.345678901234567"), n("1.0E-4"), n("-1.0"), n("0.0")}}}},
			},
			ReturnValues: types.ReturnValueAllNew,
		})
		if err != nil || str(out.Attributes["wid"]) != w {
			t.Fatalf("UpdateItem worker metrics of %s: %v, %v", w, out, err)
		}
	}
	step("worker metrics: Enhanced Client Scan")
	ms, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(metrics)})
	if err != nil || len(ms.Items) != 2 {
		t.Fatalf("Scan worker metrics: %v, %v", ms, err)
	}
	step("assignLease: Expected owner fields and existence, AttributeUpdates, ALL_NEW, ALL_OLD on failure")
	assign := func(leaseKey, oldOwner, oldCheckpointOwner, newOwner string) (*dynamodb.UpdateItemOutput, error) {
		ownerExp := func(v string) types.ExpectedAttributeValue {
			if v == "" {
				return types.ExpectedAttributeValue{Exists: aws.Bool(false)}
			}
			return types.ExpectedAttributeValue{Value: s(v)}
		}
		return db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(app), Key: map[string]types.AttributeValue{"leaseKey": s(leaseKey)},
			Expected: map[string]types.ExpectedAttributeValue{
				"leaseOwner": ownerExp(oldOwner), "checkpointOwner": ownerExp(oldCheckpointOwner),
				"leaseKey": {Exists: aws.Bool(true), Value: s(leaseKey)},
			},
			AttributeUpdates: map[string]types.AttributeValueUpdate{
				"leaseOwner":      {Value: s(newOwner), Action: types.AttributeActionPut},
				"checkpointOwner": {Action: types.AttributeActionDelete},
				"leaseCounter":    {Value: n("1"), Action: types.AttributeActionAdd},
			},
			ReturnValues:                        types.ReturnValueAllNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
	}
	for i, w := range []string{workerA, workerB} {
		out, err := assign(fmt.Sprintf("shardId-%012d", i), "", "", w)
		if err != nil || str(out.Attributes["leaseOwner"]) != w || num(out.Attributes["leaseCounter"]) != "1" {
			t.Fatalf("assign lease %d to %s: %v, %v", i, w, out, err)
		}
	}
	if _, err := assign("shardId-000000000000", "", "", workerB); !isCode(err, "ConditionalCheckFailedException") {
		t.Fatalf("assigning an owned lease as unowned: %v, want ConditionalCheckFailedException", err)
	} else if item := ccfItem(err); str(item["leaseOwner"]) != workerA {
		t.Fatalf("ConditionalCheckFailedException.Item = %v, want the lease of %s", item, workerA)
	}

	// --- DynamoDBLeaseDiscoverer: Query the GSI, then GetItem each lease ---
	step("listLeaseKeysForWorker: Query LeaseOwnerToLeaseKeyIndex")
	q, err := db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(app), IndexName: aws.String(gsi),
		KeyConditionExpression:    aws.String("leaseOwner = :leaseOwner"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":leaseOwner": s(workerA)},
	})
	if err != nil || len(q.Items) != 1 || str(q.Items[0]["leaseKey"]) != "shardId-000000000000" {
		t.Fatalf("Query the GSI for %s: %v, %v", workerA, q, err)
	}
	if _, ok := q.Items[0]["checkpoint"]; ok || len(q.Items[0]) != 2 {
		t.Fatalf("a KEYS_ONLY index item is %v, want leaseKey and leaseOwner only", q.Items[0])
	}
	step("getLease: GetItem with ConsistentRead")
	lease := getLease(ctx, t, db, app, "shardId-000000000000")
	if str(lease["leaseOwner"]) != workerA {
		t.Fatalf("lease 0 %v, want owner %s", lease, workerA)
	}

	// --- DynamoDBLeaseRenewer: renew, with throughput ---
	step("renewLease: Expected {leaseCounter: Value, checkpointOwner: Exists false}, ALL_OLD on failure")
	renew := func(leaseKey, counter string) error {
		_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(app), Key: map[string]types.AttributeValue{"leaseKey": s(leaseKey)},
			Expected: map[string]types.ExpectedAttributeValue{
				"leaseCounter": {Value: n(counter)}, "checkpointOwner": {Exists: aws.Bool(false)},
			},
			AttributeUpdates: map[string]types.AttributeValueUpdate{
				"leaseCounter":   {Value: n(incr(counter)), Action: types.AttributeActionPut},
				"throughputKBps": {Value: n("12.5"), Action: types.AttributeActionPut},
			},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		return err
	}
	if err := renew("shardId-000000000000", "1"); err != nil {
		t.Fatalf("renew: %v", err)
	}
	if err := renew("shardId-000000000000", "1"); !isCode(err, "ConditionalCheckFailedException") {
		t.Fatalf("renew with a stale counter: %v, want ConditionalCheckFailedException", err)
	} else if num(ccfItem(err)["leaseCounter"]) != "2" {
		t.Fatalf("the failed renewal returned %v, want the lease at counter 2", ccfItem(err))
	}

	// --- ShardRecordProcessorCheckpointer through updateLease ---
	step("updateLease (checkpoint): counter expectation, PUTs and DELETEs of the pending checkpoint")
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(app), Key: map[string]types.AttributeValue{"leaseKey": s("shardId-000000000000")},
		Expected: map[string]types.ExpectedAttributeValue{"leaseCounter": {Value: n("2")}},
		AttributeUpdates: map[string]types.AttributeValueUpdate{
			"leaseCounter":                       {Value: n("3"), Action: types.AttributeActionPut},
			"checkpoint":                         {Value: s("49590338271490256608559692538361571095921575989136588898"), Action: types.AttributeActionPut},
			"checkpointSubSequenceNumber":        {Value: n("7"), Action: types.AttributeActionPut},
			"ownerSwitchesSinceCheckpoint":       {Value: n("0"), Action: types.AttributeActionPut},
			"pendingCheckpoint":                  {Action: types.AttributeActionDelete},
			"pendingCheckpointSubSequenceNumber": {Action: types.AttributeActionDelete},
			"pendingCheckpointState":             {Action: types.AttributeActionDelete},
			"childShardIds":                      {Value: &types.AttributeValueMemberSS{Value: []string{"shardId-000000000002"}}, Action: types.AttributeActionPut},
		},
	})
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	lease = getLease(ctx, t, db, app, "shardId-000000000000")
	if str(lease["checkpoint"]) != "49590338271490256608559692538361571095921575989136588898" || num(lease["checkpointSubSequenceNumber"]) != "7" || num(lease["leaseCounter"]) != "3" {
		t.Fatalf("lease after the checkpoint: %v", lease)
	}

	// --- Graceful handoff: assign to B keeping A as checkpoint owner ---
	step("graceful handoff: leaseOwner B, checkpointOwner A; A's renewal fails and sees it")
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(app), Key: map[string]types.AttributeValue{"leaseKey": s("shardId-000000000000")},
		Expected: map[string]types.ExpectedAttributeValue{
			"leaseOwner": {Value: s(workerA)}, "checkpointOwner": {Exists: aws.Bool(false)},
			"leaseKey": {Exists: aws.Bool(true), Value: s("shardId-000000000000")},
		},
		AttributeUpdates: map[string]types.AttributeValueUpdate{
			"leaseOwner":      {Value: s(workerB), Action: types.AttributeActionPut},
			"checkpointOwner": {Value: s(workerA), Action: types.AttributeActionPut},
			"leaseCounter":    {Value: n("1"), Action: types.AttributeActionAdd},
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		t.Fatalf("initiate the handoff: %v", err)
	}
	if err := renew("shardId-000000000000", "4"); !isCode(err, "ConditionalCheckFailedException") {
		t.Fatalf("renewal during a handoff: %v, want ConditionalCheckFailedException", err)
	} else if str(ccfItem(err)["checkpointOwner"]) != workerA {
		t.Fatalf("the failed renewal returned %v, want checkpointOwner %s", ccfItem(err), workerA)
	}
	step("evictLease by the old owner: DELETE checkpointOwner, ADD leaseCounter")
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(app), Key: map[string]types.AttributeValue{"leaseKey": s("shardId-000000000000")},
		Expected: map[string]types.ExpectedAttributeValue{
			"leaseOwner": {Value: s(workerB)}, "checkpointOwner": {Value: s(workerA)},
			"leaseKey": {Exists: aws.Bool(true), Value: s("shardId-000000000000")},
		},
		AttributeUpdates: map[string]types.AttributeValueUpdate{
			"checkpointOwner": {Action: types.AttributeActionDelete},
			"leaseCounter":    {Value: n("1"), Action: types.AttributeActionAdd},
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		t.Fatalf("evict: %v", err)
	}
	q, err = db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(app), IndexName: aws.String(gsi),
		KeyConditionExpression:    aws.String("leaseOwner = :leaseOwner"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":leaseOwner": s(workerB)},
	})
	if err != nil || len(q.Items) != 2 {
		t.Fatalf("after the handoff worker B's index entries are %v (%v), want both leases", q, err)
	}
	if keys := []string{str(q.Items[0]["leaseKey"]), str(q.Items[1]["leaseKey"])}; !slices.IsSorted(keys) {
		t.Fatalf("index entries out of range key order: %v", keys)
	}

	// --- Lease cleanup and shutdown ---
	step("updateLeaseWithMetaInfo: Expected {leaseKey exists}, PUT hash range")
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(app), Key: map[string]types.AttributeValue{"leaseKey": s("shardId-000000000001")},
		Expected: map[string]types.ExpectedAttributeValue{"leaseKey": {Exists: aws.Bool(true), Value: s("shardId-000000000001")}},
		AttributeUpdates: map[string]types.AttributeValueUpdate{
			"startingHashKey": {Value: s(half[2]), Action: types.AttributeActionPut},
			"endingHashKey":   {Value: s(half[3]), Action: types.AttributeActionPut},
		},
	})
	if err != nil {
		t.Fatalf("updateLeaseWithMetaInfo: %v", err)
	}
	step("deleteLease: DeleteItem")
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(app), Key: map[string]types.AttributeValue{"leaseKey": s("shardId-000000000001")}}); err != nil {
		t.Fatalf("DeleteItem lease: %v", err)
	}
	step("deleteMetrics: conditional DeleteItem (#key = :value AND attribute_exists (wid))")
	delMetrics := func(w, lut string) error {
		_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String(metrics), Key: map[string]types.AttributeValue{"wid": s(w)},
			ConditionExpression:       aws.String("#key = :value AND attribute_exists (wid)"),
			ExpressionAttributeNames:  map[string]string{"#key": "lut"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":value": n(lut)},
		})
		return err
	}
	if err := delMetrics(workerB, "1"); !isCode(err, "ConditionalCheckFailedException") {
		t.Fatalf("deleting fresher metrics: %v, want ConditionalCheckFailedException", err)
	}
	if err := delMetrics(workerB, "1767225600"); err != nil {
		t.Fatalf("deleteMetrics: %v", err)
	}

	// --- 3.5: coordinator state moves into the lease table ---
	step("listCoordinatorStateByEntityType: Scan with FilterExpression on entityType, consistent")
	sc, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(app), ConsistentRead: aws.Bool(true),
		FilterExpression:          aws.String("entityType = :entityType"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":entityType": s("LEASE")}})
	if err != nil || len(sc.Items) != 1 {
		t.Fatalf("Scan by entityType: %v, %v", sc, err)
	}
	step("TableMigrationStateMachine.moveBatch: TransactWriteItems (lock check, put, delete)")
	move := func(owner string) error {
		_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{ConditionCheck: &types.ConditionCheck{TableName: aws.String(coordinator), Key: lockKey,
				ConditionExpression: aws.String("ownerName = :owner"), ExpressionAttributeValues: map[string]types.AttributeValue{":owner": s(owner)}}},
			{Put: &types.Put{TableName: aws.String(app), ConditionExpression: aws.String("attribute_not_exists(leaseKey)"),
				Item: map[string]types.AttributeValue{"leaseKey": s("Migration3.0"), "cv": s("CLIENT_VERSION_3X"), "mb": s(workerB), "mts": n("1767225700"),
					"entityType": s("CLIENT_VERSION_MIGRATION")}}},
			{Delete: &types.Delete{TableName: aws.String(coordinator), Key: map[string]types.AttributeValue{"key": s("Migration3.0")}}},
		}})
		return err
	}
	if err := move(workerB); !isCode(err, "TransactionCanceledException") {
		t.Fatalf("a move by a worker not holding the lock: %v, want TransactionCanceledException", err)
	} else {
		var tc *types.TransactionCanceledException
		errors.As(err, &tc)
		if len(tc.CancellationReasons) != 3 || aws.ToString(tc.CancellationReasons[0].Code) != "ConditionalCheckFailed" || aws.ToString(tc.CancellationReasons[1].Code) != "None" {
			t.Fatalf("CancellationReasons %+v, want [ConditionalCheckFailed None None]", tc.CancellationReasons)
		}
	}
	if got := getItem(ctx, t, db, coordinator, "key", "Migration3.0"); got == nil {
		t.Fatal("a cancelled transaction deleted the migration state")
	}
	if err := move(workerA); err != nil {
		t.Fatalf("move by the leader: %v", err)
	}
	if got := getItem(ctx, t, db, coordinator, "key", "Migration3.0"); got != nil {
		t.Fatalf("the migration state is still in the legacy table: %v", got)
	}
	if got := getItem(ctx, t, db, app, "leaseKey", "Migration3.0"); str(got["entityType"]) != "CLIENT_VERSION_MIGRATION" {
		t.Fatalf("the migration state in the lease table: %v", got)
	}

	step("leader lock release: DeleteItem if the owner and rvn hold")
	_, err = db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(coordinator), Key: lockKey,
		ConditionExpression:       aws.String("attribute_exists(#pk) AND #rvn = :rvn AND #on = :on"),
		ExpressionAttributeNames:  map[string]string{"#pk": "key", "#rvn": "recordVersionNumber", "#on": "ownerName"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":rvn": s("rvn-2"), ":on": s(workerA)},
	})
	if err != nil {
		t.Fatalf("release the lock: %v", err)
	}
}

// Helpers of the KCL tests.

func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func num(v types.AttributeValue) string {
	if n, ok := v.(*types.AttributeValueMemberN); ok {
		return n.Value
	}
	return ""
}

func incr(n string) string {
	var i int
	fmt.Sscan(n, &i)
	return fmt.Sprint(i + 1)
}

func isCode(err error, code string) bool {
	var ae interface{ ErrorCode() string }
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// ccfItem is the item a ConditionalCheckFailedException carries.
func ccfItem(err error) map[string]types.AttributeValue {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item
	}
	return nil
}

func gsiStatus(d *types.TableDescription, name string) types.IndexStatus {
	if d == nil {
		return ""
	}
	for _, g := range d.GlobalSecondaryIndexes {
		if aws.ToString(g.IndexName) == name {
			return g.IndexStatus
		}
	}
	return ""
}

// waitTable polls DescribeTable, as the KCL's waits and the SDK's waiter
// do, until ok holds.
func waitTable(ctx context.Context, t *testing.T, db *dynamodb.Client, name string, ok func(*types.TableDescription) bool) *types.TableDescription {
	t.Helper()
	for {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeTable %s: %v", name, err)
		}
		if ok(out.Table) {
			return out.Table
		}
		select {
		case <-ctx.Done():
			t.Fatalf("table %s never reached the state waited for: %+v", name, out.Table)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// createHashTable creates a PAY_PER_REQUEST table keyed by one string
// attribute as the KCL's DAOs do, and waits until it is ACTIVE.
func createHashTable(ctx context.Context, t *testing.T, db *dynamodb.Client, name, key string) {
	t.Helper()
	if _, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}); !isCode(err, "ResourceNotFoundException") {
		t.Fatalf("DescribeTable %s before creating it: %v", name, err)
	}
	out, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:                 aws.String(name),
		KeySchema:                 []types.KeySchemaElement{{AttributeName: aws.String(key), KeyType: types.KeyTypeHash}},
		AttributeDefinitions:      []types.AttributeDefinition{{AttributeName: aws.String(key), AttributeType: types.ScalarAttributeTypeS}},
		BillingMode:               types.BillingModePayPerRequest,
		DeletionProtectionEnabled: aws.Bool(false),
	})
	if err != nil {
		t.Fatalf("CreateTable %s: %v", name, err)
	}
	if out.TableDescription.TableStatus != types.TableStatusActive {
		waitTable(ctx, t, db, name, func(d *types.TableDescription) bool { return d.TableStatus == types.TableStatusActive })
	}
}

func getItem(ctx context.Context, t *testing.T, db *dynamodb.Client, table, keyAttr, key string) map[string]types.AttributeValue {
	t.Helper()
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{keyAttr: s(key)}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("GetItem %s/%s: %v", table, key, err)
	}
	return out.Item
}

func getLease(ctx context.Context, t *testing.T, db *dynamodb.Client, table, key string) map[string]types.AttributeValue {
	t.Helper()
	return getItem(ctx, t, db, table, "leaseKey", key)
}
