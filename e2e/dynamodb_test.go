package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
)

// The DynamoDB tests run the same cases against a real `sluice serve` and
// against dynalite (npm), a second DynamoDB implementation, and compare
// what each step returns: items and attributes, error types, and error
// messages where the case says both give DynamoDB's wording.

// ddbClient returns an aws-sdk-go-v2 DynamoDB client for an endpoint, with
// retries of connection errors only, so every error answered reaches the
// test.
func ddbClient(endpoint string, hc *http.Client) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       testRegion,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSLUICEE2E", "secret", ""),
		HTTPClient:   hc,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.Retryables = []retry.IsErrorRetryable{retry.NoRetryCanceledError{}, retry.RetryableConnectionError{}}
			o.RateLimiter = ratelimit.None
		}),
	})
}

func (s *server) DynamoDB() *dynamodb.Client { return ddbClient(s.Endpoint, s.http) }

// startDynalite runs dynalite on a free port of 127.0.0.1, tables ACTIVE
// at once. It skips the test when dynalite is not installed, unless CI is
// set.
func startDynalite(t *testing.T) *dynamodb.Client {
	t.Helper()
	cli, _ := filepath.Abs("../testdata/node/node_modules/dynalite/cli.js")
	node, err := exec.LookPath("node")
	if _, serr := os.Stat(cli); serr != nil || err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("dynalite or node missing (%s), and CI=true: .ci/run must run npm ci --prefix testdata/node", cli)
		}
		t.Skipf("dynalite or node missing (%s): run npm ci --prefix testdata/node to compare with dynalite", cli)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(node, cli, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	out := &tailBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dynalite: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dynalite did not listen on %s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ddbClient("http://"+addr, &http.Client{Timeout: requestTimeout})
}

// --- comparable outcomes ---

// av renders an attribute value as a comparable string: sets sorted,
// numbers as sent.
func av(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return "S:" + strconv.Quote(v.Value)
	case *types.AttributeValueMemberN:
		return "N:" + v.Value
	case *types.AttributeValueMemberB:
		return "B:" + strconv.Quote(string(v.Value))
	case *types.AttributeValueMemberBOOL:
		return "BOOL:" + strconv.FormatBool(v.Value)
	case *types.AttributeValueMemberNULL:
		return "NULL"
	case *types.AttributeValueMemberSS:
		s := append([]string(nil), v.Value...)
		sort.Strings(s)
		return "SS:" + strings.Join(s, ",")
	case *types.AttributeValueMemberNS:
		s := append([]string(nil), v.Value...)
		sort.Strings(s)
		return "NS:" + strings.Join(s, ",")
	case *types.AttributeValueMemberBS:
		s := make([]string, len(v.Value))
		for i, b := range v.Value {
			s[i] = strconv.Quote(string(b))
		}
		sort.Strings(s)
		return "BS:" + strings.Join(s, ",")
	case *types.AttributeValueMemberL:
		s := make([]string, len(v.Value))
		for i, e := range v.Value {
			s[i] = av(e)
		}
		return "L:[" + strings.Join(s, ",") + "]"
	case *types.AttributeValueMemberM:
		return "M:" + item(v.Value)
	}
	return fmt.Sprintf("?%T", v)
}

func item(m map[string]types.AttributeValue) string {
	if m == nil {
		return "<none>"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + av(m[k]))
	}
	b.WriteByte('}')
	return b.String()
}

