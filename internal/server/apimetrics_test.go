package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluicehq/sluice/sluicetest"
)

// scrape reads a server's /metrics into series: "name{l1=v1,l2=v2}" (labels
// sorted) to value, histograms by their count.
func scrape(t *testing.T, endpoint string) map[string]float64 {
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
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			key := name + "{" + strings.Join(labels, ",") + "}"
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.Counter.GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.Gauge.GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

// TestAPIMetrics drives both APIs through a real server and reads the
// request, error and duration series, and checks that a deleted stream's
// series go with it.
func TestAPIMetrics(t *testing.T) {
	srv := sluicetest.Start(t)
	ctx := context.Background()
	kc := srv.Kinesis()
	srv.CreateStream(ctx, "s", 1)
	for range 3 {
		if _, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"),
			Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("x")}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("nosuch")}); err == nil {
		t.Fatal("DescribeStreamSummary of a missing stream succeeded")
	}
	ddb := dynamodb.NewFromConfig(srv.AWSConfig())
	if _, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("nosuch")}); err == nil {
		t.Fatal("DescribeTable of a missing table succeeded")
	}
	// Targets no API has share one "unknown" series per API.
	for _, target := range []string{"Kinesis_20131202.Frobnicate", "Kinesis_20131202.Other", "DynamoDB_20120810.Frobnicate", "Something.Else"} {
		req, _ := http.NewRequest(http.MethodPost, srv.Endpoint(), strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	m := scrape(t, srv.Endpoint())
	for series, want := range map[string]float64{
		`sluice_api_requests_total{api=kinesis,operation=PutRecords}`:                                          3,
		`sluice_api_request_duration_seconds{api=kinesis,operation=PutRecords}`:                                3,
		`sluice_api_requests_total{api=kinesis,operation=DescribeStreamSummary}`:                               1,
		`sluice_api_errors_total{api=kinesis,error=ResourceNotFoundException,operation=DescribeStreamSummary}`: 1,
		`sluice_api_errors_total{api=dynamodb,error=ResourceNotFoundException,operation=DescribeTable}`:        1,
		`sluice_api_requests_total{api=kinesis,operation=unknown}`:                                             3,
		`sluice_api_errors_total{api=kinesis,error=UnknownOperationException,operation=unknown}`:               3,
		`sluice_api_requests_total{api=dynamodb,operation=unknown}`:                                            1,
		`sluice_api_requests_total{api=kinesis,operation=SubscribeToShard}`:                                    -1, // never called: no series
		`sluice_incoming_records_total{stream=s}`:                                                              3,
		`sluice_put_records_latency_seconds{stream=s}`:                                                         3,
		`sluice_api_errors_total{api=kinesis,error=ResourceNotFoundException,operation=PutRecords}`:            -1, // absent
		`sluice_api_request_duration_seconds{api=kinesis,operation=SubscribeToShard}`:                          -1,
		`sluice_api_requests_total{api=kinesis,operation=Frobnicate}`:                                          -1,
		`sluice_api_errors_total{api=dynamodb,error=UnknownOperationException,operation=unknown}`:              1,
		`sluice_api_request_duration_seconds{api=dynamodb,operation=DescribeTable}`:                            1,
		`sluice_api_requests_total{api=dynamodb,operation=DescribeTable}`:                                      1,
		`sluice_api_requests_total{api=kinesis,operation=CreateStream}`:                                        1,
		`sluice_api_errors_total{api=kinesis,error=ResourceNotFoundException,operation=unknown}`:               -1,
		`sluice_api_request_duration_seconds{api=kinesis,operation=unknown}`:                                   3,
		`sluice_api_errors_total{api=kinesis,error=ResourceNotFoundException,operation=DescribeStream}`:        -1,
	} {
		got, ok := m[series]
		switch {
		case want < 0 && ok:
			t.Errorf("%s = %v, want no such series", series, got)
		case want >= 0 && (!ok || got != want):
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}

	if _, err := kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	for series := range scrape(t, srv.Endpoint()) {
		if strings.Contains(series, "stream=s}") || strings.Contains(series, "stream=s,") {
			t.Errorf("after the stream was deleted /metrics still has %s", series)
		}
	}
}
