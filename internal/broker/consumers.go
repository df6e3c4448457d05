package broker

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Stream consumers (enhanced fan-out registrations) live in their stream's
// metadata, so they change by the same compare-and-swap as the stream and
// go with it when it is deleted. CREATING turns ACTIVE at a time stored in
// the consumer, like a stream's create delay. Deregistering marks the
// consumer DELETING until a stored time (ConsumerDeleteDelay) after which
// it is gone: every read skips it, and the next change to the stream's
// consumers drops it from the metadata.

// RegisterStreamConsumer registers a consumer with an ACTIVE stream.
func (b *Broker) RegisterStreamConsumer(ctx context.Context, streamARN, name string, tags map[string]string) (kinesis.ConsumerDescription, error) {
	stream, err := b.resolve(kinesis.StreamRef{ARN: streamARN})
	if err != nil {
		return kinesis.ConsumerDescription{}, err
	}
	if len(tags) > kinesis.MaxTagsPerStream {
		return kinesis.ConsumerDescription{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "Failed to register consumer %s because a consumer cannot have more than %d tags.", name, kinesis.MaxTagsPerStream)
	}
	if err := validateTags(tags); err != nil {
		return kinesis.ConsumerDescription{}, err
	}
	var c kinesis.Consumer
	s, err := b.update(ctx, stream, func(s *kinesis.Stream) error {
		if err := b.requireActive(s); err != nil {
			return err
		}
		now := b.cfg.Now().Truncate(time.Millisecond)
		b.dropGoneConsumers(s, now)
		if c, ok := s.Consumer(name); ok {
			if c.Status(now) == kinesis.ConsumerDeleting {
				// As on AWS, a name is free again only once its
				// consumer is gone.
				return kinesis.Errorf(kinesis.ErrResourceInUse, "Consumer %s under stream %s for account %s is in DELETING state and cannot be registered again until it is deleted.", name, s.Name, b.cfg.AccountID)
			}
			return kinesis.Errorf(kinesis.ErrResourceInUse, "Consumer %s under stream %s already exists for account %s.", name, s.Name, b.cfg.AccountID)
		}
		if len(s.Consumers) >= kinesis.MaxConsumersPerStream {
			return kinesis.Errorf(kinesis.ErrLimitExceeded, "Stream %s under account %s has reached the limit of %d consumers.", s.Name, b.cfg.AccountID, kinesis.MaxConsumersPerStream)
		}
		creating := 0
		for i := range s.Consumers {
			if s.Consumers[i].Status(now) == kinesis.ConsumerCreating {
				creating++
			}
		}
		if creating >= kinesis.MaxCreatingConsumers {
			return kinesis.Errorf(kinesis.ErrLimitExceeded, "Stream %s under account %s already has %d consumers in CREATING state.", s.Name, b.cfg.AccountID, creating)
		}
		c = kinesis.Consumer{
			Name:      name,
			ARN:       kinesis.ConsumerARN(s.ARN, name, now),
			CreatedAt: now,
			ActiveAt:  now.Add(b.cfg.ConsumerCreateDelay),
			Tags:      maps.Clone(tags),
		}
		s.Consumers = append(s.Consumers, c)
		return nil
	})
	if err != nil {
		return kinesis.ConsumerDescription{}, err
	}
	b.cfg.Logger.Info("stream consumer registered", "stream", stream, "consumer", name)
	return b.describeConsumer(s, &c), nil
}

