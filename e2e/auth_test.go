package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/fxamacker/cbor/v2"
)

// The credentials of the authenticating server: the root user, a writer
// allowed to put into and describe the orders streams, and an app allowed
// its lease table.
const authCredentials = `{"principals": [
  {"arn": "arn:aws:iam::000000000000:root",
   "accessKeys": [{"accessKeyId": "AKIDROOTE2E", "secretAccessKey": "root-secret-e2e"}]},
  {"arn": "arn:aws:iam::000000000000:user/writer",
   "accessKeys": [{"accessKeyId": "AKIDWRITERE2E", "secretAccessKey": "writer-secret-e2e"}],
   "policies": [{"Version": "2012-10-17", "Statement": [
     {"Effect": "Allow", "Action": ["kinesis:PutRecord*", "kinesis:Describe*", "kinesis:ListShards"], "Resource": "arn:aws:kinesis:*:000000000000:stream/orders*"},
     {"Effect": "Allow", "Action": "kinesis:PutRecord", "Resource": "arn:aws:kinesis:*:000000000000:stream/js-orders-*"},
     {"Effect": "Allow", "Action": "kinesis:ListStreams", "Resource": "*"}]}]},
  {"arn": "arn:aws:iam::000000000000:user/app",
   "accessKeys": [{"accessKeyId": "AKIDAPPE2E", "secretAccessKey": "app-secret-e2e"}],
   "policies": [{"Version": "2012-10-17", "Statement": [
     {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:us-east-1:000000000000:table/app-leases"}]}]}
]}`

var (
	rootKey   = aws.Credentials{AccessKeyID: "AKIDROOTE2E", SecretAccessKey: "root-secret-e2e"}
	writerKey = aws.Credentials{AccessKeyID: "AKIDWRITERE2E", SecretAccessKey: "writer-secret-e2e"}
	appKey    = aws.Credentials{AccessKeyID: "AKIDAPPE2E", SecretAccessKey: "app-secret-e2e"}
)

// startAuthServer starts a server with --credentials and returns it and
// the credentials file (which tests may rewrite to reload).
func startAuthServer(t *testing.T, args ...string) (*server, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "credentials.json")
	if err := os.WriteFile(file, []byte(authCredentials), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServer(t, append([]string{"--credentials", file}, args...)...), file
}

// clientAs is a Kinesis client of s signing with creds.
func clientAs(s *server, creds aws.Credentials, optFns ...func(*kinesis.Options)) *kinesis.Client {
	return s.Client(append([]func(*kinesis.Options){func(o *kinesis.Options) {
		o.Credentials = credentials.StaticCredentialsProvider{Value: creds}
	}}, optFns...)...)
}

// skewedSigner signs as the SDK does with a clock off by offset.
type skewedSigner struct{ offset time.Duration }

func (s skewedSigner) SignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, t time.Time, opts ...func(*v4.SignerOptions)) error {
	return v4.NewSigner().SignHTTP(ctx, creds, r, payloadHash, service, region, t.Add(s.offset), opts...)
}

// tamperBody changes the request body after the SDK signed it.
type tamperBody struct{ next http.RoundTripper }

func (t tamperBody) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	body = bytes.Replace(body, []byte(`"PartitionKey":"k"`), []byte(`"PartitionKey":"x"`), 1)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return t.next.RoundTrip(r)
}

// wantAPIError fails unless err is an AWS error with code and a message
// starting with msg.
func wantAPIError(t *testing.T, what string, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code || !strings.HasPrefix(ae.ErrorMessage(), msg) {
		t.Errorf("%s: got %v, want %s %q", what, err, code, msg)
	}
}

