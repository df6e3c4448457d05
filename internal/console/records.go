package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/deaggregate"
	"github.com/sluicehq/sluice/internal/kinesis"
)

// The data viewer reads pages of records from a cursor: the shard
// iterators (stateless, signed, valid 5 minutes) of the shards being
// read, so the server keeps nothing per viewer. Following live is the
// browser asking for the next page, at once while pages come back full
// and every second once caught up. Each request is bounded: at most
// pageShards shards (a larger selection is read round-robin, page after
// page), pageCalls GetRecords calls, pageScan records scanned for a
// filter and pageBytes of record data returned, each record's data cut
// to previewBytes.
const (
	pageShards   = 16
	pageCalls    = 32
	pageScan     = 5000
	pageBytes    = 2 << 20
	previewBytes = 16 << 10
	maxPageLimit = 500
)

// recordOut is one (user) record in a page.
type recordOut struct {
	Shard      string `json:"shard"`
	Seq        string `json:"seq"`
	Sub        int64  `json:"sub,omitempty"`
	Aggregated bool   `json:"aggregated,omitempty"`
	Arrival    int64  `json:"arrival"`
	PK         string `json:"pk"`
	HashKey    string `json:"hashKey,omitempty"`
	Size       int    `json:"size"`
	Data       string `json:"data"` // base64 of at most previewBytes
	Truncated  bool   `json:"truncated,omitempty"`
	Encrypted  bool   `json:"encrypted,omitempty"`
}

type pageOut struct {
	Records []recordOut `json:"records"`
	// Cursor continues from after the last record read; "" once every
	// shard read is closed and read to its end.
	Cursor string `json:"cursor"`
	// CaughtUp is true when every shard read was at its newest record.
	CaughtUp     bool       `json:"caughtUp"`
	MillisBehind int64      `json:"millisBehind"`
	Scanned      int        `json:"scanned"`
	Shards       []shardPos `json:"shards"`
	// More is true when the selection has more shards than one page
	// reads, or a filter stopped at its scan bound.
	More bool `json:"more"`
}

type shardPos struct {
	ID           string `json:"id"`
	MillisBehind int64  `json:"millisBehind"`
	Ended        bool   `json:"ended,omitempty"`
}

// cursor is a data viewer position, sent to the browser as base64 JSON.
type cursor struct {
	Stream string      `json:"s"`
	Shards []cursorPos `json:"p"`
	Next   int         `json:"n"` // round-robin offset
	// Follow adds the children of shards read to their end.
	Follow bool `json:"f,omitempty"`
}

type cursorPos struct {
	Shard    string `json:"i"`
	Iterator string `json:"t,omitempty"` // "" once ended
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Stream == "" || len(c.Shards) > kinesis.MaxShardsPerStream {
		return cursor{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "Invalid cursor.")
	}
	return c, nil
}

// filter selects user records by partition key (exact, or a prefix
// ending in *) and by a case-insensitive text in the data.
type filter struct {
	pk     string
	prefix bool
	text   []byte
}

func (f filter) active() bool { return f.pk != "" || len(f.text) > 0 }

func (f filter) match(pk string, data []byte) bool {
	if f.pk != "" {
		if f.prefix && !strings.HasPrefix(pk, f.pk) || !f.prefix && pk != f.pk {
			return false
		}
	}
	return len(f.text) == 0 || bytes.Contains(bytes.ToLower(data), f.text)
}

// records is GET /console/api/streams/{name}/records: either a start
// (shards=ID,ID or empty for all; type, seq, ts) or a cursor, and
// limit, pk and q.
func (c *Console) records(r *http.Request) (any, error) {
	ctx := r.Context()
	release, err := c.readers.acquire(ctx, browserID(r))
	if err != nil {
		return nil, err
	}
	defer release()
	q := r.URL.Query()
	name := r.PathValue("name")
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageLimit {
			return nil, kinesis.Errorf(kinesis.ErrInvalidArgument, "limit must be between 1 and %d.", maxPageLimit)
		}
		limit = n
	}
	f := filter{pk: q.Get("pk"), text: bytes.ToLower([]byte(q.Get("q")))}
	if strings.HasSuffix(f.pk, "*") {
		f.pk, f.prefix = strings.TrimSuffix(f.pk, "*"), true
	}
	d, err := c.describeCached(ctx, name)
	if err != nil {
		return nil, err
	}
	var cur cursor
	if v := q.Get("cursor"); v != "" {
		if cur, err = decodeCursor(v); err != nil {
			return nil, err
		}
		if cur.Stream != name {
			return nil, kinesis.Errorf(kinesis.ErrInvalidArgument, "The cursor is of stream %s, not %s.", cur.Stream, name)
		}
	} else if cur, err = c.startCursor(ctx, d, q); err != nil {
		return nil, err
	}
	return c.readPage(ctx, d, cur, limit, f)
}