// DeregisterStreamConsumer puts a consumer in DELETING for the consumer
// delete delay, after which it is gone; with no delay it is gone at once.
// Deregistering a consumer already DELETING changes nothing.
func (b *Broker) DeregisterStreamConsumer(ctx context.Context, ref kinesis.ConsumerRef) error {
	stream, err := b.resolveConsumer(ref)
	if err != nil {
		return err
	}
	_, err = b.update(ctx, stream, func(s *kinesis.Stream) error {
		now := b.cfg.Now().Truncate(time.Millisecond)
		b.dropGoneConsumers(s, now)
		i, err := b.findConsumer(s, ref)
		if err != nil {
			return err
		}
		switch c := &s.Consumers[i]; {
		case b.cfg.ConsumerDeleteDelay <= 0:
			s.Consumers = slices.Delete(s.Consumers, i, i+1)
		case c.GoneAt.IsZero():
			c.GoneAt = now.Add(b.cfg.ConsumerDeleteDelay)
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.cfg.Logger.Info("stream consumer deregistered", "stream", stream, "consumer", ref.Name, "arn", ref.ARN)
	return nil
}

// DescribeStreamConsumer describes one consumer.
func (b *Broker) DescribeStreamConsumer(ctx context.Context, ref kinesis.ConsumerRef) (kinesis.ConsumerDescription, error) {
	stream, err := b.resolveConsumer(ref)
	if err != nil {
		return kinesis.ConsumerDescription{}, err
	}
	s, _, err := b.loadStream(ctx, stream)
	if err != nil {
		return kinesis.ConsumerDescription{}, err
	}
	i, err := b.findConsumer(s, ref)
	if err != nil {
		return kinesis.ConsumerDescription{}, err
	}
	return b.describeConsumer(s, &s.Consumers[i]), nil
}

// ListStreamConsumers pages through a stream's consumers in name order.
func (b *Broker) ListStreamConsumers(ctx context.Context, in kinesis.ListStreamConsumersInput) (kinesis.ListStreamConsumersOutput, error) {
	stream, err := b.resolve(kinesis.StreamRef{ARN: in.StreamARN})
	if err != nil {
		return kinesis.ListStreamConsumersOutput{}, err
	}
	s, _, err := b.loadStream(ctx, stream)
	if err != nil {
		return kinesis.ListStreamConsumersOutput{}, err
	}
	if ts := in.StreamCreationTimestamp; ts != nil && !ts.Equal(s.CreatedAt) {
		return kinesis.ListStreamConsumersOutput{}, kinesis.StreamNotFound(stream, b.cfg.AccountID)
	}
	after := ""
	if in.NextToken != "" {
		t, err := b.decodePageToken(in.NextToken, pageConsumers)
		if err != nil {
			return kinesis.ListStreamConsumersOutput{}, err
		}
		if t.Stream != s.Name || t.StreamID != s.ID {
			return kinesis.ListStreamConsumersOutput{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "Invalid NextToken.")
		}
		after = t.After
	}
	limit := in.MaxResults
	if limit <= 0 || limit > kinesis.DefaultListConsumersMax {
		limit = kinesis.DefaultListConsumersMax
	}
	consumers := slices.Clone(s.Consumers)
	slices.SortFunc(consumers, func(x, y kinesis.Consumer) int { return strings.Compare(x.Name, y.Name) })
	out := kinesis.ListStreamConsumersOutput{Consumers: []kinesis.ConsumerDescription{}}
	now := b.cfg.Now()
	for i := range consumers {
		c := &consumers[i]
		if c.Name <= after || c.Gone(now) {
			continue
		}
		if len(out.Consumers) == limit {
			last := out.Consumers[len(out.Consumers)-1].Name
			out.NextToken = b.encodePageToken(pageToken{Kind: pageConsumers, Stream: s.Name, StreamID: s.ID, After: last})
			break
		}
		out.Consumers = append(out.Consumers, b.describeConsumer(s, c))
	}
	return out, nil
}

func (b *Broker) describeConsumer(s *kinesis.Stream, c *kinesis.Consumer) kinesis.ConsumerDescription {
	return kinesis.ConsumerDescription{
		Name:      c.Name,
		ARN:       c.ARN,
		Status:    c.Status(b.cfg.Now()),
		CreatedAt: c.CreatedAt,
		StreamARN: s.ARN,
	}
}

// resolveConsumer checks a consumer reference and returns the name of the
// consumer's stream: either ref.ARN, or both ref.StreamARN and ref.Name,
// must be given, and what is given must agree.
func (b *Broker) resolveConsumer(ref kinesis.ConsumerRef) (string, error) {
	streamARN := ref.StreamARN
	if ref.ARN != "" {
		arnStream, name, _, ok := kinesis.ParseConsumerARN(ref.ARN)
		if !ok {
			return "", kinesis.Errorf(kinesis.ErrInvalidArgument, "ConsumerARN %s is not a valid consumer ARN.", ref.ARN)
		}
		if (ref.StreamARN != "" && ref.StreamARN != arnStream) || (ref.Name != "" && ref.Name != name) {
			return "", kinesis.Errorf(kinesis.ErrInvalidArgument, "ConsumerARN %s does not agree with the StreamARN and ConsumerName given.", ref.ARN)
		}
		streamARN = arnStream
	} else if ref.StreamARN == "" || ref.Name == "" {
		return "", kinesis.Errorf(kinesis.ErrInvalidArgument, "Either ConsumerARN or both StreamARN and ConsumerName must be provided.")
	}
	return b.resolve(kinesis.StreamRef{ARN: streamARN})
}

// findConsumer returns the index of the consumer ref names in s. A
// ConsumerARN must match exactly: one of a consumer since deregistered and
// registered again under the same name names nothing.
func (b *Broker) findConsumer(s *kinesis.Stream, ref kinesis.ConsumerRef) (int, error) {
	now := b.cfg.Now()
	for i := range s.Consumers {
		c := &s.Consumers[i]
		if c.Gone(now) {
			continue
		}
		if ref.ARN != "" && c.ARN == ref.ARN || ref.ARN == "" && c.Name == ref.Name {
			return i, nil
		}
	}
	what := ref.ARN
	if what == "" {
		what = ref.Name
	}
	return 0, kinesis.Errorf(kinesis.ErrResourceNotFound, "Consumer %s under stream %s under account %s not found.", what, s.Name, b.cfg.AccountID)
}

// dropGoneConsumers removes from s the consumers whose DELETING time is
// over.
func (b *Broker) dropGoneConsumers(s *kinesis.Stream, now time.Time) {
	s.Consumers = slices.DeleteFunc(s.Consumers, func(c kinesis.Consumer) bool { return c.Gone(now) })
}

// consumerCount is how many consumers s has, DELETING ones included.
func (b *Broker) consumerCount(s *kinesis.Stream) int {
	now := b.cfg.Now()
	n := 0
	for i := range s.Consumers {
		if !s.Consumers[i].Gone(now) {
			n++
		}
	}
	return n
}
