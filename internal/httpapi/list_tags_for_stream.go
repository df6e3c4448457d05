package httpapi

import (
	"context"
	"slices"
)

// ListTagsForStream lists a stream's tags sorted by key, a page at a time:
// up to Limit (1..50, default 50) tags whose key sorts after
// ExclusiveStartTagKey, with HasMoreTags. The service returns all tags; the
// page is cut here.

type listTagsForStreamInput struct {
	StreamName           *string `json:"StreamName"`
	StreamARN            *string `json:"StreamARN"`
	ExclusiveStartTagKey *string `json:"ExclusiveStartTagKey"`
	Limit                *int32  `json:"Limit"`
}

type listTagsForStreamOutput struct {
	Tags        []wireTag `json:"Tags"`
	HasMoreTags bool      `json:"HasMoreTags"`
}

const listTagsDefaultLimit = 50

func (h *Handler) listTagsForStream(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in listTagsForStreamInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.streamRefMembers(in.StreamName, in.StreamARN)
	v.str("exclusiveStartTagKey", in.ExclusiveStartTagKey, false, tagKeyRule)
	v.int32("limit", in.Limit, false, between(1, 50))
	if err := v.err(); err != nil {
		return nil, err
	}
	ref, err := streamRef(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	tags, err := h.svc.ListTags(ctx, ref)
	if err != nil {
		return nil, err
	}
	all := toWireTags(tags)
	if start := deref(in.ExclusiveStartTagKey); start != "" {
		i, found := slices.BinarySearchFunc(all, start, func(t wireTag, k string) int {
			switch {
			case t.Key < k:
				return -1
			case t.Key > k:
				return 1
			}
			return 0
		})
		if found {
			i++
		}
		all = all[i:]
	}
	limit := listTagsDefaultLimit
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	o := listTagsForStreamOutput{Tags: all, HasMoreTags: len(all) > limit}
	if o.HasMoreTags {
		o.Tags = all[:limit]
	}
	return c.encode(out(), o)
}
