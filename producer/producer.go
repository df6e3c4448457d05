package producer

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// Client is the part of the Kinesis API the producer uses; *kinesis.Client
// implements it.
type Client interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
}

var _ Client = (*kinesis.Client)(nil)

var (
	// ErrBufferFull is returned by Put under WithFailFast when the buffer
	// holds its maximum.
	ErrBufferFull = errors.New("producer: buffer full")
	// ErrClosed is returned by Put after Close, and is the result of
	// records that Close could not deliver before its context ended.
	ErrClosed = errors.New("producer: closed")
	// ErrExpired is wrapped by the result of a record whose TTL passed
	// before it was acknowledged.
	ErrExpired = errors.New("producer: record expired")
)

// Record is a user record.
type Record struct {
	// PartitionKey is required: 1 to 256 Unicode characters.
	PartitionKey string
	// ExplicitHashKey, a decimal in [0, 2^128-1], overrides the hash of
	// the partition key to choose the shard. Optional.
	ExplicitHashKey string
	Data            []byte
}

// Result is the acknowledgement of a user record.
type Result struct {
	ShardID        string
	SequenceNumber string
	// SubSequenceNumber is the record's index in its aggregate (0 when it
	// was sent alone); Aggregated tells which.
	SubSequenceNumber int64
	Aggregated        bool
	// Attempts is the number of PutRecords calls that carried the record.
	Attempts int
}

// Future is the pending result of PutAsync.
//
// Its channel is made only if Done or Wait is called before the result is
// known: a producer completes records by the hundred thousand per second,
// and most futures are waited for after their result (or never).
type Future struct {
	// done is nil while pending and nobody waits, a channel closed on
	// completion once someone waits, or closedDone once complete.
	done atomic.Pointer[chan struct{}]
	res  Result
	err  error
}

// closedDone is the Done channel of every future completed before anyone
// asked for its channel.
var closedDone = func() *chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return &ch
}()

// Done is closed when the result is known.
func (f *Future) Done() <-chan struct{} {
	if p := f.done.Load(); p != nil {
		return *p
	}
	ch := make(chan struct{})
	if f.done.CompareAndSwap(nil, &ch) {
		return ch
	}
	return *f.done.Load()
}