func items(ms []map[string]types.AttributeValue, sorted bool) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = item(m)
	}
	if sorted {
		sort.Strings(s)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// outcome is what a step returned, as compared between implementations.
type outcome struct {
	Value   string
	ErrType string
	ErrMsg  string
}

func outcomeOf(v string, err error) outcome {
	if err == nil {
		return outcome{Value: v}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		// A failed condition's Item (ReturnValuesOnConditionCheckFailure)
		// is not compared: dynalite does not return it.
		// TestDynamoDB_ConditionFailureReturnsItem checks Sluice's.
		return outcome{ErrType: ae.ErrorCode(), ErrMsg: ae.ErrorMessage()}
	}
	return outcome{ErrType: "client: " + err.Error()}
}

// ddbCase is one scenario: steps run in order against a fresh table.
type ddbCase struct {
	name string
	// rangeKey, if set, makes the table's key (pk S, rangeKey N).
	rangeKey string
	// sameMessage lists the steps whose error messages must match too.
	sameMessage map[int]bool
	steps       []func(ctx context.Context, c *dynamodb.Client, table string) (string, error)
}

type step = func(ctx context.Context, c *dynamodb.Client, table string) (string, error)

func createTableFor(ctx context.Context, c *dynamodb.Client, table, rangeKey string) error {
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	}
	if rangeKey != "" {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(rangeKey), AttributeType: types.ScalarAttributeTypeN})
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String(rangeKey), KeyType: types.KeyTypeRange})
	}
	if _, err := c.CreateTable(ctx, in); err != nil {
		return err
	}
	return waitTableActive(ctx, c, table)
}

func waitTableActive(ctx context.Context, c *dynamodb.Client, table string) error {
	for {
		out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return err
		}
		if out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// runCases runs every case against each client and compares outcomes
// step by step with the first client's.
func runCases(t *testing.T, clients map[string]*dynamodb.Client, cases []ddbCase) {
	ctx := ctxFor(t, 5*time.Minute)
	names := make([]string, 0, len(clients))
	for n := range clients {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			table := fmt.Sprintf("case%03d_%s", i, tc.name)
			results := map[string][]outcome{}
			for _, n := range names {
				c := clients[n]
				if err := createTableFor(ctx, c, table, tc.rangeKey); err != nil {
					t.Fatalf("%s: create table: %v", n, err)
				}
				for _, s := range tc.steps {
					results[n] = append(results[n], outcomeOf(s(ctx, c, table)))
				}
			}
			ref := results[names[0]]
			for _, n := range names {
				got := results[n]
				for j := range got {
					g, r := got[j], ref[j]
					if !tc.sameMessage[j] {
						g.ErrMsg, r.ErrMsg = "", ""
					}
					if g != r {
						t.Errorf("step %d: %s gave %+v, %s gave %+v", j, names[0], ref[j], n, got[j])
					}
				}
				if n == "sluice" {
					for j, o := range got {
						t.Logf("step %d: %+v", j, o)
					}
				}
			}
		})
	}
}

// --- step helpers ---

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

type attrs = map[string]types.AttributeValue

func names(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// exprMembers returns a write step's ConditionExpression,
// ExpressionAttributeNames and ExpressionAttributeValues, each nil when the
// step leaves it out, so that the request carries only what the case names.
func exprMembers(cond string, nm map[string]string, vals attrs) (*string, map[string]string, attrs) {
	var c *string
	if cond != "" {
		c = aws.String(cond)
	}
	if len(nm) == 0 {
		nm = nil
	}
	if len(vals) == 0 {
		vals = nil
	}
	return c, nm, vals
}

func put(it attrs, cond string, nm map[string]string, vals attrs) step {
	return func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
		in := &dynamodb.PutItemInput{TableName: aws.String(table), Item: it, ReturnValues: types.ReturnValueAllOld,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}
		in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = exprMembers(cond, nm, vals)
		out, err := c.PutItem(ctx, in)
		if err != nil {
			return "", err
		}
		return item(out.Attributes), nil
	}
}

func update(key attrs, expr, cond string, nm map[string]string, vals attrs, rv types.ReturnValue) step {
	return func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
		in := &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key, ReturnValues: rv}
		if expr != "" {
			in.UpdateExpression = aws.String(expr)
		}
		in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = exprMembers(cond, nm, vals)
		out, err := c.UpdateItem(ctx, in)
		if err != nil {
			return "", err
		}
		return item(out.Attributes), nil
	}
}

func del(key attrs, cond string, nm map[string]string, vals attrs) step {
	return func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
		in := &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key, ReturnValues: types.ReturnValueAllOld}
		in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = exprMembers(cond, nm, vals)
		out, err := c.DeleteItem(ctx, in)
		if err != nil {
			return "", err
		}
		return item(out.Attributes), nil
	}
}