func TestAuth_Signatures(t *testing.T) {
	t.Parallel()
	s, _ := startAuthServer(t)
	root := clientAs(s, rootKey)
	createStream(t, root, "orders", 1)
	put := func(c *kinesis.Client) error {
		_, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String("orders"), PartitionKey: aws.String("k"), Data: []byte("x")})
		return err
	}
	if err := put(root); err != nil {
		t.Fatalf("right key: %v", err)
	}
	if err := put(clientAs(s, writerKey, func(o *kinesis.Options) { o.HTTPSignerV4 = skewedSigner{4 * time.Minute} })); err != nil {
		t.Fatalf("4 minutes of skew: %v", err)
	}
	wantAPIError(t, "wrong secret", put(clientAs(s, aws.Credentials{AccessKeyID: "AKIDROOTE2E", SecretAccessKey: "guess"})),
		"InvalidSignatureException", "The request signature we calculated does not match the signature you provided.")
	wantAPIError(t, "unknown key", put(clientAs(s, aws.Credentials{AccessKeyID: "AKIDNOBODY", SecretAccessKey: "x"})),
		"UnrecognizedClientException", "The security token included in the request is invalid.")
	wantAPIError(t, "anonymous", put(s.Client()), // the harness's dummy key
		"UnrecognizedClientException", "The security token included in the request is invalid.")
	tampered := clientAs(s, rootKey, func(o *kinesis.Options) {
		o.HTTPClient = &http.Client{Transport: tamperBody{http.DefaultTransport}}
	})
	wantAPIError(t, "body changed after signing", put(tampered), "InvalidSignatureException", "The request signature we calculated does not match")
	wantAPIError(t, "stale X-Amz-Date", put(clientAs(s, rootKey, func(o *kinesis.Options) { o.HTTPSignerV4 = skewedSigner{-48 * time.Hour} })),
		"InvalidSignatureException", "Signature expired: ")
	wantAPIError(t, "future X-Amz-Date", put(clientAs(s, rootKey, func(o *kinesis.Options) { o.HTTPSignerV4 = skewedSigner{365 * 24 * time.Hour} })),
		"InvalidSignatureException", "Signature not yet current: ")

	// Presigned query parameters with garbage values, and none at all.
	post := func(query string) rawResponse {
		return s.post(t, "PutRecord", `{"StreamName":"orders","PartitionKey":"k","Data":"eA=="}`, func(r *http.Request) {
			r.Header.Del("Authorization")
			r.URL.RawQuery = query
		})
	}
	for query, want := range map[string]string{
		"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDROOTE2E/20260101/us-east-1/kinesis/aws4_request&X-Amz-Signature=" + strings.Repeat("0", 64) + "&X-Amz-SignedHeaders=host&X-Amz-Date=" + time.Now().UTC().Format("20060102T150405Z"): "InvalidSignatureException",
		"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=garbage&X-Amz-Signature=garbage&X-Amz-SignedHeaders=garbage&X-Amz-Date=garbage":                                                                                                         "IncompleteSignatureException",
		"": "MissingAuthenticationTokenException",
	} {
		if r := post(query); r.status != 400 || r.errType != want {
			t.Errorf("presigned %q: %d %s %s, want 400 %s", query, r.status, r.errType, r.message, want)
		}
	}
	// The records that were refused were not stored.
	if recs := readShard(t, root, "orders", "shardId-000000000000"); len(recs) != 2 {
		t.Errorf("%d records stored, want 2", len(recs))
	}
}

