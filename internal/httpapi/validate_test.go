package httpapi

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// jsonRecords builds a PutRecords Records list of n copies of entry.
func jsonRecords(n int, entry string) string {
	return "[" + strings.TrimSuffix(strings.Repeat(entry+",", n), ",") + "]"
}

func TestValidation(t *testing.T) {
	name129 := strings.Repeat("a", 129)
	key257 := strings.Repeat("k", 257)
	tests := []struct {
		op, body string
		want     string
	}{
		// PutRecords, after kinesalite's tests run against AWS.
		{"PutRecords", `{}`,
			"1 validation error detected: Value null at 'records' failed to satisfy constraint: Member must not be null"},
		{"PutRecords", `{"StreamName":"","Records":[]}`,
			"3 validation errors detected: " +
				"Value '[]' at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; " +
				"Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"PutRecords", `{"StreamName":"","Records":[{"PartitionKey":"","Data":"","ExplicitHashKey":""}]}`,
			"4 validation errors detected: " +
				"Value '' at 'records.1.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '' at 'records.1.member.explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38}); " +
				"Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; " +
				"Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"PutRecords", `{"StreamName":"` + name129 + `","Records":[{"PartitionKey":"` + key257 + `","ExplicitHashKey":"01"}]}`,
			"4 validation errors detected: " +
				"Value '" + key257 + "' at 'records.1.member.partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256; " +
				"Value '01' at 'records.1.member.explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38}); " +
				"Value null at 'records.1.member.data' failed to satisfy constraint: Member must not be null; " +
				"Value '" + name129 + "' at 'streamName' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"PutRecords", `{"StreamName":"s","Records":` + jsonRecords(501, `{"PartitionKey":"","Data":""}`) + `}`,
			"10 validation errors detected: " +
				"Value '[PutRecordsRequestEntry, PutRecordsRequestEntry, PutRecordsRequestEntry, ... (501 entries)]' at 'records' failed to satisfy constraint: Member must have length less than or equal to 500; " +
				"Value '' at 'records.1.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '' at 'records.2.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '' at 'records.3.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '' at 'records.4.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '' at 'records.5.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '' at 'records.6.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '' at 'records.7.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '' at 'records.8.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '' at 'records.9.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"PutRecords", `{"StreamName":"s","Records":[null]}`,
			"2 validation errors detected: " +
				"Value null at 'records.1.member.partitionKey' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'records.1.member.data' failed to satisfy constraint: Member must not be null"},
		// Lengths count UTF-16 code units: 129 emoji are 258 of them.
		{"PutRecord", `{"StreamName":"s","Data":"","PartitionKey":"` + strings.Repeat("😀", 129) + `"}`,
			"1 validation error detected: Value '" + strings.Repeat("😀", 129) + "' at 'partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256"},
		{"PutRecord", `{"StreamARN":"arn:aws:kinesis:us-east-1:123:stream/s","SequenceNumberForOrdering":"x"}`,
			"4 validation errors detected: " +
				"Value null at 'partitionKey' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'data' failed to satisfy constraint: Member must not be null; " +
				"Value 'x' at 'sequenceNumberForOrdering' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128}); " +
				"Value 'arn:aws:kinesis:us-east-1:123:stream/s' at 'streamARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+"},
		{"GetShardIterator", `{}`,
			"2 validation errors detected: " +
				"Value null at 'shardId' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'shardIteratorType' failed to satisfy constraint: Member must not be null"},
		{"GetShardIterator", `{"StreamName":"","ShardIteratorType":"","ShardId":"","StartingSequenceNumber":""}`,
			"6 validation errors detected: " +
				"Value '' at 'shardId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; " +
				"Value '' at 'shardId' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]; " +
				"Value '' at 'startingSequenceNumber' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128}); " +
				"Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; " +
				"Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"GetRecords", `{"ShardIterator":"","Limit":0}`,
			"2 validation errors detected: " +
				"Value '' at 'shardIterator' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"GetRecords", `{"ShardIterator":"x","Limit":10001}`,
			"1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000"},
		{"ListShards", `{"StreamName":"","NextToken":"","MaxResults":0,"ExclusiveStartShardId":""}`,
			"6 validation errors detected: " +
				"Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1; " +
				"Value '' at 'exclusiveStartShardId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; " +
				"Value '' at 'exclusiveStartShardId' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; " +
				"Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '' at 'nextToken' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"ListShards", `{"StreamName":"s","ShardFilter":{"Type":"SOMETIMES"}}`,
			"1 validation error detected: Value 'SOMETIMES' at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]"},
		{"ListShards", `{"StreamName":"s","ShardFilter":{}}`,
			"1 validation error detected: Value null at 'shardFilter.type' failed to satisfy constraint: Member must not be null"},
		{"CreateStream", `{"ShardCount":0}`,
			"2 validation errors detected: " +
				"Value null at 'streamName' failed to satisfy constraint: Member must not be null; " +
				"Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"CreateStream", `{"StreamName":"s","StreamModeDetails":{"StreamMode":"FAST"},"MaxRecordSizeInKiB":100,"Tags":{}}`,
			"3 validation errors detected: " +
				"Value 'FAST' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]; " +
				"Value '{}' at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '100' at 'maxRecordSizeInKiB' failed to satisfy constraint: Member must have value greater than or equal to 1024"},
		{"DescribeStream", `{"StreamName":"s","Limit":10001,"ExclusiveStartShardId":"` + name129 + `"}`,
			"2 validation errors detected: " +
				"Value '10001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000; " +
				"Value '" + name129 + "' at 'exclusiveStartShardId' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"ListStreams", `{"Limit":0,"ExclusiveStartStreamName":"a b"}`,
			"2 validation errors detected: " +
				"Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1; " +
				"Value 'a b' at 'exclusiveStartStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"},
		{"SplitShard", `{"StreamName":"s"}`,
			"2 validation errors detected: " +
				"Value null at 'shardToSplit' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'newStartingHashKey' failed to satisfy constraint: Member must not be null"},
		{"SplitShard", `{"StreamName":"s","ShardToSplit":"shard 1","NewStartingHashKey":"012"}`,
			"2 validation errors detected: " +
				"Value 'shard 1' at 'shardToSplit' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; " +
				"Value '012' at 'newStartingHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})"},
		{"MergeShards", `{"StreamName":"s","ShardToMerge":"a/b"}`,
			"2 validation errors detected: " +
				"Value 'a/b' at 'shardToMerge' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; " +
				"Value null at 'adjacentShardToMerge' failed to satisfy constraint: Member must not be null"},
		{"IncreaseStreamRetentionPeriod", `{}`,
			"1 validation error detected: Value null at 'retentionPeriodHours' failed to satisfy constraint: Member must not be null"},
		{"DecreaseStreamRetentionPeriod", `{"StreamName":"s","RetentionPeriodHours":-1}`,
			"1 validation error detected: Value '-1' at 'retentionPeriodHours' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"AddTagsToStream", `{"StreamName":"s"}`,
			"1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null"},
		{"AddTagsToStream", `{"StreamName":"s","Tags":{"b":"2","a":"1","` + name129 + `":"3"}}`,
			"1 validation error detected: Value '{a=1, " + name129 + "=3, b=2}' at 'tags' failed to satisfy constraint: " +
				"Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]"},
		{"AddTagsToStream", `{"StreamName":"s","Tags":{"c":"` + key257 + `"}}`,
			"1 validation error detected: Value '{c=" + key257 + "}' at 'tags' failed to satisfy constraint: " +
				"Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 0]"},
		{"RemoveTagsFromStream", `{"StreamName":"s","TagKeys":["a","` + name129 + `","b"]}`,
			"1 validation error detected: Value '[a, " + name129 + ", b]' at 'tagKeys' failed to satisfy constraint: " +
				"Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]"},
		{"RemoveTagsFromStream", `{"StreamName":"s","TagKeys":[]}`,
			"1 validation error detected: Value '[]' at 'tagKeys' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"ListTagsForStream", `{"StreamName":"s","Limit":51}`,
			"1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50"},
		{"TagResource", `{"ResourceARN":"arn:aws:sqs:us-east-1:123456789012:queue"}`,
			"2 validation errors detected: " +
				"Value 'arn:aws:sqs:us-east-1:123456789012:queue' at 'resourceARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+; " +
				"Value null at 'tags' failed to satisfy constraint: Member must not be null"},
		{"ListTagsForResource", `{}`,
			"1 validation error detected: Value null at 'resourceARN' failed to satisfy constraint: Member must not be null"},
	}
	h := New(newFakeService(), Options{})
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			got := readError(t, serve(h, newRequest(tt.op, tt.body)))
			if got.Status != 400 || got.Code != "ValidationException" || got.Message != tt.want {
				t.Errorf("%s %.200s:\n got %d %s %q\nwant ValidationException %q", tt.op, tt.body, got.Status, got.Code, got.Message, tt.want)
			}
		})
	}
}

