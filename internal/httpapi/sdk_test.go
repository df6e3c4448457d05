package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// TestSDK drives the handler with the unmodified aws-sdk-go-v2 Kinesis
// client over HTTP/1.1, HTTP/2 over TLS and h2c, against the fake service:
// it proves that what the handler writes is what the SDK reads.
func TestSDK(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "h2", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			svc := newFakeService()
			svc.failKeys = true
			var protoMajor atomic.Int32
			h := New(svc, Options{})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				protoMajor.Store(int32(r.ProtoMajor))
				h.ServeHTTP(w, r)
			}))
			client := &http.Client{Transport: &http.Transport{}}
			switch proto {
			case "HTTP/1.1":
				srv.Start()
			case "h2":
				srv.EnableHTTP2 = true
				srv.StartTLS()
				client = srv.Client()
			case "h2c":
				srv.Config.Protocols = new(http.Protocols)
				srv.Config.Protocols.SetUnencryptedHTTP2(true)
				srv.Start()
				tr := &http.Transport{Protocols: new(http.Protocols)}
				tr.Protocols.SetUnencryptedHTTP2(true)
				client = &http.Client{Transport: tr}
			}
			defer srv.Close()
			kc := newSDKClient(srv.URL, client)
			runSDKRoundTrip(t, kc, svc)
			wantMajor := int32(2)
			if proto == "HTTP/1.1" {
				wantMajor = 1
			}
			if got := protoMajor.Load(); got != wantMajor {
				t.Errorf("requests came over HTTP/%d, want HTTP/%d", got, wantMajor)
			}
		})
	}
}

func newSDKClient(url string, hc *http.Client) *awskinesis.Client {
	return awskinesis.New(awskinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		HTTPClient:   hc,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		}),
		RetryMaxAttempts: 1,
	})
}

