package kinesis

import (
	"encoding/binary"
	"math/big"
)

// SequenceNumber identifies a record within a stream. Its decimal form is
// what the API shows; inside it packs three fields:
//
//	bits 127..124  version (2), so every number has 38 decimal digits
//	bits 123..80   shard epoch: unique per shard, never reused, growing
//	bits  79..16   message sequence in the shard's log
//	bits  15..0    index of the record inside that message
//
// Numbers grow within a shard, a child shard's numbers sort after its parents'
// (its epoch is larger), and no number is ever handed out twice, even after a
// stream is deleted and created again, because epochs are never reused.
type SequenceNumber struct {
	Epoch  uint64 // 44 bits
	MsgSeq uint64
	Index  uint16
}

const seqVersion = 2

// MaxIndex is the largest record index inside one stored message, so one
// message holds at most MaxIndex+1 records.
const MaxIndex = 0xFFFF

// MaxEpoch is the largest shard epoch a sequence number can carry.
const MaxEpoch = 1<<44 - 1

// String formats the sequence number as the API's decimal string.
func (s SequenceNumber) String() string {
	var b [16]byte
	hi := uint64(seqVersion)<<60 | (s.Epoch&MaxEpoch)<<16 | s.MsgSeq>>48
	lo := s.MsgSeq<<16 | uint64(s.Index)
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return new(big.Int).SetBytes(b[:]).String()
}

// ParseSequenceNumber parses a sequence number this server issued. It
// reports false for any other decimal string.
func ParseSequenceNumber(s string) (SequenceNumber, bool) {
	if len(s) != 38 {
		return SequenceNumber{}, false
	}
	k, ok := ParseHashKey(s) // same 128-bit decimal parsing
	if !ok || k.Hi>>60 != seqVersion {
		return SequenceNumber{}, false
	}
	return SequenceNumber{
		Epoch:  k.Hi >> 16 & MaxEpoch,
		MsgSeq: k.Hi<<48 | k.Lo>>16,
		Index:  uint16(k.Lo),
	}, true
}

// Cmp orders sequence numbers of the same shard.
func (s SequenceNumber) Cmp(o SequenceNumber) int {
	switch {
	case s.Epoch != o.Epoch:
		return cmpUint(s.Epoch, o.Epoch)
	case s.MsgSeq != o.MsgSeq:
		return cmpUint(s.MsgSeq, o.MsgSeq)
	}
	return cmpUint(uint64(s.Index), uint64(o.Index))
}

func cmpUint(a, b uint64) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

// ShardStartingSequence is the number a shard reports as its
// StartingSequenceNumber: below every record it will hold.
func ShardStartingSequence(epoch uint64) SequenceNumber {
	return SequenceNumber{Epoch: epoch}
}

// ShardEndingSequence is the number a closed shard reports as its
// EndingSequenceNumber: at or above every record it holds.
func ShardEndingSequence(epoch, lastMsgSeq uint64) SequenceNumber {
	return SequenceNumber{Epoch: epoch, MsgSeq: lastMsgSeq, Index: MaxIndex}
}