func TestValidation_DataTooLarge(t *testing.T) {
	data := base64.StdEncoding.EncodeToString(make([]byte, maxDataBytes+1))
	h := New(newFakeService(), Options{})
	for _, op := range []string{"PutRecord", "PutRecords"} {
		body := `{"StreamName":"s","PartitionKey":"k","Data":"` + data + `"}`
		path := "data"
		if op == "PutRecords" {
			body = `{"StreamName":"s","Records":[{"PartitionKey":"k","Data":"` + data + `"}]}`
			path = "records.1.member.data"
		}
		got := readError(t, serve(h, newRequest(op, body)))
		want := "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=10485761 cap=10485761]' at '" + path +
			"' failed to satisfy constraint: Member must have length less than or equal to 10485760"
		if got.Code != "ValidationException" || got.Message != want {
			t.Errorf("%s: got %s %q", op, got.Code, got.Message)
		}
	}
}

func TestInputChecks(t *testing.T) {
	const mismatch = "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or " +
		"(2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified "
	twoTo128 := "340282366920938463463374607431768211456"
	big := base64.StdEncoding.EncodeToString(make([]byte, 1<<20))
	tests := []struct {
		name, op, body, want string
	}{
		{"hash key too big", "PutRecords", `{"StreamName":"s","Records":[{"PartitionKey":"a","Data":"","ExplicitHashKey":"` + twoTo128 + `"},{"PartitionKey":"a","Data":""}]}`,
			"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was " + twoTo128},
		{"hash key too big, one record", "PutRecord", `{"StreamName":"s","PartitionKey":"a","Data":"","ExplicitHashKey":"` + twoTo128 + `"}`,
			"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was " + twoTo128},
		{"request too large", "PutRecords", `{"StreamName":"s","Records":` + jsonRecords(11, `{"PartitionKey":"a","Data":"`+big+`"}`) + `}`,
			"Records size exceeds 10 MB limit"},
		{"no stream", "PutRecords", `{"Records":[{"PartitionKey":"a","Data":""}]}`,
			"Either StreamName or StreamARN should be provided."},
		{"dry run", "PutRecords", `{"StreamName":"s","DryRun":true,"Records":[{"PartitionKey":"a","Data":""}]}`,
			"DryRun is not supported by this server yet."},
		{"AT_SEQUENCE_NUMBER without number", "GetShardIterator", `{"StreamName":"s","ShardId":"shardId-0","ShardIteratorType":"AT_SEQUENCE_NUMBER"}`,
			mismatch + "AT_SEQUENCE_NUMBER and no StartingSequenceNumber."},
		{"AFTER_SEQUENCE_NUMBER without number", "GetShardIterator", `{"StreamName":"s","ShardId":"shardId-0","ShardIteratorType":"AFTER_SEQUENCE_NUMBER"}`,
			mismatch + "AFTER_SEQUENCE_NUMBER and no StartingSequenceNumber."},
		{"LATEST with number", "GetShardIterator", `{"StreamName":"s","ShardId":"shardId-0","ShardIteratorType":"LATEST","StartingSequenceNumber":"5"}`,
			mismatch + "LATEST and also a StartingSequenceNumber."},
		{"TRIM_HORIZON with number", "GetShardIterator", `{"StreamName":"s","ShardId":"shardId-0","ShardIteratorType":"TRIM_HORIZON","StartingSequenceNumber":"5"}`,
			mismatch + "TRIM_HORIZON and also a StartingSequenceNumber."},
		{"AT_TIMESTAMP without timestamp", "GetShardIterator", `{"StreamName":"s","ShardId":"shardId-0","ShardIteratorType":"AT_TIMESTAMP"}`,
			"Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter."},
		{"ListShards without stream", "ListShards", `{}`, "Either NextToken or StreamName should be provided."},
		{"ListShards with both", "ListShards", `{"StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s","NextToken":"t"}`,
			"NextToken and StreamName cannot be provided together."},
		{"ListShards token and start", "ListShards", `{"NextToken":"t","ExclusiveStartShardId":"shardId-0"}`,
			"NextToken and ExclusiveStartShardId cannot be provided together."},
		{"ListShards AFTER_SHARD_ID", "ListShards", `{"StreamName":"s","ShardFilter":{"Type":"AFTER_SHARD_ID"}}`,
			"ShardFilter of type AFTER_SHARD_ID must specify a ShardId."},
		{"ListShards AT_TIMESTAMP", "ListShards", `{"StreamName":"s","ShardFilter":{"Type":"AT_TIMESTAMP"}}`,
			"ShardFilter of type AT_TIMESTAMP must specify a Timestamp."},
		{"tab in tag key", "AddTagsToStream", "{\"StreamName\":\"s\",\"Tags\":{\"a\\tb\":\"1\"}}",
			"Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @."},
		{"semicolon in tag value", "TagResource", `{"ResourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s","Tags":{"a":"x;y"}}`,
			"Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @."},
		{"colon in tag key", "AddTagsToStream", `{"StreamName":"s","Tags":{"a:b":"1"}}`,
			"Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @."},
		{"comma in tag key", "RemoveTagsFromStream", `{"StreamName":"s","TagKeys":["a,b"]}`,
			"Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @."},
	}
	svc := newFakeService()
	if err := svc.CreateStream(t.Context(), kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	h := New(svc, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readError(t, serve(h, newRequest(tt.op, tt.body)))
			if got.Status != 400 || got.Code != "InvalidArgumentException" || got.Message != tt.want {
				t.Errorf("got %d %s %q\nwant InvalidArgumentException %q", got.Status, got.Code, got.Message, tt.want)
			}
		})
	}
}

