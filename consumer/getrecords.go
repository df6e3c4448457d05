package consumer

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// A GetRecords response of 10,000 records takes aws-sdk-go-v2 longer to
// decode than the server takes to answer it: a token stream, a string and
// a pointer per member, a base64 decode per record into its own slice, and
// a buffer read from scratch for every body over 64 KiB. Polling feeds
// give their GetRecords calls the client's protocol wrapped by
// getRecordsProtocol, which decodes a successful response by hand, with a
// handful of allocations per response instead of seven per record: the
// records' data share one buffer, their sequence numbers and partition keys
// one string. Anything it does not expect (escapes in strings, nulls,
// ChildShards, a malformed body) goes to the SDK's own decoder with the
// same bytes, so results are the SDK's in every case; errors always are.
//
// Shared backing arrays mean that a record's Data or strings kept after
// the batch keep the batch's buffers alive (about the size of the batch's
// data); every slice is capped, so appending to one never writes over
// another.

// fastGetRecords returns a GetRecords option that installs
// getRecordsProtocol over the client's AWS JSON 1.1 protocol, reading
// bodies into buffers from bufs; it leaves any other protocol as it is.
func fastGetRecords(bufs bodyBuffers) func(*kinesis.Options) {
	return func(o *kinesis.Options) {
		switch p := o.Protocol.(type) {
		case nil, getRecordsProtocol:
			return
		default:
			if id := p.ID(); id.Namespace != "aws.protocols" || id.Name != "awsJson1_1" {
				return
			}
		}
		o.Protocol = getRecordsProtocol{ClientProtocol: o.Protocol, bufs: bufs}
	}
}

// getRecordsProtocol is a client protocol that decodes successful
// GetRecords responses itself and hands everything else to the protocol it
// wraps.
type getRecordsProtocol struct {
	smithyhttp.ClientProtocol
	bufs bodyBuffers
}

func (p getRecordsProtocol) DeserializeResponse(ctx context.Context, schema *smithy.OperationSchema, reg *smithy.TypeRegistry, resp *smithyhttp.Response, out smithy.Deserializable) error {
	o, ok := out.(*kinesis.GetRecordsOutput)
	if !ok || resp.StatusCode < 200 || resp.StatusCode >= 300 || resp.Body == nil {
		return p.ClientProtocol.DeserializeResponse(ctx, schema, reg, resp, out)
	}
	buf := p.bufs.get()
	defer p.bufs.put(buf)
	if err := buf.readAll(resp.Body, resp.ContentLength); err != nil {
		return &smithy.DeserializationError{Err: fmt.Errorf("read GetRecords response: %w", err)}
	}
	if decodeGetRecords(buf.b, o, &buf.scratch) {
		return nil
	}
	*o = kinesis.GetRecordsOutput{}
	body := resp.Body
	resp.Body = io.NopCloser(bytes.NewReader(bytes.Clone(buf.b)))
	defer func() { body.Close() }()
	return p.ClientProtocol.DeserializeResponse(ctx, schema, reg, resp, out)
}

// bodyBuffer holds a response body while it is decoded, and the decoder's
// scratch space.
type bodyBuffer struct {
	b       []byte
	scratch []span
}

// bodyBuffers keeps a few body buffers for a consumer's feeds. A buffer
// allocated afresh for each response (several MiB for 10,000 records) is
// cleared first, which costs more than decoding it; a sync.Pool would be
// emptied by the garbage collections that a steady read load runs several
// times a second.
type bodyBuffers chan *bodyBuffer

const (
	bodyBuffersKept = 4
	maxKeptBody     = 8 << 20 // larger bodies are read into buffers not kept
)

func newBodyBuffers() bodyBuffers { return make(bodyBuffers, bodyBuffersKept) }

func (bb bodyBuffers) get() *bodyBuffer {
	select {
	case b := <-bb:
		return b
	default:
		return new(bodyBuffer)
	}
}

func (bb bodyBuffers) put(b *bodyBuffer) {
	if cap(b.b) > maxKeptBody {
		return
	}
	b.b, b.scratch = b.b[:0], b.scratch[:0]
	select {
	case bb <- b:
	default:
	}
}