// startCursor gets iterators for the chosen shards at the chosen
// position.
func (c *Console) startCursor(ctx context.Context, d kinesis.StreamDescription, q map[string][]string) (cursor, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	in := kinesis.GetShardIteratorInput{Stream: kinesis.StreamRef{Name: d.Name}, Type: kinesis.IteratorType(get("type"))}
	if in.Type == "" {
		in.Type = kinesis.TrimHorizon
	}
	var shards []string
	if v := get("shards"); v != "" {
		shards = strings.Split(v, ",")
	}
	switch in.Type {
	case kinesis.TrimHorizon, kinesis.Latest:
	case kinesis.AtTimestamp:
		t, err := parseTime(get("ts"))
		if err != nil {
			return cursor{}, err
		}
		in.Timestamp = &t
	case kinesis.AtSequenceNumber, kinesis.AfterSequenceNumber:
		in.StartingSequenceNumber = strings.TrimSpace(get("seq"))
		// A sequence number names its shard: read that one.
		seq, ok := kinesis.ParseSequenceNumber(in.StartingSequenceNumber)
		if !ok {
			return cursor{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "%q is not a sequence number of this server.", in.StartingSequenceNumber)
		}
		sh, ok := d.ShardByEpoch(seq.Epoch)
		if !ok {
			return cursor{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "Sequence number %s is of no shard of stream %s.", in.StartingSequenceNumber, d.Name)
		}
		shards = []string{sh.ID}
	default:
		return cursor{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "Unknown starting position %q.", in.Type)
	}
	cur := cursor{Stream: d.Name, Follow: len(shards) == 0}
	if len(shards) == 0 {
		for _, sh := range d.Shards {
			// From LATEST only open shards have anything to come.
			if in.Type != kinesis.Latest || sh.Open() {
				shards = append(shards, sh.ID)
			}
		}
	}
	if len(shards) > kinesis.MaxShardsPerStream {
		return cursor{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "Too many shards.")
	}
	for _, id := range shards {
		if _, ok := d.Shard(id); !ok {
			return cursor{}, kinesis.Errorf(kinesis.ErrResourceNotFound, "Shard %s in stream %s does not exist.", id, d.Name)
		}
		in.ShardID = id
		it, err := c.svc.GetShardIterator(ctx, in)
		if err != nil {
			return cursor{}, err
		}
		cur.Shards = append(cur.Shards, cursorPos{Shard: id, Iterator: it})
	}
	return cur, nil
}

func parseTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "%q is not a time (RFC 3339, or Unix milliseconds).", s)
}

