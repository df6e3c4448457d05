package kinesis

import (
	"math/bits"
	"strconv"
)

// SequenceNumber identifies a record within a stream. Its decimal form is
// what the API shows: 56 digits, like AWS's, from a 188-bit number that
// packs three fields:
//
//	bits 187..184  version (2), as AWS's, so every number lies in
//	               [2·2^184, 3·2^184): 56 digits starting with 49..74
//	bits 183..140  shard epoch: unique per shard, never reused, growing
//	bits 139..76   message sequence in the shard's log
//	bits  75..60   index of the record inside that message
//	bits  59..0    zero
//
// Numbers grow within a shard, a child shard's numbers sort after its parents'
// (its epoch is larger), and no number is ever handed out twice, even after a
// stream is deleted and created again, because epochs are never reused.
//
// Servers before 2026-12 formatted the same fields as 38 digits (the 128-bit
// layout below, version 2 in bits 127..124: epoch, message sequence, index).
// ParseSequenceNumber still reads that form, so checkpoints and starting
// sequence numbers saved from an older server keep working; every number of
// the 56-digit form is larger than every number of the old one, so a
// checkpoint compared as a number (the KCL does) never goes backwards.
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

// SequenceNumberDigits is the length of a sequence number's decimal form.
const SequenceNumberDigits = 56

// legacyDigits is the length of the form servers wrote before.
const legacyDigits = 38

// String formats the sequence number as the API's decimal string.
func (s SequenceNumber) String() string {
	return string(s.Append(make([]byte, 0, SequenceNumberDigits)))
}

// limbs returns the 188-bit number as three 64-bit limbs, high to low.
func (s SequenceNumber) limbs() (hi, mid, lo uint64) {
	hi = uint64(seqVersion)<<56 | (s.Epoch&MaxEpoch)<<12 | s.MsgSeq>>52
	mid = s.MsgSeq<<12 | uint64(s.Index)>>4
	lo = uint64(s.Index&0xF) << 60
	return hi, mid, lo
}

// Append appends the decimal form to b. GetRecords formats thousands of
// numbers per call, so this avoids math/big.
func (s SequenceNumber) Append(b []byte) []byte {
	hi, mid, lo := s.limbs()
	// The number is below 10^57: three chunks of 19 digits, the first of
	// which (below 10^18 · 7.5) has 18 digits, its leading digit non-zero.
	var parts [3]uint64
	for i := 2; i >= 0; i-- {
		var r uint64
		hi, r = bits.Div64(0, hi, chunk19)
		mid, r = bits.Div64(r, mid, chunk19)
		lo, r = bits.Div64(r, lo, chunk19)
		parts[i] = r
	}
	b = strconv.AppendUint(b, parts[0], 10)
	b = appendChunk19(b, parts[1])
	return appendChunk19(b, parts[2])
}

// chunk19 is 10^19, the largest power of ten below 2^64.
const chunk19 = 10_000_000_000_000_000_000

// digitPairs holds "00".."99", for formatting two digits at a time.
const digitPairs = "0001020304050607080910111213141516171819" +
	"2021222324252627282930313233343536373839" +
	"4041424344454647484950515253545556575859" +
	"6061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// appendChunk19 appends v (below 10^19) as exactly 19 digits.
func appendChunk19(b []byte, v uint64) []byte {
	var d [19]byte
	i := 19
	for i > 1 {
		q := v / 100
		r := v - q*100
		i -= 2
		d[i], d[i+1] = digitPairs[2*r], digitPairs[2*r+1]
		v = q
	}
	d[0] = byte('0' + v)
	return append(b, d[:]...)
}

// appendUint128 appends the decimal digits of hi·2^64+lo, working in chunks
// of 19 digits (10^19 < 2^64).
func appendUint128(b []byte, hi, lo uint64) []byte {
	var parts [3]uint64
	n := 0
	for hi != 0 || lo >= chunk19 {
		var r uint64
		hi, r = bits.Div64(0, hi, chunk19)
		lo, r = bits.Div64(r, lo, chunk19)
		parts[n] = r
		n++
	}
	b = strconv.AppendUint(b, lo, 10)
	for i := n - 1; i >= 0; i-- {
		b = appendChunk19(b, parts[i])
	}
	return b
}

// ParseSequenceNumber parses a sequence number this server issued, in the
// 56-digit form or the 38-digit one of older servers. It reports false for
// any other decimal string.
func ParseSequenceNumber(s string) (SequenceNumber, bool) {
	switch len(s) {
	case SequenceNumberDigits:
		hi, mid, lo, ok := parse192(s)
		if !ok || hi>>56 != seqVersion || lo<<4 != 0 {
			return SequenceNumber{}, false
		}
		return SequenceNumber{
			Epoch:  hi >> 12 & MaxEpoch,
			MsgSeq: hi<<52 | mid>>12,
			Index:  uint16(mid<<4 | lo>>60),
		}, true
	case legacyDigits:
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
	return SequenceNumber{}, false
}

// IsAWSSequenceNumber reports whether s has the form of an AWS sequence
// number (56 digits, version 2): this server's, or one a client got from
// AWS. PutRecord takes either as SequenceNumberForOrdering.
func IsAWSSequenceNumber(s string) bool {
	if len(s) != SequenceNumberDigits {
		return false
	}
	hi, _, _, ok := parse192(s)
	return ok && hi>>56 == seqVersion
}

// parse192 parses a decimal below 2^192 into three limbs, high to low. It
// reads up to 19 digits at a time into one word, then multiplies the
// limbs once per chunk rather than once per digit.
func parse192(s string) (hi, mid, lo uint64, ok bool) {
	if s == "" {
		return 0, 0, 0, false
	}
	for len(s) > 0 {
		n := min(len(s), 19)
		var v, scale uint64 = 0, 1
		for i := 0; i < n; i++ {
			d := uint64(s[i] - '0')
			if d > 9 {
				return 0, 0, 0, false
			}
			v = v*10 + d
			scale *= 10
		}
		s = s[n:]
		// (hi, mid, lo) = (hi, mid, lo)*scale + v, failing past 192 bits.
		c, l := bits.Mul64(lo, scale)
		l, carry := bits.Add64(l, v, 0)
		c += carry
		c2, m := bits.Mul64(mid, scale)
		m, carry = bits.Add64(m, c, 0)
		c2 += carry
		c3, h := bits.Mul64(hi, scale)
		h, carry = bits.Add64(h, c2, 0)
		if c3 != 0 || carry != 0 {
			return 0, 0, 0, false
		}
		hi, mid, lo = h, m, l
	}
	return hi, mid, lo, true
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