// readAll reads r to its end into b.b, sized once when the length is
// known.
func (b *bodyBuffer) readAll(r io.Reader, length int64) error {
	if length > 0 && length <= math.MaxInt32 && int(length) > cap(b.b) {
		b.b = make([]byte, 0, int(length)+1) // +1: the read that sees EOF
	}
	for {
		if len(b.b) == cap(b.b) {
			b.b = append(b.b, 0)[:len(b.b)]
		}
		n, err := r.Read(b.b[len(b.b):cap(b.b)])
		b.b = b.b[:len(b.b)+n]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// span is what decodeGetRecords keeps of a record until the batch's shared
// strings and times are made: where its sequence number and partition key
// are in the body, and its arrival time.
type span struct {
	seq, pk [2]int32
	arrival time.Time
	has     uint8 // hasSeq | hasPK | hasArrival
}

const (
	hasSeq = 1 << iota
	hasPK
	hasArrival
)

// decodeGetRecords decodes a GetRecords response body into o. It reports
// false, leaving o in any state, for anything but a well-formed response
// of the shape it expects.
func decodeGetRecords(body []byte, o *kinesis.GetRecordsOutput, scratch *[]span) bool {
	if len(body) > math.MaxInt32 {
		return false
	}
	d := jsonScanner{b: body}
	var recs []types.Record
	spans := (*scratch)[:0]
	defer func() { *scratch = spans[:0] }()
	var data []byte
	seen := 0 // top-level members, one bit each
	if !d.consume('{') {
		return false
	}
	for first := true; !d.consume('}'); first = false {
		if !first && !d.consume(',') {
			return false
		}
		key, ok := d.plainString()
		if !ok || !d.consume(':') {
			return false
		}
		switch string(key) {
		case "Records":
			if seen&1 != 0 || !d.consume('[') {
				return false
			}
			seen |= 1
			recs = make([]types.Record, 0, len(body)/256)
			for firstRec := true; !d.consume(']'); firstRec = false {
				if !firstRec && !d.consume(',') {
					return false
				}
				var r types.Record
				var sp span
				if !d.consume('{') {
					return false
				}
				for firstMember := true; !d.consume('}'); firstMember = false {
					if !firstMember && !d.consume(',') {
						return false
					}
					name, ok := d.plainString()
					if !ok || !d.consume(':') {
						return false
					}
					switch string(name) {
					case "SequenceNumber", "PartitionKey":
						d.ws()
						start := d.i + 1
						s, ok := d.plainString()
						if !ok {
							return false
						}
						at := [2]int32{int32(start), int32(start + len(s))}
						if name[0] == 'S' {
							sp.seq, sp.has = at, sp.has|hasSeq
						} else {
							sp.pk, sp.has = at, sp.has|hasPK
						}
					case "ApproximateArrivalTimestamp":
						t, ok := d.epochSeconds()
						if !ok {
							return false
						}
						sp.arrival, sp.has = t, sp.has|hasArrival
					case "Data":
						s, ok := d.base64String()
						if !ok {
							return false
						}
						if len(s) == 0 {
							r.Data = []byte{} // as the SDK: empty, not nil
							break
						}
						size := base64.StdEncoding.DecodedLen(len(s))
						if cap(data)-len(data) < size {
							data = make([]byte, 0, max(size, 256<<10))
						}
						at := len(data)
						m, err := base64.StdEncoding.Decode(data[at:at+size], s)
						if err != nil || !decodedAll(s, m) {
							return false
						}
						data = data[:at+m]
						r.Data = data[at : at+m : at+m]
					case "EncryptionType":
						s, ok := d.plainString()
						if !ok {
							return false
						}
						r.EncryptionType = encryptionType(s)
					default:
						if !d.skip() {
							return false
						}
					}
				}
				recs = append(recs, r)
				spans = append(spans, sp)
			}
		case "NextShardIterator":
			s, ok := d.plainString()
			if seen&2 != 0 || !ok {
				return false
			}
			seen |= 2
			it := string(s)
			o.NextShardIterator = &it
		case "MillisBehindLatest":
			num, ok := d.number()
			if seen&4 != 0 || !ok {
				return false
			}
			seen |= 4
			v, err := strconv.ParseInt(string(num), 10, 64)
			if err != nil {
				return false
			}
			o.MillisBehindLatest = &v
		case "ChildShards":
			return false // the SDK's decoder, for the rare response that ends a shard
		default:
			if !d.skip() {
				return false
			}
		}
	}
	if !d.end() {
		return false
	}
	if recs != nil {
		o.Records = recs
		fill(body, recs, spans)
	}
	return true
}

// fill points the records at their sequence numbers, partition keys and
// arrival times, copied out of the body into one string and one slice for
// the batch.
func fill(body []byte, recs []types.Record, spans []span) {
	size := 0
	for _, sp := range spans {
		size += int(sp.seq[1]-sp.seq[0]) + int(sp.pk[1]-sp.pk[0])
	}
	var sb strings.Builder
	sb.Grow(size)
	for _, sp := range spans {
		sb.Write(body[sp.seq[0]:sp.seq[1]])
		sb.Write(body[sp.pk[0]:sp.pk[1]])
	}
	all := sb.String()
	strs := make([]string, 2*len(recs))
	times := make([]time.Time, len(recs))
	off := 0
	for i, sp := range spans {
		r := &recs[i]
		n := int(sp.seq[1] - sp.seq[0])
		strs[2*i] = all[off : off+n]
		off += n
		n = int(sp.pk[1] - sp.pk[0])
		strs[2*i+1] = all[off : off+n]
		off += n
		if sp.has&hasSeq != 0 {
			r.SequenceNumber = &strs[2*i]
		}
		if sp.has&hasPK != 0 {
			r.PartitionKey = &strs[2*i+1]
		}
		if sp.has&hasArrival != 0 {
			times[i] = sp.arrival
			r.ApproximateArrivalTimestamp = &times[i]
		}
	}
}

// encryptionType converts without allocating for the two values there are.
func encryptionType(s []byte) types.EncryptionType {
	switch string(s) {
	case "NONE":
		return types.EncryptionTypeNone
	case "KMS":
		return types.EncryptionTypeKms
	}
	return types.EncryptionType(s)
}

// jsonScanner reads the JSON values decodeGetRecords takes. Each method
// skips the whitespace before its token and reports false for anything
// else, including what JSON allows but the fast path leaves to the SDK.
type jsonScanner struct {
	b []byte
	i int
}

func (d *jsonScanner) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// consume takes the byte c if it is next.
func (d *jsonScanner) consume(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (d *jsonScanner) end() bool {
	d.ws()
	return d.i == len(d.b)
}

// plainString returns the contents of a string without escapes, in valid
// UTF-8 (so that it means the same to the SDK's decoder).
func (d *jsonScanner) plainString() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	start := d.i
	for d.i < len(d.b) && plainByte[d.b[d.i]] {
		d.i++
	}
	ascii := true
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.i++
	}
	return nil, false
}

// plainByte is true for the bytes a string holds as they are, in ASCII.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// base64String returns the contents of a string that is to be base64
// (the decoder then refuses what is not, and decodedAll catches the line
// breaks it skips), with its length a multiple of 4 (padded base64 has no
// other).
func (d *jsonScanner) base64String() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	n := bytes.IndexByte(d.b[d.i:], '"')
	if n < 0 || n%4 != 0 {
		return nil, false
	}
	s := d.b[d.i : d.i+n]
	d.i += n + 1
	return s, true
}

