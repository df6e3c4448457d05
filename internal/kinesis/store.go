package kinesis

import (
	"context"
	"errors"
	"time"
)

// Storage errors that callers branch on.
var (
	ErrLogNotFound      = errors.New("log not found")
	ErrKeyNotFound      = errors.New("key not found")
	ErrKeyExists        = errors.New("key exists")
	ErrRevisionMismatch = errors.New("revision mismatch")
	// ErrLogSealed is returned by Append on a log that SealLog sealed.
	ErrLogSealed = errors.New("log sealed")
	// ErrStorageFull is returned by writes (Append, and the writes of a
	// MetaStore) that the store refused for want of space: nothing was
	// stored, and the same write may succeed once space is freed.
	ErrStorageFull = errors.New("storage full")
)

// StorageFullMessage is what clients are told of ErrStorageFull.
const StorageFullMessage = "The server's storage is full: writes are refused until disk space is freed; retry later"

// LogConfig is the per-log configuration a backend honours.
type LogConfig struct {
	// MaxAge drops messages older than this; 0 keeps them forever.
	MaxAge time.Duration
}

// Message is one stored message of a log: an opaque payload with the
// sequence number and the time the backend stored it.
type Message struct {
	Seq  uint64
	Time time.Time
	Data []byte
}

// LogState describes a log's extent. An empty log has LastSeq = FirstSeq-1.
type LogState struct {
	FirstSeq uint64
	LastSeq  uint64
	LastTime time.Time
}

// Log stores ordered, append-only logs of messages, one per shard. Message
// sequence numbers start at 1, grow by one per append and are never reused.
// An append returns only once the message is durable.
type Log interface {
	// CreateLog creates the log, or does nothing if it exists.
	CreateLog(ctx context.Context, name string, cfg LogConfig) error
	// UpdateLog changes a log's configuration. ErrLogNotFound if absent.
	UpdateLog(ctx context.Context, name string, cfg LogConfig) error
	// DeleteLog removes the log and its messages; absent logs are fine.
	DeleteLog(ctx context.Context, name string) error
	// SealLog makes the log read-only for good and returns the sequence
	// of the last message appended before the seal: once it returns, every
	// Append (from any server over the backend) fails with ErrLogSealed,
	// and no acknowledged append has a larger sequence. The backend may
	// store bookkeeping after it that Read never returns, so State's
	// LastSeq may be larger. Read, SeekTime and State still work, and
	// MaxAge expiry goes on. Sealing a sealed log (also concurrently) is
	// fine and returns the same sequence. ErrLogNotFound if absent.
	SealLog(ctx context.Context, name string) (lastSeq uint64, err error)
	// Append stores msg and returns its sequence number once it is durable.
	// ErrLogNotFound if the log does not exist, ErrLogSealed if it is
	// sealed, ErrStorageFull if the store has no room for it.
	Append(ctx context.Context, name string, msg []byte) (seq uint64, err error)
	// Read returns messages from sequence from on (or the first retained
	// one after it), at most maxMsgs of them and about maxBytes of payload
	// (at least one message if any). Empty when nothing is there yet.
	Read(ctx context.Context, name string, from uint64, maxMsgs, maxBytes int) ([]Message, error)
	// SeekTime returns the sequence of the first message stored at or after
	// t, or LastSeq+1 when there is none.
	SeekTime(ctx context.Context, name string, t time.Time) (uint64, error)
	// State returns the log's first and last sequence. ErrLogNotFound if
	// absent.
	State(ctx context.Context, name string) (LogState, error)
	// WatchAppends calls fn soon after messages are appended to the log,
	// by this process or any other over the backend, with the sequence of
	// the newest, until ctx ends. Calls come from one goroutine and may
	// coalesce appends; a message is readable (from the leader) when fn
	// sees it. It returns once the watch is in place. ErrLogNotFound if
	// absent.
	WatchAppends(ctx context.Context, name string, fn func(lastSeq uint64)) error
}

// MetaEntry is one key of the metadata store.
type MetaEntry struct {
	Key      string
	Value    []byte
	Revision uint64
	Deleted  bool
}

// MetaStore is a key-value store whose writes are compare-and-swap, so that
// several servers over one backend change metadata safely.
type MetaStore interface {
	// Get returns the value and revision of key. ErrKeyNotFound if absent.
	Get(ctx context.Context, key string) (MetaEntry, error)
	// Create stores key only if absent. ErrKeyExists otherwise.
	Create(ctx context.Context, key string, value []byte) (uint64, error)
	// Update stores key only if its revision is rev. ErrRevisionMismatch
	// otherwise (also when the key was deleted meanwhile).
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	// Delete removes key only if its revision is rev. ErrRevisionMismatch
	// otherwise.
	Delete(ctx context.Context, key string, rev uint64) error
	// List returns every live entry whose key starts with prefix.
	List(ctx context.Context, prefix string) ([]MetaEntry, error)
	// Watch calls fn for every change of a key under prefix until ctx ends.
	// It returns once the watch is in place.
	Watch(ctx context.Context, prefix string, fn func(MetaEntry)) error
}

// MetaWrite is one write of an atomic change of several keys (a store's
// Commit, where it has one): set Key to Value, or delete it, only if its
// revision is still Revision (0: the key is absent).
type MetaWrite struct {
	Key      string
	Value    []byte
	Delete   bool
	Revision uint64
}