// readPage reads the next page from a cursor.
func (c *Console) readPage(ctx context.Context, d kinesis.StreamDescription, cur cursor, limit int, f filter) (pageOut, error) {
	out := pageOut{Records: []recordOut{}, Shards: []shardPos{}, CaughtUp: true}
	live := make([]int, 0, len(cur.Shards)) // positions still readable
	for i, p := range cur.Shards {
		if p.Iterator != "" {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return out, nil
	}
	// This page's shards: up to pageShards, round-robin from cur.Next.
	start := cur.Next % len(live)
	picked := make([]int, 0, min(pageShards, len(live)))
	for k := 0; k < len(live) && len(picked) < pageShards; k++ {
		picked = append(picked, live[(start+k)%len(live)])
	}
	out.More = len(live) > len(picked)
	cur.Next = start + len(picked)
	perShard := max(1, limit/len(picked))
	calls, bytesOut := 0, 0
	behind := make(map[int]int64, len(picked))
	caught := make(map[int]bool, len(picked))
	for round := 0; ; round++ {
		progressed := false
		for _, i := range picked {
			p := &cur.Shards[i]
			if p.Iterator == "" || caught[i] || calls >= pageCalls || len(out.Records) >= limit || bytesOut >= pageBytes {
				continue
			}
			calls++
			res, err := c.svc.GetRecords(ctx, p.Iterator, perShardLimit(f, perShard))
			if err != nil {
				return pageOut{}, err
			}
			p.Iterator = res.NextShardIterator
			behind[i] = res.MillisBehindLatest
			if len(res.Records) == 0 || res.MillisBehindLatest == 0 {
				caught[i] = true
			}
			if len(res.Records) > 0 {
				progressed = true
			}
			out.Scanned += len(res.Records)
			sh, ok := d.Shard(p.Shard)
			if !ok { // a child newer than the cached description
				if d, err = c.describeFresh(ctx, d.Name); err != nil {
					return pageOut{}, err
				}
				sh, _ = d.Shard(p.Shard)
			}
			for _, u := range userRecords(res.Records, sh) {
				if !f.match(u.PartitionKey, u.Data) {
					continue
				}
				ro := recordOut{
					Shard: p.Shard, Seq: u.SequenceNumber, Sub: u.SubSequenceNumber, Aggregated: u.Aggregated,
					Arrival: u.ApproximateArrivalTimestamp.UnixMilli(), PK: u.PartitionKey, HashKey: u.ExplicitHashKey,
					Size: len(u.Data), Encrypted: u.EncryptionType == types.EncryptionTypeKms,
				}
				data := u.Data
				if len(data) > previewBytes {
					data, ro.Truncated = data[:previewBytes], true
				}
				ro.Data = base64.StdEncoding.EncodeToString(data)
				bytesOut += len(data)
				out.Records = append(out.Records, ro)
			}
			if p.Iterator == "" && cur.Follow {
				cur.Shards = addChildren(cur.Shards, res.ChildShards)
			}
			if p.Iterator == "" {
				caught[i] = true
			}
		}
		// Without a filter one round is a page; with one, go on while
		// nothing matched yet and the bounds allow.
		if !f.active() || !progressed || len(out.Records) >= limit || calls >= pageCalls || out.Scanned >= pageScan || bytesOut >= pageBytes {
			if f.active() && progressed && len(out.Records) < limit {
				out.More = true
			}
			break
		}
	}
	// Children added for followed shards get iterators now, so that the
	// cursor stays a list of iterators.
	if err := c.startChildren(ctx, d.Name, cur.Shards); err != nil {
		return pageOut{}, err
	}
	ended := 0
	for _, i := range picked {
		p := cur.Shards[i]
		out.Shards = append(out.Shards, shardPos{ID: p.Shard, MillisBehind: behind[i], Ended: p.Iterator == ""})
		out.MillisBehind = max(out.MillisBehind, behind[i])
		if !caught[i] {
			out.CaughtUp = false
		}
	}
	for _, p := range cur.Shards {
		if p.Iterator == "" {
			ended++
		}
	}
	slices.SortStableFunc(out.Records, func(a, b recordOut) int {
		if a.Arrival != b.Arrival {
			return int(a.Arrival - b.Arrival)
		}
		return strings.Compare(a.Shard, b.Shard)
	})
	if ended < len(cur.Shards) {
		out.Cursor = encodeCursor(cur)
	}
	return out, nil
}

// perShardLimit is the GetRecords limit: the page's share without a
// filter; with one, larger batches, since most records may not match.
func perShardLimit(f filter, share int) int {
	if f.active() {
		return 1000
	}
	return share
}

// pendingPrefix marks a child shard added to a cursor that has no
// iterator yet.
const pendingPrefix = "+"

func isPending(p *cursorPos) bool { return strings.HasPrefix(p.Shard, pendingPrefix) }

// addChildren adds children of an ended shard that the cursor does not
// have yet, to be started at TRIM_HORIZON.
func addChildren(ps []cursorPos, children []kinesis.ChildShard) []cursorPos {
	for _, ch := range children {
		if !slices.ContainsFunc(ps, func(p cursorPos) bool { return strings.TrimPrefix(p.Shard, pendingPrefix) == ch.ShardID }) {
			ps = append(ps, cursorPos{Shard: pendingPrefix + ch.ShardID})
		}
	}
	return ps
}

// startChildren replaces pending children by iterators at TRIM_HORIZON.
func (c *Console) startChildren(ctx context.Context, stream string, ps []cursorPos) error {
	for i := range ps {
		if !isPending(&ps[i]) {
			continue
		}
		id := strings.TrimPrefix(ps[i].Shard, pendingPrefix)
		it, err := c.svc.GetShardIterator(ctx, kinesis.GetShardIteratorInput{Stream: kinesis.StreamRef{Name: stream}, ShardID: id, Type: kinesis.TrimHorizon})
		if err != nil {
			return err
		}
		ps[i] = cursorPos{Shard: id, Iterator: it}
	}
	return nil
}

// userRecords expands KPL aggregates into their user records, keeping
// those whose hash key is in the shard's range, as the KCL does.
func userRecords(recs []kinesis.Record, sh kinesis.Shard) []deaggregate.Record {
	in := make([]types.Record, len(recs))
	for i, r := range recs {
		in[i] = types.Record{
			SequenceNumber: aws.String(r.SequenceNumber), PartitionKey: aws.String(r.PartitionKey), Data: r.Data,
			ApproximateArrivalTimestamp: aws.Time(r.ApproximateArrivalTimestamp),
		}
		if r.EncryptionType != "" {
			in[i].EncryptionType = types.EncryptionType(r.EncryptionType)
		}
	}
	out, err := deaggregate.RecordsInRange(in, sh.HashRange.Start.String(), sh.HashRange.End.String())
	if err != nil { // the range comes from the stream's metadata
		out, _ = deaggregate.Records(in)
	}
	return out
}

// Following tails ask for a page every second or faster, and each needs
// the stream's shards (hash ranges, for aggregates): one DescribeStream,
// a store read, is shared by every page of a stream for descTTL.
const descTTL = time.Second

type descCache struct {
	mu sync.Mutex
	m  map[string]cachedDesc
}

type cachedDesc struct {
	d  kinesis.StreamDescription
	at time.Time
}

func (c *Console) describeCached(ctx context.Context, name string) (kinesis.StreamDescription, error) {
	c.descs.mu.Lock()
	e, ok := c.descs.m[name]
	c.descs.mu.Unlock()
	if ok && c.cfg.Now().Sub(e.at) < descTTL {
		return e.d, nil
	}
	return c.describeFresh(ctx, name)
}

func (c *Console) describeFresh(ctx context.Context, name string) (kinesis.StreamDescription, error) {
	d, err := c.svc.DescribeStream(ctx, kinesis.StreamRef{Name: name})
	if err != nil {
		return d, err
	}
	c.descs.mu.Lock()
	defer c.descs.mu.Unlock()
	if c.descs.m == nil || len(c.descs.m) > 1000 {
		c.descs.m = make(map[string]cachedDesc)
	}
	c.descs.m[name] = cachedDesc{d: d, at: c.cfg.Now()}
	return d, nil
}

func browserID(r *http.Request) string {
	if ck, err := r.Cookie(browserCookie); err == nil && ck.Value != "" {
		return ck.Value
	}
	return "addr:" + r.RemoteAddr
}

// busyMessage is the LimitExceededException of a browser reading too
// often, answered with status 429 and Retry-After.
const busyMessage = "The console is reading records too often for this browser; slowing down."

// readLimiter bounds record reads: per browser a token bucket, and a
// semaphore server-wide.
type readLimiter struct {
	rate  float64
	burst float64
	now   func() time.Time
	sem   chan struct{}

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newReadLimiter(rate float64, burst, concurrent int, now func() time.Time) *readLimiter {
	return &readLimiter{rate: rate, burst: float64(burst), now: now, sem: make(chan struct{}, concurrent), buckets: make(map[string]*bucket)}
}

// maxBuckets bounds the limiter's memory; idle buckets are dropped first.
const maxBuckets = 4096

func (l *readLimiter) acquire(ctx context.Context, id string) (func(), error) {
	l.mu.Lock()
	now := l.now()
	b, ok := l.buckets[id]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			for k, v := range l.buckets {
				if now.Sub(v.at) > time.Minute {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{tokens: l.burst, at: now}
		if len(l.buckets) < maxBuckets {
			l.buckets[id] = b
		}
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		l.mu.Unlock()
		return nil, kinesis.Errorf(kinesis.ErrLimitExceeded, busyMessage)
	}
	b.tokens--
	l.mu.Unlock()
	select {
	case l.sem <- struct{}{}:
		return func() { <-l.sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