// decodedAll reports whether decoding s gave n bytes, all that its length
// holds: base64.StdEncoding skips line breaks, which JSON does not allow
// in a string, and each one would have made the result shorter.
func decodedAll(s []byte, n int) bool {
	pad := 0
	if len(s) > 0 && s[len(s)-1] == '=' {
		pad++
		if len(s) > 1 && s[len(s)-2] == '=' {
			pad++
		}
	}
	return n == len(s)/4*3-pad
}

// number returns a JSON number's text.
func (d *jsonScanner) number() ([]byte, bool) {
	d.ws()
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := d.digits()
	if digits == 0 || (digits > 1 && d.b[d.i-digits] == '0') {
		return nil, false
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if d.digits() == 0 {
			return nil, false
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if d.digits() == 0 {
			return nil, false
		}
	}
	return d.b[start:d.i], true
}

func (d *jsonScanner) digits() int {
	n := 0
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
		n++
	}
	return n
}

// epochSeconds reads a timestamp as AWS JSON writes it, seconds since the
// epoch, into the time the SDK makes of it: truncated to the millisecond
// (smithy-go's ParseEpochSeconds multiplies by 1,000 at float64 precision,
// which is what a float64 multiplication does, then truncates), in UTC.
func (d *jsonScanner) epochSeconds() (time.Time, bool) {
	num, ok := d.number()
	if !ok {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return time.Time{}, false
	}
	ms := f * 1e3
	if !(ms > -(1<<62) && ms < 1<<62) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(ms)*1e6).UTC(), true
}

// skip passes over a valid value: a member the SDK ignores too.
func (d *jsonScanner) skip() bool {
	d.ws()
	start := d.i
	return d.pass() && json.Valid(d.b[start:d.i])
}

// pass passes over a value, checking only its nesting.
func (d *jsonScanner) pass() bool {
	if d.i >= len(d.b) {
		return false
	}
	switch c := d.b[d.i]; {
	case c == '"':
		d.i++
		for d.i < len(d.b) {
			switch d.b[d.i] {
			case '\\':
				d.i += 2
				continue
			case '"':
				d.i++
				return true
			}
			d.i++
		}
		return false
	case c == '{' || c == '[':
		depth := 0
		for d.i < len(d.b) {
			switch d.b[d.i] {
			case '"':
				if !d.pass() {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					d.i++
					return true
				}
			}
			d.i++
		}
		return false
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(d.b[d.i:], []byte(lit)) {
				d.i += len(lit)
				return true
			}
		}
		return false
	default:
		_, ok := d.number()
		return ok
	}
}
