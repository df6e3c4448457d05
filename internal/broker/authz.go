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

// IteratorStream returns the name of the stream a shard iterator reads,
// if it is one this server's secret signed (expired or not).
func (b *Broker) IteratorStream(iterator string) (string, bool) {
	t, err := b.tokens.decodeIterator(iterator)
	if err != nil {
		return "", false
	}
	return t.StreamName, true
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