func get(key attrs, proj string, nm map[string]string) step {
	return func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
		in := &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)}
		if proj != "" {
			in.ProjectionExpression = aws.String(proj)
		}
		if len(nm) > 0 {
			in.ExpressionAttributeNames = nm
		}
		out, err := c.GetItem(ctx, in)
		if err != nil {
			return "", err
		}
		return item(out.Item), nil
	}
}

// scanAll pages through the table with limit items per page and returns
// the items (sorted: implementations order a scan differently) and the
// counts.
func scanAll(limit int32, filter string, vals attrs, count bool) step {
	return func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
		var all []map[string]types.AttributeValue
		var total int32
		var start map[string]types.AttributeValue
		for pages := 0; pages < 1000; pages++ {
			in := &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true), ExclusiveStartKey: start}
			if limit > 0 {
				in.Limit = aws.Int32(limit)
			}
			if filter != "" {
				in.FilterExpression = aws.String(filter)
				in.ExpressionAttributeValues = vals
			}
			if count {
				in.Select = types.SelectCount
			}
			out, err := c.Scan(ctx, in)
			if err != nil {
				return "", err
			}
			all = append(all, out.Items...)
			total += out.Count
			if out.LastEvaluatedKey == nil {
				return fmt.Sprintf("count=%d items=%s", total, items(all, true)), nil
			}
			start = out.LastEvaluatedKey
		}
		return "", errors.New("scan did not end")
	}
}

func query(keyCond string, vals attrs, forward bool, limit int32, filter string) step {
	return func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
		var all []map[string]types.AttributeValue
		var start map[string]types.AttributeValue
		for pages := 0; pages < 1000; pages++ {
			in := &dynamodb.QueryInput{TableName: aws.String(table), KeyConditionExpression: aws.String(keyCond),
				ExpressionAttributeValues: vals, ScanIndexForward: aws.Bool(forward), ExclusiveStartKey: start}
			if limit > 0 {
				in.Limit = aws.Int32(limit)
			}
			if filter != "" {
				in.FilterExpression = aws.String(filter)
			}
			out, err := c.Query(ctx, in)
			if err != nil {
				return "", err
			}
			all = append(all, out.Items...)
			if out.LastEvaluatedKey == nil {
				return items(all, false), nil
			}
			start = out.LastEvaluatedKey
		}
		return "", errors.New("query did not end")
	}
}

func lease(key, owner, counter string) attrs {
	return attrs{"pk": s(key), "leaseOwner": s(owner), "leaseCounter": n(counter), "checkpoint": s("TRIM_HORIZON")}
}

