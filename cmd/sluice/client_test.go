package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantPos  []string
		wantKey  string
		wantVerb bool
	}{
		{"flags first", []string{"-v", "--partition-key", "k", "s", "a"}, []string{"s", "a"}, "k", true},
		{"flags after positionals", []string{"s", "a", "--partition-key=k", "b", "-v"}, []string{"s", "a", "b"}, "k", true},
		{"double dash ends flags", []string{"s", "--", "-v", "--partition-key"}, []string{"s", "-v", "--partition-key"}, "", false},
		{"single dash is positional", []string{"s", "-"}, []string{"s", "-"}, "", false},
		{"none", nil, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			key := fs.String("partition-key", "", "")
			verbose := fs.Bool("v", false, "")
			pos, err := parseInterspersed(fs, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pos, tt.wantPos) || *key != tt.wantKey || *verbose != tt.wantVerb {
				t.Errorf("got %q key=%q v=%v, want %q key=%q v=%v", pos, *key, *verbose, tt.wantPos, tt.wantKey, tt.wantVerb)
			}
		})
	}
	t.Run("unknown flag", func(t *testing.T) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		if _, err := parseInterspersed(fs, []string{"s", "--nope"}); err == nil {
			t.Error("want an error for an unknown flag")
		}
	})
	t.Run("help", func(t *testing.T) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		if _, err := parseInterspersed(fs, []string{"s", "--help"}); err != flag.ErrHelp {
			t.Errorf("got %v, want flag.ErrHelp", err)
		}
	})
}

func TestDefaultClientEndpoint(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{nil, "http://127.0.0.1:4567"},
		{map[string]string{"AWS_ENDPOINT_URL": "http://g"}, "http://g"},
		{map[string]string{"AWS_ENDPOINT_URL": "http://g", "AWS_ENDPOINT_URL_KINESIS": "http://k"}, "http://k"},
		{map[string]string{"AWS_ENDPOINT_URL_KINESIS": "http://k", "SLUICE_ENDPOINT": "http://s"}, "http://s"},
	}
	for _, tt := range tests {
		if got := defaultClientEndpoint(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("env %v: got %q, want %q", tt.env, got, tt.want)
		}
	}
}

func TestNormalizeEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"localhost:4567":        "http://localhost:4567",
		"https://kinesis.local": "https://kinesis.local",
		"aws":                   "aws",
		"AWS":                   "AWS",
	} {
		if got := normalizeEndpoint(in); got != want {
			t.Errorf("normalizeEndpoint(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCredentialsConfigured(t *testing.T) {
	tests := []struct {
		name    string
		sources []any
		want    bool
	}{
		{"nothing", []any{config.EnvConfig{}, config.SharedConfig{Profile: "default"}}, false},
		{"env keys", []any{config.EnvConfig{Credentials: aws.Credentials{AccessKeyID: "a", SecretAccessKey: "s"}}}, true},
		{"web identity", []any{config.EnvConfig{WebIdentityTokenFilePath: "/t"}}, true},
		{"container", []any{config.EnvConfig{ContainerCredentialsRelativePath: "/v2/creds"}}, true},
		{"profile keys", []any{config.EnvConfig{}, config.SharedConfig{Credentials: aws.Credentials{AccessKeyID: "a", SecretAccessKey: "s"}}}, true},
		{"profile sso", []any{config.SharedConfig{SSOSessionName: "corp"}}, true},
		{"profile process", []any{config.SharedConfig{CredentialProcess: "vault"}}, true},
		{"profile role", []any{config.SharedConfig{RoleARN: "arn:aws:iam::1:role/r", CredentialSource: "Ec2InstanceMetadata"}}, true},
	}
	for _, tt := range tests {
		if got := credentialsConfigured(tt.sources); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// isolateAWSConfig hides the machine's AWS configuration from the SDK.
func isolateAWSConfig(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL",
		"AWS_ENDPOINT_URL_KINESIS", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
}

func TestClientFlags_NewClient(t *testing.T) {
	isolateAWSConfig(t)
	ctx := context.Background()

	c := clientFlags{endpoint: "localhost:9"}
	client, err := c.newClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := client.Options()
	if got := aws.ToString(o.BaseEndpoint); got != "http://localhost:9" {
		t.Errorf("BaseEndpoint = %q, want http://localhost:9", got)
	}
	if o.Region != "us-east-1" {
		t.Errorf("Region = %q, want us-east-1", o.Region)
	}
	creds, err := o.Credentials.Retrieve(ctx)
	if err != nil || creds.AccessKeyID != "sluice" {
		t.Errorf("credentials = %v, %v; want the static fallback", creds, err)
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDREAL")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	c = clientFlags{endpoint: "http://localhost:9", region: "eu-west-1"}
	if client, err = c.newClient(ctx); err != nil {
		t.Fatal(err)
	}
	o = client.Options()
	if creds, _ := o.Credentials.Retrieve(ctx); creds.AccessKeyID != "AKIDREAL" {
		t.Errorf("AccessKeyID = %q, want the configured AKIDREAL", creds.AccessKeyID)
	}
	if o.Region != "eu-west-1" {
		t.Errorf("Region = %q, want eu-west-1", o.Region)
	}

	t.Setenv("AWS_ENDPOINT_URL", "http://elsewhere")
	c = clientFlags{endpoint: "aws"}
	if client, err = c.newClient(ctx); err != nil {
		t.Fatal(err)
	}
	if o := client.Options(); o.BaseEndpoint != nil {
		t.Errorf("BaseEndpoint = %q, want none with --endpoint aws", *o.BaseEndpoint)
	}
}

// TestRun_PutReachesEndpoint runs `sluice put` against a stub endpoint and
// checks what the SDK sends: target, stream, records and dummy credentials.
func TestRun_PutReachesEndpoint(t *testing.T) {
	isolateAWSConfig(t)
	type request struct {
		target, auth string
		body         map[string]any
	}
	reqs := make(chan request, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		reqs <- request{r.Header.Get("X-Amz-Target"), r.Header.Get("Authorization"), body}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		n := len(body["Records"].([]any))
		var results []string
		for i := range n {
			results = append(results, `{"ShardId":"shardId-000000000000","SequenceNumber":"`+string(rune('0'+i))+`"}`)
		}
		io.WriteString(w, `{"FailedRecordCount":0,"Records":[`+strings.Join(results, ",")+`]}`)
	}))
	defer srv.Close()

	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"put", "orders", "-v", "--endpoint", srv.URL, "--partition-key", "p", "a", "b"},
		strings.NewReader(""), &stdout, &stderr)
	if err != nil {
		t.Fatalf("put: %v\n%s", err, stderr.String())
	}
	if got, want := stdout.String(), "shardId-000000000000 0\nshardId-000000000000 1\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	r := <-reqs
	if r.target != "Kinesis_20131202.PutRecords" {
		t.Errorf("X-Amz-Target = %q", r.target)
	}
	if !strings.Contains(r.auth, "Credential=sluice/") || !strings.Contains(r.auth, "/us-east-1/kinesis/") {
		t.Errorf("Authorization = %q, want dummy credentials for us-east-1", r.auth)
	}
	if r.body["StreamName"] != "orders" {
		t.Errorf("StreamName = %v", r.body["StreamName"])
	}
	recs := r.body["Records"].([]any)
	first := recs[0].(map[string]any)
	if len(recs) != 2 || first["PartitionKey"] != "p" || first["Data"] != "YQ==" {
		t.Errorf("Records = %v", recs)
	}
}
