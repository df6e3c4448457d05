package auth

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// fakeResources answers the gate's lookups from maps.
type fakeResources struct {
	policies  map[string]string
	iterators map[string]string
	consumers map[string]string // stream ARN + "/" + name -> consumer ARN
}

func (f fakeResources) ResourcePolicy(_ context.Context, arn string) (string, error) {
	return f.policies[arn], nil
}

func (f fakeResources) TokenStream(it string) (string, bool) {
	s, ok := f.iterators[it]
	return s, ok
}

func (f fakeResources) ConsumerARN(_ context.Context, ref kinesis.ConsumerRef) string {
	return f.consumers[ref.StreamARN+"/"+ref.Name]
}

// Every method of the wrapped service is authorized on AWS's action and
// resource: a caller with no permissions is refused each, naming both.
func TestKinesis_ActionsAndResources(t *testing.T) {
	g := newGate(matrixConfig(t), testNow)
	const consumer = ordersARN + "/consumer/app:1700000000"
	res := fakeResources{
		iterators: map[string]string{"it-orders": "orders"},
		consumers: map[string]string{ordersARN + "/app": consumer},
	}
	svc := g.Kinesis(nil, res) // never reached: every call is refused
	orders := kinesis.StreamRef{Name: "orders"}
	byARN := kinesis.StreamRef{ARN: ordersARN}
	tests := []struct {
		action, resource string
		call             func(context.Context) error
	}{
		{"CreateStream", ordersARN, func(ctx context.Context) error {
			return svc.CreateStream(ctx, kinesis.CreateStreamInput{Name: "orders"})
		}},
		{"DeleteStream", ordersARN, func(ctx context.Context) error { return svc.DeleteStream(ctx, byARN, false) }},
		{"DescribeStream", ordersARN, func(ctx context.Context) error { _, err := svc.DescribeStream(ctx, orders); return err }},
		{"ListStreams", "*", func(ctx context.Context) error {
			_, err := svc.ListStreams(ctx, kinesis.ListStreamsInput{})
			return err
		}},
		{"ListShards", ordersARN, func(ctx context.Context) error {
			_, err := svc.ListShards(ctx, kinesis.ListShardsInput{Stream: orders})
			return err
		}},
		{"ListShards", ordersARN, func(ctx context.Context) error {
			_, err := svc.ListShards(ctx, kinesis.ListShardsInput{NextToken: "it-orders"})
			return err
		}},
		{"PutRecords", ordersARN, func(ctx context.Context) error { _, err := svc.PutRecords(ctx, orders, nil); return err }},
		{"GetShardIterator", ordersARN, func(ctx context.Context) error {
			_, err := svc.GetShardIterator(ctx, kinesis.GetShardIteratorInput{Stream: orders})
			return err
		}},
		{"GetRecords", ordersARN, func(ctx context.Context) error { _, err := svc.GetRecords(ctx, "it-orders", 10); return err }},
		{"IncreaseStreamRetentionPeriod", ordersARN, func(ctx context.Context) error { return svc.SetRetention(ctx, orders, 48, true) }},
		{"DecreaseStreamRetentionPeriod", ordersARN, func(ctx context.Context) error { return svc.SetRetention(ctx, orders, 24, false) }},
		{"AddTagsToStream", ordersARN, func(ctx context.Context) error { return svc.AddTags(ctx, orders, nil) }},
		{"RemoveTagsFromStream", ordersARN, func(ctx context.Context) error { return svc.RemoveTags(ctx, orders, nil) }},
		{"ListTagsForStream", ordersARN, func(ctx context.Context) error { _, err := svc.ListTags(ctx, orders); return err }},
		{"TagResource", consumer, func(ctx context.Context) error { return svc.TagResource(ctx, consumer, nil) }},
		{"UntagResource", ordersARN, func(ctx context.Context) error { return svc.UntagResource(ctx, ordersARN, nil) }},
		{"ListTagsForResource", ordersARN, func(ctx context.Context) error {
			_, err := svc.ListTagsForResource(ctx, ordersARN)
			return err
		}},
		{"DescribeLimits", "*", func(ctx context.Context) error { _, err := svc.DescribeLimits(ctx); return err }},
		{"SplitShard", ordersARN, func(ctx context.Context) error { return svc.SplitShard(ctx, orders, "shardId-0", "1") }},
		{"MergeShards", ordersARN, func(ctx context.Context) error { return svc.MergeShards(ctx, orders, "a", "b") }},
		{"UpdateMaxRecordSize", ordersARN, func(ctx context.Context) error { return svc.UpdateMaxRecordSize(ctx, orders, 2048) }},
		{"RegisterStreamConsumer", ordersARN, func(ctx context.Context) error {
			_, err := svc.RegisterStreamConsumer(ctx, ordersARN, "app", nil)
			return err
		}},
		{"DeregisterStreamConsumer", consumer, func(ctx context.Context) error {
			return svc.DeregisterStreamConsumer(ctx, kinesis.ConsumerRef{StreamARN: ordersARN, Name: "app"})
		}},
		{"DescribeStreamConsumer", ordersARN + "/consumer/gone", func(ctx context.Context) error {
			_, err := svc.DescribeStreamConsumer(ctx, kinesis.ConsumerRef{StreamARN: ordersARN, Name: "gone"})
			return err
		}},
		{"ListStreamConsumers", ordersARN, func(ctx context.Context) error {
			_, err := svc.ListStreamConsumers(ctx, kinesis.ListStreamConsumersInput{StreamARN: ordersARN})
			return err
		}},
		{"SubscribeToShard", consumer, func(ctx context.Context) error {
			_, err := svc.SubscribeToShard(ctx, kinesis.SubscribeToShardInput{ConsumerARN: consumer})
			return err
		}},
		{"EnableEnhancedMonitoring", ordersARN, func(ctx context.Context) error {
			_, err := svc.SetEnhancedMonitoring(ctx, orders, nil, true)
			return err
		}},
		{"DisableEnhancedMonitoring", ordersARN, func(ctx context.Context) error {
			_, err := svc.SetEnhancedMonitoring(ctx, orders, nil, false)
			return err
		}},
		{"PutResourcePolicy", ordersARN, func(ctx context.Context) error { return svc.PutResourcePolicy(ctx, ordersARN, "{}") }},
		{"GetResourcePolicy", consumer, func(ctx context.Context) error { _, err := svc.GetResourcePolicy(ctx, consumer); return err }},
		{"DeleteResourcePolicy", ordersARN, func(ctx context.Context) error { return svc.DeleteResourcePolicy(ctx, ordersARN) }},
		{"DescribeAccountSettings", "*", func(ctx context.Context) error { _, err := svc.DescribeAccountSettings(ctx); return err }},
		{"UpdateAccountSettings", "*", func(ctx context.Context) error { _, err := svc.UpdateAccountSettings(ctx, true); return err }},
		{"StartStreamEncryption", ordersARN, func(ctx context.Context) error {
			return svc.StartStreamEncryption(ctx, orders, "KMS", "alias/aws/kinesis")
		}},
		{"StopStreamEncryption", ordersARN, func(ctx context.Context) error {
			return svc.StopStreamEncryption(ctx, orders, "KMS", "alias/aws/kinesis")
		}},
		{"UpdateShardCount", ordersARN, func(ctx context.Context) error {
			_, err := svc.UpdateShardCount(ctx, orders, 2, "UNIFORM_SCALING")
			return err
		}},
		{"UpdateStreamMode", ordersARN, func(ctx context.Context) error {
			return svc.UpdateStreamMode(ctx, ordersARN, kinesis.StreamMode("ON_DEMAND"), nil)
		}},
		{"UpdateStreamWarmThroughput", ordersARN, func(ctx context.Context) error {
			_, err := svc.UpdateStreamWarmThroughput(ctx, orders, 10)
			return err
		}},
	}
	nobody := g.cfg.Load().Key("NOBODY").Principal
	for _, tt := range tests {
		// Without the operation in the context, the method's own action.
		ctx := WithIdentity(context.Background(), &Identity{Principal: nobody, Verified: true})
		err := tt.call(ctx)
		on := " on resource: " + tt.resource + " "
		if tt.resource == "*" {
			on = " "
		}
		want := "User: arn:aws:iam::123456789012:user/nobody is not authorized to perform: kinesis:" + tt.action + on
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q...", tt.action, err, want)
		}
	}
	// PutRecord and PutRecords share a method: the request's operation
	// names the action.
	ctx := WithIdentity(context.Background(), &Identity{Principal: nobody, Verified: true, Action: "kinesis:PutRecord"})
	if _, err := svc.PutRecords(ctx, orders, nil); err == nil || !strings.Contains(err.Error(), "perform: kinesis:PutRecord on") {
		t.Errorf("PutRecord: %v", err)
	}
}

// A stream's resource policy is enforced on the calls that name it, the
// root user included.
func TestKinesis_ResourcePolicy(t *testing.T) {
	g := newGate(nil, testNow)
	svc := g.Kinesis(nil, fakeResources{policies: map[string]string{ordersARN: resourcePolicies["deny all"]}})
	ctx := WithIdentity(context.Background(), &Identity{Principal: g.root, Action: "kinesis:PutRecord"})
	_, err := svc.PutRecords(ctx, kinesis.StreamRef{Name: "orders"}, nil)
	if err == nil || !strings.HasSuffix(err.Error(), "with an explicit deny in a resource-based policy") {
		t.Fatalf("PutRecord under a Deny: %v", err)
	}
	if kinesis.CodeOf(err) != kinesis.ErrAccessDenied {
		t.Fatalf("code %s", kinesis.CodeOf(err))
	}
}