// Wait waits for the result, or for ctx to end (then the record may still
// be delivered).
func (f *Future) Wait(ctx context.Context) (Result, error) {
	if f.done.Load() == closedDone {
		return f.res, f.err
	}
	select {
	case <-f.Done():
		return f.res, f.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// resolve publishes the result, set in res or err before.
func (f *Future) resolve() {
	if !f.done.CompareAndSwap(nil, closedDone) {
		close(*f.done.Load())
	}
}

// Producer writes records to one Kinesis stream. Its methods are safe for
// concurrent use.
type Producer struct {
	client Client
	stream string
	cfg    config
	log    *slog.Logger
	buf    *buffer
	d      *dispatcher

	closeOnce sync.Once
	closed    chan struct{} // closed when the goroutines have stopped
}

// New starts a producer for stream (a name or an ARN). Its goroutines run
// until Close.
func New(client Client, stream string, opts ...Option) (*Producer, error) {
	if client == nil {
		return nil, errors.New("producer: nil client")
	}
	if stream == "" {
		return nil, errors.New("producer: empty stream name")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	p := &Producer{
		client: client,
		stream: stream,
		cfg:    cfg,
		log:    cfg.logger.With("stream", stream),
		buf:    newBuffer(cfg.maxBufferedRecords, cfg.maxBufferedBytes),
		closed: make(chan struct{}),
	}
	p.d = newDispatcher(p)
	go func() {
		p.d.run()
		close(p.closed)
	}()
	return p, nil
}

// NewFromConfig starts a producer with a Kinesis client built from cfg.
func NewFromConfig(cfg aws.Config, stream string, opts ...Option) (*Producer, error) {
	return New(kinesis.NewFromConfig(cfg), stream, opts...)
}

// Put writes one record and waits for its acknowledgement. If ctx ends
// first, Put returns ctx.Err() and the record may still be delivered.
func (p *Producer) Put(ctx context.Context, partitionKey string, data []byte) (Result, error) {
	return p.PutRecord(ctx, Record{PartitionKey: partitionKey, Data: data})
}

// PutRecord is Put for a Record, which may carry an explicit hash key.
func (p *Producer) PutRecord(ctx context.Context, r Record) (Result, error) {
	f, err := p.PutRecordAsync(ctx, r)
	if err != nil {
		return Result{}, err
	}
	return f.Wait(ctx)
}

// PutAsync buffers one record and returns at once with its Future. It
// waits only while the buffer is full (unless WithFailFast), until ctx
// ends. The producer owns data until the Future is done.
func (p *Producer) PutAsync(ctx context.Context, partitionKey string, data []byte) (*Future, error) {
	return p.PutRecordAsync(ctx, Record{PartitionKey: partitionKey, Data: data})
}

// PutRecordAsync is PutAsync for a Record.
func (p *Producer) PutRecordAsync(ctx context.Context, r Record) (*Future, error) {
	u, err := p.newUserRecord(r)
	if err != nil {
		return nil, err
	}
	gen, err := p.buf.acquire(ctx, u.size, p.cfg.failFast)
	if err != nil {
		return nil, err
	}
	u.gen = gen
	u.start = time.Now()
	if !p.d.add(u) {
		p.buf.release(u.size, gen)
		return nil, ErrClosed
	}
	return &u.fut, nil
}

func (p *Producer) newUserRecord(r Record) (*userRecord, error) {
	if n := utf8.RuneCountInString(r.PartitionKey); n < 1 || n > 256 || !utf8.ValidString(r.PartitionKey) {
		return nil, fmt.Errorf("producer: partition key must be 1 to 256 Unicode characters, got %d", n)
	}
	if len(r.Data) > p.cfg.maxRecordSize {
		return nil, fmt.Errorf("producer: record data of %d bytes exceeds the maximum of %d", len(r.Data), p.cfg.maxRecordSize)
	}
	u := &userRecord{key: r.PartitionKey, ehk: r.ExplicitHashKey, data: r.Data}
	u.size = len(r.Data) + len(r.PartitionKey)
	if r.ExplicitHashKey != "" {
		h, ok := parseHashKey(r.ExplicitHashKey)
		if !ok {
			return nil, fmt.Errorf("producer: explicit hash key %q is not a decimal in [0, 2^128-1]", r.ExplicitHashKey)
		}
		u.hash = h
	} else {
		u.hash = md5.Sum([]byte(r.PartitionKey))
	}
	return u, nil
}

// Flush sends every record buffered before the call without waiting for
// linger, and waits until each has its result (acknowledged or failed),
// or until ctx ends.
func (p *Producer) Flush(ctx context.Context) error {
	gen := p.buf.nextGen()
	p.d.flush(gen)
	if err := p.buf.waitGen(ctx, gen); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// Close refuses new records, delivers the buffered ones (as Flush) and
// stops the producer. If ctx ends first, records still buffered fail with
// ErrClosed and Close returns ctx's error. Close may be called more than
// once.
func (p *Producer) Close(ctx context.Context) error {
	p.buf.close()
	err := p.Flush(ctx)
	p.closeOnce.Do(p.d.stop)
	<-p.closed
	return err
}

// Buffered reports the records and bytes put but not yet done.
func (p *Producer) Buffered() (records, bytes int) { return p.buf.usage() }

// streamRef splits a stream given as name or ARN into the input fields.
func streamRef(s string) (name, arn *string) {
	if strings.HasPrefix(s, "arn:") {
		return nil, aws.String(s)
	}
	return aws.String(s), nil
}

// hashKey is a 128-bit hash key, big-endian, so that comparing the arrays
// bytewise orders keys.
type hashKey [16]byte

var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

func parseHashKey(s string) (hashKey, bool) {
	var k hashKey
	if s == "" || len(s) > 39 || strings.TrimLeft(s, "0123456789") != "" {
		return k, false
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Cmp(maxHashKey) > 0 {
		return k, false
	}
	n.FillBytes(k[:])
	return k, true
}

func (k hashKey) String() string { return new(big.Int).SetBytes(k[:]).String() }
