package e2e

import (
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

const testAccount = "123456789012"

func streamARN(name string) string {
	return "arn:aws:kinesis:" + testRegion + ":" + testAccount + ":stream/" + name
}

// TestStreams_ControlPlane drives the stream control plane of one server:
// create, describe, list, delete, limits, retention and tags. The
// scenarios run in order and share the server's streams.
func TestStreams_ControlPlane(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--region", testRegion, "--account-id", testAccount)
	c := s.Client()
	ctx := t.Context()

	t.Run("CreateProvisioned", func(t *testing.T) {
		before := time.Now()
		shards := createStream(t, c, "prov", 3)
		out, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("prov")})
		if err != nil {
			t.Fatal(err)
		}
		d := out.StreamDescription
		if d.StreamStatus != types.StreamStatusActive {
			t.Errorf("StreamStatus = %s, want ACTIVE", d.StreamStatus)
		}
		if got := aws.ToString(d.StreamName); got != "prov" {
			t.Errorf("StreamName = %q", got)
		}
		if got, want := aws.ToString(d.StreamARN), streamARN("prov"); got != want {
			t.Errorf("StreamARN = %q, want %q", got, want)
		}
		if d.StreamModeDetails == nil || d.StreamModeDetails.StreamMode != types.StreamModeProvisioned {
			t.Errorf("StreamModeDetails = %+v, want PROVISIONED", d.StreamModeDetails)
		}
		if got := aws.ToInt32(d.RetentionPeriodHours); got != 24 {
			t.Errorf("RetentionPeriodHours = %d, want 24", got)
		}
		if ts := aws.ToTime(d.StreamCreationTimestamp); ts.Before(before.Add(-time.Minute)) || ts.After(time.Now().Add(time.Minute)) {
			t.Errorf("StreamCreationTimestamp = %v, want about %v", ts, before)
		}
		if aws.ToBool(d.HasMoreShards) {
			t.Errorf("HasMoreShards = true for 3 shards")
		}
		checkEvenShards(t, d.Shards, 3)
		checkEvenShards(t, shards, 3)
	})

	t.Run("CreateOnDemandHasFourShards", func(t *testing.T) {
		_, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{
			StreamName:        aws.String("ondemand"),
			StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand},
			Tags:              map[string]string{"team": "data", "env": "test"},
		})
		if err != nil {
			t.Fatal(err)
		}
		waitActive(t, c, "ondemand")
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("ondemand")})
		if err != nil {
			t.Fatal(err)
		}
		d := out.StreamDescriptionSummary
		if d.StreamModeDetails == nil || d.StreamModeDetails.StreamMode != types.StreamModeOnDemand {
			t.Errorf("StreamModeDetails = %+v, want ON_DEMAND", d.StreamModeDetails)
		}
		if got := aws.ToInt32(d.OpenShardCount); got != 4 {
			t.Errorf("OpenShardCount = %d, want 4", got)
		}
		checkEvenShards(t, listAllShards(t, c, "ondemand"), 4)
		tags, err := c.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String("ondemand")})
		if err != nil {
			t.Fatal(err)
		}
		if got := tagMap(tags.Tags); len(got) != 2 || got["team"] != "data" || got["env"] != "test" {
			t.Errorf("tags given to CreateStream: got %v", got)
		}
	})

	t.Run("LongestNameAndEveryAllowedCharacter", func(t *testing.T) {
		name := strings.Repeat("aZ09_.-", 19)[:128]
		createStream(t, c, name, 1)
		out := putRecord(t, c, name, "k", []byte("x"))
		recs := readShard(t, c, name, *out.ShardId)
		if len(recs) != 1 {
			t.Errorf("read %d records from %s", len(recs), name)
		}
		lst, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(lst.StreamNames, name) {
			t.Errorf("ListStreams lacks %s", name)
		}
		if _, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		kinesisWaitGone(t, c, name)
	})

	t.Run("DuplicateNameIsResourceInUse", func(t *testing.T) {
		_, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("prov"), ShardCount: aws.Int32(1)})
		wantTyped[*types.ResourceInUseException](t, err)
	})

	t.Run("DescribeStreamPagesShards", func(t *testing.T) {
		createStream(t, c, "paged", 5)
		var ids []string
		var start *string
		for page := 0; ; page++ {
			if page > 5 {
				t.Fatalf("DescribeStream paging does not end: %v", ids)
			}
			out, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("paged"), Limit: aws.Int32(2), ExclusiveStartShardId: start})
			if err != nil {
				t.Fatal(err)
			}
			d := out.StreamDescription
			if len(d.Shards) == 0 || len(d.Shards) > 2 {
				t.Fatalf("page %d: %d shards with Limit 2", page, len(d.Shards))
			}
			for _, sh := range d.Shards {
				ids = append(ids, *sh.ShardId)
			}
			if !aws.ToBool(d.HasMoreShards) {
				break
			}
			start = d.Shards[len(d.Shards)-1].ShardId
		}
		if want := shardIDs(5); !slices.Equal(ids, want) {
			t.Errorf("paged shard ids = %v, want %v", ids, want)
		}
	})

	t.Run("DescribeStreamSummary", func(t *testing.T) {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("paged")})
		if err != nil {
			t.Fatal(err)
		}
		d := out.StreamDescriptionSummary
		if aws.ToString(d.StreamName) != "paged" || aws.ToString(d.StreamARN) != streamARN("paged") {
			t.Errorf("name/ARN = %q/%q", aws.ToString(d.StreamName), aws.ToString(d.StreamARN))
		}
		if d.StreamStatus != types.StreamStatusActive || aws.ToInt32(d.OpenShardCount) != 5 || aws.ToInt32(d.RetentionPeriodHours) != 24 {
			t.Errorf("status %s, open shards %d, retention %d; want ACTIVE, 5, 24",
				d.StreamStatus, aws.ToInt32(d.OpenShardCount), aws.ToInt32(d.RetentionPeriodHours))
		}
		if d.StreamModeDetails == nil || d.StreamModeDetails.StreamMode != types.StreamModeProvisioned {
			t.Errorf("StreamModeDetails = %+v", d.StreamModeDetails)
		}
		if d.StreamCreationTimestamp == nil {
			t.Errorf("no StreamCreationTimestamp")
		}
	})

	t.Run("ListStreamsPages", func(t *testing.T) {
		for _, n := range []string{"ls-a", "ls-b", "ls-c", "ls-d", "ls-e"} {
			createStream(t, c, n, 1)
		}
		all, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToBool(all.HasMoreStreams) {
			t.Fatalf("HasMoreStreams with %d streams and no Limit", len(all.StreamNames))
		}
		want := all.StreamNames
		if !slices.IsSorted(want) {
			t.Errorf("StreamNames not sorted: %v", want)
		}
		for _, n := range []string{"ondemand", "paged", "prov", "ls-a", "ls-e"} {
			if !slices.Contains(want, n) {
				t.Errorf("ListStreams lacks %s: %v", n, want)
			}
		}
		if len(all.StreamSummaries) != len(want) {
			t.Fatalf("%d StreamSummaries for %d StreamNames", len(all.StreamSummaries), len(want))
		}
		for i, sum := range all.StreamSummaries {
			if aws.ToString(sum.StreamName) != want[i] || aws.ToString(sum.StreamARN) != streamARN(want[i]) ||
				sum.StreamStatus != types.StreamStatusActive || sum.StreamModeDetails == nil || sum.StreamCreationTimestamp == nil {
				t.Errorf("StreamSummaries[%d] = name %q ARN %q status %s mode %v created %v",
					i, aws.ToString(sum.StreamName), aws.ToString(sum.StreamARN), sum.StreamStatus, sum.StreamModeDetails, sum.StreamCreationTimestamp)
			}
		}

		// NextToken paging.
		var got []string
		in := &kinesis.ListStreamsInput{Limit: aws.Int32(2)}
		for page := 0; ; page++ {
			if page > len(want) {
				t.Fatalf("NextToken paging does not end: %v", got)
			}
			out, err := c.ListStreams(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.StreamNames) > 2 {
				t.Fatalf("Limit 2 returned %d names", len(out.StreamNames))
			}
			got = append(got, out.StreamNames...)
			if !aws.ToBool(out.HasMoreStreams) {
				break
			}
			if aws.ToString(out.NextToken) == "" {
				t.Fatalf("HasMoreStreams without NextToken")
			}
			in = &kinesis.ListStreamsInput{Limit: aws.Int32(2), NextToken: out.NextToken}
		}
		if !slices.Equal(got, want) {
			t.Errorf("paged by NextToken: %v, want %v", got, want)
		}

		// ExclusiveStartStreamName paging.
		got = nil
		in = &kinesis.ListStreamsInput{Limit: aws.Int32(3)}
		for page := 0; ; page++ {
			if page > len(want) {
				t.Fatalf("ExclusiveStartStreamName paging does not end: %v", got)
			}
			out, err := c.ListStreams(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out.StreamNames...)
			if !aws.ToBool(out.HasMoreStreams) {
				break
			}
			in = &kinesis.ListStreamsInput{Limit: aws.Int32(3), ExclusiveStartStreamName: aws.String(got[len(got)-1])}
		}
		if !slices.Equal(got, want) {
			t.Errorf("paged by ExclusiveStartStreamName: %v, want %v", got, want)
		}
		out, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{ExclusiveStartStreamName: aws.String("ls-b")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.StreamNames) == 0 || out.StreamNames[0] != "ls-c" {
			t.Errorf("ExclusiveStartStreamName ls-b: first name %v, want ls-c", out.StreamNames)
		}
	})

	t.Run("ListShardsPages", func(t *testing.T) {
		var got []string
		in := &kinesis.ListShardsInput{StreamName: aws.String("paged"), MaxResults: aws.Int32(2)}
		for page := 0; ; page++ {
			if page > 5 {
				t.Fatalf("ListShards paging does not end: %v", got)
			}
			out, err := c.ListShards(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Shards) > 2 {
				t.Fatalf("MaxResults 2 returned %d shards", len(out.Shards))
			}
			for _, sh := range out.Shards {
				got = append(got, *sh.ShardId)
			}
			if aws.ToString(out.NextToken) == "" {
				break
			}
			in = &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: aws.Int32(2)}
		}
		if want := shardIDs(5); !slices.Equal(got, want) {
			t.Errorf("paged shard ids = %v, want %v", got, want)
		}

		out, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("paged"), ExclusiveStartShardId: aws.String("shardId-000000000002")})
		if err != nil {
			t.Fatal(err)
		}
		if ids := idsOf(out.Shards); !slices.Equal(ids, shardIDs(5)[3:]) {
			t.Errorf("ExclusiveStartShardId shardId-000000000002: %v", ids)
		}

		first, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("paged"), MaxResults: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		if first.NextToken == nil {
			t.Fatal("no NextToken with MaxResults 1 of 5 shards")
		}
		_, err = c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("paged"), NextToken: first.NextToken})
		wantTyped[*types.InvalidArgumentException](t, err)
	})

	t.Run("ListShardsFilters", func(t *testing.T) {
		// The KCL lists shards with a filter for its initial position:
		// AT_TRIM_HORIZON, AT_LATEST or AT_TIMESTAMP. On a stream younger
		// than its retention, with no reshards, each of them is all of its
		// shards: its trim horizon is its creation.
		sum, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("paged")})
		if err != nil {
			t.Fatal(err)
		}
		created := aws.ToTime(sum.StreamDescriptionSummary.StreamCreationTimestamp)
		all := shardIDs(5)
		for _, tc := range []struct {
			name   string
			filter types.ShardFilter
			want   []string
		}{
			{"AT_TRIM_HORIZON", types.ShardFilter{Type: types.ShardFilterTypeAtTrimHorizon}, all},
			{"FROM_TRIM_HORIZON", types.ShardFilter{Type: types.ShardFilterTypeFromTrimHorizon}, all},
			{"AT_LATEST", types.ShardFilter{Type: types.ShardFilterTypeAtLatest}, all},
			{"AT_TIMESTAMP now", types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: aws.Time(time.Now())}, all},
			{"FROM_TIMESTAMP before creation", types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: aws.Time(created.Add(-time.Hour))}, all},
			{"AFTER_SHARD_ID", types.ShardFilter{Type: types.ShardFilterTypeAfterShardId, ShardId: aws.String("shardId-000000000001")}, all[2:]},
		} {
			out, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("paged"), ShardFilter: &tc.filter})
			if err != nil {
				t.Errorf("ShardFilter %s: %v", tc.name, err)
				continue
			}
			if got := idsOf(out.Shards); !slices.Equal(got, tc.want) {
				t.Errorf("ShardFilter %s: shards %v, want %v", tc.name, got, tc.want)
			}
		}
	})

	t.Run("AddressByARN", func(t *testing.T) {
		arn := aws.String(streamARN("paged"))
		sum, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: arn})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(sum.StreamDescriptionSummary.StreamName); got != "paged" {
			t.Errorf("DescribeStreamSummary by ARN: StreamName %q", got)
		}
		desc, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamARN: arn})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(desc.StreamDescription.Shards); n != 5 {
			t.Errorf("DescribeStream by ARN: %d shards", n)
		}
		shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamARN: arn})
		if err != nil {
			t.Fatal(err)
		}
		if len(shards.Shards) != 5 {
			t.Errorf("ListShards by ARN: %d shards", len(shards.Shards))
		}
		put, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamARN: arn, PartitionKey: aws.String("k"), Data: []byte("by arn")})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamARN: arn, Records: entries("arn", 3)})
		if err != nil || aws.ToInt32(recs.FailedRecordCount) != 0 {
			t.Fatalf("PutRecords by ARN: %v, %v", err, recs)
		}
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamARN: arn, ShardId: put.ShardId, ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: put.SequenceNumber,
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{StreamARN: arn, ShardIterator: it.ShardIterator, Limit: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Records) != 1 || string(got.Records[0].Data) != "by arn" {
			t.Errorf("GetRecords by ARN: %d records", len(got.Records))
		}
		_, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: aws.String(streamARN("no-such-stream"))})
		wantTyped[*types.ResourceNotFoundException](t, err)
	})

	t.Run("DescribeLimits", func(t *testing.T) {
		out, err := c.DescribeLimits(ctx, &kinesis.DescribeLimitsInput{})
		if err != nil {
			t.Fatal(err)
		}
		// prov 3 + ondemand 4 + paged 5 + ls-a..e 5
		if got := aws.ToInt32(out.OpenShardCount); got != 17 {
			t.Errorf("OpenShardCount = %d, want 17", got)
		}
		if got := aws.ToInt32(out.ShardLimit); got < 17 {
			t.Errorf("ShardLimit = %d", got)
		}
		if got := aws.ToInt32(out.OnDemandStreamCount); got != 1 {
			t.Errorf("OnDemandStreamCount = %d, want 1", got)
		}
		if got := aws.ToInt32(out.OnDemandStreamCountLimit); got < 1 {
			t.Errorf("OnDemandStreamCountLimit = %d", got)
		}
	})

	t.Run("Retention", func(t *testing.T) {
		retention := func() int32 {
			t.Helper()
			out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("prov")})
			if err != nil {
				t.Fatal(err)
			}
			return aws.ToInt32(out.StreamDescriptionSummary.RetentionPeriodHours)
		}
		inc := func(h int32) error {
			_, err := c.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("prov"), RetentionPeriodHours: aws.Int32(h)})
			return err
		}
		dec := func(h int32) error {
			_, err := c.DecreaseStreamRetentionPeriod(ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("prov"), RetentionPeriodHours: aws.Int32(h)})
			return err
		}
		if err := inc(48); err != nil {
			t.Fatal(err)
		}
		if got := retention(); got != 48 {
			t.Errorf("retention after increase to 48: %d", got)
		}
		wantTyped[*types.InvalidArgumentException](t, inc(30))   // lower than current
		wantTyped[*types.InvalidArgumentException](t, dec(72))   // higher than current
		wantTyped[*types.InvalidArgumentException](t, inc(8761)) // above 365 days
		wantTyped[*types.InvalidArgumentException](t, dec(23))   // below 24 hours
		if err := inc(8760); err != nil {
			t.Fatalf("increase to the maximum, 8760: %v", err)
		}
		if err := dec(24); err != nil {
			t.Fatalf("decrease to the minimum, 24: %v", err)
		}
		if got := retention(); got != 24 {
			t.Errorf("retention after decrease to 24: %d", got)
		}
		err := inc(48)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.DecreaseStreamRetentionPeriod(ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamARN: aws.String(streamARN("prov")), RetentionPeriodHours: aws.Int32(24)})
		if err != nil {
			t.Fatalf("decrease by ARN: %v", err)
		}
	})

	t.Run("Tags", func(t *testing.T) {
		name := aws.String("prov")
		_, err := c.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: name, Tags: map[string]string{"a": "1", "b": "2", "c": "3", "d": ""}})
		if err != nil {
			t.Fatal(err)
		}
		// Page through ListTagsForStream two at a time.
		var keys []string
		in := &kinesis.ListTagsForStreamInput{StreamName: name, Limit: aws.Int32(2)}
		for page := 0; ; page++ {
			if page > 4 {
				t.Fatalf("ListTagsForStream paging does not end: %v", keys)
			}
			out, err := c.ListTagsForStream(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Tags) > 2 {
				t.Fatalf("Limit 2 returned %d tags", len(out.Tags))
			}
			for _, tag := range out.Tags {
				keys = append(keys, aws.ToString(tag.Key))
			}
			if !aws.ToBool(out.HasMoreTags) {
				break
			}
			in = &kinesis.ListTagsForStreamInput{StreamName: name, Limit: aws.Int32(2), ExclusiveStartTagKey: aws.String(keys[len(keys)-1])}
		}
		if want := []string{"a", "b", "c", "d"}; !slices.Equal(keys, want) {
			t.Errorf("paged tag keys = %v, want %v", keys, want)
		}
		if _, err := c.RemoveTagsFromStream(ctx, &kinesis.RemoveTagsFromStreamInput{StreamName: name, TagKeys: []string{"b", "no-such-key"}}); err != nil {
			t.Fatal(err)
		}
		out, err := c.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: name})
		if err != nil {
			t.Fatal(err)
		}
		if got := tagMap(out.Tags); len(got) != 3 || got["a"] != "1" || got["c"] != "3" || got["d"] != "" {
			t.Errorf("after removing b: %v", got)
		}

		// The resource API by ARN sees and changes the same tags.
		arn := aws.String(streamARN("prov"))
		if _, err := c.TagResource(ctx, &kinesis.TagResourceInput{ResourceARN: arn, Tags: map[string]string{"e": "5", "a": "one"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UntagResource(ctx, &kinesis.UntagResourceInput{ResourceARN: arn, TagKeys: []string{"c"}}); err != nil {
			t.Fatal(err)
		}
		res, err := c.ListTagsForResource(ctx, &kinesis.ListTagsForResourceInput{ResourceARN: arn})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"a": "one", "d": "", "e": "5"}
		if got := tagMap(res.Tags); !maps.Equal(got, want) {
			t.Errorf("ListTagsForResource = %v, want %v", got, want)
		}
		out, err = c.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: name})
		if err != nil {
			t.Fatal(err)
		}
		if got := tagMap(out.Tags); !maps.Equal(got, want) {
			t.Errorf("ListTagsForStream after TagResource = %v, want %v", got, want)
		}

		// Tags may hold Unicode letters, digits, white space and _ . / = + - % @.
		odd := map[string]string{"cost center%ünï/x": "a b/c=d+e-f@g.h_i", "empty": ""}
		if _, err := c.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("paged"), Tags: odd}); err != nil {
			t.Fatalf("tags with every allowed character: %v", err)
		}
		pt, err := c.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String("paged")})
		if err != nil {
			t.Fatal(err)
		}
		if got := tagMap(pt.Tags); !maps.Equal(got, odd) {
			t.Errorf("tags read back as %v, want %v", got, odd)
		}
		_, err = c.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("paged"), Tags: map[string]string{"bad!": "x"}})
		wantTyped[*types.InvalidArgumentException](t, err)
		if _, err := c.RemoveTagsFromStream(ctx, &kinesis.RemoveTagsFromStreamInput{StreamName: aws.String("paged"), TagKeys: []string{"cost center%ünï/x", "empty"}}); err != nil {
			t.Fatal(err)
		}

		// 50 tags per stream at most, in one call or in total.
		many := make(map[string]string)
		for i := range 51 {
			many[fmt.Sprintf("k%02d", i)] = "v"
		}
		_, err = c.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("paged"), Tags: many})
		wantTyped[*types.InvalidArgumentException](t, err)
		delete(many, "k50")
		delete(many, "k49")
		delete(many, "k48") // 48 + the 3 tags of prov is 51
		_, err = c.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: name, Tags: many})
		wantTyped[*types.InvalidArgumentException](t, err)
		_, err = c.TagResource(ctx, &kinesis.TagResourceInput{ResourceARN: arn, Tags: many})
		wantTyped[*types.InvalidArgumentException](t, err)
		delete(many, "k47") // 47 + 3 is 50: allowed
		if _, err := c.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: name, Tags: many}); err != nil {
			t.Fatalf("50 tags in total: %v", err)
		}
		_, err = c.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("no-such-stream"), Tags: map[string]string{"a": "b"}})
		wantTyped[*types.ResourceNotFoundException](t, err)
	})

	t.Run("Delete", func(t *testing.T) {
		if _, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("ls-a")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamARN: aws.String(streamARN("ls-b"))}); err != nil {
			t.Fatalf("DeleteStream by ARN: %v", err)
		}
		for _, n := range []string{"ls-a", "ls-b"} {
			_, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(n)})
			wantTyped[*types.ResourceNotFoundException](t, err)
			_, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(n)})
			wantTyped[*types.ResourceNotFoundException](t, err)
			_, err = c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(n), PartitionKey: aws.String("k"), Data: []byte("x")})
			wantTyped[*types.ResourceNotFoundException](t, err)
			_, err = c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(n)})
			wantTyped[*types.ResourceNotFoundException](t, err)
		}
		out, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(out.StreamNames, "ls-a") || slices.Contains(out.StreamNames, "ls-b") {
			t.Errorf("deleted streams still listed: %v", out.StreamNames)
		}
		lim, err := c.DescribeLimits(ctx, &kinesis.DescribeLimitsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToInt32(lim.OpenShardCount); got != 15 {
			t.Errorf("OpenShardCount after deleting two 1-shard streams = %d, want 15", got)
		}
	})
}

