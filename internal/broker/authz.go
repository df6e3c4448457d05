package broker

import (
	"context"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// What the authorizer asks of the broker to decide a request before it
// runs: every answer comes from the metadata cache, so deciding costs no
// store round trip on the data plane.

// ResourcePolicy returns the resource policy attached to the stream or
// consumer arn names: "" when it has none, or when there is no such
// resource (the operation then reports that itself).
func (b *Broker) ResourcePolicy(ctx context.Context, arn string) (string, error) {
	r, err := b.resolveResource(arn)
	if err != nil {
		return "", nil
	}
	s, err := b.stream(ctx, r.stream)
	if err != nil {
		if kinesis.CodeOf(err) == kinesis.ErrResourceNotFound {
			return "", nil
		}
		return "", err
	}
	_, policy, err := b.resourceFields(s, r)
	if err != nil {
		return "", nil
	}
	return *policy, nil
}

// TokenStream returns the name of the stream a shard iterator reads, or a
// ListShards NextToken pages through, if this server's secret signed it
// (an iterator expired or not).
func (b *Broker) TokenStream(token string) (string, bool) {
	if t, err := b.tokens.decodeIterator(token); err == nil {
		return t.StreamName, true
	}
	if t, err := b.decodePageToken(token, pageShards); err == nil {
		return t.Stream, true
	}
	return "", false
}

// ConsumerARN returns the ARN of the consumer ref names by its stream's
// ARN and its name, or "" when there is none.
func (b *Broker) ConsumerARN(ctx context.Context, ref kinesis.ConsumerRef) string {
	if ref.ARN != "" {
		return ref.ARN
	}
	name, err := b.resolveConsumer(ref)
	if err != nil {
		return ""
	}
	s, err := b.stream(ctx, name)
	if err != nil {
		return ""
	}
	i, err := b.findConsumer(s, ref)
	if err != nil {
		return ""
	}
	return s.Consumers[i].ARN
}
