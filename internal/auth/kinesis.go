package auth

import (
	"context"
	"strings"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// KinesisResources is what authorizing Kinesis calls needs of the service
// beyond its API, answered without a store round trip.
type KinesisResources interface {
	// ResourcePolicy returns the policy attached to the stream or consumer
	// arn names; "" when none, or when there is no such resource.
	ResourcePolicy(ctx context.Context, arn string) (string, error)
	// TokenStream names the stream a shard iterator reads, or a ListShards
	// NextToken pages through, if the token is genuine.
	TokenStream(token string) (string, bool)
	// ConsumerARN returns the ARN of the consumer ref names, "" if none.
	ConsumerARN(ctx context.Context, ref kinesis.ConsumerRef) string
}

// Kinesis wraps svc so that every call is authorized before it runs: each
// method maps to its IAM action (kinesis:<Operation>, the operation taken
// from the request when one method serves two, as PutRecords serves
// PutRecord) and to the resource AWS authorizes it on.
//
// Every method of kinesis.Service is written out here, none embedded, so
// that a method added to the interface does not compile until it is
// given its action and resource.
func (g *Gate) Kinesis(svc kinesis.Service, res KinesisResources) kinesis.Service {
	return &kinesisGate{svc: svc, res: res, g: g}
}

type kinesisGate struct {
	svc kinesis.Service
	res KinesisResources
	g   *Gate
}

var _ kinesis.CallAdmitter = (*kinesisGate)(nil)

// AdmitCall passes rate limiting on to the service, when it limits.
func (k *kinesisGate) AdmitCall(op string, target func() kinesis.CallTarget) (func(), error) {
	if a, ok := k.svc.(kinesis.CallAdmitter); ok {
		return a.AdmitCall(op, target)
	}
	return func() {}, nil
}

// check authorizes the call: op is the operation the method serves
// (overridden by the request's, for methods serving two), resource its
// ARN, or "*" for calls on no resource. An empty resource means the call
// names nothing valid: the service refuses it without touching anything.
func (k *kinesisGate) check(ctx context.Context, op, resource string) error {
	action := "kinesis:" + op
	if id := IdentityFrom(ctx); id != nil && strings.HasPrefix(id.Action, "kinesis:") {
		action = id.Action
	}
	if resource == "" {
		return nil
	}
	policy := ""
	if resource != "*" {
		var err error
		if policy, err = k.res.ResourcePolicy(ctx, resource); err != nil {
			return err
		}
	}
	return k.g.Authorize(ctx, action, resource, policy)
}

func (k *kinesisGate) streamARN(ref kinesis.StreamRef) string {
	if ref.ARN != "" {
		return ref.ARN
	}
	if ref.Name == "" {
		return ""
	}
	return kinesis.StreamARN(k.g.region, k.g.account, ref.Name)
}

func (k *kinesisGate) consumerARN(ctx context.Context, ref kinesis.ConsumerRef) string {
	if ref.ARN != "" {
		return ref.ARN
	}
	if ref.StreamARN == "" || ref.Name == "" {
		return ""
	}
	if arn := k.res.ConsumerARN(ctx, ref); arn != "" {
		return arn
	}
	// No such consumer: authorize on its name all the same, so that who
	// may not look learns nothing of what exists.
	return ref.StreamARN + "/consumer/" + ref.Name
}

func (k *kinesisGate) CreateStream(ctx context.Context, in kinesis.CreateStreamInput) error {
	if err := k.check(ctx, "CreateStream", k.streamARN(kinesis.StreamRef{Name: in.Name})); err != nil {
		return err
	}
	return k.svc.CreateStream(ctx, in)
}

func (k *kinesisGate) DeleteStream(ctx context.Context, ref kinesis.StreamRef, enforceConsumerDeletion bool) error {
	if err := k.check(ctx, "DeleteStream", k.streamARN(ref)); err != nil {
		return err
	}
	return k.svc.DeleteStream(ctx, ref, enforceConsumerDeletion)
}

func (k *kinesisGate) DescribeStream(ctx context.Context, ref kinesis.StreamRef) (kinesis.StreamDescription, error) {
	if err := k.check(ctx, "DescribeStream", k.streamARN(ref)); err != nil {
		return kinesis.StreamDescription{}, err
	}
	return k.svc.DescribeStream(ctx, ref)
}

func (k *kinesisGate) ListStreams(ctx context.Context, in kinesis.ListStreamsInput) (kinesis.ListStreamsOutput, error) {
	if err := k.check(ctx, "ListStreams", "*"); err != nil {
		return kinesis.ListStreamsOutput{}, err
	}
	return k.svc.ListStreams(ctx, in)
}

func (k *kinesisGate) ListShards(ctx context.Context, in kinesis.ListShardsInput) (kinesis.ListShardsOutput, error) {
	resource := k.streamARN(in.Stream)
	if name, ok := k.res.TokenStream(in.NextToken); ok && resource == "" {
		resource = k.streamARN(kinesis.StreamRef{Name: name}) // a later page
	}
	if err := k.check(ctx, "ListShards", resource); err != nil {
		return kinesis.ListShardsOutput{}, err
	}
	return k.svc.ListShards(ctx, in)
}

func (k *kinesisGate) PutRecords(ctx context.Context, ref kinesis.StreamRef, entries []kinesis.PutRecordEntry) ([]kinesis.PutRecordResult, error) {
	if err := k.check(ctx, "PutRecords", k.streamARN(ref)); err != nil {
		return nil, err
	}
	return k.svc.PutRecords(ctx, ref, entries)
}

func (k *kinesisGate) GetShardIterator(ctx context.Context, in kinesis.GetShardIteratorInput) (string, error) {
	if err := k.check(ctx, "GetShardIterator", k.streamARN(in.Stream)); err != nil {
		return "", err
	}
	return k.svc.GetShardIterator(ctx, in)
}

func (k *kinesisGate) GetRecords(ctx context.Context, iterator string, limit int) (kinesis.GetRecordsOutput, error) {
	// An iterator that is not genuine reads nothing: the service refuses it.
	resource := ""
	if name, ok := k.res.TokenStream(iterator); ok {
		resource = k.streamARN(kinesis.StreamRef{Name: name})
	}
	if err := k.check(ctx, "GetRecords", resource); err != nil {
		return kinesis.GetRecordsOutput{}, err
	}
	return k.svc.GetRecords(ctx, iterator, limit)
}

func (k *kinesisGate) SetRetention(ctx context.Context, ref kinesis.StreamRef, hours int, increase bool) error {
	op := "DecreaseStreamRetentionPeriod"
	if increase {
		op = "IncreaseStreamRetentionPeriod"
	}
	if err := k.check(ctx, op, k.streamARN(ref)); err != nil {
		return err
	}
	return k.svc.SetRetention(ctx, ref, hours, increase)
}

func (k *kinesisGate) AddTags(ctx context.Context, ref kinesis.StreamRef, tags map[string]string) error {
	if err := k.check(ctx, "AddTagsToStream", k.streamARN(ref)); err != nil {
		return err
	}
	return k.svc.AddTags(ctx, ref, tags)
}

func (k *kinesisGate) RemoveTags(ctx context.Context, ref kinesis.StreamRef, keys []string) error {
	if err := k.check(ctx, "RemoveTagsFromStream", k.streamARN(ref)); err != nil {
		return err
	}
	return k.svc.RemoveTags(ctx, ref, keys)
}

func (k *kinesisGate) ListTags(ctx context.Context, ref kinesis.StreamRef) (map[string]string, error) {
	if err := k.check(ctx, "ListTagsForStream", k.streamARN(ref)); err != nil {
		return nil, err
	}
	return k.svc.ListTags(ctx, ref)
}

func (k *kinesisGate) TagResource(ctx context.Context, arn string, tags map[string]string) error {
	if err := k.check(ctx, "TagResource", arn); err != nil {
		return err
	}
	return k.svc.TagResource(ctx, arn, tags)
}

func (k *kinesisGate) UntagResource(ctx context.Context, arn string, keys []string) error {
	if err := k.check(ctx, "UntagResource", arn); err != nil {
		return err
	}
	return k.svc.UntagResource(ctx, arn, keys)
}

func (k *kinesisGate) ListTagsForResource(ctx context.Context, arn string) (map[string]string, error) {
	if err := k.check(ctx, "ListTagsForResource", arn); err != nil {
		return nil, err
	}
	return k.svc.ListTagsForResource(ctx, arn)
}

func (k *kinesisGate) DescribeLimits(ctx context.Context) (kinesis.Limits, error) {
	if err := k.check(ctx, "DescribeLimits", "*"); err != nil {
		return kinesis.Limits{}, err
	}
	return k.svc.DescribeLimits(ctx)
}

func (k *kinesisGate) SplitShard(ctx context.Context, ref kinesis.StreamRef, shardID, newStartingHashKey string) error {
	if err := k.check(ctx, "SplitShard", k.streamARN(ref)); err != nil {
		return err
	}
	return k.svc.SplitShard(ctx, ref, shardID, newStartingHashKey)
}

func (k *kinesisGate) MergeShards(ctx context.Context, ref kinesis.StreamRef, shardToMerge, adjacentShardToMerge string) error {
	if err := k.check(ctx, "MergeShards", k.streamARN(ref)); err != nil {
		return err
	}
	return k.svc.MergeShards(ctx, ref, shardToMerge, adjacentShardToMerge)
}

func (k *kinesisGate) UpdateMaxRecordSize(ctx context.Context, ref kinesis.StreamRef, kib int) error {
	if err := k.check(ctx, "UpdateMaxRecordSize", k.streamARN(ref)); err != nil {
		return err
	}
	return k.svc.UpdateMaxRecordSize(ctx, ref, kib)
}

func (k *kinesisGate) RegisterStreamConsumer(ctx context.Context, streamARN, name string, tags map[string]string) (kinesis.ConsumerDescription, error) {
	if err := k.check(ctx, "RegisterStreamConsumer", streamARN); err != nil {
		return kinesis.ConsumerDescription{}, err
	}
	return k.svc.RegisterStreamConsumer(ctx, streamARN, name, tags)
}

func (k *kinesisGate) DeregisterStreamConsumer(ctx context.Context, ref kinesis.ConsumerRef) error {
	if err := k.check(ctx, "DeregisterStreamConsumer", k.consumerARN(ctx, ref)); err != nil {
		return err
	}
	return k.svc.DeregisterStreamConsumer(ctx, ref)
}

func (k *kinesisGate) DescribeStreamConsumer(ctx context.Context, ref kinesis.ConsumerRef) (kinesis.ConsumerDescription, error) {
	if err := k.check(ctx, "DescribeStreamConsumer", k.consumerARN(ctx, ref)); err != nil {
		return kinesis.ConsumerDescription{}, err
	}
	return k.svc.DescribeStreamConsumer(ctx, ref)
}

func (k *kinesisGate) ListStreamConsumers(ctx context.Context, in kinesis.ListStreamConsumersInput) (kinesis.ListStreamConsumersOutput, error) {
	if err := k.check(ctx, "ListStreamConsumers", in.StreamARN); err != nil {
		return kinesis.ListStreamConsumersOutput{}, err
	}
	return k.svc.ListStreamConsumers(ctx, in)
}

func (k *kinesisGate) SubscribeToShard(ctx context.Context, in kinesis.SubscribeToShardInput) (kinesis.Subscription, error) {
	if err := k.check(ctx, "SubscribeToShard", in.ConsumerARN); err != nil {
		return nil, err
	}
	return k.svc.SubscribeToShard(ctx, in)
}

func (k *kinesisGate) SetEnhancedMonitoring(ctx context.Context, ref kinesis.StreamRef, metrics []string, enable bool) (kinesis.MonitoringOutput, error) {
	op := "DisableEnhancedMonitoring"
	if enable {
		op = "EnableEnhancedMonitoring"
	}
	if err := k.check(ctx, op, k.streamARN(ref)); err != nil {
		return kinesis.MonitoringOutput{}, err
	}
	return k.svc.SetEnhancedMonitoring(ctx, ref, metrics, enable)
}

// PutResourcePolicy also refuses a policy this server could not enforce,
// rather than store one it would misread.
func (k *kinesisGate) PutResourcePolicy(ctx context.Context, arn, policy string) error {
	if err := k.check(ctx, "PutResourcePolicy", arn); err != nil {
		return err
	}
	if _, err := ParsePolicy(policy, ResourcePolicy); err != nil {
		return kinesis.Errorf(kinesis.ErrInvalidArgument, "Policy is not a valid policy document: %v.", err)
	}
	return k.svc.PutResourcePolicy(ctx, arn, policy)
}

func (k *kinesisGate) GetResourcePolicy(ctx context.Context, arn string) (string, error) {
	if err := k.check(ctx, "GetResourcePolicy", arn); err != nil {
		return "", err
	}
	return k.svc.GetResourcePolicy(ctx, arn)
}

func (k *kinesisGate) DeleteResourcePolicy(ctx context.Context, arn string) error {
	if err := k.check(ctx, "DeleteResourcePolicy", arn); err != nil {
		return err
	}
	return k.svc.DeleteResourcePolicy(ctx, arn)
}

func (k *kinesisGate) DescribeAccountSettings(ctx context.Context) (kinesis.AccountSettings, error) {
	if err := k.check(ctx, "DescribeAccountSettings", "*"); err != nil {
		return kinesis.AccountSettings{}, err
	}
	return k.svc.DescribeAccountSettings(ctx)
}

func (k *kinesisGate) UpdateAccountSettings(ctx context.Context, enableCommitment bool) (kinesis.AccountSettings, error) {
	if err := k.check(ctx, "UpdateAccountSettings", "*"); err != nil {
		return kinesis.AccountSettings{}, err
	}
	return k.svc.UpdateAccountSettings(ctx, enableCommitment)
}

func (k *kinesisGate) StartStreamEncryption(ctx context.Context, ref kinesis.StreamRef, encryptionType, keyID string) error {
	if err := k.check(ctx, "StartStreamEncryption", k.streamARN(ref)); err != nil {
		return err
	}
	return k.svc.StartStreamEncryption(ctx, ref, encryptionType, keyID)
}

func (k *kinesisGate) StopStreamEncryption(ctx context.Context, ref kinesis.StreamRef, encryptionType, keyID string) error {
	if err := k.check(ctx, "StopStreamEncryption", k.streamARN(ref)); err != nil {
		return err
	}
	return k.svc.StopStreamEncryption(ctx, ref, encryptionType, keyID)
}

func (k *kinesisGate) UpdateShardCount(ctx context.Context, ref kinesis.StreamRef, target int, scalingType string) (kinesis.UpdateShardCountOutput, error) {
	if err := k.check(ctx, "UpdateShardCount", k.streamARN(ref)); err != nil {
		return kinesis.UpdateShardCountOutput{}, err
	}
	return k.svc.UpdateShardCount(ctx, ref, target, scalingType)
}

func (k *kinesisGate) UpdateStreamMode(ctx context.Context, streamARN string, mode kinesis.StreamMode, warmMiBps *int) error {
	if err := k.check(ctx, "UpdateStreamMode", streamARN); err != nil {
		return err
	}
	return k.svc.UpdateStreamMode(ctx, streamARN, mode, warmMiBps)
}

func (k *kinesisGate) UpdateStreamWarmThroughput(ctx context.Context, ref kinesis.StreamRef, mibps int) (kinesis.WarmThroughputOutput, error) {
	if err := k.check(ctx, "UpdateStreamWarmThroughput", k.streamARN(ref)); err != nil {
		return kinesis.WarmThroughputOutput{}, err
	}
	return k.svc.UpdateStreamWarmThroughput(ctx, ref, mibps)
}