func TestValidation_Accepts(t *testing.T) {
	// Values at the edges of the model that must pass validation.
	svc := newFakeService()
	h := New(svc, Options{})
	mustOK(t, h, "CreateStream", `{"StreamName":"`+strings.Repeat("a", 128)+`","ShardCount":2,"Tags":{"ü0 _./=+-%@":""}}`)
	mustOK(t, h, "CreateStream", `{"StreamName":"s","ShardCount":2}`)
	mustOK(t, h, "PutRecords", fmt.Sprintf(`{"StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s","Records":[`+
		`{"PartitionKey":%q,"Data":""},{"PartitionKey":"k","Data":"AAEC","ExplicitHashKey":"340282366920938463463374607431768211455"},`+
		`{"PartitionKey":"k","Data":"","ExplicitHashKey":"0"}]}`, strings.Repeat("😀", 128)))
	mustOK(t, h, "PutRecord", `{"StreamName":"s","PartitionKey":"k","Data":"","SequenceNumberForOrdering":"0"}`)
	mustOK(t, h, "IncreaseStreamRetentionPeriod", `{"StreamName":"s","RetentionPeriodHours":48}`)
	mustOK(t, h, "SplitShard", `{"StreamName":"s","ShardToSplit":"shardId-000000000000","NewStartingHashKey":"340282366920938463463374607431768211455"}`)
	mustOK(t, h, "MergeShards", `{"StreamName":"s","ShardToMerge":"shardId-000000000000","AdjacentShardToMerge":"shardId-000000000001"}`)
	mustOK(t, h, "ListStreams", `{"Limit":10000}`)
}