// TestStreams_CreatingAndDeletingTakeTime checks the CREATING and
// DELETING states, and the SDK waiters that poll them.
func TestStreams_CreatingAndDeletingTakeTime(t *testing.T) {
	t.Parallel()
	// Long enough that a status read right after the call still sees the
	// transition on a loaded machine.
	s := startServer(t, "--create-stream-delay", "3s", "--delete-stream-delay", "3s")
	c := s.Client()
	ctx := t.Context()
	name := aws.String("slow")
	status := func() types.StreamStatus {
		t.Helper()
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: name})
		if err != nil {
			t.Fatal(err)
		}
		return out.StreamDescriptionSummary.StreamStatus
	}

	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: name, ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != types.StreamStatusCreating {
		t.Fatalf("status right after CreateStream = %s, want CREATING", got)
	}
	w := kinesis.NewStreamExistsWaiter(c, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 500 * time.Millisecond
	})
	out, err := w.WaitForOutput(ctx, &kinesis.DescribeStreamInput{StreamName: name}, 30*time.Second)
	if err != nil {
		t.Fatalf("StreamExists waiter: %v", err)
	}
	if got := out.StreamDescription.StreamStatus; got != types.StreamStatusActive {
		t.Fatalf("StreamExists waiter returned status %s", got)
	}
	putRecord(t, c, "slow", "k", []byte("written once ACTIVE"))

	if _, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: name}); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != types.StreamStatusDeleting {
		t.Fatalf("status right after DeleteStream = %s, want DELETING", got)
	}
	nw := kinesis.NewStreamNotExistsWaiter(c, func(o *kinesis.StreamNotExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 500 * time.Millisecond
	})
	if err := nw.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: name}, 30*time.Second); err != nil {
		t.Fatalf("StreamNotExists waiter: %v", err)
	}
	_, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: name})
	wantTyped[*types.ResourceNotFoundException](t, err)

	// The name is free again.
	createStream(t, c, "slow", 1)
}

