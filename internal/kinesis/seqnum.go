package kinesis

import (
	"math/bits"
	"strconv"
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
	return string(s.Append(make([]byte, 0, 38)))
}

// Append appends the decimal form to b. GetRecords formats thousands of
// numbers per call, so this avoids math/big.
func (s SequenceNumber) Append(b []byte) []byte {
	hi := uint64(seqVersion)<<60 | (s.Epoch&MaxEpoch)<<16 | s.MsgSeq>>48
	lo := s.MsgSeq<<16 | uint64(s.Index)
	return appendUint128(b, hi, lo)
}

// appendUint128 appends the decimal digits of hi·2^64+lo, working in chunks
// of 19 digits (10^19 < 2^64).
func appendUint128(b []byte, hi, lo uint64) []byte {
	const chunk = 10_000_000_000_000_000_000 // 10^19
	var parts [3]uint64
	n := 0
	for hi != 0 || lo >= chunk {
		var r uint64
		hi, r = bits.Div64(0, hi, chunk)
		lo, r = bits.Div64(r, lo, chunk)
		parts[n] = r
		n++
	}
	b = strconv.AppendUint(b, lo, 10)
	for i := n - 1; i >= 0; i-- {
		var d [19]byte
		v := parts[i]
		for j := 18; j >= 0; j-- {
			d[j] = byte('0' + v%10)
			v /= 10
		}
		b = append(b, d[:]...)
	}
	return b
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
