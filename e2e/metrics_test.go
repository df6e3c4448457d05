package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// dashboardFile is the Grafana dashboard shipped with Sluice.
const dashboardFile = "../deploy/grafana/sluice.json"

// TestGrafanaDashboard checks the dashboard against a real server's
// /metrics: every expression names only metrics the server exports, and
// every sluice_ metric the server exports is on the dashboard. The server
// is driven through everything that makes a series appear: writes, reads,
// a fan-out feed, errors, throttles, a lease table.
func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--shard-limits", "aws", "--shard-metrics", "all")
	c := s.Client()
	ctx := ctxFor(t, commandTimeout)
	createStream(t, c, "m", 1)
	results := putRecords(t, c, "m", entries("a", 500))
	// A shard takes 1,000 records and 5 reads a second: write and read
	// until each is refused (however slow the machine).
	for throttled := false; !throttled; {
		out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("m"), Records: entries("b", 500)})
		if err != nil {
			t.Fatal(err)
		}
		throttled = aws.ToInt32(out.FailedRecordCount) > 0
	}
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("m"), ShardId: results[0].ShardId,
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(10)})
		var pte *types.ProvisionedThroughputExceededException
		if errors.As(err, &pte) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// A fan-out feed (the consumer is ACTIVE at once), read up to its first event.
	arn := registerConsumer(t, c, "m", "dash")
	feed, err := subscribeShard(ctx, fanOutClient(s, false), arn, aws.ToString(results[0].ShardId), types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	<-feed.Events()
	// A consumer group halfway through the records.
	ddb := s.DynamoDB()
	if _, err := ddb.CreateTable(ctx, leaseTableInput("dash-group")); err != nil {
		t.Fatal(err)
	}
	if _, err := ddb.PutItem(ctx, leaseItem("dash-group", aws.ToString(results[0].ShardId), aws.ToString(results[250].SequenceNumber))); err != nil {
		t.Fatal(err)
	}

	exported := scrapeNames(t, s.Endpoint)
	feed.Close()
	used := dashboardMetrics(t)
	for _, name := range used {
		if !exported[name] && onlyAfterEvents[name] == "" {
			t.Errorf("the dashboard uses %s, which the server does not export", name)
		}
	}
	for name := range exported {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if strings.HasPrefix(name, "sluice_") && !slices.Contains(used, name) && !slices.Contains(used, base+"_bucket") {
			t.Errorf("the server exports %s, which the dashboard does not show", name)
		}
	}
}

// onlyAfterEvents are metrics on the dashboard that have no series until
// something this test does not cause happens.
var onlyAfterEvents = map[string]string{
	"sluice_storage_full_refusals_total": "a write refused for want of disk space",
}

// scrapeNames returns the names of the series on a server's /metrics,
// histograms under their _bucket, _sum and _count names too.
func scrapeNames(t *testing.T, endpoint string) map[string]bool {
	t.Helper()
	resp, err := http.Get(endpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	names := map[string]bool{}
	for name, f := range families {
		if len(f.Metric) == 0 {
			continue
		}
		names[name] = true
		if f.GetType().String() == "HISTOGRAM" {
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		}
	}
	return names
}

// metricName matches the metric names of the dashboard's PromQL: Sluice's
// own and the Go runtime and process collectors'.
var metricName = regexp.MustCompile(`\b(?:sluice|process|go)_[a-zA-Z0-9_]+\b`)

// dashboardMetrics returns the metric names in every query of the
// dashboard: panel targets and template variables.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var names []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(k, e)
			}
		case []any:
			for _, e := range v {
				walk(key, e)
			}
		case string:
			if key == "expr" || key == "definition" || key == "query" {
				for _, n := range metricName.FindAllString(v, -1) {
					if !slices.Contains(names, n) {
						names = append(names, n)
					}
				}
			}
		}
	}
	walk("", dash)
	panels, _ := dash["panels"].([]any)
	for _, p := range panels {
		p := p.(map[string]any)
		if p["type"] == "row" {
			continue
		}
		targets, _ := p["targets"].([]any)
		if len(targets) == 0 {
			t.Errorf("panel %q has no query", p["title"])
		}
		for _, tg := range targets {
			if expr, _ := tg.(map[string]any)["expr"].(string); !metricName.MatchString(expr) {
				t.Errorf("panel %q: query %q names no metric", p["title"], expr)
			}
		}
	}
	if len(names) < 20 {
		t.Errorf("found only %d metric names in the dashboard: %v", len(names), names)
	}
	return names
}

func leaseTableInput(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("leaseKey"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("leaseKey"), KeyType: ddbtypes.KeyTypeHash}}}
}

func leaseItem(table, shard, checkpoint string) *dynamodb.PutItemInput {
	return &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{
		"leaseKey":   &ddbtypes.AttributeValueMemberS{Value: shard},
		"checkpoint": &ddbtypes.AttributeValueMemberS{Value: checkpoint},
	}}
}
