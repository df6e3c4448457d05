package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// sdkClient serves a handler over HTTP and returns an aws-sdk-go-v2
// client for it that retries nothing, so every answer reaches the test.
func sdkClient(t *testing.T) *dynamodb.Client {
	t.Helper()
	srv := httptest.NewServer(openHandler(t))
	t.Cleanup(srv.Close)
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		Retryer:      aws.NopRetryer{},
	})
}

func sv(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func nv(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func createTable(t *testing.T, c *dynamodb.Client, name, key string) {
	t.Helper()
	_, err := c.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(key), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(key), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
}

func counterOf(t *testing.T, c *dynamodb.Client, table, key string) string {
	t.Helper()
	out, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"k": sv(key)}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Item == nil {
		return "<none>"
	}
	return out.Item["n"].(*types.AttributeValueMemberN).Value
}

func TestTransactWriteItems(t *testing.T) {
	ctx := context.Background()
	c := sdkClient(t)
	createTable(t, c, "tba", "k")
	createTable(t, c, "tbb", "k")
	incr := func(table, key string) types.TransactWriteItem {
		return types.TransactWriteItem{Update: &types.Update{TableName: aws.String(table), Key: map[string]types.AttributeValue{"k": sv(key)},
			UpdateExpression: aws.String("ADD n :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": nv("1")}}}
	}

	t.Run("all or nothing", func(t *testing.T) {
		_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			incr("tba", "x"), incr("tbb", "x"),
			{Put: &types.Put{TableName: aws.String("tbb"), Item: map[string]types.AttributeValue{"k": sv("y"), "n": nv("7")}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if got := counterOf(t, c, "tba", "x") + counterOf(t, c, "tbb", "x") + counterOf(t, c, "tbb", "y"); got != "117" {
			t.Fatalf("counters a/x, b/x, b/y = %s, want 1 1 7", got)
		}
		_, err = c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			incr("tba", "x"),
			{Delete: &types.Delete{TableName: aws.String("tbb"), Key: map[string]types.AttributeValue{"k": sv("y")}}},
			{ConditionCheck: &types.ConditionCheck{TableName: aws.String("tbb"), Key: map[string]types.AttributeValue{"k": sv("x")},
				ConditionExpression: aws.String("n = :two"), ExpressionAttributeValues: map[string]types.AttributeValue{":two": nv("2")},
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
		}})
		var tc *types.TransactionCanceledException
		if !errors.As(err, &tc) {
			t.Fatalf("failed condition: %v, want TransactionCanceledException", err)
		}
		r := tc.CancellationReasons
		if len(r) != 3 || aws.ToString(r[0].Code) != "None" || aws.ToString(r[1].Code) != "None" || aws.ToString(r[2].Code) != "ConditionalCheckFailed" ||
			r[2].Item["n"].(*types.AttributeValueMemberN).Value != "1" {
			t.Fatalf("CancellationReasons = %+v", r)
		}
		if want := "Transaction cancelled, please refer cancellation reasons for specific reasons [None, None, ConditionalCheckFailed]"; aws.ToString(tc.Message) != want {
			t.Fatalf("message %q, want %q", aws.ToString(tc.Message), want)
		}
		if got := counterOf(t, c, "tba", "x") + counterOf(t, c, "tbb", "y"); got != "17" {
			t.Fatalf("a cancelled transaction wrote: a/x, b/y = %s, want 1 7", got)
		}
	})

	t.Run("one item twice", func(t *testing.T) {
		_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{incr("tba", "x"), incr("tba", "x")}})
		var ve interface{ ErrorCode() string }
		if !errors.As(err, &ve) || ve.ErrorCode() != "ValidationException" {
			t.Fatalf("two actions on one item: %v, want ValidationException", err)
		}
	})

	t.Run("client request token", func(t *testing.T) {
		in := &dynamodb.TransactWriteItemsInput{ClientRequestToken: aws.String("token-1"), TransactItems: []types.TransactWriteItem{incr("tba", "tok")}}
		for range 3 {
			if _, err := c.TransactWriteItems(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		if got := counterOf(t, c, "tba", "tok"); got != "1" {
			t.Fatalf("three sends of one token incremented to %s, want 1", got)
		}
		other := &dynamodb.TransactWriteItemsInput{ClientRequestToken: aws.String("token-1"), TransactItems: []types.TransactWriteItem{incr("tbb", "tok")}}
		var mm *types.IdempotentParameterMismatchException
		if _, err := c.TransactWriteItems(ctx, other); !errors.As(err, &mm) {
			t.Fatalf("the token with another request: %v, want IdempotentParameterMismatchException", err)
		}
	})

	t.Run("concurrent transactions are serializable", func(t *testing.T) {
		const workers, each = 4, 15
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				for range each {
					// Both counters move together or not at all.
					if _, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{incr("tba", "c"), incr("tbb", "c")}}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		want := strconv.Itoa(workers * each)
		if a, b := counterOf(t, c, "tba", "c"), counterOf(t, c, "tbb", "c"); a != want || b != want {
			t.Fatalf("counters %s and %s, want %s each", a, b, want)
		}
	})

	t.Run("get", func(t *testing.T) {
		out, err := c.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{
			{Get: &types.Get{TableName: aws.String("tba"), Key: map[string]types.AttributeValue{"k": sv("x")}}},
			{Get: &types.Get{TableName: aws.String("tbb"), Key: map[string]types.AttributeValue{"k": sv("missing")}}},
			{Get: &types.Get{TableName: aws.String("tbb"), Key: map[string]types.AttributeValue{"k": sv("y")}, ProjectionExpression: aws.String("n")}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		r := out.Responses
		if len(r) != 3 || r[0].Item["n"].(*types.AttributeValueMemberN).Value != "1" || r[1].Item != nil || len(r[2].Item) != 1 {
			t.Fatalf("TransactGetItems responses %+v", r)
		}
	})
}

// TestLegacy_ConditionalOperatorOr checks what dynalite gets wrong (it
// fails an OR at its first false condition): Expected with OR holds when
// any entry holds.
func TestLegacy_ConditionalOperatorOr(t *testing.T) {
	ctx := context.Background()
	c := sdkClient(t)
	createTable(t, c, "leases", "k")
	key := map[string]types.AttributeValue{"k": sv("s")}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: map[string]types.AttributeValue{"k": sv("s"), "n": nv("5"), "o": sv("w1")}}); err != nil {
		t.Fatal(err)
	}
	update := func(op types.ConditionalOperator) error {
		_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("leases"), Key: key, ConditionalOperator: op,
			Expected: map[string]types.ExpectedAttributeValue{
				"n": {ComparisonOperator: types.ComparisonOperatorGt, AttributeValueList: []types.AttributeValue{nv("100")}},
				"o": {Value: sv("w1")},
			},
			AttributeUpdates: map[string]types.AttributeValueUpdate{"n": {Value: nv("1"), Action: types.AttributeActionAdd}}})
		return err
	}
	var ccf *types.ConditionalCheckFailedException
	if err := update(types.ConditionalOperatorAnd); !errors.As(err, &ccf) {
		t.Fatalf("AND with one false entry: %v, want ConditionalCheckFailedException", err)
	}
	if err := update(types.ConditionalOperatorOr); err != nil {
		t.Fatalf("OR with one true entry: %v", err)
	}
}

