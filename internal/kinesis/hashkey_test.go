package kinesis

import (
	"math/big"
	"strings"
	"testing"
)

func TestHashPartitionKey(t *testing.T) {
	// MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
	got := HashPartitionKey("a").String()
	if want := "16955237001963240173058271559858726497"; got != want {
		t.Fatalf("HashPartitionKey(a) = %s, want %s", got, want)
	}
}

func TestParseHashKey(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want string
	}{
		{"0", true, "0"},
		{"1", true, "1"},
		{"340282366920938463463374607431768211455", true, "340282366920938463463374607431768211455"},
		{"340282366920938463463374607431768211456", false, ""},
		{"", false, ""},
		{"-1", false, ""},
		{"12a", false, ""},
		{"+5", false, ""},
		{"9999999999999999999999999999999999999999", false, ""},
	}
	for _, tt := range tests {
		k, ok := ParseHashKey(tt.in)
		if ok != tt.ok {
			t.Errorf("ParseHashKey(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if ok && k.String() != tt.want {
			t.Errorf("ParseHashKey(%q) = %s, want %s", tt.in, k, tt.want)
		}
	}
}

func TestSplitHashSpace(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 7, 10, 500} {
		ranges := SplitHashSpace(n)
		if len(ranges) != n {
			t.Fatalf("n=%d: got %d ranges", n, len(ranges))
		}
		if ranges[0].Start != (HashKey{}) {
			t.Errorf("n=%d: first range starts at %s", n, ranges[0].Start)
		}
		if ranges[n-1].End != MaxHashKey {
			t.Errorf("n=%d: last range ends at %s", n, ranges[n-1].End)
		}
		for i := 1; i < n; i++ {
			if ranges[i].Start != ranges[i-1].End.Add(1) {
				t.Errorf("n=%d: range %d starts at %s, previous ends at %s", n, i, ranges[i].Start, ranges[i-1].End)
			}
		}
	}
	// AWS's split of two shards.
	r := SplitHashSpace(2)
	if got := r[0].End.String(); got != "170141183460469231731687303715884105727" {
		t.Errorf("two shards: first ends at %s", got)
	}
}

func TestHashRange_Contains(t *testing.T) {
	r := HashRange{Start: HashKey{Lo: 10}, End: HashKey{Hi: 1}}
	for _, tt := range []struct {
		k    HashKey
		want bool
	}{
		{HashKey{Lo: 9}, false},
		{HashKey{Lo: 10}, true},
		{HashKey{Lo: ^uint64(0)}, true},
		{HashKey{Hi: 1}, true},
		{HashKey{Hi: 1, Lo: 1}, false},
	} {
		if got := r.Contains(tt.k); got != tt.want {
			t.Errorf("Contains(%s) = %v", tt.k, got)
		}
	}
}

func FuzzParseHashKey(f *testing.F) {
	f.Add("0")
	f.Add("340282366920938463463374607431768211455")
	f.Add("340282366920938463463374607431768211456")
	f.Add("18446744073709551616")
	f.Fuzz(func(t *testing.T, s string) {
		k, ok := ParseHashKey(s)
		n, bigOK := new(big.Int).SetString(s, 10)
		wantOK := bigOK && len(s) <= 39 && n.Sign() >= 0 && n.BitLen() <= 128 && strings.TrimLeft(s, "0123456789") == ""
		if ok != wantOK {
			t.Fatalf("ParseHashKey(%q) ok = %v, math/big says %v", s, ok, wantOK)
		}
		if ok && k.String() != n.String() {
			t.Fatalf("ParseHashKey(%q) = %s, math/big says %s", s, k, n)
		}
	})
}