func mustOK(t *testing.T, h *Handler, op, body string) []byte {
	t.Helper()
	rec := serve(h, newRequest(op, body))
	if rec.Code != 200 {
		t.Fatalf("%s %.100s: %d %s", op, body, rec.Code, rec.Body)
	}
	checkCommonHeaders(t, rec)
	return rec.Body.Bytes()
}

func TestJavaLen(t *testing.T) {
	for s, want := range map[string]int{"": 0, "abc": 3, "ü": 1, "😀": 2, "a😀b": 4, "\xff": 1} {
		if got := javaLen(s); got != want {
			t.Errorf("javaLen(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestARNPatterns(t *testing.T) {
	tests := []struct {
		arn             string
		stream, resouce bool
	}{
		{"arn:aws:kinesis:us-east-1:123456789012:stream/s", true, true},
		{"arn:aws-cn:kinesis:cn-north-1:123456789012:stream/my.stream-1", true, true},
		{"arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1700000000", true, true},
		{"arn:aws:kinesis:us-east-1:12345678901:stream/s", false, false},
		{"arn:aws:kinesis:us-east-1:123456789012:stream/", false, false},
		{"arn:aws:kinesis:us-east-1:123456789012:stream/a b", false, false},
		{"arn:aws:kinesis:us-east-1:123456789012:stream/a\x0bb", false, false},
		{"arn:aws:kinesis:us-east\n-1:123456789012:stream/s", false, false},
		{"arn:aws:kinesis:us-east-1:123456789012:foo/stream/s", false, true},
		{"arn:aws:sqs:us-east-1:123456789012:stream/s", false, false},
	}
	for _, tt := range tests {
		if got := streamARNRule.match(tt.arn); got != tt.stream {
			t.Errorf("stream ARN %q: %v, want %v", tt.arn, got, tt.stream)
		}
		if got := resourceARNRule.match(tt.arn); got != tt.resouce {
			t.Errorf("resource ARN %q: %v, want %v", tt.arn, got, tt.resouce)
		}
	}
}

// AWS looks the stream up before it checks tag characters: a stream that
// does not exist is reported as such.
func TestTagChars_AfterExistence(t *testing.T) {
	h := New(newFakeService(), Options{})
	for op, body := range map[string]string{
		"AddTagsToStream":        `{"StreamName":"nope","Tags":{"a;b":"1"}}`,
		"RemoveTagsFromStream":   `{"StreamName":"nope","TagKeys":["a,b"]}`,
		"TagResource":            `{"ResourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/nope","Tags":{"a":"x;y"}}`,
		"UntagResource":          `{"ResourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/nope","TagKeys":["a;b"]}`,
		"RegisterStreamConsumer": `{"StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/nope","ConsumerName":"c","Tags":{"a;b":"1"}}`,
	} {
		if got := readError(t, serve(h, newRequest(op, body))); got.Code != "ResourceNotFoundException" {
			t.Errorf("%s: got %s %q, want ResourceNotFoundException", op, got.Code, got.Message)
		}
	}
}