// TestStreams_ShardLimit checks that --shard-limit caps the open shards of
// the account, as AWS's shard quota does.
func TestStreams_ShardLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--shard-limit", "5")
	c := s.Client()
	ctx := t.Context()

	createStream(t, c, "three", 3)
	_, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("three-more"), ShardCount: aws.Int32(3)})
	wantTyped[*types.LimitExceededException](t, err)
	_, err = c.CreateStream(ctx, &kinesis.CreateStreamInput{
		StreamName:        aws.String("ondemand"),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand},
	})
	wantTyped[*types.LimitExceededException](t, err)
	createStream(t, c, "two", 2)

	lim, err := c.DescribeLimits(ctx, &kinesis.DescribeLimitsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(lim.ShardLimit) != 5 || aws.ToInt32(lim.OpenShardCount) != 5 {
		t.Errorf("DescribeLimits: ShardLimit %d, OpenShardCount %d; want 5, 5", aws.ToInt32(lim.ShardLimit), aws.ToInt32(lim.OpenShardCount))
	}
	_, err = c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("one"), ShardCount: aws.Int32(1)})
	wantTyped[*types.LimitExceededException](t, err)

	// Deleting a stream gives its shards back.
	if _, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("three")}); err != nil {
		t.Fatal(err)
	}
	createStream(t, c, "three-more", 3)
}