func TestTimeToLive(t *testing.T) {
	ctx := context.Background()
	c := sdkClient(t)
	createTable(t, c, "tbt", "k")
	describe := func() types.TimeToLiveDescription {
		out, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("tbt")})
		if err != nil {
			t.Fatal(err)
		}
		return *out.TimeToLiveDescription
	}
	if d := describe(); d.TimeToLiveStatus != types.TimeToLiveStatusDisabled {
		t.Fatalf("new table TTL %+v, want DISABLED", d)
	}
	spec := func(on bool) error {
		_, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String("tbt"),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{Enabled: aws.Bool(on), AttributeName: aws.String("expires")}})
		return err
	}
	if err := spec(true); err != nil {
		t.Fatal(err)
	}
	if d := describe(); d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != "expires" {
		t.Fatalf("TTL %+v, want ENABLED on expires", d)
	}
	if err := spec(true); err == nil {
		t.Fatal("enabling TTL twice succeeded")
	}
	now := time.Now().Unix()
	for key, at := range map[string]int64{"past": now - 60, "future": now + 3600, "ancient": now - 6*365*24*3600} {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("tbt"), Item: map[string]types.AttributeValue{"k": sv(key), "expires": nv(fmt.Sprint(at))}}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("tbt")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, it := range out.Items {
		got[it["k"].(*types.AttributeValueMemberS).Value] = true
	}
	if got["past"] || !got["future"] || !got["ancient"] || len(got) != 2 {
		t.Fatalf("scan after expiry holds %v, want future and ancient (older than five years is no expiry time)", got)
	}
	if g, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("tbt"), Key: map[string]types.AttributeValue{"k": sv("past")}}); err != nil || g.Item != nil {
		t.Fatalf("the expired item after a scan: %v, %v; want deleted", g.Item, err)
	}
	if err := spec(false); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateTable_IndexesAndDeletionProtection(t *testing.T) {
	ctx := context.Background()
	c := sdkClient(t)
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("tbt"), BillingMode: types.BillingModeProvisioned, DeletionProtectionEnabled: aws.Bool(true),
		ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(5)},
		AttributeDefinitions:  []types.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:             []types.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	add := &dynamodb.UpdateTableInput{TableName: aws.String("tbt"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("o"), AttributeType: types.ScalarAttributeTypeS}},
		GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Create: &types.CreateGlobalSecondaryIndexAction{
			IndexName: aws.String("byO"), KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("o"), KeyType: types.KeyTypeHash}},
			Projection:            &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"x"}},
			ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(5)},
		}}}}
	out, err := c.UpdateTable(ctx, add)
	if err != nil {
		t.Fatal(err)
	}
	if g := out.TableDescription.GlobalSecondaryIndexes; len(g) != 1 || g[0].IndexStatus != types.IndexStatusCreating || aws.ToInt64(g[0].ProvisionedThroughput.ReadCapacityUnits) != 5 {
		t.Fatalf("UpdateTable answer's indexes %+v", g)
	}
	if _, err := c.UpdateTable(ctx, add); err == nil {
		t.Fatal("adding an index of the same name succeeded")
	}
	for _, it := range []map[string]types.AttributeValue{{"k": sv("1"), "o": sv("a"), "x": nv("1"), "y": nv("2")}, {"k": sv("2")}} {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("tbt"), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	q, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("tbt"), IndexName: aws.String("byO"),
		KeyConditionExpression: aws.String("o = :o"), ExpressionAttributeValues: map[string]types.AttributeValue{":o": sv("a")}})
	if err != nil || len(q.Items) != 1 || len(q.Items[0]) != 3 {
		t.Fatalf("query of an INCLUDE index: %v, %v; want k, o and x", q, err)
	}
	var ve interface{ ErrorCode() string }
	if _, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("tbt"), IndexName: aws.String("byO"), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("o = :o"), ExpressionAttributeValues: map[string]types.AttributeValue{":o": sv("a")}}); !errors.As(err, &ve) || ve.ErrorCode() != "ValidationException" {
		t.Fatalf("a consistent read of a GSI: %v, want ValidationException", err)
	}
	del, err := c.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("tbt"),
		GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Delete: &types.DeleteGlobalSecondaryIndexAction{IndexName: aws.String("byO")}}}})
	if err != nil || len(del.TableDescription.GlobalSecondaryIndexes) != 1 || del.TableDescription.GlobalSecondaryIndexes[0].IndexStatus != types.IndexStatusDeleting {
		t.Fatalf("delete the index: %+v, %v", del, err)
	}
	d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("tbt")})
	if err != nil || len(d.Table.GlobalSecondaryIndexes) != 0 || len(d.Table.AttributeDefinitions) != 1 || !aws.ToBool(d.Table.DeletionProtectionEnabled) {
		t.Fatalf("after deleting the index: %+v, %v", d.Table, err)
	}
	if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("tbt")}); err == nil {
		t.Fatal("DeleteTable of a protected table succeeded")
	}
	if _, err := c.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String("tbt"), DeletionProtectionEnabled: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("tbt")}); err != nil {
		t.Fatalf("DeleteTable once unprotected: %v", err)
	}
}