func runSDKRoundTrip(t *testing.T, kc *awskinesis.Client, svc *fakeService) {
	ctx := context.Background()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(kc.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(2)}))
	_, err := kc.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(2)})
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) || aws.ToString(inUse.Message) != "Stream orders under account 123456789012 already exists." {
		t.Fatalf("second CreateStream: %v", err)
	}
	for _, n := range []string{"a", "b"} {
		must(kc.CreateStream(ctx, &awskinesis.CreateStreamInput{
			StreamName: aws.String(n), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}))
	}
	created := svc.lastCall("CreateStream").(kinesis.CreateStreamInput)
	if created.Mode != kinesis.ModeOnDemand || created.ShardCount != 0 {
		t.Errorf("service got %+v", created)
	}

	// Describe, with the creation time to the millisecond.
	d, err := kc.DescribeStream(ctx, &awskinesis.DescribeStreamInput{StreamName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	sd := d.StreamDescription
	if aws.ToString(sd.StreamName) != "orders" || sd.StreamStatus != types.StreamStatusActive || len(sd.Shards) != 2 ||
		aws.ToBool(sd.HasMoreShards) || sd.EncryptionType != types.EncryptionTypeNone ||
		sd.StreamModeDetails.StreamMode != types.StreamModeProvisioned || aws.ToInt32(sd.RetentionPeriodHours) != 24 ||
		!sd.StreamCreationTimestamp.Equal(svc.now) || len(sd.EnhancedMonitoring) != 1 {
		t.Errorf("DescribeStream: %+v", sd)
	}
	if hr := sd.Shards[1].HashKeyRange; aws.ToString(hr.EndingHashKey) != "340282366920938463463374607431768211455" ||
		aws.ToString(hr.StartingHashKey) != "170141183460469231731687303715884105728" {
		t.Errorf("shard 1 hash range %s..%s", aws.ToString(hr.StartingHashKey), aws.ToString(hr.EndingHashKey))
	}
	sum, err := kc.DescribeStreamSummary(ctx, &awskinesis.DescribeStreamSummaryInput{
		StreamARN: aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/orders")})
	if err != nil {
		t.Fatal(err)
	}
	if s := sum.StreamDescriptionSummary; aws.ToInt32(s.OpenShardCount) != 2 || aws.ToInt32(s.MaxRecordSizeInKiB) != 1024 ||
		aws.ToInt32(s.ConsumerCount) != 0 || s.StreamId != nil || !s.StreamCreationTimestamp.Equal(svc.now) {
		t.Errorf("DescribeStreamSummary: %+v", s)
	}

	// ListStreams, paged by the SDK's paginator.
	var names []string
	for p := awskinesis.NewListStreamsPaginator(kc, &awskinesis.ListStreamsInput{Limit: aws.Int32(2)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, page.StreamNames...)
		if len(page.StreamSummaries) != len(page.StreamNames) {
			t.Errorf("ListStreams: %d summaries for %d names", len(page.StreamSummaries), len(page.StreamNames))
		}
	}
	if !slices.Equal(names, []string{"a", "b", "orders"}) {
		t.Errorf("ListStreams: %v", names)
	}
	shards, err := kc.ListShards(ctx, &awskinesis.ListShardsInput{StreamName: aws.String("orders")})
	if err != nil || len(shards.Shards) != 2 || aws.ToString(shards.Shards[0].SequenceNumberRange.StartingSequenceNumber) == "" {
		t.Fatalf("ListShards: %+v, %v", shards, err)
	}

	// Writes and reads.
	pr, err := kc.PutRecord(ctx, &awskinesis.PutRecordInput{StreamName: aws.String("orders"), PartitionKey: aws.String("p"), Data: []byte("one")})
	if err != nil || aws.ToString(pr.SequenceNumber) == "" || aws.ToString(pr.ShardId) == "" || pr.EncryptionType != types.EncryptionTypeNone {
		t.Fatalf("PutRecord: %+v, %v", pr, err)
	}
	prs, err := kc.PutRecords(ctx, &awskinesis.PutRecordsInput{StreamName: aws.String("orders"), Records: []types.PutRecordsRequestEntry{
		{PartitionKey: aws.String("p"), Data: []byte("two")},
		{PartitionKey: aws.String("throttle"), Data: []byte("x")},
		{PartitionKey: aws.String("q"), Data: []byte{0, 1, 2, 255}, ExplicitHashKey: aws.String("0")},
		{PartitionKey: aws.String("explode"), Data: []byte("x")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(prs.FailedRecordCount) != 2 || len(prs.Records) != 4 ||
		aws.ToString(prs.Records[1].ErrorCode) != "ProvisionedThroughputExceededException" || prs.Records[1].SequenceNumber != nil ||
		aws.ToString(prs.Records[3].ErrorCode) != "InternalFailure" || aws.ToString(prs.Records[3].ErrorMessage) != "Internal Service Failure" ||
		aws.ToString(prs.Records[2].ShardId) != "shardId-000000000000" {
		t.Errorf("PutRecords: %+v", prs)
	}
	_, err = kc.PutRecord(ctx, &awskinesis.PutRecordInput{StreamName: aws.String("orders"), PartitionKey: aws.String("throttle"), Data: []byte("x")})
	var pte *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) {
		t.Errorf("throttled PutRecord: %v", err)
	}

	var got [][]byte
	for _, sh := range shards.Shards {
		it, err := kc.GetShardIterator(ctx, &awskinesis.GetShardIteratorInput{
			StreamName: aws.String("orders"), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := kc.GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		if recs.NextShardIterator == nil || aws.ToInt64(recs.MillisBehindLatest) != 0 {
			t.Errorf("GetRecords: %+v", recs)
		}
		for _, r := range recs.Records {
			if !r.ApproximateArrivalTimestamp.Equal(svc.now) || r.EncryptionType != types.EncryptionTypeNone || aws.ToString(r.SequenceNumber) == "" {
				t.Errorf("record %+v", r)
			}
			got = append(got, r.Data)
		}
	}
	slices.SortFunc(got, bytes.Compare)
	if want := [][]byte{{0, 1, 2, 255}, []byte("one"), []byte("two")}; !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("read %q, want %q", got, want)
	}
	if limit := svc.lastCall("GetRecords").(int); limit != 10000 {
		t.Errorf("service got limit %d, want the default 10000", limit)
	}

	at := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	must(kc.GetShardIterator(ctx, &awskinesis.GetShardIteratorInput{StreamName: aws.String("orders"),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: &at}))
	if in := svc.lastCall("GetShardIterator").(kinesis.GetShardIteratorInput); in.Timestamp == nil || !in.Timestamp.Equal(at) {
		t.Errorf("service got %+v, want timestamp %v", in, at)
	}

	// Tags, paged by key.
	must(kc.AddTagsToStream(ctx, &awskinesis.AddTagsToStreamInput{StreamName: aws.String("orders"), Tags: map[string]string{"b": "2", "a": "1", "c": ""}}))
	lt, err := kc.ListTagsForStream(ctx, &awskinesis.ListTagsForStreamInput{StreamName: aws.String("orders"), Limit: aws.Int32(2)})
	if err != nil || len(lt.Tags) != 2 || aws.ToString(lt.Tags[0].Key) != "a" || !aws.ToBool(lt.HasMoreTags) {
		t.Fatalf("ListTagsForStream: %+v, %v", lt, err)
	}
	lt, err = kc.ListTagsForStream(ctx, &awskinesis.ListTagsForStreamInput{StreamName: aws.String("orders"), ExclusiveStartTagKey: aws.String("b")})
	if err != nil || len(lt.Tags) != 1 || aws.ToString(lt.Tags[0].Key) != "c" || aws.ToString(lt.Tags[0].Value) != "" || aws.ToBool(lt.HasMoreTags) {
		t.Fatalf("ListTagsForStream after b: %+v, %v", lt, err)
	}
	must(kc.RemoveTagsFromStream(ctx, &awskinesis.RemoveTagsFromStreamInput{StreamName: aws.String("orders"), TagKeys: []string{"a", "zz"}}))
	arn := aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/orders")
	must(kc.TagResource(ctx, &awskinesis.TagResourceInput{ResourceARN: arn, Tags: map[string]string{"d": "4"}}))
	must(kc.UntagResource(ctx, &awskinesis.UntagResourceInput{ResourceARN: arn, TagKeys: []string{"b"}}))
	ltr, err := kc.ListTagsForResource(ctx, &awskinesis.ListTagsForResourceInput{ResourceARN: arn})
	if err != nil || fmt.Sprint(tagPairs(ltr.Tags)) != "[c= d=4]" {
		t.Fatalf("ListTagsForResource: %v, %v", tagPairs(ltr.Tags), err)
	}

	must(kc.IncreaseStreamRetentionPeriod(ctx, &awskinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("orders"), RetentionPeriodHours: aws.Int32(48)}))
	must(kc.DecreaseStreamRetentionPeriod(ctx, &awskinesis.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("orders"), RetentionPeriodHours: aws.Int32(24)}))
	if c := svc.lastCall("SetRetention").([]any); c[1] != 24 || c[2] != false {
		t.Errorf("SetRetention got %v", c)
	}
	lim, err := kc.DescribeLimits(ctx, &awskinesis.DescribeLimitsInput{})
	if err != nil || aws.ToInt32(lim.ShardLimit) != 20000 || aws.ToInt32(lim.OnDemandStreamCountLimit) != 50 {
		t.Fatalf("DescribeLimits: %+v, %v", lim, err)
	}

	// Errors reach the SDK as its typed exceptions.
	_, err = kc.DescribeStream(ctx, &awskinesis.DescribeStreamInput{StreamName: aws.String("missing")})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) || aws.ToString(rnf.Message) != "Stream missing under account 123456789012 not found." {
		t.Errorf("DescribeStream of a missing stream: %v", err)
	}
	_, err = kc.GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: aws.String("x"), Limit: aws.Int32(0)})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" ||
		apiErr.ErrorMessage() != "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1" {
		t.Errorf("GetRecords with Limit 0: %v", err)
	}
	usc, err := kc.UpdateShardCount(ctx, &awskinesis.UpdateShardCountInput{StreamName: aws.String("orders"), TargetShardCount: aws.Int32(3), ScalingType: types.ScalingTypeUniformScaling})
	if err != nil || aws.ToString(usc.StreamName) != "orders" || aws.ToInt32(usc.TargetShardCount) != 3 || usc.CurrentShardCount == nil || aws.ToString(usc.StreamARN) == "" {
		t.Errorf("UpdateShardCount: %+v, %v", usc, err)
	}
	if _, err := kc.UpdateStreamMode(ctx, &awskinesis.UpdateStreamModeInput{StreamARN: usc.StreamARN, StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
		t.Errorf("UpdateStreamMode: %v", err)
	}
	if got := svc.lastCall("UpdateStreamMode"); fmt.Sprint(got) != fmt.Sprint([]string{aws.ToString(usc.StreamARN), "ON_DEMAND"}) {
		t.Errorf("UpdateStreamMode called with %v", got)
	}
	if _, err := kc.SplitShard(ctx, &awskinesis.SplitShardInput{StreamName: aws.String("orders"), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("1")}); err != nil {
		t.Errorf("SplitShard: %v", err)
	}
	if _, err := kc.MergeShards(ctx, &awskinesis.MergeShardsInput{StreamName: aws.String("orders"), ShardToMerge: aws.String("shardId-000000000000"), AdjacentShardToMerge: aws.String("shardId-000000000001")}); err != nil {
		t.Errorf("MergeShards: %v", err)
	}
	_, err = kc.ListShards(ctx, &awskinesis.ListShardsInput{NextToken: aws.String("old")})
	var ent *types.ExpiredNextTokenException
	if !errors.As(err, &ent) {
		t.Errorf("ListShards with an old token: %v", err)
	}

	must(kc.DeleteStream(ctx, &awskinesis.DeleteStreamInput{StreamName: aws.String("orders"), EnforceConsumerDeletion: aws.Bool(true)}))
}

func tagPairs(tags []types.Tag) []string {
	var out []string
	for _, t := range tags {
		out = append(out, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	return out
}