// ddbCases are the scenarios both implementations run.
func ddbCases() []ddbCase {
	k1 := attrs{"pk": s("shardId-000000000001")}
	return []ddbCase{
		{name: "lease_create_if_absent", sameMessage: map[int]bool{1: true},
			steps: []step{
				put(lease("shardId-000000000001", "w1", "1"), "attribute_not_exists(pk)", nil, nil),
				put(lease("shardId-000000000001", "w2", "1"), "attribute_not_exists(pk)", nil, nil),
				get(k1, "", nil),
			}},
		{name: "lease_conditional_renew", sameMessage: map[int]bool{2: true},
			steps: []step{
				put(lease("shardId-000000000001", "w1", "1"), "", nil, nil),
				update(k1, "SET leaseCounter = leaseCounter + :one", "leaseCounter = :expected AND leaseOwner = :owner", nil,
					attrs{":one": n("1"), ":expected": n("1"), ":owner": s("w1")}, types.ReturnValueAllNew),
				update(k1, "SET leaseCounter = leaseCounter + :one", "leaseCounter = :expected AND leaseOwner = :owner", nil,
					attrs{":one": n("1"), ":expected": n("1"), ":owner": s("w1")}, types.ReturnValueAllNew),
				update(k1, "SET leaseCounter = leaseCounter + :one, leaseOwner = :new", "leaseCounter = :expected", nil,
					attrs{":one": n("1"), ":expected": n("2"), ":new": s("w2")}, types.ReturnValueUpdatedNew),
				get(k1, "", nil),
			}},
		{name: "lease_remove_and_checkpoint",
			steps: []step{
				put(lease("shardId-000000000001", "w1", "7"), "", nil, nil),
				update(k1, "REMOVE leaseOwner SET #cp = :cp, checkpointSubSequenceNumber = :z", "leaseCounter = :c",
					names("#cp", "checkpoint"), attrs{":cp": s("49590338271490256608559692538361571095921575989136588898"), ":z": n("0"), ":c": n("7")}, types.ReturnValueUpdatedOld),
				get(k1, "", nil),
				get(k1, "leaseOwner, #cp", names("#cp", "checkpoint")),
			}},
		{name: "lease_conditional_delete", sameMessage: map[int]bool{1: true},
			steps: []step{
				put(lease("shardId-000000000001", "w1", "3"), "", nil, nil),
				del(k1, "leaseOwner = :o", nil, attrs{":o": s("w2")}),
				del(k1, "leaseOwner = :o", nil, attrs{":o": s("w1")}),
				get(k1, "", nil),
				del(k1, "attribute_exists(pk)", nil, nil),
			}},
		{name: "paged_consistent_scan",
			steps: func() []step {
				var st []step
				for i := range 23 {
					st = append(st, put(lease(fmt.Sprintf("shardId-%012d", i), "w"+strconv.Itoa(i%3), strconv.Itoa(i)), "", nil, nil))
				}
				return append(st,
					scanAll(5, "", nil, false),
					scanAll(0, "", nil, false),
					scanAll(7, "leaseOwner = :o", attrs{":o": s("w1")}, false),
					scanAll(4, "leaseCounter >= :lo", attrs{":lo": n("10")}, true),
				)
			}()},
		{name: "query_range", rangeKey: "seq",
			steps: func() []step {
				var st []step
				for i := range 12 {
					st = append(st, put(attrs{"pk": s("a"), "seq": n(strconv.Itoa(i * 10)), "v": s(strconv.Itoa(i))}, "", nil, nil))
				}
				st = append(st, put(attrs{"pk": s("b"), "seq": n("5")}, "", nil, nil))
				return append(st,
					query("pk = :p", attrs{":p": s("a")}, true, 0, ""),
					query("pk = :p AND seq BETWEEN :lo AND :hi", attrs{":p": s("a"), ":lo": n("20"), ":hi": n("70")}, false, 2, ""),
					query("pk = :p AND seq > :x", attrs{":p": s("a"), ":x": n("85")}, true, 0, ""),
					query("pk = :p AND seq <= :x", attrs{":p": s("a"), ":x": n("30")}, true, 3, "v <> :p"),
					query("seq = :x", attrs{":x": n("5")}, true, 0, ""),
					query("pk = :p OR seq = :x", attrs{":p": s("a"), ":x": n("5")}, true, 0, ""),
				)
			}()},
		{name: "condition_functions",
			steps: []step{
				put(attrs{"pk": s("x"), "str": s("hello world"), "num": n("12.50"), "set": &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
					"list": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("p"), n("2")}},
					"map":  &types.AttributeValueMemberM{Value: attrs{"inner": s("v"), "deep": &types.AttributeValueMemberM{Value: attrs{"n": n("1")}}}},
					"null": &types.AttributeValueMemberNULL{Value: true}, "bool": &types.AttributeValueMemberBOOL{Value: true}}, "", nil, nil),
				update(attrs{"pk": s("x")}, "SET touched = :t", "begins_with(str, :h) AND contains(str, :w) AND contains(#set, :a)", names("#set", "set"),
					attrs{":t": n("1"), ":h": s("hell"), ":w": s("o w"), ":a": s("a")}, types.ReturnValueNone),
				update(attrs{"pk": s("x")}, "SET touched = :t", "size(str) = :eleven AND size(list) > :one AND attribute_type(#map, :m) AND #map.deep.n = :one",
					names("#map", "map"), attrs{":t": n("2"), ":eleven": n("11"), ":one": n("1"), ":m": s("M")}, types.ReturnValueNone),
				update(attrs{"pk": s("x")}, "SET touched = :t", "num IN (:a, :b) AND num BETWEEN :lo AND :hi AND NOT (num < :lo OR num > :hi)",
					nil, attrs{":t": n("3"), ":a": n("1"), ":b": n("12.5"), ":lo": n("12"), ":hi": n("13")}, types.ReturnValueNone),
				update(attrs{"pk": s("x")}, "SET touched = :t", "#list[1] = :two AND #list[0] <> :two AND attribute_not_exists(nope) AND #null = :nul AND #bool = :tr",
					names("#list", "list", "#null", "null", "#bool", "bool"), attrs{":t": n("4"), ":two": n("2"), ":nul": &types.AttributeValueMemberNULL{Value: true}, ":tr": &types.AttributeValueMemberBOOL{Value: true}}, types.ReturnValueNone),
				update(attrs{"pk": s("x")}, "SET touched = :t", "str > :n", nil, attrs{":t": n("5"), ":n": n("1")}, types.ReturnValueNone),
				get(attrs{"pk": s("x")}, "touched, #map.deep, #list[1]", names("#map", "map", "#list", "list")),
			}},
		{name: "update_actions",
			steps: []step{
				put(attrs{"pk": s("u"), "n": n("1"), "ss": &types.AttributeValueMemberSS{Value: []string{"a", "b"}}, "l": &types.AttributeValueMemberL{Value: []types.AttributeValue{n("1")}},
					"m": &types.AttributeValueMemberM{Value: attrs{"x": n("1")}}}, "", nil, nil),
				update(attrs{"pk": s("u")}, "ADD n :five, ss :c, fresh :five DELETE ss2 :a", "", nil,
					attrs{":five": n("5"), ":c": &types.AttributeValueMemberSS{Value: []string{"c", "a"}}, ":a": &types.AttributeValueMemberSS{Value: []string{"a"}}}, types.ReturnValueAllNew),
				update(attrs{"pk": s("u")}, "DELETE ss :ab SET l = list_append(l, :l2), m.y = if_not_exists(m.y, :one), n = n - :half REMOVE m.x", "", nil,
					attrs{":ab": &types.AttributeValueMemberSS{Value: []string{"a", "b"}}, ":l2": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("z")}}, ":one": n("1"), ":half": n("0.5")}, types.ReturnValueAllNew),
				update(attrs{"pk": s("u")}, "SET l[5] = :v, l[0] = :v REMOVE l[1]", "", nil, attrs{":v": s("v")}, types.ReturnValueUpdatedNew),
				update(attrs{"pk": s("new")}, "SET a = if_not_exists(a, :zero) + :one", "", nil, attrs{":zero": n("0"), ":one": n("1")}, types.ReturnValueAllNew),
				update(attrs{"pk": s("new")}, "SET a = a + :s", "", nil, attrs{":s": s("x")}, types.ReturnValueAllNew),
				update(attrs{"pk": s("new")}, "SET b = missing + :one", "", nil, attrs{":one": n("1")}, types.ReturnValueAllNew),
				get(attrs{"pk": s("u")}, "", nil),
			}},
		{name: "validation_errors", sameMessage: map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 9: true, 10: true, 11: true, 12: true},
			steps: []step{
				update(k1, "SET a = :a", "", nil, attrs{":a": s("1"), ":unused": s("2")}, types.ReturnValueNone),
				update(k1, "SET #a = :a", "", names("#a", "a", "#b", "b"), attrs{":a": s("1")}, types.ReturnValueNone),
				update(k1, "SET a = :a", "", nil, nil, types.ReturnValueNone),
				update(k1, "SET #a = :a", "", nil, attrs{":a": s("1")}, types.ReturnValueNone),
				update(k1, "SET pk = :a", "", nil, attrs{":a": s("1")}, types.ReturnValueNone),
				update(k1, "SET a = :a, a.b = :a", "", nil, attrs{":a": s("1")}, types.ReturnValueNone),
				update(k1, "SET a = :a SET b = :a", "", nil, attrs{":a": s("1")}, types.ReturnValueNone),
				update(k1, "SET #name = :a", "", names("#name", "name"), attrs{":a": s("1")}, types.ReturnValueNone),
				update(k1, "SET a = :a", "a =", nil, attrs{":a": s("1")}, types.ReturnValueNone),
				update(k1, "SET name = :a", "", nil, attrs{":a": s("1")}, types.ReturnValueNone),
				get(attrs{"pk": n("1")}, "", nil),
				put(attrs{"other": s("x")}, "", nil, nil),
				update(k1, "ADD a :s", "", nil, attrs{":s": s("x")}, types.ReturnValueNone),
				update(k1, "SET a = :a", "foo(a)", nil, attrs{":a": s("1")}, types.ReturnValueNone),
				put(attrs{"pk": s("x"), "n": n("1e126")}, "", nil, nil),
				put(attrs{"pk": s("x"), "n": n("1.23456789012345678901234567890123456789")}, "", nil, nil),
			}},
		{name: "more_validation", sameMessage: map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 10: true, 11: true, 12: true, 13: true},
			steps: []step{
				createTableStep("ab", "pk", "pk", types.BillingModePayPerRequest),
				createTableStep("tbl_undefined", "pk", "other", types.BillingModePayPerRequest),
				createTableStep("tbl_provisioned", "pk", "pk", types.BillingModeProvisioned),
				func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
					_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: attrs{"pk": s("a")}, ReturnValues: types.ReturnValueAllNew})
					return "", err
				},
				put(attrs{"pk": s("")}, "", nil, nil),
				put(attrs{"pk": n("1")}, "", nil, nil),
				query("attr1 = :v", attrs{":v": s("a")}, true, 0, ""),
				query("pk > :v", attrs{":v": s("a")}, true, 0, ""),
				query("pk = :v", attrs{":v": n("1")}, true, 0, ""),
				update(k1, "SET a = :a", "attribute_exists(pk) AND", nil, attrs{":a": s("1")}, types.ReturnValueNone),
				put(attrs{"pk": s("x"), "ss": &types.AttributeValueMemberSS{Value: []string{"a", "a"}}}, "", nil, nil),
				update(k1, "SET a = :a", "size(a) = :a AND contains(a)", nil, attrs{":a": s("1")}, types.ReturnValueNone),
				put(attrs{"pk": s("x")}, "", nil, attrs{":a": s("1")}),
				update(k1, "", "", nil, attrs{":a": s("1")}, types.ReturnValueNone),
			}},
		{name: "tables_and_missing", sameMessage: map[int]bool{0: true, 1: true},
			steps: []step{
				func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
					_, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table + "_missing"), Key: k1})
					return "", err
				},
				func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
					_, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table + "_missing")})
					return "", err
				},
				func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
					out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
					if err != nil {
						return "", err
					}
					d := out.Table
					return fmt.Sprintf("%s %s %v %v %v", *d.TableName, d.TableStatus, keySchema(d.KeySchema), d.BillingModeSummary.BillingMode, len(d.AttributeDefinitions)), nil
				},
				func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
					_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
						AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
						KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}})
					return "", err
				},
				func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
					_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table + "_x"), BillingMode: types.BillingModePayPerRequest,
						AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("other"), AttributeType: types.ScalarAttributeTypeS}},
						KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}})
					return "", err
				},
				func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
					_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table + "_y"),
						AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
						KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}})
					return "", err
				},
				put(lease("shardId-000000000001", "w1", "1"), "", nil, nil),
				func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
					out, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
					if err != nil {
						return "", err
					}
					return *out.TableDescription.TableName, nil
				},
				func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
					for {
						_, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
						var rnf *types.ResourceNotFoundException
						if errors.As(err, &rnf) || err != nil {
							return "", err
						}
						time.Sleep(20 * time.Millisecond)
					}
				},
				func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
					if err := createTableFor(ctx, c, table, ""); err != nil {
						return "", err
					}
					out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
					if err != nil {
						return "", err
					}
					return items(out.Items, true), nil
				},
			}},
	}
}

