package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	switch in.Type {
	case kinesis.TrimHorizon:
		t.MsgSeq = 1 // reads start at the oldest retained message
	case kinesis.Latest:
		st, err := b.log.State(ctx, logName(sh.Epoch))
		if err != nil {
			return iteratorToken{}, fmt.Errorf("state of %s/%s: %w", name, sh.ID, err)
		}
		t.MsgSeq = st.LastSeq + 1
	case kinesis.AtSequenceNumber, kinesis.AfterSequenceNumber:
		seq, err := b.parseStartingSequence(s, sh, in.StartingSequenceNumber)
		if err != nil {
			return iteratorToken{}, err
		}
		t.MsgSeq, t.Index = max(seq.MsgSeq, 1), seq.Index
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
		seq, err := b.log.SeekTime(ctx, logName(sh.Epoch), ts)
		if err != nil {
			return iteratorToken{}, fmt.Errorf("seek %s/%s to %s: %w", name, sh.ID, ts, err)
		}
		// Arrival times are stamped just before a message is stored, so
		// the message found may hold records a little older than ts.
		t.MsgSeq, t.NotBefore = max(seq, 1), ts.UnixMilli()
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
	if seq.Epoch != sh.Epoch {
		if other, ok := s.ShardByEpoch(seq.Epoch); ok {
			return seq, kinesis.Errorf(kinesis.ErrInvalidArgument, "Invalid StartingSequenceNumber. It encodes %s, while it was used in a call to a shard with %s", other.ID, sh.ID)
		}
		return seq, kinesis.Errorf(kinesis.ErrInvalidArgument, "StartingSequenceNumber %s used in GetShardIterator on shard %s in stream %s under account %s did not come from this stream.", v, sh.ID, s.Name, b.cfg.AccountID)
	}
	return seq, nil
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
	r := reader{b: b, s: s, name: logName(sh.Epoch), tok: t, limit: limit}
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
	if !sh.Open() && next.MsgSeq > sh.EndingMsgSeq {
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

// reader gathers one GetRecords response.
type reader struct {
	b     *Broker
	s     *kinesis.Stream // to find the data keys of sealed messages
	name  string
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

// msgsFor estimates how many messages of a shard hold n records, from the
// records per message seen in earlier reads: asking the log for too many
// would copy megabytes that the response then leaves out.
func (b *Broker) msgsFor(epoch uint64, n int) int {
	perMsg := 16.0 // unknown shard: a guess between single puts and full batches
	if v, ok := b.recordsPerMsg.Load(epoch); ok {
		perMsg = v.(float64)
	}
	return max(1, min(readChunkMsgs, int(float64(n)/perMsg)+1))
}

// observeMsgs folds a read of msgs messages holding records into the
// shard's estimate.
func (b *Broker) observeMsgs(epoch uint64, msgs, records int) {
	if msgs == 0 {
		return
	}
	perMsg := max(1, float64(records)/float64(msgs))
	if v, ok := b.recordsPerMsg.Load(epoch); ok {
		perMsg = 0.5*v.(float64) + 0.5*perMsg
	}
	b.recordsPerMsg.Store(epoch, perMsg)
}

func (r *reader) read(ctx context.Context) (kinesis.GetRecordsOutput, error) {
	var out kinesis.GetRecordsOutput
	bytes := 0
	defer func() { r.bytes = bytes }()
	var lastArrival time.Time
	caughtUp := false
	maxBytes := r.maxBytes
	if maxBytes <= 0 {
		maxBytes = kinesis.MaxGetRecordsBytes
	}
	for len(out.Records) < r.limit && bytes < maxBytes {
		want := r.b.msgsFor(r.tok.Epoch, r.limit-len(out.Records))
		msgs, err := r.b.log.Read(ctx, r.name, r.tok.MsgSeq, want, maxBytes-bytes)
		if err != nil {
			return out, fmt.Errorf("read %s from %d: %w", r.name, r.tok.MsgSeq, err)
		}
		if len(msgs) == 0 {
			caughtUp = true
			break
		}
		// Size the result once per chunk rather than growing it record by
		// record: a 10,000-record response is a megabyte of Record values.
		batches := make([]batchReader, len(msgs))
		sealed := make([]bool, len(msgs))
		need := 0
		for i, m := range msgs {
			br, enc, err := r.b.openBatch(ctx, r.s, r.tok.Epoch, m.Data)
			if err != nil {
				return out, fmt.Errorf("decode message %d of %s: %w", m.Seq, r.name, err)
			}
			batches[i], sealed[i] = br, enc
			need += br.count
		}
		r.b.observeMsgs(r.tok.Epoch, len(msgs), need)
		out.Records = slices.Grow(out.Records, min(need, r.limit-len(out.Records)))
		full := false
		for mi, m := range msgs {
			if m.Seq != r.tok.MsgSeq {
				// Trimmed messages were skipped: start at the first kept.
				r.tok.MsgSeq, r.tok.Index = m.Seq, 0
			}
			br := &batches[mi]
			arrival := br.arrival
			encryption := ""
			if sealed[mi] {
				encryption = kinesis.EncryptionKMS
			}
			skip := arrival.UnixMilli() < r.tok.NotBefore
			for i := 0; i < br.count; i++ {
				pk, data, err := br.next()
				if err != nil {
					return out, fmt.Errorf("decode message %d of %s: %w", m.Seq, r.name, err)
				}
				if i < int(r.tok.Index) || skip {
					continue
				}
				if len(out.Records) == r.limit || (bytes+len(data) > maxBytes && len(out.Records) > 0) {
					full = true
					break
				}
				out.Records = append(out.Records, kinesis.Record{
					SequenceNumber:              kinesis.SequenceNumber{Epoch: r.tok.Epoch, MsgSeq: m.Seq, Index: uint16(i)}.String(),
					ApproximateArrivalTimestamp: arrival,
					Data:                        data,
					PartitionKey:                string(pk),
					EncryptionType:              encryption,
				})
				bytes += len(data)
				r.tok.Index = uint16(i) + 1
				r.tok.NotBefore = 0
				lastArrival = arrival
			}
			if full {
				break
			}
			r.tok.MsgSeq, r.tok.Index = m.Seq+1, 0
		}
		if full {
			break
		}
		if len(msgs) < want {
			caughtUp = true
			break
		}
	}
	if !caughtUp && !lastArrival.IsZero() {
		out.MillisBehindLatest = max(0, r.b.cfg.Now().Sub(lastArrival).Milliseconds())
	}
	return out, nil
}
