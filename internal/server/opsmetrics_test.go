package server_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/internal/jetstream"
	"github.com/sluicehq/sluice/internal/opsmetrics"
	"github.com/sluicehq/sluice/internal/server"
)

// openServer starts a server with the given shard-level metrics and
// returns its endpoint and an AWS config for it.
func openServer(t *testing.T, level opsmetrics.ShardLevel) (string, aws.Config) {
	t.Helper()
	srv, err := server.Open(t.Context(), server.Config{Store: jetstream.Config{DataDir: t.TempDir()}, ShardMetrics: level})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("x", "x", "")),
		config.WithBaseEndpoint(hs.URL))
	if err != nil {
		t.Fatal(err)
	}
	return hs.URL, cfg
}

func createAndFill(t *testing.T, kc *kinesis.Client, stream string, n int) []string {
	t.Helper()
	ctx := t.Context()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if err := kinesis.NewStreamExistsWaiter(kc).Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)}, 30e9); err != nil {
		t.Fatal(err)
	}
	var seqs []string
	for i := range n {
		out, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"), Data: fmt.Appendf(nil, "r%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	return seqs
}

// TestShardMetrics: with the default, shard-level series appear for a
// stream once EnableEnhancedMonitoring turns metrics on, and only those;
// with all, for every stream; with none, never. A deleted stream's go.
func TestShardMetrics(t *testing.T) {
	const shard = "shardId-000000000000"
	t.Run("enhanced", func(t *testing.T) {
		ep, cfg := openServer(t, "")
		kc := kinesis.NewFromConfig(cfg)
		createAndFill(t, kc, "plain", 3)
		createAndFill(t, kc, "em", 3)
		if _, err := kc.EnableEnhancedMonitoring(t.Context(), &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("em"),
			ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingRecords, types.MetricsNameIteratorAgeMilliseconds}}); err != nil {
			t.Fatal(err)
		}
		m := scrape(t, ep)
		want := map[string]float64{
			"sluice_shard_incoming_records_total{shard=" + shard + ",stream=em}": 3,
			"sluice_shard_iterator_age_seconds{shard=" + shard + ",stream=em}":   0,
		}
		for series, v := range want {
			if got, ok := m[series]; !ok || got != v {
				t.Errorf("%s = %v (present %v), want %v", series, got, ok, v)
			}
		}
		for series := range m {
			if strings.HasPrefix(series, "sluice_shard_") && want[series] == 0 && !strings.HasPrefix(series, "sluice_shard_iterator_age_seconds{") {
				t.Errorf("unexpected shard-level series %s", series)
			}
		}
		if m["sluice_storage_bytes{}"] <= 0 || m["sluice_storage_logs{}"] < 2 {
			t.Errorf("storage: %v bytes in %v logs, want some in at least the 2 shards' logs", m["sluice_storage_bytes{}"], m["sluice_storage_logs{}"])
		}
		if _, err := kc.DeleteStream(t.Context(), &kinesis.DeleteStreamInput{StreamName: aws.String("em")}); err != nil {
			t.Fatal(err)
		}
		for series := range scrape(t, ep) {
			if strings.Contains(series, "stream=em") {
				t.Errorf("after deleting the stream: %s", series)
			}
		}
	})
	t.Run("all", func(t *testing.T) {
		ep, cfg := openServer(t, opsmetrics.ShardLevelAll)
		createAndFill(t, kinesis.NewFromConfig(cfg), "plain", 2)
		m := scrape(t, ep)
		for _, name := range []string{"incoming_records_total", "incoming_bytes_total", "outgoing_records_total", "outgoing_bytes_total",
			"write_provisioned_throughput_exceeded_total", "read_provisioned_throughput_exceeded_total", "iterator_age_seconds"} {
			if _, ok := m["sluice_shard_"+name+"{shard="+shard+",stream=plain}"]; !ok {
				t.Errorf("no sluice_shard_%s for the stream", name)
			}
		}
		if got := m["sluice_shard_incoming_records_total{shard="+shard+",stream=plain}"]; got != 2 {
			t.Errorf("incoming records %v, want 2", got)
		}
	})
	t.Run("none", func(t *testing.T) {
		ep, cfg := openServer(t, opsmetrics.ShardLevelNone)
		kc := kinesis.NewFromConfig(cfg)
		createAndFill(t, kc, "em", 1)
		if _, err := kc.EnableEnhancedMonitoring(t.Context(), &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("em"),
			ShardLevelMetrics: []types.MetricsName{types.MetricsNameAll}}); err != nil {
			t.Fatal(err)
		}
		for series := range scrape(t, ep) {
			if strings.HasPrefix(series, "sluice_shard_") {
				t.Errorf("unexpected %s", series)
			}
		}
	})
}

// TestConsumerGroupMetrics writes a lease table as the KCL would and reads
// each lease's lag: records after the checkpoint and the age of the oldest.
func TestConsumerGroupMetrics(t *testing.T) {
	ep, cfg := openServer(t, "")
	ctx := context.Background()
	seqs := createAndFill(t, kinesis.NewFromConfig(cfg), "s", 10)
	createAndFill(t, kinesis.NewFromConfig(cfg), "done", 2)
	ddb := dynamodb.NewFromConfig(cfg)
	for _, table := range []string{"behind", "caught-up", "not-a-lease-table"} {
		key := "leaseKey"
		if table == "not-a-lease-table" {
			key = "id"
		}
		if _, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: ddbtypes.BillingModePayPerRequest,
			AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String(key), AttributeType: ddbtypes.ScalarAttributeTypeS}},
			KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String(key), KeyType: ddbtypes.KeyTypeHash}}}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(table, key, checkpoint string) {
		t.Helper()
		if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{
			"leaseKey":   &ddbtypes.AttributeValueMemberS{Value: key},
			"checkpoint": &ddbtypes.AttributeValueMemberS{Value: checkpoint},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	put("behind", "shardId-000000000000", seqs[2]) // 7 records after it
	put("caught-up", "shardId-000000000000", seqs[9])
	put("caught-up", "shardId-000000000009", "TRIM_HORIZON") // names no record: no series
	m := scrape(t, ep)
	const s0 = "shard=shardId-000000000000,stream=s"
	if got := m["sluice_consumer_group_records_behind{group=behind,"+s0+"}"]; got != 7 {
		t.Errorf("records behind %v, want 7", got)
	}
	if got, ok := m["sluice_consumer_group_lag_seconds{group=behind,"+s0+"}"]; !ok || got < 0 {
		t.Errorf("lag %v (present %v), want the age of the 4th record", got, ok)
	}
	if got, ok := m["sluice_consumer_group_records_behind{group=caught-up,"+s0+"}"]; !ok || got != 0 {
		t.Errorf("caught up: %v (present %v), want 0", got, ok)
	}
	if got, ok := m["sluice_consumer_group_lag_seconds{group=caught-up,"+s0+"}"]; !ok || got != 0 {
		t.Errorf("caught up: lag %v (present %v), want 0", got, ok)
	}
	n := 0
	for series := range m {
		if strings.HasPrefix(series, "sluice_consumer_group_") {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d consumer group series, want 4 (2 leases × 2)", n)
	}
	if m["sluice_metrics_scrape_failed{part=consumer_groups}"] != 0 || m["sluice_metrics_scrape_failed{part=storage}"] != 0 {
		t.Errorf("a part of the scrape failed: %v", m)
	}
}