// createTableStep creates another table with the hash key keyName
// defined as defName.
func createTableStep(name, keyName, defName string, billing types.BillingMode) step {
	return func(ctx context.Context, c *dynamodb.Client, table string) (string, error) {
		_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: billing,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(defName), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(keyName), KeyType: types.KeyTypeHash}}})
		return "", err
	}
}

func keySchema(ks []types.KeySchemaElement) string {
	var parts []string
	for _, k := range ks {
		parts = append(parts, *k.AttributeName+":"+string(k.KeyType))
	}
	return strings.Join(parts, ",")
}

// TestDynamoDB_MatchesDynalite runs the cases against Sluice and dynalite
// and compares every step.
func TestDynamoDB_MatchesDynalite(t *testing.T) {
	dl := startDynalite(t)
	t.Parallel()
	srv := startServer(t)
	runCases(t, map[string]*dynamodb.Client{"dynalite": dl, "sluice": srv.DynamoDB()}, append(ddbCases(), kclCases()...))
}

// TestDynamoDB_ConditionFailureReturnsItem checks what dynalite does not
// implement: ReturnValuesOnConditionCheckFailure ALL_OLD puts the item in
// the ConditionalCheckFailedException; and arithmetic past 38 digits
// fails as storing such a number does (dynalite rounds).
func TestDynamoDB_ConditionFailureReturnsItem(t *testing.T) {
	t.Parallel()
	c := startServer(t).DynamoDB()
	ctx := ctxFor(t, 2*time.Minute)
	if err := createTableFor(ctx, c, "leases", ""); err != nil {
		t.Fatal(err)
	}
	it := lease("shardId-000000000001", "w1", "1")
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: it}); err != nil {
		t.Fatal(err)
	}
	_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: it,
		ConditionExpression:                 aws.String("attribute_not_exists(pk)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("PutItem over an existing lease: %v, want ConditionalCheckFailedException", err)
	}
	if got, want := item(ccf.Item), item(it); got != want {
		t.Fatalf("exception Item = %s, want %s", got, want)
	}
	_, err = c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("leases"), Key: attrs{"pk": s("shardId-000000000001")},
		UpdateExpression:          aws.String("SET big = :big + :small"),
		ExpressionAttributeValues: attrs{":big": n("12345678901234567890123456789012345678"), ":small": n("0.1")}})
	var ve smithy.APIError
	if !errors.As(err, &ve) || ve.ErrorCode() != "ValidationException" || !strings.Contains(ve.ErrorMessage(), "38 significant digits") {
		t.Fatalf("sum of 39 significant digits: %v, want ValidationException about 38 significant digits", err)
	}
}

