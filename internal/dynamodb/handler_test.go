package dynamodb_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	sluiceddb "github.com/sluicehq/sluice/internal/dynamodb"
	"github.com/sluicehq/sluice/internal/httplimit"
	"github.com/sluicehq/sluice/internal/jetstream"
)

// openHandler returns a handler over a bucket of an embedded JetStream in
// a temporary directory.
func openHandler(tb testing.TB) *sluiceddb.Handler {
	tb.Helper()
	b, err := jetstream.Open(context.Background(), jetstream.Config{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("open jetstream: %v", err)
	}
	tb.Cleanup(func() { b.Close() })
	bucket, err := b.OpenBucket(context.Background(), "sluice_dynamodb")
	if err != nil {
		tb.Fatalf("open bucket: %v", err)
	}
	return sluiceddb.New(bucket, sluiceddb.Options{})
}

const signed = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"

// do sends one request to h and returns status, __type and body.
func do(h http.Handler, op, body string, header ...string) (int, string, string, http.Header) {
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Authorization", signed)
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	out := rec.Body.String()
	typ := ""
	if i := strings.Index(out, `"__type":"`); i >= 0 {
		typ = out[i+10:]
		typ = typ[:strings.IndexByte(typ, '"')]
	}
	return rec.Code, typ, out, rec.Header()
}

func TestHandler_Protocol(t *testing.T) {
	h := openHandler(t)
	create := `{"TableName":"leases","AttributeDefinitions":[{"AttributeName":"leaseKey","AttributeType":"S"}],` +
		`"KeySchema":[{"AttributeName":"leaseKey","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}`
	for _, tc := range []struct {
		name, op, body string
		header         []string
		status         int
		typ, message   string
	}{
		{"create", "CreateTable", create, nil, 200, "", `"TableStatus":"CREATING"`},
		{"exists", "CreateTable", create, nil, 400, "com.amazonaws.dynamodb.v20120810#ResourceInUseException", "Table already exists: leases"},
		{"no auth", "GetItem", `{}`, []string{"Authorization", ""}, 400, "com.amazon.coral.service#MissingAuthenticationTokenException", "Request is missing Authentication Token"},
		{"incomplete auth", "GetItem", `{}`, []string{"Authorization", "AWS4-HMAC-SHA256 Credential=a"}, 400, "com.amazon.coral.service#IncompleteSignatureException", "requires 'Signature'"},
		{"unknown op", "BatchExecuteStatement", `{}`, nil, 400, "com.amazon.coral.service#UnknownOperationException", ""},
		{"bad json", "GetItem", `{"TableName":`, nil, 400, "com.amazon.coral.service#SerializationException", ""},
		{"wrong type", "GetItem", `{"TableName":5}`, nil, 400, "com.amazon.coral.service#SerializationException", ""},
		{"no table", "GetItem", `{"TableName":"nope","Key":{"leaseKey":{"S":"a"}}}`, nil, 400, "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "Requested resource not found"},
		{"bad key", "GetItem", `{"TableName":"leases","Key":{"other":{"S":"a"}}}`, nil, 400, "com.amazon.coral.validate#ValidationException", "The provided key element does not match the schema"},
		{"empty value", "PutItem", `{"TableName":"leases","Item":{"leaseKey":{"S":"a"},"x":{}}}`, nil, 400, "com.amazon.coral.validate#ValidationException", "Supplied AttributeValue is empty"},
		{"two types", "PutItem", `{"TableName":"leases","Item":{"leaseKey":{"S":"a"},"x":{"S":"a","N":"1"}}}`, nil, 400, "com.amazon.coral.validate#ValidationException", "more than one datatypes"},
		{"put", "PutItem", `{"TableName":"leases","Item":{"leaseKey":{"S":"a"},"leaseCounter":{"N":"1"}}}`, nil, 200, "", "{}"},
		{"ccf", "PutItem", `{"TableName":"leases","Item":{"leaseKey":{"S":"a"}},"ConditionExpression":"attribute_not_exists(leaseKey)","ReturnValuesOnConditionCheckFailure":"ALL_OLD"}`, nil,
			400, "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", `"Item":{"leaseCounter":{"N":"1"},"leaseKey":{"S":"a"}}`},
		{"get", "GetItem", `{"TableName":"leases","Key":{"leaseKey":{"S":"a"}}}`, nil, 200, "", `{"Item":{"leaseCounter":{"N":"1"},"leaseKey":{"S":"a"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, typ, body, hd := do(h, tc.op, tc.body, tc.header...)
			if status != tc.status || typ != tc.typ || !strings.Contains(body, tc.message) {
				t.Errorf("%s: %d %s %s; want %d %s containing %q", tc.op, status, typ, body, tc.status, tc.typ, tc.message)
			}
			if got, want := hd.Get("X-Amz-Crc32"), strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10); got != want {
				t.Errorf("x-amz-crc32 = %s, want %s", got, want)
			}
			if ct := hd.Get("Content-Type"); ct != "application/x-amz-json-1.0" {
				t.Errorf("Content-Type = %s", ct)
			}
		})
	}
}

// FuzzHandler sends arbitrary bodies to every operation: every answer is a
// 200 or a 4xx with an AWS error shape, never a panic or a 500.
func FuzzHandler(f *testing.F) {
	ops := []string{"CreateTable", "DescribeTable", "DeleteTable", "ListTables", "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Scan", "Query"}
	seeds := []string{
		`{"TableName":"t1","AttributeDefinitions":[{"AttributeName":"k","AttributeType":"S"},{"AttributeName":"r","AttributeType":"N"}],"KeySchema":[{"AttributeName":"k","KeyType":"HASH"},{"AttributeName":"r","KeyType":"RANGE"}],"BillingMode":"PAY_PER_REQUEST"}`,
		`{"TableName":"t1","Item":{"k":{"S":"a"},"r":{"N":"1"},"m":{"M":{"l":{"L":[{"NS":["1","2"]},{"B":"AQI="},{"BOOL":true},{"NULL":true}]}}}}}`,
		`{"TableName":"t1","Key":{"k":{"S":"a"},"r":{"N":"1"}},"UpdateExpression":"SET #x = if_not_exists(#x, :z) + :one REMOVE m.l[0]","ConditionExpression":"attribute_exists(k) AND size(m) > :z","ExpressionAttributeNames":{"#x":"x"},"ExpressionAttributeValues":{":z":{"N":"0"},":one":{"N":"1"}},"ReturnValues":"ALL_NEW"}`,
		`{"TableName":"t1","KeyConditionExpression":"k = :k AND r BETWEEN :a AND :b","ExpressionAttributeValues":{":k":{"S":"a"},":a":{"N":"0"},":b":{"N":"9"}},"Limit":1,"ScanIndexForward":false}`,
		`{"TableName":"t1","Limit":1,"ExclusiveStartKey":{"k":{"S":"a"},"r":{"N":"1"}},"FilterExpression":"contains(m, :v)","ExpressionAttributeValues":{":v":{"SS":["x"]}},"Select":"COUNT"}`,
		`{"TableName":"t1","Key":{"k":{"S":"a"},"r":{"N":"1"}},"ProjectionExpression":"m.l[1], k"}`,
		`{"Limit":2,"ExclusiveStartTableName":"t0"}`,
		`{"TableName":"t1"}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	h := openHandler(f)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, op uint8, body string) {
		if n.Add(1)%500 == 0 { // keep the store small: start over now and then
			do(h, "DeleteTable", `{"TableName":"t1"}`)
			do(h, "CreateTable", seeds[0])
		}
		status, typ, out, _ := do(h, ops[int(op)%len(ops)], body)
		if status == http.StatusOK {
			return
		}
		if status >= 500 || typ == "" {
			t.Fatalf("%s %s: %d %s", ops[int(op)%len(ops)], body, status, out)
		}
	})
}

// BenchmarkUpdateItem_Conditional measures the lease renewal: a
// conditional UpdateItem (leaseCounter = :expected AND leaseOwner =
// :owner, SET leaseCounter = leaseCounter + :one) through the AWS SDK over
// HTTP to a handler on an embedded JetStream. Serial: one renewal at a
// time on one lease (latency). Parallel: one lease per goroutine, 4 per
// CPU (throughput). getitem: the consistent read alone, for comparison.
func BenchmarkUpdateItem_Conditional(b *testing.B) {
	srv := httptest.NewServer(openHandler(b))
	b.Cleanup(srv.Close)
	c := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
	})
	ctx := context.Background()
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("leases"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("leaseKey"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("leaseKey"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		b.Fatal(err)
	}
	var leases atomic.Int64
	renewLoop := func(pb func() bool) {
		key := fmt.Sprintf("shardId-%012d", leases.Add(1))
		_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: map[string]types.AttributeValue{
			"leaseKey": &types.AttributeValueMemberS{Value: key}, "leaseOwner": &types.AttributeValueMemberS{Value: "w1"},
			"leaseCounter": &types.AttributeValueMemberN{Value: "0"}}})
		if err != nil {
			b.Error(err)
			return
		}
		for counter := 0; pb(); counter++ {
			_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:           aws.String("leases"),
				Key:                 map[string]types.AttributeValue{"leaseKey": &types.AttributeValueMemberS{Value: key}},
				UpdateExpression:    aws.String("SET leaseCounter = leaseCounter + :one"),
				ConditionExpression: aws.String("leaseCounter = :expected AND leaseOwner = :owner"),
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":one":      &types.AttributeValueMemberN{Value: "1"},
					":expected": &types.AttributeValueMemberN{Value: strconv.Itoa(counter)},
					":owner":    &types.AttributeValueMemberS{Value: "w1"},
				},
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	}
	b.Run("serial", func(b *testing.B) {
		i := 0
		renewLoop(func() bool { i++; return i <= b.N })
	})
	// For comparison: a consistent GetItem, the read half of the renewal.
	b.Run("getitem", func(b *testing.B) {
		key := map[string]types.AttributeValue{"leaseKey": &types.AttributeValueMemberS{Value: "shardId-000000000001"}}
		for b.Loop() {
			if _, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("leases"), Key: key, ConsistentRead: aws.Bool(true)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) { renewLoop(pb.Next) })
	})
}

// TestHandler_BodyRefusals checks that the refusals of httplimit reach
// DynamoDB clients as DynamoDB's retryable errors.
func TestHandler_BodyRefusals(t *testing.T) {
	h := openHandler(t)
	for _, tc := range []struct {
		err    error
		status int
		typ    string
	}{
		{httplimit.ErrBusy, 400, "com.amazon.coral.availability#ThrottlingException"},
		{httplimit.ErrBodyTimeout, 408, "com.amazon.coral.service#RequestTimeoutException"},
	} {
		req := httptest.NewRequest(http.MethodPost, "/", io.MultiReader(strings.NewReader(`{"Table`), errReader{tc.err}))
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
		req.Header.Set("Authorization", signed)
		req.Header.Set("X-Amz-Date", "20260101T000000Z")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), `"__type":"`+tc.typ+`"`) {
			t.Errorf("%v: %d %s, want %d %s", tc.err, rec.Code, rec.Body, tc.status, tc.typ)
		}
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
