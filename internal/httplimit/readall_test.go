package httplimit

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"
	"testing/iotest"
)

func TestReadAll(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 513, 4000, 64 << 10, 64<<10 + 1, 200_000, 1<<20 + 7} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		for name, r := range map[string]io.Reader{
			"whole":    bytes.NewReader(data),
			"halves":   iotest.HalfReader(bytes.NewReader(data)),
			"data+EOF": iotest.DataErrReader(bytes.NewReader(data)),
		} {
			buf, err := ReadAll(r)
			if err != nil {
				t.Fatalf("%d %s: %v", n, name, err)
			}
			if !bytes.Equal(buf.B, data) {
				t.Fatalf("%d %s: read %d bytes, not the body", n, name, len(buf.B))
			}
			// Memory follows what arrived: at most twice it, or the
			// smallest class.
			if limit := max(2*n, minClassBytes); cap(buf.B) > limit {
				t.Errorf("%d %s: buffer of %d bytes", n, name, cap(buf.B))
			}
			buf.Release()
			buf.Release() // twice is harmless
		}
	}
}

// TestReadAll_Stalled: a body that fails midway (a timeout, the budget)
// returns the error and holds nothing.
func TestReadAll_Stalled(t *testing.T) {
	boom := errors.New("boom")
	for _, n := range []int{10, 100 << 10} {
		buf, err := ReadAll(io.MultiReader(bytes.NewReader(make([]byte, n)), iotest.ErrReader(boom)))
		if !errors.Is(err, boom) {
			t.Fatalf("%d: %v", n, err)
		}
		if buf.B != nil {
			t.Errorf("%d: a failed read kept %d bytes", n, len(buf.B))
		}
		buf.Release()
	}
}

func BenchmarkReadAll(b *testing.B) {
	for _, n := range []int{1 << 10, 32 << 10, 1 << 20} {
		data := make([]byte, n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				buf, err := ReadAll(bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				buf.Release()
			}
		})
	}
}