func TestAuth_Policies(t *testing.T) {
	t.Parallel()
	s, _ := startAuthServer(t)
	root, writer := clientAs(s, rootKey), clientAs(s, writerKey)
	createStream(t, root, "orders", 1)
	createStream(t, root, "payroll", 2)
	ctx := t.Context()

	// Allowed and denied by the writer's identity policy.
	if _, err := writer.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"), PartitionKey: aws.String("k"), Data: []byte("w")}); err != nil {
		t.Fatalf("writer PutRecord: %v", err)
	}
	if _, err := writer.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("orders"),
		Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("w")}}}); err != nil {
		t.Fatalf("writer PutRecords: %v", err)
	}
	if _, err := writer.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("orders")}); err != nil {
		t.Fatalf("writer DescribeStreamSummary: %v", err)
	}
	if _, err := writer.ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("writer ListStreams: %v", err)
	}
	_, err := writer.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("payroll"), PartitionKey: aws.String("k"), Data: []byte("w")})
	wantAPIError(t, "writer PutRecord payroll", err, "AccessDeniedException",
		"User: arn:aws:iam::000000000000:user/writer is not authorized to perform: kinesis:PutRecord on resource: arn:aws:kinesis:us-east-1:000000000000:stream/payroll because no identity-based policy allows the kinesis:PutRecord action")
	_, err = writer.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("orders")})
	wantAPIError(t, "writer DeleteStream", err, "AccessDeniedException",
		"User: arn:aws:iam::000000000000:user/writer is not authorized to perform: kinesis:DeleteStream on resource: arn:aws:kinesis:us-east-1:000000000000:stream/orders because no identity-based policy allows the kinesis:DeleteStream action")
	_, err = writer.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("orders"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	wantAPIError(t, "writer GetShardIterator", err, "AccessDeniedException", "User: arn:aws:iam::000000000000:user/writer is not authorized to perform: kinesis:GetShardIterator")
	// GetRecords is authorized on the iterator's stream.
	it := iterator(t, root, "orders", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon)
	_, err = writer.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
	wantAPIError(t, "writer GetRecords", err, "AccessDeniedException",
		"User: arn:aws:iam::000000000000:user/writer is not authorized to perform: kinesis:GetRecords on resource: arn:aws:kinesis:us-east-1:000000000000:stream/orders")
	// So is a later page of ListShards, on the stream its token names.
	page, err := root.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("payroll"), MaxResults: aws.Int32(1)})
	if err != nil || page.NextToken == nil {
		t.Fatalf("ListShards: %v", err)
	}
	_, err = writer.ListShards(ctx, &kinesis.ListShardsInput{NextToken: page.NextToken})
	wantAPIError(t, "writer ListShards page", err, "AccessDeniedException",
		"User: arn:aws:iam::000000000000:user/writer is not authorized to perform: kinesis:ListShards on resource: arn:aws:kinesis:us-east-1:000000000000:stream/payroll")
	// A stream that does not exist is refused before it is looked for.
	_, err = writer.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("nope")})
	wantAPIError(t, "writer DescribeStreamSummary nope", err, "AccessDeniedException", "User: arn:aws:iam::000000000000:user/writer")
	_, err = writer.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("orders-missing")})
	wantAPIError(t, "writer DescribeStreamSummary orders-missing", err, "ResourceNotFoundException", "Stream orders-missing under account 000000000000 not found.")

	// A resource policy denying everyone binds the root user too.
	deny := `{"Version":"2012-10-17","Statement":[{"Sid":"freeze","Effect":"Deny","Principal":"*",
		"Action":["kinesis:PutRecord","kinesis:PutRecords","kinesis:GetRecords","kinesis:DeleteStream"],"Resource":"*"}]}`
	if _, err := root.PutResourcePolicy(ctx, &kinesis.PutResourcePolicyInput{ResourceARN: aws.String(streamARNOf("orders")), Policy: aws.String(deny)}); err != nil {
		t.Fatalf("PutResourcePolicy: %v", err)
	}
	for name, c := range map[string]*kinesis.Client{"root": root, "writer": writer} {
		_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"), PartitionKey: aws.String("k"), Data: []byte("no")})
		wantAPIError(t, name+" PutRecord under Deny", err, "AccessDeniedException", "")
		if err != nil && !strings.HasSuffix(err.Error(), "with an explicit deny in a resource-based policy") {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err = root.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("orders")})
	wantAPIError(t, "root DeleteStream under Deny", err, "AccessDeniedException",
		"User: arn:aws:iam::000000000000:root is not authorized to perform: kinesis:DeleteStream on resource: arn:aws:kinesis:us-east-1:000000000000:stream/orders with an explicit deny in a resource-based policy")
	_, err = root.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
	wantAPIError(t, "root GetRecords under Deny", err, "AccessDeniedException", "User: arn:aws:iam::000000000000:root")
	if _, err := root.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("orders")}); err != nil {
		t.Errorf("DescribeStreamSummary is not denied: %v", err)
	}
	// A policy this server could not enforce is not stored.
	_, err = root.PutResourcePolicy(ctx, &kinesis.PutResourcePolicyInput{ResourceARN: aws.String(streamARNOf("orders")),
		Policy: aws.String(`{"Statement":[{"Effect":"Deny","Principal":"*","Action":"kinesis:*","Condition":{"StringSorta":{"aws:x":"y"}}}]}`)})
	wantAPIError(t, "unenforceable policy", err, "InvalidArgumentException", "Policy is not a valid policy document")
	// The root user can always lift a policy.
	if _, err := root.DeleteResourcePolicy(ctx, &kinesis.DeleteResourcePolicyInput{ResourceARN: aws.String(streamARNOf("orders"))}); err != nil {
		t.Fatalf("DeleteResourcePolicy: %v", err)
	}
	if _, err := root.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"), PartitionKey: aws.String("k"), Data: []byte("yes")}); err != nil {
		t.Fatalf("PutRecord after the policy went: %v", err)
	}
	if recs := readShard(t, root, "orders", "shardId-000000000000"); len(recs) != 3 {
		t.Errorf("%d records stored, want 3", len(recs))
	}

	// Enhanced fan-out: SubscribeToShard is authorized on the consumer.
	arn := registerConsumer(t, root, "orders", "app") // ACTIVE at once: no --consumer-create-delay
	es := mustSubscribe(t, root, arn, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	if e := nextEvent(t, es); e == nil || len(e.Records) == 0 {
		t.Fatalf("root's subscription got %+v", e)
	}
	_, err = subscribeShard(ctx, writer, arn, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	wantAPIError(t, "writer SubscribeToShard", err, "AccessDeniedException",
		"User: arn:aws:iam::000000000000:user/writer is not authorized to perform: kinesis:SubscribeToShard on resource: "+arn)

	// The audit log has the denials and the control-plane calls; no log
	// line has a secret or a signature.
	logs := s.proc.stderr.String()
	for _, want := range []string{
		`msg=audit component=audit principal=arn:aws:iam::000000000000:user/writer access_key_id=AKIDWRITERE2E action=kinesis:DeleteStream resource=arn:aws:kinesis:us-east-1:000000000000:stream/orders outcome=AccessDeniedException`,
		`msg=audit component=audit principal=arn:aws:iam::000000000000:root access_key_id=AKIDROOTE2E action=kinesis:PutResourcePolicy resource=arn:aws:kinesis:us-east-1:000000000000:stream/orders outcome=allowed source_ip=127.0.0.1`,
		`action=kinesis:PutRecord resource=arn:aws:kinesis:us-east-1:000000000000:stream/orders outcome=AccessDeniedException reason="with an explicit deny in a resource-based policy" source_ip=127.0.0.1`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
	checkNoSecrets(t, logs)
}

func checkNoSecrets(t *testing.T, logs string) {
	t.Helper()
	for _, secret := range []string{"root-secret-e2e", "writer-secret-e2e", "app-secret-e2e", "Signature=", "Authorization="} {
		if strings.Contains(logs, secret) {
			t.Errorf("the server's log holds %q", secret)
		}
	}
}

func TestAuth_DynamoDB(t *testing.T) {
	t.Parallel()
	s, _ := startAuthServer(t)
	ddb := func(creds aws.Credentials) *dynamodb.Client {
		return dynamodb.New(s.DynamoDB().Options(), func(o *dynamodb.Options) { o.Credentials = credentials.StaticCredentialsProvider{Value: creds} })
	}
	app, ctx := ddb(appKey), t.Context()
	create := func(c *dynamodb.Client, table string) error {
		_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            aws.String(table),
			KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("leaseKey"), KeyType: ddbtypes.KeyTypeHash}},
			AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("leaseKey"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
			BillingMode:          ddbtypes.BillingModePayPerRequest,
		})
		return err
	}
	if err := create(app, "app-leases"); err != nil {
		t.Fatalf("app CreateTable app-leases: %v", err)
	}
	if _, err := app.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("app-leases"),
		Item: map[string]ddbtypes.AttributeValue{"leaseKey": &ddbtypes.AttributeValueMemberS{Value: "shardId-0"}}}); err != nil {
		t.Fatalf("app PutItem: %v", err)
	}
	wantAPIError(t, "app CreateTable other", create(app, "other"), "AccessDeniedException",
		"User: arn:aws:iam::000000000000:user/app is not authorized to perform: dynamodb:CreateTable on resource: arn:aws:dynamodb:us-east-1:000000000000:table/other because no identity-based policy allows the dynamodb:CreateTable action")
	_, err := app.ListTables(ctx, &dynamodb.ListTablesInput{})
	wantAPIError(t, "app ListTables", err, "AccessDeniedException", "User: arn:aws:iam::000000000000:user/app is not authorized to perform: dynamodb:ListTables because")
	_, err = ddb(aws.Credentials{AccessKeyID: "AKIDAPPE2E", SecretAccessKey: "guess"}).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("app-leases"),
		Key: map[string]ddbtypes.AttributeValue{"leaseKey": &ddbtypes.AttributeValueMemberS{Value: "shardId-0"}}})
	wantAPIError(t, "wrong secret", err, "InvalidSignatureException", "The request signature we calculated does not match")
	// The root user may do anything.
	if err := create(ddb(rootKey), "other"); err != nil {
		t.Fatalf("root CreateTable: %v", err)
	}
	checkNoSecrets(t, s.proc.stderr.String())
}

