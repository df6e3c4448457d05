package kinesis

import (
	"crypto/md5"
	"encoding/binary"
	"math/big"
	"math/bits"
)

// HashKey is a point in the 128-bit hash key space that partition keys are
// mapped to. Shards own contiguous ranges of it.
type HashKey struct{ Hi, Lo uint64 }

// MaxHashKey is 2^128-1, the last hash key.
var MaxHashKey = HashKey{Hi: ^uint64(0), Lo: ^uint64(0)}

// HashPartitionKey maps a partition key to its hash key as Kinesis does:
// the MD5 of its UTF-8 bytes, read as a big-endian unsigned integer.
func HashPartitionKey(key string) HashKey {
	sum := md5.Sum([]byte(key))
	return HashKey{Hi: binary.BigEndian.Uint64(sum[:8]), Lo: binary.BigEndian.Uint64(sum[8:])}
}

// ParseHashKey parses a decimal hash key. It reports false when s is not a
// decimal number in [0, 2^128-1]. PutRecords parses one per record, so this
// avoids math/big.
func ParseHashKey(s string) (HashKey, bool) {
	if s == "" || len(s) > 39 {
		return HashKey{}, false
	}
	var k HashKey
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return HashKey{}, false
		}
		// k = k*10 + d, failing on overflow past 128 bits.
		hiCarry, hi := bits.Mul64(k.Hi, 10)
		loCarry, lo := bits.Mul64(k.Lo, 10)
		hi, c1 := bits.Add64(hi, loCarry, 0)
		lo, c2 := bits.Add64(lo, uint64(d), 0)
		hi, c3 := bits.Add64(hi, 0, c2)
		if hiCarry != 0 || c1 != 0 || c3 != 0 {
			return HashKey{}, false
		}
		k = HashKey{Hi: hi, Lo: lo}
	}
	return k, true
}

// String formats the key as a decimal string, the form the API uses.
func (k HashKey) String() string {
	return string(appendUint128(make([]byte, 0, 39), k.Hi, k.Lo))
}

// Cmp compares k and o, returning -1, 0 or +1.
func (k HashKey) Cmp(o HashKey) int {
	switch {
	case k.Hi < o.Hi:
		return -1
	case k.Hi > o.Hi:
		return 1
	case k.Lo < o.Lo:
		return -1
	case k.Lo > o.Lo:
		return 1
	}
	return 0
}

// Add returns k+n, wrapping at 2^128.
func (k HashKey) Add(n uint64) HashKey {
	lo, carry := bits.Add64(k.Lo, n, 0)
	return HashKey{Hi: k.Hi + carry, Lo: lo}
}

// Sub returns k-n, wrapping at zero.
func (k HashKey) Sub(n uint64) HashKey {
	lo, borrow := bits.Sub64(k.Lo, n, 0)
	return HashKey{Hi: k.Hi - borrow, Lo: lo}
}

// HashRange is the inclusive range of hash keys a shard owns.
type HashRange struct {
	Start HashKey
	End   HashKey
}

// Contains reports whether k lies in the range.
func (r HashRange) Contains(k HashKey) bool {
	return r.Start.Cmp(k) <= 0 && k.Cmp(r.End) <= 0
}

// SplitHashSpace divides the whole hash key space into n contiguous ranges
// the way Kinesis does for a new stream: range i starts at i·⌊2^128/n⌋ and the
// last range ends at 2^128-1.
func SplitHashSpace(n int) []HashRange {
	if n <= 0 {
		return nil
	}
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	step := new(big.Int).Div(space, big.NewInt(int64(n)))
	ranges := make([]HashRange, n)
	start := new(big.Int)
	for i := range n {
		end := new(big.Int).Add(start, step)
		end.Sub(end, big.NewInt(1))
		ranges[i] = HashRange{Start: hashKeyFromBig(start), End: hashKeyFromBig(end)}
		start.Add(start, step)
	}
	ranges[n-1].End = MaxHashKey
	return ranges
}

func hashKeyFromBig(n *big.Int) HashKey {
	var b [16]byte
	n.FillBytes(b[:])
	return HashKey{Hi: binary.BigEndian.Uint64(b[:8]), Lo: binary.BigEndian.Uint64(b[8:])}
}
