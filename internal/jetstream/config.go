package jetstream

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults applied by Open to zero fields of Config.
const (
	// DefaultMaxMessageBytes is the default cap on one appended message.
	DefaultMaxMessageBytes = 16 << 20
	// DefaultMetaBucket is the default KV bucket of the metadata store.
	DefaultMetaBucket = "sluice_meta"
	// DefaultTimeout bounds an operation whose context has no deadline.
	DefaultTimeout = 10 * time.Second
	// DefaultAppendTimeout bounds an append whose context has no
	// deadline: longer than a JetStream leader election takes (4 to 9
	// seconds after the leader's last heartbeat, once more for a split
	// vote), so that a single node's failure delays appends rather than
	// failing them.
	DefaultAppendTimeout = 20 * time.Second
	// DefaultClusterReplicas is the default replica count with URL set.
	DefaultClusterReplicas = 3

	// maxMessageBytesLimit is NATS's hard ceiling on max_payload.
	maxMessageBytesLimit = 64 << 20
	// maxReplicas is JetStream's ceiling on replicas per stream.
	maxReplicas = 5
)

var bucketNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Config configures a Backend. The zero value of every field but DataDir
// (or URL) selects its default.
type Config struct {
	// DataDir is the directory of the embedded server's files. Required
	// unless URL is set; unused when it is.
	DataDir string `yaml:"data_dir"`

	// URL, if set, connects to an external NATS JetStream cluster instead
	// of embedding a server: one URL or several separated by commas. Every
	// server of that cluster must run with `sync_interval: always`, and
	// its max_payload must be at least MaxMessageBytes.
	URL string `yaml:"url"`

	// Replicas is the replica count of each log and of the metadata
	// bucket. Default 1 embedded (the only valid value there), 3 with URL.
	Replicas int `yaml:"replicas"`

	// MaxMessageBytes caps the size of one appended message, in bytes,
	// with the few bytes of header stored with it.
	// Default 16 MiB; at most 64 MiB (NATS discourages more than 8 MiB).
	MaxMessageBytes int `yaml:"max_message_bytes"`

	// MetaBucket names the KV bucket of the metadata store. Default
	// "sluice_meta". Letters, digits, '_' and '-' only.
	MetaBucket string `yaml:"meta_bucket"`

	// Timeout bounds each operation whose context has no deadline, and the
	// drain of the connection on Close. Default 10s.
	Timeout time.Duration `yaml:"timeout"`

	// AppendTimeout bounds each append whose context has no deadline.
	// An append that reaches it while an attempt may still be stored
	// fails, and the log is fenced once it can store again. Default 20s.
	AppendTimeout time.Duration `yaml:"append_timeout"`

	// MaxStore caps the bytes the embedded server stores (JetStream's
	// max_file_store); past it appends fail with kinesis.ErrStorageFull.
	// Default 0: no cap but the disk (nats-server's own default, 75 % of
	// the space free at start, is never used). Unused with URL.
	MaxStore int64 `yaml:"max_store"`

	// MinFreeDisk is the free space the embedded server keeps on the data
	// directory's filesystem: an append that would leave less fails with
	// kinesis.ErrStorageFull (metadata and item writes only below a
	// quarter of it), so JetStream never meets a full disk (see disk.go).
	// Default DefaultMinFreeDisk (64 MiB); negative turns the guard off.
	// Unused with URL.
	MinFreeDisk int64 `yaml:"min_free_disk"`

	// DiskCheckInterval is how often free space is measured, and how soon
	// after space is freed writes resume following a write error. Default
	// 1s.
	DiskCheckInterval time.Duration `yaml:"disk_check_interval"`

	// Logger receives the backend's log, including nats-server's own
	// (its notices at debug level). Nil discards.
	Logger *slog.Logger `yaml:"-"`

	// Registerer receives the storage metrics (sluice_storage_*). Nil
	// registers none.
	Registerer prometheus.Registerer `yaml:"-"`
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Replicas == 0 {
		c.Replicas = 1
		if c.URL != "" {
			c.Replicas = DefaultClusterReplicas
		}
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MetaBucket == "" {
		c.MetaBucket = DefaultMetaBucket
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.AppendTimeout == 0 {
		c.AppendTimeout = DefaultAppendTimeout
	}
	if c.MinFreeDisk == 0 {
		c.MinFreeDisk = DefaultMinFreeDisk
	}
	if c.DiskCheckInterval == 0 {
		c.DiskCheckInterval = DefaultDiskCheckInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports whether c is usable; zero fields count as their
// defaults.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" && c.DataDir == "" {
		errs = append(errs, errors.New("data dir or URL required"))
	}
	switch {
	case c.Replicas < 0 || c.Replicas > maxReplicas:
		errs = append(errs, fmt.Errorf("replicas %d out of range 1..%d", c.Replicas, maxReplicas))
	case c.URL == "" && c.Replicas > 1:
		errs = append(errs, fmt.Errorf("replicas %d needs an external cluster (URL); the embedded server has one", c.Replicas))
	}
	if c.MaxMessageBytes < 0 || (c.MaxMessageBytes > 0 && c.MaxMessageBytes <= appendHeaderBytes) || c.MaxMessageBytes > maxMessageBytesLimit {
		errs = append(errs, fmt.Errorf("max message bytes %d out of range %d..%d", c.MaxMessageBytes, appendHeaderBytes+1, maxMessageBytesLimit))
	}
	if c.MetaBucket != "" && !bucketNameRe.MatchString(c.MetaBucket) {
		errs = append(errs, fmt.Errorf("meta bucket %q: only letters, digits, '_' and '-' allowed", c.MetaBucket))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %v is negative", c.Timeout))
	}
	if c.AppendTimeout < 0 {
		errs = append(errs, fmt.Errorf("append timeout %v is negative", c.AppendTimeout))
	}
	if c.MaxStore < 0 {
		errs = append(errs, fmt.Errorf("max store %d is negative", c.MaxStore))
	}
	if c.DiskCheckInterval < 0 {
		errs = append(errs, fmt.Errorf("disk check interval %v is negative", c.DiskCheckInterval))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("jetstream config: %w", err)
	}
	return nil
}
