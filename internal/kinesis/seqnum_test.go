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
		if len(str) != 38 {
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
		if ok && seq.String() != s {
			t.Fatalf("%q parses to %+v which formats as %s", s, seq, seq)
		}
	})
}
