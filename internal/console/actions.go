package console

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Actions are the console's changes: each is one call of the Kinesis
// service with the request's context, after the model checks the API
// makes (httpapi validates before the service; so does the console), and
// after Config.Authorize. The browser asks for confirmation first.

// createStreamIn is POST /console/api/streams.
type createStreamIn struct {
	Name   string            `json:"name"`
	Shards int               `json:"shards"`
	Mode   string            `json:"mode"` // PROVISIONED (default) or ON_DEMAND
	Tags   map[string]string `json:"tags"`
}

func (c *Console) createStream(r *http.Request) (any, error) {
	var in createStreamIn
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if err := checkStreamName(in.Name); err != nil {
		return nil, err
	}
	mode := kinesis.StreamMode(in.Mode)
	switch mode {
	case "", kinesis.ModeProvisioned:
		mode = kinesis.ModeProvisioned
		if in.Shards < 1 || in.Shards > kinesis.MaxShardsPerStream {
			return nil, kinesis.Errorf(kinesis.ErrValidation, "1 validation error detected: Value '%d' at 'shardCount' failed to satisfy constraint: Member must have value between 1 and %d", in.Shards, kinesis.MaxShardsPerStream)
		}
	case kinesis.ModeOnDemand:
		in.Shards = 0
	default:
		return nil, kinesis.Errorf(kinesis.ErrValidation, "1 validation error detected: Value '%s' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [ON_DEMAND, PROVISIONED]", in.Mode)
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if err := c.authorize(r.Context(), "kinesis:CreateStream", "*"); err != nil {
		return nil, err
	}
	if err := c.svc.CreateStream(r.Context(), kinesis.CreateStreamInput{Name: in.Name, ShardCount: in.Shards, Mode: mode, Tags: in.Tags}); err != nil {
		return nil, err
	}
	return map[string]string{"name": in.Name}, nil
}

// streamActionIn holds the fields of every stream action; each uses its
// own.
type streamActionIn struct {
	// delete
	EnforceConsumerDeletion bool `json:"enforceConsumerDeletion"`
	// shard-count
	Target int `json:"target"`
	// split, merge
	Shard              string `json:"shard"`
	NewStartingHashKey string `json:"newStartingHashKey"`
	Adjacent           string `json:"adjacent"`
	// retention
	Hours int `json:"hours"`
	// records
	PartitionKey    string `json:"partitionKey"`
	ExplicitHashKey string `json:"explicitHashKey"`
	Data            string `json:"data"`
	Encoding        string `json:"encoding"` // text (default) or base64
	// tags
	Add    map[string]string `json:"add"`
	Remove []string          `json:"remove"`
	// mode
	Mode string `json:"mode"`
}

// actionNames are the Kinesis actions behind the console's, for
// Authorize.
var actionNames = map[string]string{
	"delete":      "kinesis:DeleteStream",
	"shard-count": "kinesis:UpdateShardCount",
	"split":       "kinesis:SplitShard",
	"merge":       "kinesis:MergeShards",
	"retention":   "kinesis:IncreaseStreamRetentionPeriod",
	"records":     "kinesis:PutRecord",
	"tags":        "kinesis:AddTagsToStream",
	"mode":        "kinesis:UpdateStreamMode",
}

func (c *Console) streamAction(r *http.Request) (any, error) {
	ctx := r.Context()
	name, action := r.PathValue("name"), r.PathValue("action")
	kaction, ok := actionNames[action]
	if !ok {
		return nil, kinesis.Errorf(kinesis.ErrUnknownOperation, "No console action %q.", action)
	}
	if err := checkStreamName(name); err != nil {
		return nil, err
	}
	var in streamActionIn
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	ref := kinesis.StreamRef{Name: name}
	d, err := c.svc.DescribeStream(ctx, ref)
	if err != nil {
		return nil, err
	}
	if action == "retention" && in.Hours < d.RetentionHours {
		kaction = "kinesis:DecreaseStreamRetentionPeriod"
	}
	if action == "tags" && len(in.Add) == 0 && len(in.Remove) > 0 {
		kaction = "kinesis:RemoveTagsFromStream"
	}
	if err := c.authorize(ctx, kaction, d.ARN); err != nil {
		return nil, err
	}
	switch action {
	case "delete":
		return ok200, c.svc.DeleteStream(ctx, ref, in.EnforceConsumerDeletion)
	case "shard-count":
		if in.Target < 1 || in.Target > kinesis.MaxShardsPerStream {
			return nil, kinesis.Errorf(kinesis.ErrValidation, "1 validation error detected: Value '%d' at 'targetShardCount' failed to satisfy constraint: Member must have value between 1 and %d", in.Target, kinesis.MaxShardsPerStream)
		}
		out, err := c.svc.UpdateShardCount(ctx, ref, in.Target, kinesis.ScalingUniform)
		if err != nil {
			return nil, err
		}
		return map[string]int{"current": out.CurrentShardCount, "target": out.TargetShardCount}, nil
	case "split":
		sh, ok := d.Shard(in.Shard)
		if !ok {
			return nil, kinesis.Errorf(kinesis.ErrResourceNotFound, "Shard %s in stream %s does not exist.", in.Shard, name)
		}
		key := in.NewStartingHashKey
		if key == "" {
			key = midpoint(sh.HashRange)
		} else if _, ok := kinesis.ParseHashKey(key); !ok {
			return nil, kinesis.Errorf(kinesis.ErrValidation, "1 validation error detected: Value '%s' at 'newStartingHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})", key)
		}
		if err := c.svc.SplitShard(ctx, ref, in.Shard, key); err != nil {
			return nil, err
		}
		return map[string]string{"newStartingHashKey": key}, nil
	case "merge":
		if in.Shard == "" || in.Adjacent == "" {
			return nil, kinesis.Errorf(kinesis.ErrValidation, "Choose two adjacent shards to merge.")
		}
		return ok200, c.svc.MergeShards(ctx, ref, in.Shard, in.Adjacent)
	case "retention":
		if in.Hours < kinesis.MinRetentionHours || in.Hours > kinesis.MaxRetentionHours {
			return nil, kinesis.Errorf(kinesis.ErrInvalidArgument, "Retention period must be between %d and %d hours.", kinesis.MinRetentionHours, kinesis.MaxRetentionHours)
		}
		if in.Hours == d.RetentionHours {
			return ok200, nil
		}
		return ok200, c.svc.SetRetention(ctx, ref, in.Hours, in.Hours > d.RetentionHours)
	case "records":
		return c.putTestRecord(ctx, ref, in)
	case "tags":
		if err := checkTags(in.Add); err != nil {
			return nil, err
		}
		if len(in.Add) > 0 {
			if err := c.svc.AddTags(ctx, ref, in.Add); err != nil {
				return nil, err
			}
		}
		if len(in.Remove) > 0 {
			return ok200, c.svc.RemoveTags(ctx, ref, in.Remove)
		}
		return ok200, nil
	case "mode":
		mode := kinesis.StreamMode(in.Mode)
		if mode != kinesis.ModeProvisioned && mode != kinesis.ModeOnDemand {
			return nil, kinesis.Errorf(kinesis.ErrValidation, "1 validation error detected: Value '%s' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [ON_DEMAND, PROVISIONED]", in.Mode)
		}
		return ok200, c.svc.UpdateStreamMode(ctx, d.ARN, mode, nil)
	}
	return nil, kinesis.Errorf(kinesis.ErrUnknownOperation, "No console action %q.", action)
}

var ok200 = map[string]bool{"ok": true}

func (c *Console) putTestRecord(ctx context.Context, ref kinesis.StreamRef, in streamActionIn) (any, error) {
	if n := utf8.RuneCountInString(in.PartitionKey); n < 1 || n > 256 {
		return nil, kinesis.Errorf(kinesis.ErrValidation, "1 validation error detected: Value at 'partitionKey' failed to satisfy constraint: Member must have length between 1 and 256")
	}
	if in.ExplicitHashKey != "" {
		if _, ok := kinesis.ParseHashKey(in.ExplicitHashKey); !ok {
			return nil, kinesis.Errorf(kinesis.ErrValidation, "1 validation error detected: Value '%s' at 'explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})", in.ExplicitHashKey)
		}
	}
	data := []byte(in.Data)
	if in.Encoding == "base64" {
		var err error
		if data, err = base64.StdEncoding.DecodeString(in.Data); err != nil {
			return nil, kinesis.Errorf(kinesis.ErrValidation, "The data is not valid base64: %v", err)
		}
	} else if in.Encoding != "" && in.Encoding != "text" {
		return nil, kinesis.Errorf(kinesis.ErrValidation, "Unknown encoding %q: text or base64.", in.Encoding)
	}
	res, err := c.svc.PutRecords(ctx, ref, []kinesis.PutRecordEntry{{Data: data, PartitionKey: in.PartitionKey, ExplicitHashKey: in.ExplicitHashKey}})
	if err != nil {
		return nil, err
	}
	if res[0].ErrorCode != "" {
		return nil, kinesis.Errorf(res[0].ErrorCode, "%s", res[0].ErrorMessage)
	}
	return map[string]string{"shardId": res[0].ShardID, "sequenceNumber": res[0].SequenceNumber}, nil
}

func (c *Console) authorize(ctx context.Context, action, resource string) error {
	if c.cfg.Authorize == nil {
		return nil
	}
	if err := c.cfg.Authorize(ctx, action, resource); err != nil {
		if _, ok := err.(*kinesis.Error); ok {
			return err
		}
		return kinesis.Errorf(kinesis.ErrAccessDenied, "%s", err.Error())
	}
	return nil
}

func checkStreamName(name string) error {
	if len(name) < 1 || len(name) > 128 {
		return kinesis.Errorf(kinesis.ErrValidation, "1 validation error detected: Value '%s' at 'streamName' failed to satisfy constraint: Member must have length between 1 and 128", name)
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '_' || ch == '.' || ch == '-') {
			return kinesis.Errorf(kinesis.ErrValidation, "1 validation error detected: Value '%s' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+", name)
		}
	}
	return nil
}

func checkTags(tags map[string]string) error {
	if len(tags) > kinesis.MaxTagsPerStream {
		return kinesis.Errorf(kinesis.ErrInvalidArgument, "A stream cannot have more than %d tags.", kinesis.MaxTagsPerStream)
	}
	for k, v := range tags {
		if n := utf8.RuneCountInString(k); n < 1 || n > 128 {
			return kinesis.Errorf(kinesis.ErrValidation, "1 validation error detected: a tag key must have length between 1 and 128")
		}
		if utf8.RuneCountInString(v) > 256 {
			return kinesis.Errorf(kinesis.ErrValidation, "1 validation error detected: the value of tag %q must have length of at most 256", k)
		}
	}
	return nil
}

// midpoint is the hash key that splits a range into two halves.
func midpoint(r kinesis.HashRange) string {
	start, _ := new(big.Int).SetString(r.Start.String(), 10)
	end, _ := new(big.Int).SetString(r.End.String(), 10)
	mid := new(big.Int).Add(start, end)
	mid.Add(mid, big.NewInt(1))
	mid.Rsh(mid, 1)
	return fmt.Sprint(mid)
}
