package parquet

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"time"

	"github.com/sluicehq/sluice/flow"
)

// The write-ahead log of a table's buffer: the rows of each Write, framed
// and fsynced before Write returns, so that buffered rows survive a crash.
//
//	frame: length uint32 LE | CRC-32C of payload uint32 LE | payload
//	payload: rows uvarint, then per row:
//	  window start, window end, written at (varint ns since 1970) | final byte
//	  per key column, then per value column: present byte | value
//	  value: Int varint | Float 8 bytes LE | String uvarint length, bytes |
//	         Bool byte | Timestamp varint ns
//
// A torn frame at the end (a crash mid-write) is cut off on recovery.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxFrame bounds a frame's payload: a Write of more is refused.
const maxFrame = 256 << 20

// bufferedRow is a row in a table's buffer.
type bufferedRow struct {
	flow.Row
	written time.Time
	size    int // its encoded size, the buffer's measure
}

// appendRow encodes r (already checked against t).
func appendRow(b []byte, t flow.Table, r bufferedRow) []byte {
	b = binary.AppendVarint(b, r.Window.Start.UnixNano())
	b = binary.AppendVarint(b, r.Window.End.UnixNano())
	b = binary.AppendVarint(b, r.written.UnixNano())
	b = append(b, boolByte(r.Final))
	for i, c := range t.Keys {
		b = appendValue(b, c.Type, r.Keys[i])
	}
	for i, c := range t.Values {
		b = appendValue(b, c.Type, r.Values[i])
	}
	return b
}

func appendValue(b []byte, t flow.ColumnType, v any) []byte {
	if v == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	switch t {
	case flow.Int:
		return binary.AppendVarint(b, v.(int64))
	case flow.Float:
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(v.(float64)))
	case flow.String:
		s := v.(string)
		return append(binary.AppendUvarint(b, uint64(len(s))), s...)
	case flow.Bool:
		return append(b, boolByte(v.(bool)))
	case flow.Timestamp:
		return binary.AppendVarint(b, v.(time.Time).UnixNano())
	}
	panic("unreachable: column types are checked at Open")
}

// checkRow refuses a row that does not fit t.
func checkRow(t flow.Table, r flow.Row) error {
	if len(r.Keys) != len(t.Keys) || len(r.Values) != len(t.Values) {
		return fmt.Errorf("%d keys and %d values, table %s has %d and %d", len(r.Keys), len(r.Values), t.Name, len(t.Keys), len(t.Values))
	}
	for i, c := range t.Keys {
		if !fits(c.Type, r.Keys[i]) {
			return fmt.Errorf("key %s is a %T, not a %s", c.Name, r.Keys[i], c.Type)
		}
	}
	for i, c := range t.Values {
		if !fits(c.Type, r.Values[i]) {
			return fmt.Errorf("value %s is a %T, not a %s", c.Name, r.Values[i], c.Type)
		}
	}
	return nil
}

func fits(t flow.ColumnType, v any) bool {
	if v == nil {
		return true
	}
	switch v.(type) {
	case int64:
		return t == flow.Int
	case float64:
		return t == flow.Float
	case string:
		return t == flow.String
	case bool:
		return t == flow.Bool
	case time.Time:
		return t == flow.Timestamp
	}
	return false
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// appendFrame frames payload.
func appendFrame(b, payload []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(payload, castagnoli))
	return append(b, payload...)
}

// readWAL reads the rows of every whole frame of f and returns the offset
// after the last one (where a torn frame, if any, starts).
func readWAL(f *os.File, t flow.Table) ([]bufferedRow, int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	r := bufio.NewReader(f)
	var rows []bufferedRow
	var off int64
	var head [8]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return rows, off, nil // the end, or a torn header
		}
		n := binary.LittleEndian.Uint32(head[:4])
		if n > maxFrame {
			return rows, off, nil
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return rows, off, nil // a torn payload
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(head[4:]) {
			return rows, off, nil
		}
		frame, err := decodeRows(payload, t)
		if err != nil {
			return nil, 0, fmt.Errorf("frame at offset %d: %w", off, err)
		}
		rows = append(rows, frame...)
		off += 8 + int64(n)
	}
}

var errCorrupt = errors.New("corrupt row")

// decodeRows decodes a frame's payload.
func decodeRows(p []byte, t flow.Table) ([]bufferedRow, error) {
	d := decoder{b: p}
	n := d.uvarint()
	if n > uint64(len(p)) {
		return nil, errCorrupt
	}
	rows := make([]bufferedRow, 0, n)
	for range n {
		start := len(d.b)
		var r bufferedRow
		r.Window.Start = time.Unix(0, d.varint()).UTC()
		r.Window.End = time.Unix(0, d.varint()).UTC()
		r.written = time.Unix(0, d.varint()).UTC()
		r.Final = d.byte() == 1
		r.Keys = make([]any, len(t.Keys))
		for i, c := range t.Keys {
			r.Keys[i] = d.value(c.Type)
		}
		r.Values = make([]any, len(t.Values))
		for i, c := range t.Values {
			r.Values[i] = d.value(c.Type)
		}
		if d.err != nil {
			return nil, d.err
		}
		r.size = start - len(d.b)
		rows = append(rows, r)
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errCorrupt
	}
	return rows, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errCorrupt, nil }

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) value(t flow.ColumnType) any {
	if d.byte() == 0 {
		return nil
	}
	switch t {
	case flow.Int:
		return d.varint()
	case flow.Float:
		if len(d.b) < 8 {
			d.fail()
			return nil
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
		d.b = d.b[8:]
		return f
	case flow.String:
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.fail()
			return nil
		}
		s := string(d.b[:n])
		d.b = d.b[n:]
		return s
	case flow.Bool:
		return d.byte() == 1
	case flow.Timestamp:
		return time.Unix(0, d.varint()).UTC()
	}
	d.fail()
	return nil
}
