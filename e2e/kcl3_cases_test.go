package e2e

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// kclCases are the DynamoDB features the Java KCL 3.x needs beyond
// expressions (see TestKCL3_DynamoDBCalls), compared step by step with
// dynalite: the legacy parameters Expected, ConditionalOperator,
// AttributeUpdates, AttributesToGet, ScanFilter and KeyConditions;
// BatchWriteItem and BatchGetItem; a global secondary index, queried and
// scanned.
func kclCases() []ddbCase {
	legacyUpdate := func(key attrs, expected map[string]types.ExpectedAttributeValue, op types.ConditionalOperator, updates map[string]types.AttributeValueUpdate) step {
		return func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
			out, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key, Expected: expected,
				ConditionalOperator: op, AttributeUpdates: updates, ReturnValues: types.ReturnValueAllNew})
			if err != nil {
				return "", err
			}
			return item(out.Attributes), nil
		}
	}
	legacyPut := func(it attrs, expected map[string]types.ExpectedAttributeValue) step {
		return func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
			out, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it, Expected: expected, ReturnValues: types.ReturnValueAllOld})
			if err != nil {
				return "", err
			}
			return item(out.Attributes), nil
		}
	}
	key := attrs{"pk": s("shardId-000000000001")}
	exists := func(b bool) types.ExpectedAttributeValue { return types.ExpectedAttributeValue{Exists: aws.Bool(b)} }
	value := func(v types.AttributeValue) types.ExpectedAttributeValue {
		return types.ExpectedAttributeValue{Value: v}
	}
	set := func(v ...string) types.AttributeValue { return &types.AttributeValueMemberSS{Value: v} }
	gsiTable := func(table string) string { return table + "_gsi" }
	return []ddbCase{
		{name: "legacy_expected_and_updates", sameMessage: map[int]bool{7: true, 8: true, 9: true, 10: true}, steps: []step{
			legacyPut(lease("shardId-000000000001", "w1", "0"), map[string]types.ExpectedAttributeValue{"pk": exists(false)}),
			legacyPut(lease("shardId-000000000001", "w1", "0"), map[string]types.ExpectedAttributeValue{"pk": exists(false)}),
			legacyUpdate(key, map[string]types.ExpectedAttributeValue{"leaseCounter": value(n("0"))}, "", map[string]types.AttributeValueUpdate{
				"leaseCounter": {Value: n("1"), Action: types.AttributeActionPut}, "leaseOwner": {Value: s("w2")}}),
			legacyUpdate(key, map[string]types.ExpectedAttributeValue{"leaseCounter": value(n("0"))}, "", map[string]types.AttributeValueUpdate{
				"leaseCounter": {Value: n("9"), Action: types.AttributeActionPut}}),
			legacyUpdate(key, nil, "", map[string]types.AttributeValueUpdate{
				"leaseOwner": {Action: types.AttributeActionDelete}, "leaseCounter": {Value: n("5"), Action: types.AttributeActionAdd},
				"tags": {Value: set("a", "b"), Action: types.AttributeActionAdd}, "fresh": {Value: n("2"), Action: types.AttributeActionAdd}}),
			legacyUpdate(key, map[string]types.ExpectedAttributeValue{"leaseOwner": exists(false), "checkpoint": value(s("TRIM_HORIZON"))}, "",
				map[string]types.AttributeValueUpdate{"tags": {Value: set("a"), Action: types.AttributeActionDelete}}),
			legacyUpdate(key, map[string]types.ExpectedAttributeValue{
				"leaseCounter": {ComparisonOperator: types.ComparisonOperatorGt, AttributeValueList: []types.AttributeValue{n("1")}},
				"checkpoint":   {ComparisonOperator: types.ComparisonOperatorBeginsWith, AttributeValueList: []types.AttributeValue{s("TRIM")}},
			}, types.ConditionalOperatorAnd, map[string]types.AttributeValueUpdate{"leaseCounter": {Value: n("1"), Action: types.AttributeActionAdd}}),
			legacyUpdate(key, map[string]types.ExpectedAttributeValue{"leaseOwner": exists(true)}, "", nil),
			legacyUpdate(key, map[string]types.ExpectedAttributeValue{"leaseOwner": {Exists: aws.Bool(false), Value: s("x")}}, "", nil),
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key,
					Expected:            map[string]types.ExpectedAttributeValue{"pk": exists(true)},
					ConditionExpression: aws.String("attribute_exists(pk)")})
				return "", err
			},
			legacyUpdate(key, map[string]types.ExpectedAttributeValue{"leaseCounter": {ComparisonOperator: types.ComparisonOperatorBetween,
				AttributeValueList: []types.AttributeValue{n("1")}}}, "", nil),
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, AttributesToGet: []string{"leaseCounter", "tags"}})
				if err != nil {
					return "", err
				}
				return item(out.Item), nil
			},
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), ScanFilter: map[string]types.Condition{
					"leaseCounter": {ComparisonOperator: types.ComparisonOperatorGe, AttributeValueList: []types.AttributeValue{n("6")}}}})
				if err != nil {
					return "", err
				}
				return items(out.Items, true), nil
			},
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(table), KeyConditions: map[string]types.Condition{
					"pk": {ComparisonOperator: types.ComparisonOperatorEq, AttributeValueList: []types.AttributeValue{s("shardId-000000000001")}}}})
				if err != nil {
					return "", err
				}
				return items(out.Items, false), nil
			},
		}},
		{name: "batch_write_and_get", sameMessage: map[int]bool{3: true, 4: true}, steps: []step{
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				var reqs []types.WriteRequest
				for i := range 3 {
					reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: lease(fmt.Sprintf("shardId-%012d", i), "w1", "1")}})
				}
				out, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
				if err != nil {
					return "", err
				}
				return fmt.Sprint(len(out.UnprocessedItems)), nil
			},
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				out, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{table: {
					Keys:                 []map[string]types.AttributeValue{{"pk": s("shardId-000000000000")}, {"pk": s("shardId-000000000002")}, {"pk": s("nope")}},
					ProjectionExpression: aws.String("pk, leaseOwner")}}})
				if err != nil {
					return "", err
				}
				return items(out.Responses[table], true) + fmt.Sprint(len(out.UnprocessedKeys)), nil
			},
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				_, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: {
					{DeleteRequest: &types.DeleteRequest{Key: attrs{"pk": s("shardId-000000000001")}}},
					{PutRequest: &types.PutRequest{Item: lease("shardId-000000000003", "w2", "4")}},
				}}})
				return "", err
			},
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				_, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: {
					{DeleteRequest: &types.DeleteRequest{Key: attrs{"pk": s("shardId-000000000001")}}},
					{PutRequest: &types.PutRequest{Item: lease("shardId-000000000001", "w2", "4")}},
				}}})
				return "", err
			},
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				_, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{table: {
					Keys: []map[string]types.AttributeValue{{"pk": s("a")}, {"pk": s("a")}}}}})
				return "", err
			},
			scanAll(0, "", nil, false),
		}},
		{name: "global_secondary_index", steps: []step{
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(gsiTable(table)), BillingMode: types.BillingModePayPerRequest,
					AttributeDefinitions: []types.AttributeDefinition{
						{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
						{AttributeName: aws.String("leaseOwner"), AttributeType: types.ScalarAttributeTypeS},
					},
					KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
					GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String("byOwner"),
						KeySchema: []types.KeySchemaElement{
							{AttributeName: aws.String("leaseOwner"), KeyType: types.KeyTypeHash},
							{AttributeName: aws.String("pk"), KeyType: types.KeyTypeRange},
						},
						Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}}}})
				if err != nil {
					return "", err
				}
				if err := waitTableActive(ctx, c, gsiTable(table)); err != nil {
					return "", err
				}
				for _, l := range []attrs{lease("shardId-000000000002", "w1", "1"), lease("shardId-000000000000", "w1", "2"),
					lease("shardId-000000000001", "w2", "3"), {"pk": s("shardId-000000000009")}} {
					if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(gsiTable(table)), Item: l}); err != nil {
						return "", err
					}
				}
				return "", nil
			},
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				var pages []string
				var start map[string]types.AttributeValue
				for {
					out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(gsiTable(table)), IndexName: aws.String("byOwner"),
						KeyConditionExpression:    aws.String("leaseOwner = :o"),
						ExpressionAttributeValues: attrs{":o": s("w1")}, Limit: aws.Int32(1), ExclusiveStartKey: start})
					if err != nil {
						return "", err
					}
					pages = append(pages, items(out.Items, false)+"/"+item(out.LastEvaluatedKey))
					if start = out.LastEvaluatedKey; len(start) == 0 {
						return fmt.Sprint(pages), nil
					}
				}
			},
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(gsiTable(table)), IndexName: aws.String("byOwner"),
					KeyConditionExpression:    aws.String("leaseOwner = :o AND begins_with(pk, :p)"),
					ExpressionAttributeValues: attrs{":o": s("w1"), ":p": s("shardId-00000000000")}, ScanIndexForward: aws.Bool(false)})
				if err != nil {
					return "", err
				}
				return items(out.Items, false), nil
			},
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(gsiTable(table)), IndexName: aws.String("byOwner")})
				if err != nil {
					return "", err
				}
				return items(out.Items, true), nil
			},
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(gsiTable(table)), Item: attrs{"pk": s("x"), "leaseOwner": n("1")}})
				return "", err
			},
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				_, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(gsiTable(table)), IndexName: aws.String("nope"),
					KeyConditionExpression: aws.String("leaseOwner = :o"), ExpressionAttributeValues: attrs{":o": s("w1")}})
				return "", err
			},
			func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
				out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(gsiTable(table))})
				if err != nil {
					return "", err
				}
				g := out.Table.GlobalSecondaryIndexes[0]
				return fmt.Sprint(*g.IndexName, " ", keySchema(g.KeySchema), " ", g.Projection.ProjectionType, " ", g.IndexStatus), nil
			},
		}},
	}
}
