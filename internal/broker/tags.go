package broker

import (
	"context"
	"maps"
	"unicode"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// validateTags checks tag characters: Unicode letters, digits, white space
// and _ . : / = + - @, as AWS allows.
func validateTags(tags map[string]string) error {
	for k, v := range tags {
		if !validTagText(k) || !validTagText(v) {
			return kinesis.Errorf(kinesis.ErrInvalidArgument, "Tag keys and values may only contain Unicode letters, digits, white space, and the characters _ . : / = + - @. Invalid tag: %s=%s", k, v)
		}
	}
	return nil
}

func validTagText(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsSpace(r) {
			continue
		}
		switch r {
		case '_', '.', ':', '/', '=', '+', '-', '@':
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

// resourceStream resolves a resource ARN. Only stream ARNs name resources
// until stream consumers exist.
func (b *Broker) resourceStream(arn string) (kinesis.StreamRef, error) {
	if _, _, _, ok := kinesis.ParseStreamARN(arn); !ok {
		return kinesis.StreamRef{}, kinesis.Errorf(kinesis.ErrResourceNotFound, "Resource %s under account %s not found.", arn, b.cfg.AccountID)
	}
	return kinesis.StreamRef{ARN: arn}, nil
}

// TagResource tags the stream an ARN names.
func (b *Broker) TagResource(ctx context.Context, arn string, tags map[string]string) error {
	ref, err := b.resourceStream(arn)
	if err != nil {
		return err
	}
	return b.AddTags(ctx, ref, tags)
}

// UntagResource removes tags of the stream an ARN names.
func (b *Broker) UntagResource(ctx context.Context, arn string, keys []string) error {
	ref, err := b.resourceStream(arn)
	if err != nil {
		return err
	}
	return b.RemoveTags(ctx, ref, keys)
}

// ListTagsForResource lists tags of the stream an ARN names.
func (b *Broker) ListTagsForResource(ctx context.Context, arn string) (map[string]string, error) {
	ref, err := b.resourceStream(arn)
	if err != nil {
		return nil, err
	}
	return b.ListTags(ctx, ref)
}