// /metrics and the profiles need the same credentials; the Host header
// must name the server.
func TestAuth_OperationalSurfaces(t *testing.T) {
	t.Parallel()
	s, _ := startAuthServer(t, "--pprof")
	get := func(path string, prep func(*http.Request)) (int, string) {
		r, _ := http.NewRequest(http.MethodGet, s.Endpoint+path, nil)
		if prep != nil {
			prep(r)
		}
		resp, err := s.http.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if code, _ := get(path, nil); code != 401 {
			t.Errorf("%s without credentials: %d", path, code)
		}
		if code, _ := get(path, func(r *http.Request) { r.SetBasicAuth("AKIDWRITERE2E", "writer-secret-e2e") }); code != 403 {
			t.Errorf("%s as the writer: %d", path, code)
		}
		if code, body := get(path, func(r *http.Request) { r.SetBasicAuth("AKIDROOTE2E", "root-secret-e2e") }); code != 200 || body == "" {
			t.Errorf("%s as root: %d", path, code)
		}
	}
	// A browser is sent to the sign-in form.
	code, body := get("/metrics", func(r *http.Request) { r.Header.Set("Accept", "text/html") })
	if code != 200 || !strings.Contains(body, "secret_access_key") {
		t.Errorf("browser: %d %.200s", code, body)
	}
	// DNS rebinding: a name that is not the server's.
	code, _ = get("/", func(r *http.Request) { r.Host = "rebind.attacker.example:" + strings.Split(s.addr, ":")[1] })
	if code != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %d", code)
	}
	code, _ = get("/metrics", func(r *http.Request) {
		r.Host = "localhost:" + strings.Split(s.addr, ":")[1]
		r.SetBasicAuth("AKIDROOTE2E", "root-secret-e2e")
	})
	if code != 200 {
		t.Errorf("Host localhost: %d", code)
	}
}

