package broker

import "github.com/sluicehq/sluice/internal/kinesis"

// findShard finds the shard a request names, resolving a short id
// ("shardId-1", "1") to its canonical form as AWS does. It returns the id
// to name in an error: the canonical one, or the id as given when it
// names no shard number.
func findShard(s *kinesis.Stream, id string) (kinesis.Shard, string, bool) {
	canon, ok := kinesis.CanonicalShardID(id)
	if !ok {
		return kinesis.Shard{}, id, false
	}
	sh, ok := s.Shard(canon)
	return sh, canon, ok
}

// shardNotFound is GetShardIterator's and SubscribeToShard's error for a
// shard the stream does not have, in AWS's words.
func (b *Broker) shardNotFound(stream, id string) error {
	if _, ok := kinesis.CanonicalShardID(id); !ok {
		return kinesis.Errorf(kinesis.ErrResourceNotFound, "Could not find shard %s in stream %s under account %s.", id, stream, b.cfg.AccountID)
	}
	return kinesis.Errorf(kinesis.ErrResourceNotFound, "Shard %s in stream %s under account %s does not exist", id, stream, b.cfg.AccountID)
}

// canonicalStart resolves an ExclusiveStartShardId; an id naming no
// shard number is kept as given and compared as a string.
func canonicalStart(id string) string {
	if canon, ok := kinesis.CanonicalShardID(id); ok {
		return canon
	}
	return id
}
