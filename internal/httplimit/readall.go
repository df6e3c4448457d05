package httplimit

import (
	"errors"
	"io"
	"sync"
)

// Body buffers grow by size class, from 512 bytes doubling to 64 KiB, then
// in 64 KiB chunks that are joined once at the end: memory follows what
// has arrived (at most twice it, or 64 KiB more, plus 512 bytes), never
// a declared length, and a body that stalls holds no more than it sent.
// Classes are pooled, so the common small bodies cost no allocation.
const (
	minClassBytes = 512
	numClasses    = 8 // 512 B ... 64 KiB
	maxClassBytes = minClassBytes << (numClasses - 1)
)

var classPools [numClasses]sync.Pool

// joinedPool keeps the buffers bodies beyond 64 KiB are joined into, up to
// maxJoinedPooled bytes: the next large body reuses one if it fits.
var joinedPool sync.Pool

const maxJoinedPooled = 4 << 20

// getJoined returns an empty buffer of at least n bytes.
func getJoined(n int) *[]byte {
	if b, ok := joinedPool.Get().(*[]byte); ok {
		if cap(*b) >= n {
			*b = (*b)[:0]
			return b
		}
		joinedPool.Put(b)
	}
	b := make([]byte, 0, n)
	return &b
}

// getClass returns an empty buffer of class c (minClassBytes << c bytes).
func getClass(c int) *[]byte {
	if b, ok := classPools[c].Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, minClassBytes<<c)
	return &b
}

func putClass(c int, b *[]byte) { classPools[c].Put(b) }

// Buffer is a request body read by ReadAll. Release it when done with B.
type Buffer struct {
	B      []byte
	pooled *[]byte // B's pooled backing; nil: not pooled
	class  int     // pool class of pooled; -1: the joined pool
}

// Release returns the buffer's memory to the pool. B must not be used
// after.
func (b *Buffer) Release() {
	if b == nil || b.pooled == nil {
		return
	}
	*b.pooled = b.B[:0]
	switch {
	case b.class >= 0:
		putClass(b.class, b.pooled)
	case cap(b.B) <= maxJoinedPooled:
		joinedPool.Put(b.pooled)
	}
	b.B, b.pooled = nil, nil
}

// ReadAll reads r to its end. Its memory grows only as data arrives. On
// an error (r's), the Buffer is empty: what was read is released at once.
func ReadAll(r io.Reader) (*Buffer, error) {
	cur, class := getClass(0), 0
	var chunks []*[]byte // full 64 KiB chunks, once the body outgrew the classes
	total := 0
	for {
		b := *cur
		if len(b) == cap(b) {
			if class < numClasses-1 {
				next := getClass(class + 1)
				*next = append(*next, b...)
				putClass(class, cur)
				cur, class = next, class+1
			} else {
				chunks = append(chunks, cur)
				cur = getClass(numClasses - 1)
			}
			b = *cur
		}
		n, err := r.Read(b[len(b):cap(b)])
		*cur = b[:len(b)+n]
		total += n
		if err == nil {
			continue
		}
		if !errors.Is(err, io.EOF) {
			// A failed body is not used: give its memory back at once.
			for _, c := range chunks {
				putClass(numClasses-1, c)
			}
			putClass(class, cur)
			return &Buffer{}, err
		}
		buf := &Buffer{B: *cur, pooled: cur, class: class}
		if chunks != nil {
			joined := getJoined(total)
			for _, c := range chunks {
				*joined = append(*joined, *c...)
				putClass(numClasses-1, c)
			}
			*joined = append(*joined, *cur...)
			putClass(class, cur)
			buf = &Buffer{B: *joined, pooled: joined, class: -1}
		}
		return buf, nil
	}
}
