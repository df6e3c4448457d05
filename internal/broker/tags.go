package broker

import (
	"context"
	"maps"
	"strings"
	"unicode"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// validateTags checks tag characters: Unicode letters, digits, white space
// and _ . / = + - % @, as AWS allows.
func validateTags(tags map[string]string) error {
	for k, v := range tags {
		if !validTagText(k) || !validTagText(v) {
			return kinesis.Errorf(kinesis.ErrInvalidArgument, "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - %% @.")
		}
	}
	return nil
}

func validTagText(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Z, r) || strings.ContainsRune(kinesis.TagPunctuation, r) {
			continue
		}
		return false
	}
	return true
}

// AddTags adds or overwrites tags of a stream.
func (b *Broker) AddTags(ctx context.Context, ref kinesis.StreamRef, tags map[string]string) error {
	name, err := b.resolve(ref)
	if err != nil {
		return err
	}
	if err := validateTags(tags); err != nil {
		return err
	}
	_, err = b.update(ctx, name, func(s *kinesis.Stream) error {
		if err := b.requireActive(s); err != nil {
			return err
		}
		merged := maps.Clone(s.Tags)
		if merged == nil {
			merged = make(map[string]string, len(tags))
		}
		maps.Copy(merged, tags)
		if len(merged) > kinesis.MaxTagsPerStream {
			return kinesis.Errorf(kinesis.ErrInvalidArgument, "Failed to add tags to stream %s under account %s because a given stream cannot have more than %d tags.", name, b.cfg.AccountID, kinesis.MaxTagsPerStream)
		}
		s.Tags = merged
		return nil
	})
	return err
}

// RemoveTags removes tags of a stream; unknown keys are ignored.
func (b *Broker) RemoveTags(ctx context.Context, ref kinesis.StreamRef, keys []string) error {
	name, err := b.resolve(ref)
	if err != nil {
		return err
	}
	_, err = b.update(ctx, name, func(s *kinesis.Stream) error {
		if err := b.requireActive(s); err != nil {
			return err
		}
		for _, k := range keys {
			delete(s.Tags, k)
		}
		return nil
	})
	return err
}

// ListTags returns a stream's tags.
func (b *Broker) ListTags(ctx context.Context, ref kinesis.StreamRef) (map[string]string, error) {
	name, err := b.resolve(ref)
	if err != nil {
		return nil, err
	}
	s, _, err := b.loadStream(ctx, name)
	if err != nil {
		return nil, err
	}
	return maps.Clone(s.Tags), nil
}

// resource is what a resource ARN names: a stream, or one of its
// consumers (isConsumer).
type resource struct {
	stream     string
	consumer   kinesis.ConsumerRef
	isConsumer bool
}

// resolveResource resolves a stream or consumer ARN.
func (b *Broker) resolveResource(arn string) (resource, error) {
	if _, _, _, ok := kinesis.ParseStreamARN(arn); ok {
		name, err := b.resolve(kinesis.StreamRef{ARN: arn})
		return resource{stream: name}, err
	}
	if _, _, _, ok := kinesis.ParseConsumerARN(arn); ok {
		ref := kinesis.ConsumerRef{ARN: arn}
		name, err := b.resolveConsumer(ref)
		return resource{stream: name, consumer: ref, isConsumer: true}, err
	}
	return resource{}, kinesis.Errorf(kinesis.ErrResourceNotFound, "Resource %s under account %s not found.", arn, b.cfg.AccountID)
}

// resourceFields returns the tags and policy of the resource r names in s.
func (b *Broker) resourceFields(s *kinesis.Stream, r resource) (tags *map[string]string, policy *string, err error) {
	if !r.isConsumer {
		return &s.Tags, &s.Policy, nil
	}
	i, err := b.findConsumer(s, r.consumer)
	if err != nil {
		return nil, nil, err
	}
	return &s.Consumers[i].Tags, &s.Consumers[i].Policy, nil
}

// updateResource changes the tags or policy of a stream or consumer.
func (b *Broker) updateResource(ctx context.Context, r resource, change func(tags *map[string]string, policy *string) error) error {
	_, err := b.update(ctx, r.stream, func(s *kinesis.Stream) error {
		tags, policy, err := b.resourceFields(s, r)
		if err != nil {
			return err
		}
		return change(tags, policy)
	})
	return err
}

// TagResource tags the stream or consumer an ARN names.
func (b *Broker) TagResource(ctx context.Context, arn string, tags map[string]string) error {
	r, err := b.resolveResource(arn)
	if err != nil {
		return err
	}
	if !r.isConsumer {
		return b.AddTags(ctx, kinesis.StreamRef{Name: r.stream}, tags)
	}
	if err := validateTags(tags); err != nil {
		return err
	}
	return b.updateResource(ctx, r, func(cur *map[string]string, _ *string) error {
		merged := maps.Clone(*cur)
		if merged == nil {
			merged = make(map[string]string, len(tags))
		}
		maps.Copy(merged, tags)
		if len(merged) > kinesis.MaxTagsPerStream {
			return kinesis.Errorf(kinesis.ErrInvalidArgument, "Failed to add tags to consumer %s under account %s because a given resource cannot have more than %d tags.", arn, b.cfg.AccountID, kinesis.MaxTagsPerStream)
		}
		*cur = merged
		return nil
	})
}

// UntagResource removes tags of the stream or consumer an ARN names.
func (b *Broker) UntagResource(ctx context.Context, arn string, keys []string) error {
	r, err := b.resolveResource(arn)
	if err != nil {
		return err
	}
	if !r.isConsumer {
		return b.RemoveTags(ctx, kinesis.StreamRef{Name: r.stream}, keys)
	}
	return b.updateResource(ctx, r, func(cur *map[string]string, _ *string) error {
		for _, k := range keys {
			delete(*cur, k)
		}
		return nil
	})
}

// ListTagsForResource lists tags of the stream or consumer an ARN names.
func (b *Broker) ListTagsForResource(ctx context.Context, arn string) (map[string]string, error) {
	r, err := b.resolveResource(arn)
	if err != nil {
		return nil, err
	}
	s, _, err := b.loadStream(ctx, r.stream)
	if err != nil {
		return nil, err
	}
	tags, _, err := b.resourceFields(s, r)
	if err != nil {
		return nil, err
	}
	return maps.Clone(*tags), nil
}
