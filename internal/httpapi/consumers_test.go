package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// TestValidation_NewOperations checks the model validation of the consumer,
// monitoring, resource policy and account settings operations.
func TestValidation_NewOperations(t *testing.T) {
	arn := "arn:aws:kinesis:us-east-1:123456789012:stream/s"
	tests := []struct {
		op, body string
		code     string
		want     string
	}{
		{"RegisterStreamConsumer", `{}`, "ValidationException",
			"2 validation errors detected: " +
				"Value null at 'streamARN' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'consumerName' failed to satisfy constraint: Member must not be null"},
		{"RegisterStreamConsumer", `{"StreamARN":"` + arn + `","ConsumerName":"a b"}`, "ValidationException",
			"1 validation error detected: Value 'a b' at 'consumerName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"},
		{"RegisterStreamConsumer", `{"StreamARN":"` + arn + `","ConsumerName":"` + strings.Repeat("c", 129) + `"}`, "ValidationException",
			"1 validation error detected: Value '" + strings.Repeat("c", 129) + "' at 'consumerName' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"DescribeStreamConsumer", `{"ConsumerARN":"` + arn + `"}`, "ValidationException",
			"1 validation error detected: Value '" + arn + "' at 'consumerARN' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/[a-zA-Z0-9_.-]+:[0-9]+"},
		{"DeregisterStreamConsumer", `{"StreamARN":"x","ConsumerName":""}`, "ValidationException",
			"3 validation errors detected: " +
				"Value 'x' at 'streamARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+; " +
				"Value '' at 'consumerName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; " +
				"Value '' at 'consumerName' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"ListStreamConsumers", `{"MaxResults":0}`, "ValidationException",
			"2 validation errors detected: " +
				"Value null at 'streamARN' failed to satisfy constraint: Member must not be null; " +
				"Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"EnableEnhancedMonitoring", `{"StreamName":"s"}`, "ValidationException",
			"1 validation error detected: Value null at 'shardLevelMetrics' failed to satisfy constraint: Member must not be null"},
		{"DisableEnhancedMonitoring", `{"StreamName":"s","ShardLevelMetrics":["Bogus"]}`, "ValidationException",
			"1 validation error detected: Value '[Bogus]' at 'shardLevelMetrics' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [IncomingBytes, IncomingRecords, OutgoingBytes, OutgoingRecords, WriteProvisionedThroughputExceeded, ReadProvisionedThroughputExceeded, IteratorAgeMilliseconds, ALL]]"},
		{"EnableEnhancedMonitoring", `{"StreamName":"s","ShardLevelMetrics":[]}`, "ValidationException",
			"1 validation error detected: Value '[]' at 'shardLevelMetrics' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"EnableEnhancedMonitoring", `{"ShardLevelMetrics":["ALL"]}`, "InvalidArgumentException",
			"Either StreamName or StreamARN should be provided."},
		{"PutResourcePolicy", `{}`, "ValidationException",
			"2 validation errors detected: " +
				"Value null at 'resourceARN' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'policy' failed to satisfy constraint: Member must not be null"},
		{"GetResourcePolicy", `{"ResourceARN":"x"}`, "ValidationException",
			"1 validation error detected: Value 'x' at 'resourceARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+"},
		{"DeleteResourcePolicy", `{}`, "ValidationException",
			"1 validation error detected: Value null at 'resourceARN' failed to satisfy constraint: Member must not be null"},
		{"UpdateAccountSettings", `{}`, "ValidationException",
			"1 validation error detected: Value null at 'minimumThroughputBillingCommitment' failed to satisfy constraint: Member must not be null"},
		{"UpdateAccountSettings", `{"MinimumThroughputBillingCommitment":{"Status":"ENABLED_UNTIL_EARLIEST_ALLOWED_END"}}`, "ValidationException",
			"1 validation error detected: Value 'ENABLED_UNTIL_EARLIEST_ALLOWED_END' at 'minimumThroughputBillingCommitment.status' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"},
	}
	h := New(newFakeService(), Options{})
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			rec := serve(h, newRequest(tt.op, tt.body))
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, body %s", rec.Code, rec.Body)
			}
			e := readError(t, rec)
			if e.Code != tt.code || e.Message != tt.want {
				t.Errorf("got %s: %s\nwant %s: %s", e.Code, e.Message, tt.code, tt.want)
			}
		})
	}
}