// checkEvenShards checks a new stream's shards: ids shardId-000000000000
// on, open, no parents, and hash ranges splitting [0, 2^128) evenly.
func checkEvenShards(t testing.TB, shards []types.Shard, n int) {
	t.Helper()
	if len(shards) != n {
		t.Fatalf("%d shards, want %d", len(shards), n)
	}
	step := new(big.Int).Div(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(int64(n)))
	for i, sh := range shards {
		if got, want := aws.ToString(sh.ShardId), fmt.Sprintf("shardId-%012d", i); got != want {
			t.Errorf("shard %d: id %q, want %q", i, got, want)
		}
		if sh.ParentShardId != nil || sh.AdjacentParentShardId != nil {
			t.Errorf("shard %d of a new stream has parents", i)
		}
		if sh.SequenceNumberRange == nil || aws.ToString(sh.SequenceNumberRange.StartingSequenceNumber) == "" {
			t.Errorf("shard %d: no StartingSequenceNumber", i)
		} else {
			seqNum(t, *sh.SequenceNumberRange.StartingSequenceNumber)
			if sh.SequenceNumberRange.EndingSequenceNumber != nil {
				t.Errorf("shard %d of a new stream has an EndingSequenceNumber", i)
			}
		}
		wantStart := new(big.Int).Mul(step, big.NewInt(int64(i)))
		wantEnd := new(big.Int).Sub(new(big.Int).Add(wantStart, step), big.NewInt(1))
		if i == n-1 {
			wantEnd = maxHashKey
		}
		if sh.HashKeyRange == nil {
			t.Fatalf("shard %d: no HashKeyRange", i)
		}
		if got := aws.ToString(sh.HashKeyRange.StartingHashKey); got != wantStart.String() {
			t.Errorf("shard %d: StartingHashKey %s, want %s", i, got, wantStart)
		}
		if got := aws.ToString(sh.HashKeyRange.EndingHashKey); got != wantEnd.String() {
			t.Errorf("shard %d: EndingHashKey %s, want %s", i, got, wantEnd)
		}
	}
}

func shardIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("shardId-%012d", i)
	}
	return ids
}

func idsOf(shards []types.Shard) []string {
	ids := make([]string, len(shards))
	for i, s := range shards {
		ids[i] = aws.ToString(s.ShardId)
	}
	return ids
}

func tagMap(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}
