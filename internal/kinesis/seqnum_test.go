package kinesis

import (
	"testing"
)

func TestSequenceNumber_RoundTrip(t *testing.T) {
	for _, s := range []SequenceNumber{
		{},
		{Epoch: 1, MsgSeq: 1, Index: 0},
		{Epoch: 7, MsgSeq: 123456789, Index: 499},
		{Epoch: MaxEpoch, MsgSeq: ^uint64(0), Index: MaxIndex},
	} {
		str := s.String()
		if len(str) != SequenceNumberDigits || str[:2] < "49" || str[:2] > "74" {
			t.Errorf("%+v formats to %d digits: %s", s, len(str), str)
		}
		got, ok := ParseSequenceNumber(str)
		if !ok || got != s {
			t.Errorf("ParseSequenceNumber(%s) = %+v, %v; want %+v", str, got, ok, s)
		}
	}
}

func TestSequenceNumber_Order(t *testing.T) {
	// Decimal strings of one width sort like the numbers they encode, so
	// records of one shard sort by sequence number as strings and numbers.
	seqs := []SequenceNumber{
		ShardStartingSequence(3),
		{Epoch: 3, MsgSeq: 1, Index: 0},
		{Epoch: 3, MsgSeq: 1, Index: 1},
		{Epoch: 3, MsgSeq: 2, Index: 0},
		{Epoch: 3, MsgSeq: 1 << 40, Index: 0},
		ShardEndingSequence(3, 1<<40),
		ShardStartingSequence(4),
	}
	for i := 1; i < len(seqs); i++ {
		a, b := seqs[i-1], seqs[i]
		if a.Cmp(b) >= 0 || a.String() >= b.String() {
			t.Errorf("%+v (%s) does not sort before %+v (%s)", a, a, b, b)
		}
	}
}

// TestParseSequenceNumber_Legacy checks that numbers of the 38-digit form
// older servers gave still parse to their fields, and sort below every
// number of the current form.
func TestParseSequenceNumber_Legacy(t *testing.T) {
	for _, tc := range []struct {
		legacy string
		want   SequenceNumber
	}{
		// Formatted by the 38-digit code of commit d4de032.
		{"42535295865117307932921825928971026432", SequenceNumber{}},
		{"42535295865118516858741440558146060291", SequenceNumber{Epoch: 1, MsgSeq: 5, Index: 3}},
		{"42535295865210395221040243239548092915", SequenceNumber{Epoch: 77, MsgSeq: 123456789012, Index: 499}},
		{legacyString(SequenceNumber{Epoch: MaxEpoch, MsgSeq: ^uint64(0), Index: MaxIndex}), SequenceNumber{Epoch: MaxEpoch, MsgSeq: ^uint64(0), Index: MaxIndex}},
	} {
		got, ok := ParseSequenceNumber(tc.legacy)
		if !ok || got != tc.want {
			t.Errorf("ParseSequenceNumber(%s) = %+v, %v; want %+v", tc.legacy, got, ok, tc.want)
		}
		if now := tc.want.String(); len(now) <= len(tc.legacy) {
			t.Errorf("%+v: the new form %s does not sort above the old %s as a number", tc.want, now, tc.legacy)
		}
	}
}

// legacyString is the 38-digit form of s older servers gave.
func legacyString(s SequenceNumber) string {
	hi := uint64(seqVersion)<<60 | (s.Epoch&MaxEpoch)<<16 | s.MsgSeq>>48
	lo := s.MsgSeq<<16 | uint64(s.Index)
	return string(appendUint128(nil, hi, lo))
}

func TestIsAWSSequenceNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"49592592288669974188510550010873737925033238827737546754": true, // from AWS
		SequenceNumber{Epoch: 3, MsgSeq: 9}.String():               true,
		"12345678901234567890123456789012345678901234567890123456": false, // version 0
		"4959259228866997418851055001087373792503323882773754675":  false,
		legacyString(SequenceNumber{Epoch: 3}):                     false,
	} {
		if got := IsAWSSequenceNumber(s); got != want {
			t.Errorf("IsAWSSequenceNumber(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestParseSequenceNumber_Rejects(t *testing.T) {
	for _, s := range []string{"", "0", "1", "49592592288669974188510550010873737925033238827737546754", "abc", "12345678901234567890123456789012345678"} {
		if _, ok := ParseSequenceNumber(s); ok {
			t.Errorf("ParseSequenceNumber(%q) accepted", s)
		}
	}
}

func FuzzParseSequenceNumber(f *testing.F) {
	f.Add(SequenceNumber{Epoch: 1, MsgSeq: 2, Index: 3}.String())
	f.Add("0")
	f.Fuzz(func(t *testing.T, s string) {
		seq, ok := ParseSequenceNumber(s)
		if ok && seq.String() != s && legacyString(seq) != s {
			t.Fatalf("%q parses to %+v which formats as %s", s, seq, seq)
		}
	})
}

// BenchmarkSequenceNumber formats and parses the sequence numbers of a
// GetRecords answer: GetRecords formats one per record.
func BenchmarkSequenceNumber(b *testing.B) {
	s := SequenceNumber{Epoch: 12345, MsgSeq: 987654321, Index: 499}
	b.Run("format", func(b *testing.B) {
		buf := make([]byte, 0, 64)
		for b.Loop() {
			buf = s.Append(buf[:0])
		}
	})
	str := s.String()
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			if _, ok := ParseSequenceNumber(str); !ok {
				b.Fatal("parse failed")
			}
		}
	})
}