// The credentials file is read again on SIGHUP: a key added works, a key
// removed stops working, without a restart.
func TestAuth_Reload(t *testing.T) {
	t.Parallel()
	s, file := startAuthServer(t)
	newKey := aws.Credentials{AccessKeyID: "AKIDNEWE2E", SecretAccessKey: "new-secret-e2e"}
	_, err := clientAs(s, newKey).ListStreams(t.Context(), &kinesis.ListStreamsInput{})
	wantAPIError(t, "before", err, "UnrecognizedClientException", "")
	updated := strings.Replace(authCredentials, `"AKIDWRITERE2E", "secretAccessKey": "writer-secret-e2e"`, `"AKIDNEWE2E", "secretAccessKey": "new-secret-e2e"`, 1)
	if err := os.WriteFile(file, []byte(updated), 0o600); err != nil {
		t.Fatal(err)
	}
	reloads := strings.Count(s.proc.stderr.String(), "credentials reloaded")
	s.proc.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(s.proc.stderr.String(), "credentials reloaded") == reloads {
		if time.Now().After(deadline) {
			t.Fatalf("no reload after SIGHUP; stderr:\n%s", s.proc.stderr.Tail(4<<10))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := clientAs(s, newKey).ListStreams(t.Context(), &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("new key after reload: %v", err)
	}
	_, err = clientAs(s, writerKey).ListStreams(t.Context(), &kinesis.ListStreamsInput{})
	wantAPIError(t, "removed key after reload", err, "UnrecognizedClientException", "")

	// A file that no longer parses keeps the credentials in use.
	if err := os.WriteFile(file, []byte(`{"principals": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	s.proc.cmd.Process.Signal(syscall.SIGHUP)
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(s.proc.stderr.String(), "credentials not reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no error after a broken file; stderr:\n%s", s.proc.stderr.Tail(4<<10))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := clientAs(s, newKey).ListStreams(t.Context(), &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("after a broken file: %v", err)
	}
}

// The AWS CLI (botocore's signer, another implementation than the Go
// SDK's) against an authenticating server: the right key works, a wrong
// one gets AWS's error, a denied call AWS's words.
func TestAuth_AWSCLI(t *testing.T) {
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		missingTool(t, "the aws CLI", ".ci/run installs Debian's awscli")
	}
	t.Parallel()
	s, _ := startAuthServer(t)
	env := func(creds aws.Credentials) []string {
		var out []string
		for _, kv := range cliEnv(t) {
			if !strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") && !strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") {
				out = append(out, kv)
			}
		}
		return append(out, "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey)
	}
	cli := func(creds aws.Credentials, args ...string) (string, error) {
		stdout, stderr, err := tryCmd(t, env(creds), "", awsBin, append([]string{"--endpoint-url", s.Endpoint, "--output", "json", "kinesis"}, args...)...)
		return stdout + stderr, err
	}
	if out, err := cli(rootKey, "create-stream", "--stream-name", "cli", "--shard-count", "1"); err != nil {
		t.Fatalf("create-stream as root: %v\n%s", err, out)
	}
	if out, err := cli(rootKey, "describe-stream-summary", "--stream-name", "cli"); err != nil || !strings.Contains(out, `"StreamName": "cli"`) {
		t.Fatalf("describe-stream-summary as root: %v\n%s", err, out)
	}
	out, err := cli(aws.Credentials{AccessKeyID: rootKey.AccessKeyID, SecretAccessKey: "guess"}, "list-streams")
	if err == nil || !strings.Contains(out, "InvalidSignatureException") || !strings.Contains(out, "The request signature we calculated does not match") {
		t.Errorf("wrong secret: %v\n%s", err, out)
	}
	out, err = cli(writerKey, "delete-stream", "--stream-name", "cli")
	if err == nil || !strings.Contains(out, "AccessDeniedException") ||
		!strings.Contains(out, "User: arn:aws:iam::000000000000:user/writer is not authorized to perform: kinesis:DeleteStream on resource: arn:aws:kinesis:us-east-1:000000000000:stream/cli") {
		t.Errorf("writer delete-stream: %v\n%s", err, out)
	}
}

// CBOR requests, as the Java SDK and the KCL send them, are verified the
// same way; UNSIGNED-PAYLOAD (which the Java SDK may send over TLS) is
// accepted; errors come back in CBOR.
func TestAuth_CBOR(t *testing.T) {
	t.Parallel()
	s, _ := startAuthServer(t)
	createStream(t, clientAs(s, rootKey), "orders-java", 1)
	send := func(creds aws.Credentials, payloadHash func([]byte) string, tamper bool) (int, map[string]any) {
		body, err := cbor.Marshal(map[string]any{"StreamName": "orders-java", "PartitionKey": "k", "Data": []byte{0, 1, 2}})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.Endpoint+"/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-amz-cbor-1.1")
		r.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecord")
		hash := payloadHash(body)
		if hash == "UNSIGNED-PAYLOAD" {
			r.Header.Set("X-Amz-Content-Sha256", hash)
		}
		if err := v4.NewSigner().SignHTTP(t.Context(), creds, r, hash, "kinesis", testRegion, time.Now()); err != nil {
			t.Fatal(err)
		}
		if tamper {
			body[len(body)-1] ^= 1
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := s.http.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(resp.Body)
		if err := cbor.Unmarshal(b, &out); err != nil {
			t.Fatalf("answer %x is not CBOR: %v", b, err)
		}
		return resp.StatusCode, out
	}
	sha := func(b []byte) string { sum := sha256.Sum256(b); return hex.EncodeToString(sum[:]) }
	unsigned := func([]byte) string { return "UNSIGNED-PAYLOAD" }
	if code, out := send(rootKey, sha, false); code != 200 || out["SequenceNumber"] == nil {
		t.Fatalf("signed CBOR: %d %v", code, out)
	}
	if code, out := send(rootKey, unsigned, false); code != 200 {
		t.Fatalf("UNSIGNED-PAYLOAD: %d %v", code, out)
	}
	if code, out := send(rootKey, sha, true); code != 400 || out["__type"] != "InvalidSignatureException" {
		t.Fatalf("CBOR body changed after signing: %d %v", code, out)
	}
	if code, out := send(writerKey, sha, false); code != 200 {
		t.Fatalf("writer: %d %v", code, out)
	}
	if code, out := send(appKey, sha, false); code != 400 || out["__type"] != "AccessDeniedException" ||
		!strings.HasPrefix(out["message"].(string), "User: arn:aws:iam::000000000000:user/app is not authorized to perform: kinesis:PutRecord") {
		t.Fatalf("app: %d %v", code, out)
	}
}

// The JavaScript SDK v3 (its own signer, over HTTP/2) against an
// authenticating server, on h2c and on TLS: e2e/sdk/jsauth.
func TestAuth_JavaScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		missingTool(t, "node", ".ci/run installs Node.js")
	}
	if _, err := os.Stat(filepath.Join("..", "testdata", "node", "node_modules", "@aws-sdk", "client-kinesis")); err != nil {
		missingTool(t, "the JavaScript SDK in testdata/node", "run `npm ci --prefix testdata/node` (.ci/run does)")
	}
	t.Parallel()
	tlsAddr := freeAddr(t)
	s, _ := startAuthServer(t, "--tls-self-signed", "--tls-addr", tlsAddr)
	for _, run := range []struct {
		name string
		env  []string
	}{
		{"h2c", []string{"SLUICE_ENDPOINT=" + s.Endpoint}},
		{"tls", []string{"SLUICE_ENDPOINT=https://" + tlsAddr, "NODE_EXTRA_CA_CERTS=" + filepath.Join(s.dataDir, "tls-cert.pem")}},
	} {
		t.Run(run.name, func(t *testing.T) {
			env := append(run.env, "NO_COLOR=1", "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true",
				"SLUICE_ROOT_KEY="+rootKey.AccessKeyID+":"+rootKey.SecretAccessKey,
				"SLUICE_WRITER_KEY="+writerKey.AccessKeyID+":"+writerKey.SecretAccessKey)
			out := runSuite(t, env, node, "--test", "--test-reporter=spec", filepath.Join("sdk", "jsauth")+string(filepath.Separator))
			if m := regexp.MustCompile(`(?m)^\S*\s*pass (\d+)`).FindStringSubmatch(out); m == nil || m[1] == "0" {
				t.Fatalf("node ran no passing test; output:\n%s", out)
			}
		})
	}
	checkNoSecrets(t, s.proc.stderr.String())
}

// The console behind credentials: a browser is sent to the sign-in form,
// signs in, reads the console, and its actions are authorized as the
// Kinesis action for whoever signed in.
func TestAuth_Console(t *testing.T) {
	t.Parallel()
	s, _ := startAuthServer(t)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: requestTimeout}
	do := func(method, path, body string, header ...string) (int, string) {
		r, _ := http.NewRequestWithContext(t.Context(), method, s.Endpoint+path, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		resp, err := browser.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// GET / from a browser: to the console, then to the sign-in form.
	if code, body := do(http.MethodGet, "/", "", "Accept", "text/html"); code != 200 || !strings.Contains(body, `name="secret_access_key"`) {
		t.Fatalf("GET / without a session: %d %.300s", code, body)
	}
	// The console's own script, its session gone: 401, no Basic dialog.
	if code, _ := do(http.MethodGet, "/console/api/overview", "", "Sec-Fetch-Mode", "cors"); code != 401 {
		t.Fatalf("overview without a session: %d", code)
	}
	// Signing in sets the session and follows on to the console.
	signIn := func(creds aws.Credentials) (int, string) {
		form := url.Values{"access_key_id": {creds.AccessKeyID}, "secret_access_key": {creds.SecretAccessKey}, "next": {"/console/"}}
		return do(http.MethodPost, "/auth/login", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
	}
	if code, body := signIn(aws.Credentials{AccessKeyID: rootKey.AccessKeyID, SecretAccessKey: "guess"}); code != 401 || !strings.Contains(body, "secret_access_key") {
		t.Fatalf("sign in with a wrong secret: %d %.300s", code, body)
	}
	// The writer may not view the console at all.
	if code, body := signIn(writerKey); code != 403 || !strings.Contains(body, "sluice:ViewConsole") {
		t.Fatalf("writer signs in: %d %.300s", code, body)
	}
	if code, body := do(http.MethodGet, "/console/api/overview", ""); code != 403 || !strings.Contains(body, "sluice:ViewConsole") {
		t.Fatalf("writer's overview: %d %s", code, body)
	}
	// The root user may, and may act.
	if code, body := signIn(rootKey); code != 200 || strings.Contains(body, "secret_access_key") {
		t.Fatalf("root signs in: %d %.300s", code, body)
	}
	if code, body := do(http.MethodGet, "/console/api/overview", ""); code != 200 {
		t.Fatalf("root's overview: %d %s", code, body)
	}
	create := `{"name":"orders-console","shards":1}`
	if code, body := do(http.MethodPost, "/console/api/streams", create, "Content-Type", "application/json", "X-Sluice-Console", "1"); code != 200 {
		t.Fatalf("root creates a stream in the console: %d %s", code, body)
	}
	// A resource policy's Deny binds the console's actions too.
	deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"kinesis:DeleteStream","Resource":"*"}]}`
	if _, err := clientAs(s, rootKey).PutResourcePolicy(t.Context(), &kinesis.PutResourcePolicyInput{
		ResourceARN: aws.String(streamARNOf("orders-console")), Policy: aws.String(deny)}); err != nil {
		t.Fatal(err)
	}
	code, body := do(http.MethodPost, "/console/api/streams/orders-console/delete", `{}`, "Content-Type", "application/json", "X-Sluice-Console", "1")
	if code != 400 || !strings.Contains(body, "AccessDeniedException") || !strings.Contains(body, "with an explicit deny in a resource-based policy") {
		t.Fatalf("console delete under a Deny: %d %s", code, body)
	}
	checkNoSecrets(t, s.proc.stderr.String())
}