// TestDynamoDB_SamePortAndTLS answers Kinesis and DynamoDB on one port,
// and DynamoDB over the TLS listener too (HTTP/2 by ALPN), with the
// x-amz-crc32 the SDK checks.
func TestDynamoDB_SamePortAndTLS(t *testing.T) {
	t.Parallel()
	srv, tlsAddr, hc, protos := startTLSServer(t)
	ctx := ctxFor(t, 2*time.Minute)
	createStream(t, srv.Client(), "beside", 1)
	if err := createTableFor(ctx, srv.DynamoDB(), "leases", ""); err != nil {
		t.Fatal(err)
	}
	secure := ddbClient("https://"+tlsAddr, hc)
	if _, err := secure.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: lease("shardId-000000000000", "w1", "1")}); err != nil {
		t.Fatalf("PutItem over TLS: %v", err)
	}
	got, err := srv.DynamoDB().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("leases"), Key: attrs{"pk": s("shardId-000000000000")}})
	if err != nil || item(got.Item) != item(lease("shardId-000000000000", "w1", "1")) {
		t.Fatalf("GetItem over plain HTTP after a PutItem over TLS: %v %v", got, err)
	}
	if len(*protos) == 0 || (*protos)[0] != "HTTP/2.0" {
		t.Fatalf("TLS responses over %v, want HTTP/2.0", *protos)
	}
	streams, err := srv.Client().ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil || !slices.Contains(streams.StreamNames, "beside") {
		t.Fatalf("Kinesis ListStreams on the same port: %v %v", streams, err)
	}
	tables, err := secure.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil || !slices.Equal(tables.TableNames, []string{"leases"}) {
		t.Fatalf("ListTables = %v, %v; want [leases] (streams are not tables)", tables, err)
	}
}

