package broker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// GetShardIterator resolves a starting position into a signed iterator.
func (b *Broker) GetShardIterator(ctx context.Context, in kinesis.GetShardIteratorInput) (string, error) {
	name, err := b.resolve(in.Stream)
	if err != nil {
		return "", err
	}
	if err := checkIteratorParams(in); err != nil {
		return "", err
	}
	s, err := b.stream(ctx, name)
	if err != nil {
		return "", err
	}
	if s.Status(b.cfg.Now()) == kinesis.StatusCreating {
		return "", kinesis.StreamNotFound(name, b.cfg.AccountID)
	}
	sh, id, ok := findShard(s, in.ShardID)
	if !ok {
		return "", b.shardNotFound(name, id)
	}
	if in.Type == kinesis.AtTimestamp {
		at, now := in.Timestamp.UnixMilli(), b.cfg.Now().UnixMilli()
		if at > now {
			return "", kinesis.Errorf(kinesis.ErrInvalidArgument, "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: %d, currentTimestampInMillis: %d", at, now)
		}
	}
	if err := b.admitIterator(name, sh); err != nil {
		return "", err
	}
	t, err := b.startToken(ctx, s, sh, in)
	if err != nil {
		return "", err
	}
	return b.tokens.encodeIterator(t), nil
}

// startToken resolves a starting position in shard sh of stream s (whose
// parameters checkIteratorParams accepted) into the position of the first
// record to read.
func (b *Broker) startToken(ctx context.Context, s *kinesis.Stream, sh kinesis.Shard, in kinesis.GetShardIteratorInput) (iteratorToken, error) {
	name := s.Name
	t := iteratorToken{StreamName: name, StreamID: s.ID, Epoch: sh.Epoch, IssuedAt: b.cfg.Now()}
	segs := s.Segments(sh)
	if len(segs) == 0 {
		// A closed shard whose logs all expired: at its end.
		t.Log, t.MsgSeq = max(sh.LastLog, sh.FirstLog), 1
		return t, nil
	}
	switch in.Type {
	case kinesis.TrimHorizon:
		// Reads start at the oldest retained message.
		t.Log, t.MsgSeq = segs[0].Epoch, 1
	case kinesis.Latest:
		last := segs[len(segs)-1]
		t.Log = last.Epoch
		if last.Sealed {
			t.MsgSeq = last.End + 1
			break
		}
		st, err := b.log.State(ctx, logName(last.Epoch))
		if err != nil {
			return iteratorToken{}, fmt.Errorf("state of %s/%s: %w", name, sh.ID, err)
		}
		t.MsgSeq = st.LastSeq + 1
	case kinesis.AtSequenceNumber, kinesis.AfterSequenceNumber:
		seq, err := b.parseStartingSequence(s, sh, in.StartingSequenceNumber)
		if err != nil {
			return iteratorToken{}, err
		}
		t.Log, t.MsgSeq, t.Index = seq.Epoch, max(seq.MsgSeq, 1), seq.Index
		if seq.MsgSeq == 0 {
			t.Index = 0 // the shard's StartingSequenceNumber: before every record
		} else if in.Type == kinesis.AfterSequenceNumber {
			if seq.Index == kinesis.MaxIndex {
				t.MsgSeq, t.Index = seq.MsgSeq+1, 0
			} else {
				t.Index++
			}
		}
	case kinesis.AtTimestamp:
		ts := *in.Timestamp
		// Arrival times are stamped just before a message is stored, so
		// the message found may hold records a little older than ts.
		t.NotBefore = ts.UnixMilli()
		for i, seg := range segs {
			seq, err := b.log.SeekTime(ctx, logName(seg.Epoch), ts)
			if errors.Is(err, kinesis.ErrLogNotFound) && i < len(segs)-1 {
				continue // an expired log, deleted
			}
			if err != nil {
				return iteratorToken{}, fmt.Errorf("seek %s/%s to %s: %w", name, sh.ID, ts, err)
			}
			t.Log, t.MsgSeq = seg.Epoch, max(seq, 1)
			if !seg.Sealed || seq <= seg.End {
				break // else everything in this log is older: the next one
			}
		}
	}
	return t, nil
}