// TestCBOR_NewOperations sends the consumer and settings operations as the
// Java SDK (and so KCL, which registers consumers) does, in CBOR.
func TestCBOR_NewOperations(t *testing.T) {
	h, svc := newCBORTestHandler(t)
	arn := "arn:aws:kinesis:us-east-1:123456789012:stream/s"

	var reg struct{ Consumer map[string]any }
	decodeCBOROK(t, serveCBOR(t, h, "RegisterStreamConsumer", map[string]any{"StreamARN": arn, "ConsumerName": "kcl"}), &reg)
	if reg.Consumer["ConsumerName"] != "kcl" || reg.Consumer["ConsumerStatus"] != "ACTIVE" {
		t.Errorf("Consumer = %v", reg.Consumer)
	}
	// The decoder reads tag 1 as seconds: milliseconds come back as seconds.
	if ts, ok := reg.Consumer["ConsumerCreationTimestamp"].(time.Time); !ok || ts.Unix() != svc.now.UnixMilli() {
		t.Errorf("ConsumerCreationTimestamp = %#v, want tag 1 of epoch milliseconds", reg.Consumer["ConsumerCreationTimestamp"])
	}

	var list struct{ Consumers []map[string]any }
	decodeCBOROK(t, serveCBOR(t, h, "ListStreamConsumers", map[string]any{"StreamARN": arn, "StreamCreationTimestamp": cborTime(svc.now)}), &list)
	if len(list.Consumers) != 1 || list.Consumers[0]["ConsumerARN"] != arn+"/consumer/kcl:"+strconv.FormatInt(svc.now.Unix(), 10) {
		t.Errorf("Consumers = %v", list.Consumers)
	}
	if in := svc.lastCall("ListStreamConsumers").(kinesis.ListStreamConsumersInput); in.StreamCreationTimestamp == nil || !in.StreamCreationTimestamp.Equal(svc.now.Truncate(time.Millisecond)) {
		t.Errorf("service got %+v", in)
	}

	var mon map[string]any
	decodeCBOROK(t, serveCBOR(t, h, "DisableEnhancedMonitoring", map[string]any{"StreamName": "s", "ShardLevelMetrics": []string{"ALL"}}), &mon)
	if d, ok := mon["DesiredShardLevelMetrics"].([]any); !ok || len(d) != 0 {
		t.Errorf("DesiredShardLevelMetrics = %#v, want []", mon["DesiredShardLevelMetrics"])
	}

	var acct struct{ MinimumThroughputBillingCommitment map[string]any }
	decodeCBOROK(t, serveCBOR(t, h, "UpdateAccountSettings", map[string]any{"MinimumThroughputBillingCommitment": map[string]any{"Status": "ENABLED"}}), &acct)
	if m := acct.MinimumThroughputBillingCommitment; m["Status"] != "ENABLED" || m["StartedAt"] == nil || m["EndedAt"] != nil {
		t.Errorf("MinimumThroughputBillingCommitment = %v", m)
	}
	var desc struct{ MinimumThroughputBillingCommitment map[string]any }
	decodeCBOROK(t, serveCBOR(t, h, "DescribeAccountSettings", []byte{0xa0}), &desc)
	if m := desc.MinimumThroughputBillingCommitment; m["Status"] != "DISABLED" || len(m) != 1 {
		t.Errorf("MinimumThroughputBillingCommitment = %v", m)
	}
}