// TestDynamoDB_ListTablesPaged creates tables and lists them in pages.
func TestDynamoDB_ListTablesPaged(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.DynamoDB()
	ctx := ctxFor(t, 2*time.Minute)
	var want []string
	for i := range 7 {
		name := fmt.Sprintf("list%02d", i)
		want = append(want, name)
		if err := createTableFor(ctx, c, name, ""); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var start *string
	for {
		out, err := c.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(3), ExclusiveStartTableName: start})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out.TableNames...)
		if out.LastEvaluatedTableName == nil {
			break
		}
		start = out.LastEvaluatedTableName
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ListTables pages = %v, want %v", got, want)
	}
}

// TestDynamoDB_ConcurrentCounterTwoServers increments one counter with
// conditional updates (read, then update on leaseCounter = :seen) from
// many goroutines through two servers over a 3-node JetStream cluster:
// every acknowledged increment counts, none is lost, none is applied
// twice.
func TestDynamoDB_ConcurrentCounterTwoServers(t *testing.T) {
	a, b := startClusterPair(t)
	ctx := ctxFor(t, 5*time.Minute)
	ca, cb := a.DynamoDB(), b.DynamoDB()
	if err := createTableFor(ctx, ca, "leases", ""); err != nil {
		t.Fatal(err)
	}
	if err := waitTableActive(ctx, cb, "leases"); err != nil {
		t.Fatal(err)
	}
	key := attrs{"pk": s("counter")}
	if _, err := ca.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: attrs{"pk": s("counter"), "leaseCounter": n("0")}}); err != nil {
		t.Fatal(err)
	}
	const workers, perWorker = 8, 15
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		acked    int
		conflict int
		seen     = map[string]bool{}
	)
	for w := range workers {
		c := ca
		if w%2 == 1 {
			c = cb
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < perWorker; {
				got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("leases"), Key: key, ConsistentRead: aws.Bool(true)})
				if err != nil {
					t.Errorf("GetItem: %v", err)
					return
				}
				cur := got.Item["leaseCounter"].(*types.AttributeValueMemberN).Value
				out, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName:                 aws.String("leases"),
					Key:                       key,
					UpdateExpression:          aws.String("SET leaseCounter = leaseCounter + :one"),
					ConditionExpression:       aws.String("leaseCounter = :seen"),
					ExpressionAttributeValues: attrs{":one": n("1"), ":seen": n(cur)},
					ReturnValues:              types.ReturnValueUpdatedNew,
				})
				var ccf *types.ConditionalCheckFailedException
				if errors.As(err, &ccf) {
					mu.Lock()
					conflict++
					mu.Unlock()
					continue
				}
				if err != nil {
					t.Errorf("UpdateItem: %v", err)
					return
				}
				next := out.Attributes["leaseCounter"].(*types.AttributeValueMemberN).Value
				mu.Lock()
				if seen[next] {
					t.Errorf("counter value %s acknowledged twice", next)
				}
				seen[next] = true
				acked++
				mu.Unlock()
				done++
			}
		}()
	}
	wg.Wait()
	got, err := cb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("leases"), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	final := got.Item["leaseCounter"].(*types.AttributeValueMemberN).Value
	if final != strconv.Itoa(acked) || acked != workers*perWorker {
		t.Fatalf("counter = %s after %d acknowledged increments (want %d)", final, acked, workers*perWorker)
	}
	t.Logf("%d increments, %d conditional check failures", acked, conflict)
}