// checkIteratorParams enforces which parameters go with which type.
func checkIteratorParams(in kinesis.GetShardIteratorInput) error {
	hasSeq, hasTime := in.StartingSequenceNumber != "", in.Timestamp != nil
	switch in.Type {
	case kinesis.AtSequenceNumber, kinesis.AfterSequenceNumber, kinesis.TrimHorizon, kinesis.Latest:
		wantSeq := in.Type == kinesis.AtSequenceNumber || in.Type == kinesis.AfterSequenceNumber
		if hasSeq != wantSeq || hasTime {
			return kinesis.Errorf(kinesis.ErrInvalidArgument, "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified %s and %s StartingSequenceNumber.", in.Type, map[bool]string{true: "a", false: "no"}[hasSeq])
		}
	case kinesis.AtTimestamp:
		if !hasTime || hasSeq {
			return kinesis.Errorf(kinesis.ErrInvalidArgument, "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
		}
	default:
		return kinesis.Errorf(kinesis.ErrInvalidArgument, "Invalid ShardIteratorType %s.", in.Type)
	}
	return nil
}

func (b *Broker) parseStartingSequence(s *kinesis.Stream, sh kinesis.Shard, v string) (kinesis.SequenceNumber, error) {
	seq, ok := kinesis.ParseSequenceNumber(v)
	if !ok {
		return seq, kinesis.Errorf(kinesis.ErrInvalidArgument, "StartingSequenceNumber %s used in GetShardIterator on shard %s in stream %s under account %s is invalid.", v, sh.ID, s.Name, b.cfg.AccountID)
	}
	if sequenceOf(s, sh, seq) {
		return seq, nil
	}
	var other kinesis.Shard
	found := false
	if seq.Shard == 0 {
		other, found = s.ShardByEpoch(seq.Epoch)
	} else if o, ok := s.Shard(kinesis.ShardID(int(seq.Shard - 1))); ok && sequenceOf(s, o, seq) {
		other, found = o, true
	}
	if found {
		return seq, kinesis.Errorf(kinesis.ErrInvalidArgument, "Invalid StartingSequenceNumber. It encodes %s, while it was used in a call to a shard with %s", other.ID, sh.ID)
	}
	return seq, kinesis.Errorf(kinesis.ErrInvalidArgument, "StartingSequenceNumber %s used in GetShardIterator on shard %s in stream %s under account %s did not come from this stream.", v, sh.ID, s.Name, b.cfg.AccountID)
}

// sequenceOf reports whether seq is a position in shard sh of s: in one
// of its logs, or in a stream log of its that expired since. A number
// without its shard (Shard 0) in a stream log of sh is taken as sh's: the
// 38-digit form of older servers cannot carry the shard.
func sequenceOf(s *kinesis.Stream, sh kinesis.Shard, seq kinesis.SequenceNumber) bool {
	if seq.Shard == 0 && sh.HasOwnLog() && seq.Epoch == sh.Epoch {
		return true
	}
	if (seq.Shard != 0 && seq.Shard != sh.Number()+1) || sh.FirstLog == 0 || seq.Epoch < sh.FirstLog || (sh.LastLog != 0 && seq.Epoch > sh.LastLog) {
		return false
	}
	if _, ok := s.LogByEpoch(seq.Epoch); ok {
		return true
	}
	// Not a log of the stream now: one that expired (older than the
	// oldest kept), never one to come.
	return len(s.Logs) > 0 && seq.Epoch < s.Logs[0].Epoch
}

// GetRecords reads records from an iterator's position and returns the
// iterator of the position after them.
func (b *Broker) GetRecords(ctx context.Context, iterator string, limit int) (kinesis.GetRecordsOutput, error) {
	t, err := b.tokens.decodeIterator(iterator)
	if err != nil {
		return kinesis.GetRecordsOutput{}, kinesis.Errorf(kinesis.ErrInvalidArgument, "Invalid ShardIterator.")
	}
	now := b.cfg.Now()
	if age := now.Sub(t.IssuedAt); age > kinesis.IteratorLifetime {
		return kinesis.GetRecordsOutput{}, kinesis.Errorf(kinesis.ErrExpiredIterator,
			"Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			awsTime(t.IssuedAt), awsTime(now), kinesis.IteratorLifetime.Milliseconds())
	}
	s, err := b.stream(ctx, t.StreamName)
	if err != nil {
		return kinesis.GetRecordsOutput{}, err
	}
	sh, ok := s.ShardByEpoch(t.Epoch)
	if s.ID != t.StreamID || !ok {
		return kinesis.GetRecordsOutput{}, kinesis.Errorf(kinesis.ErrResourceNotFound, "Shard in stream %s under account %s does not exist", t.StreamName, b.cfg.AccountID)
	}
	if limit <= 0 || limit > kinesis.MaxGetRecordsLimit {
		limit = kinesis.MaxGetRecordsLimit
	}
	if err := b.admitRead(t.StreamName, sh); err != nil {
		return kinesis.GetRecordsOutput{}, err
	}
	r := reader{b: b, s: s, sh: sh, tok: t, limit: limit}
	start := time.Now()
	out, err := r.read(ctx)
	b.m.getLatency.WithLabelValues(t.StreamName).Observe(time.Since(start).Seconds())
	if errors.Is(err, kinesis.ErrLogNotFound) {
		return kinesis.GetRecordsOutput{}, kinesis.StreamNotFound(t.StreamName, b.cfg.AccountID)
	}
	if err != nil {
		return kinesis.GetRecordsOutput{}, err
	}
	b.chargeRead(sh, r.bytes)
	b.m.outgoingRecords.WithLabelValues(t.StreamName).Add(float64(len(out.Records)))
	b.m.outgoingBytes.WithLabelValues(t.StreamName).Add(float64(r.bytes))
	b.m.iteratorAge.WithLabelValues(t.StreamName).Set(float64(out.MillisBehindLatest) / 1000)
	a := b.shardActivity(sh.Epoch)
	a.getCalls.Add(1)
	a.getRecords.Add(int64(len(out.Records)))
	a.getBytes.Add(int64(r.bytes))
	a.iteratorAge.Store(out.MillisBehindLatest)
	next := r.tok
	next.IssuedAt = now
	if !sh.Open() && atShardEnd(s.Segments(sh), next) {
		// A closed shard read to its end: no next iterator; its children.
		out.ChildShards = childShards(s, sh)
		out.MillisBehindLatest = 0
		return out, nil
	}
	out.NextShardIterator = b.tokens.encodeIterator(next)
	return out, nil
}

// awsTime formats a time as AWS's iterator-expiry messages do.
func awsTime(t time.Time) string { return t.UTC().Format("Mon Jan 02 15:04:05 MST 2006") }

func childShards(s *kinesis.Stream, parent kinesis.Shard) []kinesis.ChildShard {
	var out []kinesis.ChildShard
	for _, c := range s.Shards {
		if c.ParentShardID == parent.ID || c.AdjacentParentShardID == parent.ID {
			parents := []string{c.ParentShardID}
			if c.AdjacentParentShardID != "" {
				parents = append(parents, c.AdjacentParentShardID)
			}
			out = append(out, kinesis.ChildShard{ShardID: c.ID, ParentShards: parents, HashRange: c.HashRange})
		}
	}
	return out
}

// atShardEnd reports whether position t is past the last record the
// segments can hold: past the end of the last one, which is sealed.
func atShardEnd(segs []kinesis.Segment, t iteratorToken) bool {
	if len(segs) == 0 {
		return true
	}
	last := segs[len(segs)-1]
	return last.Sealed && (t.Log > last.Epoch || (t.Log == last.Epoch && t.MsgSeq > last.End))
}

// reader gathers one GetRecords response.
type reader struct {
	b     *Broker
	s     *kinesis.Stream // to find the data keys of sealed messages
	sh    kinesis.Shard
	tok   iteratorToken // advanced past every record returned
	limit int
	// maxBytes caps the record data of a response (at least one record
	// goes out); 0 means GetRecords' 10 MiB.
	maxBytes int
	bytes    int // record data returned
}

// Each log read asks for a bounded number of messages; several reads fill
// a response when messages hold few records.
const readChunkMsgs = 256

// A stream log's messages hold every shard's records, so a shard among
// many finds a small part of each message its own. One response reads
// through at most maxScanMsgs messages, of which at most maxScanBytes
// (of message bodies) from the log rather than the cache; past either it
// returns what it found (maybe nothing) and an iterator past what it
// read, as AWS may.
const (
	maxScanMsgs  = 4096
	maxScanBytes = 16 << 20
)

// readChunkBytes bounds one read of a stream log's messages. JetStream
// answers a batch read inline in the loop that also carries this
// server's appends and every other read: a 16 MiB batch held that loop
// for seconds, so a response needing more reads it in several.
const readChunkBytes = 1 << 20

// recordOverhead is what a record of an answer holds besides its data: a
// kinesis.Record, its sequence number and partition key strings.
const recordOverhead = 160

// isSmallPart reports whether a section is a small part of its message,
// whose records an answer copies rather than keeping the message.
func isSmallPart(br batchReader, m *logMsg) bool { return 4*len(br.buf) < len(m.body) }

// A reader gathers the sequence numbers and partition keys of the records
// it takes into blocks of about nameBlock bytes, each made one string that
// the records' fields are cut from: one allocation for a block rather than
// two for every record.
const nameBlock = 4 << 10

// nameRecords sets the sequence numbers and partition keys of recs from
// text, where cuts holds where each ends, alternately, and returns text
// and cuts emptied for the next block.
func nameRecords(recs []kinesis.Record, text []byte, cuts []int) ([]byte, []int) {
	if len(recs) == 0 {
		return text, cuts
	}
	str, at := string(text), 0
	for i := range recs {
		recs[i].SequenceNumber = str[at:cuts[2*i]]
		recs[i].PartitionKey = str[cuts[2*i]:cuts[2*i+1]]
		at = cuts[2*i+1]
	}
	return text[:0], cuts[:0]
}

// msgsFor estimates how many messages hold n records of a shard, from the
// shard's records per message seen in earlier reads: asking the log for
// too many would copy megabytes that the response then leaves out.
func (b *Broker) msgsFor(epoch uint64, n int) int {
	perMsg := 16.0 // unknown shard: a guess between single puts and full batches
	if v, ok := b.recordsPerMsg.Load(epoch); ok {
		perMsg = math.Float64frombits(v.(*atomic.Uint64).Load())
	}
	return max(1, min(readChunkMsgs, int(float64(n)/perMsg)+1))
}

// observeMsgs folds a read of msgs messages holding records of a shard
// into the shard's estimate. (Every reader calls it for every chunk: it
// stores into the shard's value rather than storing a new one.)
func (b *Broker) observeMsgs(epoch uint64, msgs, records int) {
	if msgs == 0 {
		return
	}
	perMsg := max(0.5, float64(records)/float64(msgs))
	v, ok := b.recordsPerMsg.Load(epoch)
	if !ok {
		v, ok = b.recordsPerMsg.LoadOrStore(epoch, new(atomic.Uint64))
	}
	est := v.(*atomic.Uint64)
	if ok {
		perMsg = 0.5*math.Float64frombits(est.Load()) + 0.5*perMsg
	}
	est.Store(math.Float64bits(perMsg))
}

// position moves the reader's position to a segment that exists (a log
// may have expired, and been dropped from the stream, since the iterator
// was made) and returns that segment's index, or len(segs) when the
// position lies past every segment.
func (r *reader) position(segs []kinesis.Segment) int {
	for i, seg := range segs {
		if seg.Epoch == r.tok.Log {
			return i
		}
		if seg.Epoch > r.tok.Log {
			r.tok.Log, r.tok.MsgSeq, r.tok.Index = seg.Epoch, 1, 0
			return i
		}
	}
	return len(segs)
}

func (r *reader) read(ctx context.Context) (kinesis.GetRecordsOutput, error) {
	var out kinesis.GetRecordsOutput
	bytes := 0
	defer func() { r.bytes = bytes }()
	segs := r.s.Segments(r.sh)
	shard := r.sh.Number()
	now := r.b.cfg.Now()
	retention := r.b.retention(r.s)
	var lastArrival time.Time
	caughtUp := false
	maxBytes := r.maxBytes
	if maxBytes <= 0 {
		maxBytes = kinesis.MaxGetRecordsBytes
	}
	scanned, fetched := 0, 0   // messages, and bytes read from the log
	var sections []batchReader // the shard's section of each message of a chunk
	var text []byte            // sequence numbers and partition keys (nameRecords)
	var cuts []int             // where each ends in text
	held := int64(0)           // counted in the broker's readHeld
	defer func() { r.b.readHeld.Add(-held) }()
	var waited time.Duration // pacing (pace.go)
	for i := r.position(segs); i < len(segs) && len(out.Records) < r.limit && bytes < maxBytes && scanned < maxScanMsgs && fetched < maxScanBytes; {
		if len(out.Records) > 0 && r.b.readHeld.Load() > r.b.cfg.ReadBudgetBytes {
			break // the answers being gathered hold enough: answer with these
		}
		seg := segs[i]
		if seg.Sealed && r.tok.MsgSeq > seg.End {
			if i == len(segs)-1 {
				break // the end of a closed shard
			}
			i++
			r.tok.Log, r.tok.MsgSeq, r.tok.Index = segs[i].Epoch, 1, 0
			continue
		}
		at := msgKey{seg.Epoch, r.tok.MsgSeq}
		r.b.pace.at(r.sh.Epoch, at, now)
		if !seg.Own && r.b.msgs.wanted(at) && r.b.pace.ahead(at, r.b.paceWindow(), now) {
			// Ahead of the other readers of the log, past what the cache
			// can hold for them: let them catch up (pace.go), then answer
			// with what it has, or, having nothing, fetch all the same.
			if waited < paceWait {
				waited += paceStep
				if err := sleepCtx(ctx, paceStep); err != nil {
					return out, err
				}
				now = r.b.cfg.Now()
				continue
			}
			if len(out.Records) > 0 {
				break
			}
		}
		want := min(r.b.msgsFor(r.sh.Epoch, r.limit-len(out.Records)), maxScanMsgs-scanned)
		fetch := min(readChunkBytes, maxScanBytes-fetched)
		if seg.Own {
			fetch = maxBytes - bytes // every record of the message is the shard's
		}
		msgs, cached, err := r.b.logMessages(ctx, r.s, seg, r.tok.MsgSeq, want, fetch)
		if errors.Is(err, kinesis.ErrLogNotFound) && seg.Sealed {
			r.tok.MsgSeq = seg.End + 1 // expired and deleted
			continue
		}
		if err != nil {
			return out, fmt.Errorf("read %s from %d: %w", logName(seg.Epoch), r.tok.MsgSeq, err)
		}
		if len(msgs) == 0 {
			if seg.Sealed {
				r.tok.MsgSeq = seg.End + 1 // the rest expired
				continue
			}
			caughtUp = true
			break
		}
		if !cached {
			for _, m := range msgs {
				fetched += len(m.body)
			}
		}
		// Size the result once per chunk rather than growing it record by
		// record: a 10,000-record response is a megabyte of Record values.
		need, small := 0, 0
		sections = slices.Grow(sections[:0], len(msgs))[:len(msgs)]
		for j, m := range msgs {
			br, ok := m.section(shard)
			if !ok {
				br = batchReader{} // count 0: none of the shard's records
			}
			sections[j] = br
			need += br.count
			if ok && isSmallPart(br, m) {
				small += len(br.buf)
			}
		}
		r.b.observeMsgs(r.sh.Epoch, len(msgs), need)
		out.Records = slices.Grow(out.Records, min(need, r.limit-len(out.Records)))
		// The records of a section that is a small part of its message
		// are copied out, so that the answer does not keep whole
		// messages (a thousand shards' records) alive once the cache
		// has dropped them.
		var copied []byte
		if small > 0 {
			copied = make([]byte, 0, small)
		}
		records, data := len(out.Records), bytes
		full := false
		seqShard := r.sh.SeqShard(seg.Epoch)
		for j, m := range msgs {
			if seg.Sealed && m.seq > seg.End {
				r.tok.MsgSeq, r.tok.Index = seg.End+1, 0
				break
			}
			if m.seq != r.tok.MsgSeq {
				// Trimmed messages were skipped: start at the first kept.
				r.tok.MsgSeq, r.tok.Index = m.seq, 0
			}
			scanned++
			lastArrival = m.arrival
			br := sections[j]
			ok := br.count > 0
			if ok && (now.Sub(m.arrival) > retention || m.arrival.Before(r.s.ExpiredBefore)) {
				ok = false // expired, though still cached or not yet dropped
			}
			if ok {
				if isSmallPart(br, m) && cap(copied)-len(copied) >= len(br.buf) {
					at := len(copied)
					copied = append(copied, br.buf...)
					br.buf = copied[at:]
				}
				encryption := ""
				if m.sealed {
					encryption = kinesis.EncryptionKMS
				}
				skip := m.arrival.UnixMilli() < r.tok.NotBefore
				for i := 0; i < br.count; i++ {
					pk, data, err := br.next()
					if err != nil {
						return out, fmt.Errorf("decode message %d of %s: %w", m.seq, logName(seg.Epoch), err)
					}
					if i < int(r.tok.Index) || skip {
						continue
					}
					if len(out.Records) == r.limit || (bytes+len(data) > maxBytes && len(out.Records) > 0) {
						full = true
						break
					}
					if text == nil {
						text = make([]byte, 0, min(nameBlock, need*64)+256) // a key is at most 256 bytes
					}
					text = kinesis.SequenceNumber{Epoch: seg.Epoch, MsgSeq: m.seq, Index: uint16(i), Shard: seqShard}.Append(text)
					cuts = append(cuts, len(text))
					text = append(text, pk...)
					cuts = append(cuts, len(text))
					out.Records = append(out.Records, kinesis.Record{
						ApproximateArrivalTimestamp: m.arrival,
						Data:                        data,
						EncryptionType:              encryption,
					})
					if len(text) >= nameBlock {
						text, cuts = nameRecords(out.Records[len(out.Records)-len(cuts)/2:], text, cuts)
					}
					bytes += len(data)
					r.tok.Index = uint16(i) + 1
					r.tok.NotBefore = 0
				}
			}
			if full {
				break
			}
			r.tok.MsgSeq, r.tok.Index = m.seq+1, 0
		}
		text, cuts = nameRecords(out.Records[len(out.Records)-len(cuts)/2:], text, cuts)
		n := int64(bytes-data) + recordOverhead*int64(len(out.Records)-records)
		held += n
		r.b.readHeld.Add(n)
		if full {
			break
		}
	}
	if !caughtUp && !lastArrival.IsZero() {
		out.MillisBehindLatest = max(0, now.Sub(lastArrival).Milliseconds())
	}
	return out, nil
}
