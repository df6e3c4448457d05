// Package broker implements Kinesis Data Streams semantics over a log
// store and a metadata store: streams and their shards, routing records by
// hash key, packing them into durable log messages, shard iterators,
// retention and limits. It implements kinesis.Service.
//
// State lives in the stores, never only in memory, so that any number of
// brokers over one JetStream cluster serve the same streams: stream
// metadata changes only by compare-and-swap on its key, iterators and page
// tokens are signed and stateless, and timed transitions (CREATING to
// ACTIVE, DELETING to gone) are derived from timestamps in the metadata.
package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/keyring"
	"github.com/sluicehq/sluice/internal/kinesis"
)

// Config configures a Broker. The zero value of every field but the stores
// is usable.
type Config struct {
	Region    string // used in ARNs; default us-east-1
	AccountID string // used in ARNs; default 000000000000
	// ShardLimit caps open shards in the account; default 500.
	ShardLimit int
	// OnDemandStreamLimit caps ON_DEMAND streams; default 50.
	OnDemandStreamLimit int
	// CreateDelay is how long a new stream stays CREATING; default 0.
	CreateDelay time.Duration
	// DeleteDelay is how long a deleted stream stays DELETING; default 0.
	DeleteDelay time.Duration
	// UpdateDelay is how long a stream stays UPDATING after an encryption
	// change, a SplitShard or MergeShards, and at least after an
	// UpdateShardCount; default 0 (AWS takes seconds).
	UpdateDelay time.Duration
	// Keyring holds the keys that StartStreamEncryption's KeyId names;
	// default an in-memory keyring.New(), whose records no restart reads.
	Keyring Keyring
	// ConsumerCreateDelay is how long a new stream consumer stays
	// CREATING; default 0 (AWS takes seconds).
	ConsumerCreateDelay time.Duration
	// ConsumerDeleteDelay is how long a deregistered stream consumer
	// stays DELETING before it is gone; default 0 (AWS takes seconds).
	// Its name cannot be registered again meanwhile.
	ConsumerDeleteDelay time.Duration
	// RetentionHour is the length of one hour of retention; default one
	// hour. Tests shorten it to watch records expire.
	RetentionHour time.Duration
	// SubscriptionLifetime is how long a SubscribeToShard feed lasts
	// before the client must subscribe again; default 5 minutes, as AWS.
	// Tests shorten it to watch clients resubscribe.
	SubscriptionLifetime time.Duration
	// SubscriptionHeartbeat is how long a feed stays silent before it
	// sends an event without records; default 5 s.
	SubscriptionHeartbeat time.Duration
	// SubscriptionTakeover is how long a subscription holds its consumer
	// and shard against a newer one (ResourceInUseException); after it, a
	// newer subscription takes over and the older ends. Default 5 s, as
	// AWS.
	SubscriptionTakeover time.Duration
	// EnforceShardQuotas throttles as AWS does: per-shard read and write
	// throughput (ProvisionedThroughputExceededException) and the
	// control-plane call rates (LimitExceededException). Off by default:
	// a self-hosted server need not throttle, but code must be testable
	// against throttling. Each broker enforces the quotas on its own.
	EnforceShardQuotas bool
	Logger             *slog.Logger
	// Registerer receives the broker's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time

	// OrphanLogGrace is how long a reshard's child logs may stay pending
	// before a sweep takes the reshard for dead and deletes them; default
	// five minutes.
	OrphanLogGrace time.Duration
	// Autoscale tunes the ON_DEMAND autoscaler.
	Autoscale AutoscaleConfig
	// ReadCacheBytes bounds the memory of decoded log messages kept for
	// readers (msgcache.go); default 64 MiB, negative keeps none.
	ReadCacheBytes int64
	// ReadBudgetBytes bounds the memory of the GetRecords answers being
	// gathered at once, across every reader; past it a reader that has
	// records answers with them rather than reading on (readBudget in
	// get.go). Default 64 MiB; negative sets no bound.
	ReadBudgetBytes int64
	// WriteTimeout bounds how long a put waits for its turn to be
	// written to its stream's log (behind a write that the log has not yet
	// answered, during a leader election, say) before its records fail
	// unwritten; default 10 s. A write sent to the log waits for the
	// log's answer, which the log bounds.
	WriteTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	if c.ShardLimit == 0 {
		c.ShardLimit = 500
	}
	if c.OnDemandStreamLimit == 0 {
		c.OnDemandStreamLimit = 50
	}
	if c.RetentionHour == 0 {
		c.RetentionHour = time.Hour
	}
	if c.OrphanLogGrace == 0 {
		c.OrphanLogGrace = 5 * time.Minute
	}
	switch {
	case c.ReadCacheBytes == 0:
		c.ReadCacheBytes = 64 << 20
	case c.ReadCacheBytes < 0:
		c.ReadCacheBytes = 0
	}
	switch {
	case c.ReadBudgetBytes == 0:
		c.ReadBudgetBytes = 64 << 20
	case c.ReadBudgetBytes < 0:
		c.ReadBudgetBytes = math.MaxInt64
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	c.Autoscale.setDefaults()
	if c.SubscriptionLifetime == 0 {
		c.SubscriptionLifetime = kinesis.SubscriptionLifetime
	}
	if c.SubscriptionHeartbeat == 0 {
		c.SubscriptionHeartbeat = 5 * time.Second
	}
	if c.SubscriptionTakeover == 0 {
		c.SubscriptionTakeover = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Keyring == nil {
		c.Keyring = keyring.New()
	}
}

// Keys of the metadata store.
const (
	streamKeyPrefix = "stream/"
	epochKey        = "counter/shard-epoch"
	secretKey       = "secret/tokens"
)

func streamKey(name string) string { return streamKeyPrefix + name }

// logName names the log of an epoch: a stream log, or the own log of a
// shard from before stream logs. Epochs are never reused, so neither are
// log names.
func logName(epoch uint64) string { return "KDS-" + strconv.FormatUint(epoch, 10) }

// Broker implements kinesis.Service.
type Broker struct {
	cfg    Config
	log    kinesis.Log
	meta   kinesis.MetaStore
	tokens tokenCodec
	m      *metrics

	cacheMu sync.RWMutex
	cache   map[string]cachedStream // by stream name

	appendersMu sync.Mutex
	appenders   map[uint64]*appender // by stream log epoch

	msgs     *msgCache    // decoded messages for readers
	readHeld atomic.Int64 // bytes of GetRecords answers being gathered
	pace     readPace     // where each log's readers are (pace.go)

	recordsPerMsg sync.Map // shard epoch -> *atomic.Uint64 (float64 bits), for sizing log reads
	ciphers       sync.Map // "<stream id>/<data key id>" -> *dataCipher

	quotas shardQuotas // per-shard throughput, with EnforceShardQuotas
	rates  *opLimiter  // control-plane call rates, with EnforceShardQuotas

	// id tells this broker's scalings apart from other brokers'.
	id          string
	scalingMu   sync.Mutex
	scalingRuns map[string]bool // stream IDs whose scaling this broker runs
	writes      sync.Map        // shard epoch -> *writeCounter, for the autoscaler

	activity      sync.Map // shard epoch -> *shardActivity, for the console
	consumerStats sync.Map // consumer ARN -> *consumerActivity, for the console

	fanout fanout // SubscribeToShard feeds

	bg     context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type cachedStream struct {
	stream *kinesis.Stream
	rev    uint64
	route  *routing
}

var _ kinesis.Service = (*Broker)(nil)

// New starts a broker over the given stores. Close stops it.
func New(ctx context.Context, log kinesis.Log, meta kinesis.MetaStore, cfg Config) (*Broker, error) {
	cfg.setDefaults()
	secret, err := loadSecret(ctx, meta)
	if err != nil {
		return nil, err
	}
	b := &Broker{
		cfg:       cfg,
		log:       log,
		meta:      meta,
		tokens:    tokenCodec{secret: secret},
		m:         newMetrics(cfg.Registerer),
		cache:     make(map[string]cachedStream),
		appenders: make(map[uint64]*appender),
		msgs:      newMsgCache(cfg.ReadCacheBytes),
		rates:     newOpLimiter(callRates, cfg.Now),
	}
	b.id, b.scalingRuns = rand.Text()[:16], make(map[string]bool)
	bg, cancel := context.WithCancel(context.Background())
	b.bg, b.cancel = bg, cancel
	b.fanout.init()
	if err := meta.Watch(bg, streamKeyPrefix, b.onMetaChange); err != nil {
		cancel()
		return nil, fmt.Errorf("watch stream metadata: %w", err)
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.reapLoop(bg)
	}()
	b.wg.Go(func() { b.autoscaleLoop(bg) })
	return b, nil
}

// Close stops the broker's background work. It does not close the stores.
func (b *Broker) Close() error {
	b.EndSubscriptions()
	b.cancel()
	b.wg.Wait()
	return nil
}

// loadSecret returns the key that signs tokens, shared by every broker on
// the same metadata store, creating it on first start.
func loadSecret(ctx context.Context, meta kinesis.MetaStore) ([]byte, error) {
	for {
		e, err := meta.Get(ctx, secretKey)
		if err == nil {
			secret, err := hex.DecodeString(string(e.Value))
			if err != nil || len(secret) < 16 {
				return nil, fmt.Errorf("token secret in metadata store is malformed")
			}
			return secret, nil
		}
		if !errors.Is(err, kinesis.ErrKeyNotFound) {
			return nil, fmt.Errorf("load token secret: %w", err)
		}
		secret := make([]byte, 32)
		rand.Read(secret)
		if _, err := meta.Create(ctx, secretKey, []byte(hex.EncodeToString(secret))); err != nil && !errors.Is(err, kinesis.ErrKeyExists) {
			return nil, fmt.Errorf("store token secret: %w", err)
		}
	}
}

// onMetaChange keeps the stream cache in step with the metadata store, so
// that changes made through other brokers are seen at once.
func (b *Broker) onMetaChange(e kinesis.MetaEntry) {
	defer b.fanout.metaChanged() // after the cache is updated
	name := e.Key[len(streamKeyPrefix):]
	b.cacheMu.Lock()
	defer b.cacheMu.Unlock()
	if cur, ok := b.cache[name]; ok && cur.rev >= e.Revision && !e.Deleted {
		return
	}
	if e.Deleted {
		delete(b.cache, name)
		b.m.forgetStream(name)
		return
	}
	var s kinesis.Stream
	if err := json.Unmarshal(e.Value, &s); err != nil {
		b.cfg.Logger.Error("undecodable stream metadata", "key", e.Key, "err", err)
		delete(b.cache, name)
		return
	}
	b.cacheLocked(&s, e.Revision)
}

func (b *Broker) remember(s *kinesis.Stream, rev uint64) {
	b.cacheMu.Lock()
	defer b.cacheMu.Unlock()
	if cur, ok := b.cache[s.Name]; !ok || cur.rev < rev {
		b.cacheLocked(s, rev)
	}
}

// cacheLocked puts a newer version of a stream's metadata in the cache.
func (b *Broker) cacheLocked(s *kinesis.Stream, rev uint64) {
	b.cache[s.Name] = cachedStream{stream: s, rev: rev, route: newRouting(s)}
}

func (b *Broker) forget(name string) {
	b.cacheMu.Lock()
	defer b.cacheMu.Unlock()
	delete(b.cache, name)
}

// loadStream reads a stream's metadata from the store, bypassing the cache:
// control-plane changes start from it and write back with its revision.
func (b *Broker) loadStream(ctx context.Context, name string) (*kinesis.Stream, uint64, error) {
	e, err := b.meta.Get(ctx, streamKey(name))
	if errors.Is(err, kinesis.ErrKeyNotFound) {
		return nil, 0, kinesis.StreamNotFound(name, b.cfg.AccountID)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("load stream %s: %w", name, err)
	}
	var s kinesis.Stream
	if err := json.Unmarshal(e.Value, &s); err != nil {
		return nil, 0, fmt.Errorf("decode stream %s: %w", name, err)
	}
	if b.gone(&s) {
		return nil, 0, kinesis.StreamNotFound(name, b.cfg.AccountID)
	}
	b.remember(&s, e.Revision)
	return &s, e.Revision, nil
}

// stream returns a stream's metadata, from the cache when it has it.
// The result is shared: callers must not modify it.
func (b *Broker) stream(ctx context.Context, name string) (*kinesis.Stream, error) {
	b.cacheMu.RLock()
	c, ok := b.cache[name]
	b.cacheMu.RUnlock()
	if ok {
		if b.gone(c.stream) {
			return nil, kinesis.StreamNotFound(name, b.cfg.AccountID)
		}
		return c.stream, nil
	}
	s, _, err := b.loadStream(ctx, name)
	return s, err
}

// gone reports whether a deleted stream's DELETING time is over.
func (b *Broker) gone(s *kinesis.Stream) bool {
	return !s.DeleteAt.IsZero() && !b.cfg.Now().Before(s.DeleteAt)
}

// resolve turns a StreamRef into a stream name, checking that an ARN names
// this region and account and agrees with the name.
func (b *Broker) resolve(ref kinesis.StreamRef) (string, error) {
	if ref.ARN == "" {
		if ref.Name == "" {
			return "", kinesis.Errorf(kinesis.ErrInvalidArgument, "Either StreamName or StreamARN should be provided.")
		}
		return ref.Name, nil
	}
	region, account, name, ok := kinesis.ParseStreamARN(ref.ARN)
	if !ok {
		return "", kinesis.Errorf(kinesis.ErrInvalidArgument, "StreamARN %s is not a valid stream ARN.", ref.ARN)
	}
	if region != b.cfg.Region || account != b.cfg.AccountID {
		return "", kinesis.StreamNotFound(name, account)
	}
	if ref.Name != "" && ref.Name != name {
		return "", kinesis.Errorf(kinesis.ErrInvalidArgument, "StreamName %s and StreamARN %s do not refer to the same stream.", ref.Name, ref.ARN)
	}
	return name, nil
}

// update applies change to a stream's metadata and stores the result with
// compare-and-swap, retrying from a fresh read when another writer won.
// change returns an error to abort.
func (b *Broker) update(ctx context.Context, name string, change func(s *kinesis.Stream) error) (*kinesis.Stream, error) {
	for attempt := 0; ; attempt++ {
		s, rev, err := b.loadStream(ctx, name)
		if err != nil {
			return nil, err
		}
		next := cloneStream(s)
		if err := change(next); err != nil {
			return nil, err
		}
		val, err := json.Marshal(next)
		if err != nil {
			return nil, fmt.Errorf("encode stream %s: %w", name, err)
		}
		newRev, err := b.meta.Update(ctx, streamKey(name), val, rev)
		if errors.Is(err, kinesis.ErrRevisionMismatch) && attempt < 100 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store stream %s: %w", name, err)
		}
		b.remember(next, newRev)
		return next, nil
	}
}

func cloneStream(s *kinesis.Stream) *kinesis.Stream {
	c := *s
	c.Shards = append([]kinesis.Shard(nil), s.Shards...)
	if s.Tags != nil {
		c.Tags = make(map[string]string, len(s.Tags))
		for k, v := range s.Tags {
			c.Tags[k] = v
		}
	}
	c.ShardLevelMetrics = append([]string(nil), s.ShardLevelMetrics...)
	c.DataKeys = slices.Clone(s.DataKeys) // the wrapped bytes are never changed
	c.PendingLogs = slices.Clone(s.PendingLogs)
	c.Logs = slices.Clone(s.Logs)
	c.ModeSwitches = slices.Clone(s.ModeSwitches)
	if s.Scaling != nil {
		sc := *s.Scaling
		c.Scaling = &sc
	}
	if s.Consumers != nil {
		c.Consumers = make([]kinesis.Consumer, len(s.Consumers))
		for i, sc := range s.Consumers {
			sc.Tags = maps.Clone(sc.Tags)
			c.Consumers[i] = sc
		}
	}
	return &c
}

// allocEpochs reserves n consecutive epochs (of shards and logs), never
// handed out again.
func (b *Broker) allocEpochs(ctx context.Context, n int) (uint64, error) {
	for {
		e, err := b.meta.Get(ctx, epochKey)
		if errors.Is(err, kinesis.ErrKeyNotFound) {
			if _, err := b.meta.Create(ctx, epochKey, []byte("0")); err != nil && !errors.Is(err, kinesis.ErrKeyExists) {
				return 0, fmt.Errorf("create epoch counter: %w", err)
			}
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read epoch counter: %w", err)
		}
		last, err := strconv.ParseUint(string(e.Value), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("epoch counter is malformed: %w", err)
		}
		next := last + uint64(n)
		if next > kinesis.MaxEpoch {
			return 0, fmt.Errorf("shard epochs exhausted")
		}
		_, err = b.meta.Update(ctx, epochKey, []byte(strconv.FormatUint(next, 10)), e.Revision)
		if errors.Is(err, kinesis.ErrRevisionMismatch) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("advance epoch counter: %w", err)
		}
		return last + 1, nil
	}
}

// allStreams lists every stream's metadata straight from the store.
func (b *Broker) allStreams(ctx context.Context) ([]*kinesis.Stream, error) {
	entries, err := b.meta.List(ctx, streamKeyPrefix)
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	streams := make([]*kinesis.Stream, 0, len(entries))
	for _, e := range entries {
		s, err := b.decodeStream(e)
		if err != nil {
			return nil, err
		}
		if !b.gone(s) {
			streams = append(streams, s)
		}
	}
	return streams, nil
}

// decodeStream decodes a stream's metadata entry, or takes the cached
// stream of the same revision: the descriptor of a stream of thousands of
// shards is megabytes of JSON. The result is shared: callers must not
// modify it.
func (b *Broker) decodeStream(e kinesis.MetaEntry) (*kinesis.Stream, error) {
	b.cacheMu.RLock()
	c, ok := b.cache[e.Key[len(streamKeyPrefix):]]
	b.cacheMu.RUnlock()
	if ok && c.rev == e.Revision {
		return c.stream, nil
	}
	var s kinesis.Stream
	if err := json.Unmarshal(e.Value, &s); err != nil {
		return nil, fmt.Errorf("decode %s: %w", e.Key, err)
	}
	return &s, nil
}
