package httpapi

import (
	"slices"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Wire shapes shared by several operations. Member names and presence
// follow the AWS model; optional members that AWS leaves out when unset
// carry omitempty.

// streamModeDetails is StreamModeDetails.
type streamModeDetails struct {
	StreamMode *string `json:"StreamMode"`
}

// wireHashKeyRange is HashKeyRange: decimal strings.
type wireHashKeyRange struct {
	StartingHashKey string `json:"StartingHashKey"`
	EndingHashKey   string `json:"EndingHashKey"`
}

// wireSequenceNumberRange is SequenceNumberRange; the end is set once the
// shard is closed.
type wireSequenceNumberRange struct {
	StartingSequenceNumber string `json:"StartingSequenceNumber"`
	EndingSequenceNumber   string `json:"EndingSequenceNumber,omitempty"`
}

// wireShard is Shard.
type wireShard struct {
	ShardId               string                  `json:"ShardId"`
	ParentShardId         string                  `json:"ParentShardId,omitempty"`
	AdjacentParentShardId string                  `json:"AdjacentParentShardId,omitempty"`
	HashKeyRange          wireHashKeyRange        `json:"HashKeyRange"`
	SequenceNumberRange   wireSequenceNumberRange `json:"SequenceNumberRange"`
}

// wireEnhancedMetrics is EnhancedMetrics; the list is [] rather than absent
// when no metric is on, as AWS sends it.
type wireEnhancedMetrics struct {
	ShardLevelMetrics []string `json:"ShardLevelMetrics"`
}

// wireTag is Tag.
type wireTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

func toWireHashKeyRange(r kinesis.HashRange) wireHashKeyRange {
	return wireHashKeyRange{StartingHashKey: r.Start.String(), EndingHashKey: r.End.String()}
}

func toWireShards(shards []kinesis.Shard) []wireShard {
	out := make([]wireShard, len(shards))
	for i, sh := range shards {
		out[i] = wireShard{
			ShardId:               sh.ID,
			ParentShardId:         sh.ParentShardID,
			AdjacentParentShardId: sh.AdjacentParentShardID,
			HashKeyRange:          toWireHashKeyRange(sh.HashRange),
			SequenceNumberRange: wireSequenceNumberRange{
				StartingSequenceNumber: sh.StartingSequenceNumber(),
				EndingSequenceNumber:   sh.EndingSequenceNumber(),
			},
		}
	}
	return out
}

func toWireMode(m kinesis.StreamMode) streamModeDetails {
	s := string(m)
	if s == "" {
		s = string(kinesis.ModeProvisioned)
	}
	return streamModeDetails{StreamMode: &s}
}

func toWireEnhancedMonitoring(metrics []string) []wireEnhancedMetrics {
	m := slices.Clone(metrics)
	if m == nil {
		m = []string{}
	}
	return []wireEnhancedMetrics{{ShardLevelMetrics: m}}
}

// encryptionType is a stream's or record's EncryptionType; unset is NONE.
func encryptionType(s string) string {
	if s == "" {
		return "NONE"
	}
	return s
}

// toWireTags lists tags sorted by key, the order ListTagsForStream pages in.
func toWireTags(tags map[string]string) []wireTag {
	out := make([]wireTag, 0, len(tags))
	for _, k := range sortedKeys(tags) {
		out = append(out, wireTag{Key: k, Value: tags[k]})
	}
	return out
}
