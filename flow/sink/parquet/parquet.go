// Package parquet is a flow sink that writes window results as Parquet
// files into a directory, partitioned by time as Amazon Data Firehose
// delivers to S3:
//
//	<dir>/<table>/year=2025/month=06/day=01/hour=12/<pipeline>-<writer>-<generation>.parquet
//
// The hour is that of the window's start, in UTC. Each file has the columns
// pipeline, window_start, window_end (timestamps in microseconds, UTC), the
// table's key and value columns (all optional), final, and written_at (when
// the sink received the row), compressed with Snappy.
//
// # Buffering and durability
//
// Like Firehose, the sink buffers rows and writes a file when the buffer
// reaches a size (WithBuffer; default 5 MiB of encoded rows) or its oldest
// row an age (default 300 s), whichever comes first, so that files are
// few and large. Write returns once its rows are durable all the same: they
// are appended to a write-ahead log under <dir>/_wal and fsynced first. A
// file is written to a temporary name, fsynced, renamed into place and its
// directory fsynced, so readers never see a partial file; only then is the
// log emptied. After a crash, Open reads the log back into the buffer.
//
// # Upserts on immutable files
//
// Rows are upserts by (pipeline, window, keys). Within a buffer, a row
// written again replaces the earlier one, so a replayed batch that arrives
// before the next file is written costs nothing. Files are immutable, so
// a row replayed after its file was written (the pipeline crashed after the
// file, before its checkpoint) is written again into a later file: the
// files hold every row at least once, and a row's latest version is the
// one with the greatest written_at. Read them with the latest version per
// row, in DuckDB for instance:
//
//	SELECT * EXCLUDE (rn) FROM (
//	  SELECT *, row_number() OVER (
//	    PARTITION BY pipeline, window_start, window_end, page
//	    ORDER BY written_at DESC) AS rn
//	  FROM read_parquet('lake/views/**/*.parquet', hive_partitioning = true))
//	WHERE rn = 1;
//
// A crash of the sink itself between writing files and emptying its log
// does not duplicate: file names carry the log's generation, so the files
// written again from the recovered log replace the earlier ones.
//
// Each process writing into one directory needs its own writer name
// (WithWriterID, default the host name); a lock file refuses a second
// process with the same one.
//
//	s, err := parquet.New("/data/lake", parquet.WithBuffer(64<<20, time.Minute))
//	...
//	defer s.Close() // writes what is buffered
package parquet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	pq "github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/flow"
)

// Sink writes rows into Parquet files under one directory.
type Sink struct {
	dir  string
	opts options
	lock *os.File

	mu     sync.Mutex
	tables map[string]*table // by pipeline and name
	closed bool

	stop chan struct{}
	done chan struct{}
}

var _ flow.Sink = (*Sink)(nil)

// String names the sink in a pipeline's registry item: parquet:/dir.
func (s *Sink) String() string { return "parquet:" + s.dir }

type options struct {
	maxBytes int
	maxAge   time.Duration
	writer   string
	log      *slog.Logger
}

// Option configures a Sink.
type Option func(*options)

// WithBuffer sets when a file is written: once the buffered rows take
// maxBytes (encoded), or the oldest of them is maxAge old. Defaults 5 MiB
// and 300 s, Firehose's; maxAge 0 writes only by size, on Flush and on
// Close.
func WithBuffer(maxBytes int, maxAge time.Duration) Option {
	return func(o *options) { o.maxBytes, o.maxAge = maxBytes, maxAge }
}

// WithWriterID names this process among those writing into the directory:
// letters, digits, '-' and '_'. Default: the host name.
func WithWriterID(id string) Option { return func(o *options) { o.writer = id } }

// WithLogger receives the files written and recoveries. Default: discarded.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// New opens a sink writing under dir, which it creates if missing.
func New(dir string, opts ...Option) (*Sink, error) {
	o := options{maxBytes: 5 << 20, maxAge: 300 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.writer == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("parquet sink: writer id: %w", err)
		}
		o.writer = h
	}
	o.writer = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, o.writer)
	if o.maxBytes < 1 {
		o.maxBytes = 1
	}
	walDir := filepath.Join(dir, "_wal", o.writer)
	if err := os.MkdirAll(walDir, 0o755); err != nil {
		return nil, fmt.Errorf("parquet sink: %w", err)
	}
	lock, err := lockFile(filepath.Join(walDir, "lock"))
	if err != nil {
		return nil, fmt.Errorf("parquet sink: writer %s in %s: %w", o.writer, dir, err)
	}
	s := &Sink{dir: dir, opts: o, lock: lock, tables: map[string]*table{}, stop: make(chan struct{}), done: make(chan struct{})}
	go s.ageLoop()
	return s, nil
}

// reserved are the columns every file has besides the table's.
var reserved = []string{"pipeline", "window_start", "window_end", "final", "written_at"}

// table is one result table's buffer, log and schema.
type table struct {
	t      flow.Table
	schema *pq.Schema
	cols   []int // leaf index of: reserved columns, then keys, then values

	mu      sync.Mutex // held across a Write or a flush of this table
	buf     map[string]bufferedRow
	bytes   int
	oldest  time.Time // when the oldest buffered row was written
	wal     *os.File
	walPath string
	gen     int64
}

// Open creates the table's directory and recovers its log.
func (s *Sink) Open(_ context.Context, t flow.Table) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("parquet sink: closed")
	}
	id := t.Pipeline + "\x00" + t.Name
	if _, ok := s.tables[id]; ok {
		return nil
	}
	tb, err := s.openTable(t)
	if err != nil {
		return fmt.Errorf("parquet sink: table %s: %w", t.Name, err)
	}
	s.tables[id] = tb
	return nil
}

func (s *Sink) openTable(t flow.Table) (*table, error) {
	if !safeName(t.Pipeline) || !safeName(t.Name) {
		return nil, errors.New("pipeline and table names must be letters, digits, '-' and '_'")
	}
	group := pq.Group{
		"pipeline":     pq.String(),
		"window_start": pq.Timestamp(pq.Microsecond),
		"window_end":   pq.Timestamp(pq.Microsecond),
		"final":        pq.Leaf(pq.BooleanType),
		"written_at":   pq.Timestamp(pq.Microsecond),
	}
	for _, c := range slices.Concat(t.Keys, t.Values) {
		if _, dup := group[c.Name]; dup {
			return nil, fmt.Errorf("column %s: the name is taken", c.Name)
		}
		var n pq.Node
		switch c.Type {
		case flow.Int:
			n = pq.Int(64)
		case flow.Float:
			n = pq.Leaf(pq.DoubleType)
		case flow.String:
			n = pq.String()
		case flow.Bool:
			n = pq.Leaf(pq.BooleanType)
		case flow.Timestamp:
			n = pq.Timestamp(pq.Microsecond)
		default:
			return nil, fmt.Errorf("column %s: unknown type %d", c.Name, c.Type)
		}
		group[c.Name] = pq.Optional(n)
	}
	tb := &table{t: t, schema: pq.NewSchema(t.Name, group), buf: map[string]bufferedRow{}}
	for _, name := range slices.Concat(reserved, columnNames(t.Keys), columnNames(t.Values)) {
		leaf, _ := tb.schema.Lookup(name)
		tb.cols = append(tb.cols, leaf.ColumnIndex)
	}
	if err := os.MkdirAll(filepath.Join(s.dir, t.Name), 0o755); err != nil {
		return nil, err
	}
	if err := s.recover(tb); err != nil {
		return nil, err
	}
	return tb, nil
}

func columnNames(cs []flow.Column) []string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return names
}

func safeName(s string) bool {
	for _, r := range s {
		if !(r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return false
		}
	}
	return s != ""
}

// walName is the log of generation gen of a table.
func (s *Sink) walName(t flow.Table, gen int64) string {
	return filepath.Join(s.dir, "_wal", s.opts.writer, fmt.Sprintf("%s.%s.%d.wal", t.Pipeline, t.Name, gen))
}

// recover reads the table's latest log into its buffer (removing older
// ones, whose rows are in files already) or starts a first log.
func (s *Sink) recover(tb *table) error {
	prefix := tb.t.Pipeline + "." + tb.t.Name + "."
	entries, err := os.ReadDir(filepath.Join(s.dir, "_wal", s.opts.writer))
	if err != nil {
		return err
	}
	var gens []int64
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !strings.HasSuffix(name, ".wal") {
			continue
		}
		if g, err := strconv.ParseInt(strings.TrimSuffix(name, ".wal"), 10, 64); err == nil {
			gens = append(gens, g)
		}
	}
	slices.Sort(gens)
	if len(gens) == 0 {
		return s.startLog(tb, time.Now().UnixNano())
	}
	for _, g := range gens[:len(gens)-1] {
		if err := os.Remove(s.walName(tb.t, g)); err != nil {
			return err
		}
	}
	tb.gen = gens[len(gens)-1]
	tb.walPath = s.walName(tb.t, tb.gen)
	f, err := os.OpenFile(tb.walPath, os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	rows, end, err := readWAL(f, tb.t)
	if err != nil {
		f.Close()
		return fmt.Errorf("recover %s: %w", tb.walPath, err)
	}
	// Cut a torn frame off, and append after the last whole one.
	if err := f.Truncate(end); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Seek(end, 0); err != nil {
		f.Close()
		return err
	}
	tb.wal = f
	for _, r := range rows {
		tb.add(r)
	}
	if len(rows) > 0 {
		s.opts.log.Info("parquet sink recovered buffered rows", "table", tb.t.Name, "rows", len(tb.buf), "log", tb.walPath)
	}
	return nil
}

// startLog makes a new, empty log of a generation after tb.gen and drops
// the current one (whose rows are in files now).
func (s *Sink) startLog(tb *table, gen int64) error {
	gen = max(gen, tb.gen+1)
	path := s.walName(tb.t, gen)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("start log: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return err
	}
	old, oldPath := tb.wal, tb.walPath
	tb.wal, tb.walPath, tb.gen = f, path, gen
	if old != nil {
		old.Close()
		if err := os.Remove(oldPath); err != nil {
			return fmt.Errorf("drop log: %w", err)
		}
	}
	return nil
}

// add puts a row into the buffer, replacing an earlier version.
func (tb *table) add(r bufferedRow) {
	id := rowID(tb.t, r.Row)
	if old, ok := tb.buf[id]; ok {
		tb.bytes -= old.size
	}
	if len(tb.buf) == 0 || r.written.Before(tb.oldest) {
		tb.oldest = r.written
	}
	tb.buf[id] = r
	tb.bytes += r.size
}

// rowID is a row's identity within a table: its window and keys.
func rowID(t flow.Table, r flow.Row) string {
	b := appendRow(nil, flow.Table{Keys: t.Keys}, bufferedRow{Row: flow.Row{Window: r.Window, Keys: r.Keys}})
	return string(b)
}

// Write logs rows durably and buffers them; it writes files when the
// buffer is full.
func (s *Sink) Write(ctx context.Context, t flow.Table, rows []flow.Row) error {
	s.mu.Lock()
	tb := s.tables[t.Pipeline+"\x00"+t.Name]
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return errors.New("parquet sink: closed")
	}
	if tb == nil {
		return fmt.Errorf("parquet sink: table %s of pipeline %s is not open", t.Name, t.Pipeline)
	}
	if len(rows) == 0 {
		return nil
	}
	now := time.Now()
	buffered := make([]bufferedRow, len(rows))
	payload := make([]byte, 0, 64*len(rows))
	payload = binary.AppendUvarint(payload, uint64(len(rows)))
	for i, r := range rows {
		if err := checkRow(tb.t, r); err != nil {
			return fmt.Errorf("parquet sink: table %s: row %d: %w", t.Name, i, err)
		}
		buffered[i] = bufferedRow{Row: r, written: now}
		n := len(payload)
		payload = appendRow(payload, tb.t, buffered[i])
		buffered[i].size = len(payload) - n
	}
	if len(payload) > maxFrame {
		return fmt.Errorf("parquet sink: table %s: a batch of %d bytes: write at most %d at once", t.Name, len(payload), maxFrame)
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if _, err := tb.wal.Write(appendFrame(nil, payload)); err != nil {
		return fmt.Errorf("parquet sink: table %s: log: %w", t.Name, err)
	}
	if err := tb.wal.Sync(); err != nil {
		return fmt.Errorf("parquet sink: table %s: log: %w", t.Name, err)
	}
	for _, r := range buffered {
		tb.add(r)
	}
	if tb.bytes >= s.opts.maxBytes {
		if err := s.flush(tb); err != nil {
			// The rows are logged: they are durable, and the next flush
			// writes them.
			s.opts.log.Error("parquet sink: writing files failed; the rows stay buffered", "table", t.Name, "err", err)
		}
	}
	return ctx.Err()
}

// Flush writes every buffered row into files now.
func (s *Sink) Flush(_ context.Context) error {
	var errs []error
	for _, tb := range s.snapshot() {
		tb.mu.Lock()
		errs = append(errs, s.flush(tb))
		tb.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (s *Sink) snapshot() []*table {
	s.mu.Lock()
	defer s.mu.Unlock()
	tables := make([]*table, 0, len(s.tables))
	for _, tb := range s.tables {
		tables = append(tables, tb)
	}
	return tables
}

// flush writes tb's buffer as one file per hour partition, then starts a
// new log. tb.mu is held.
func (s *Sink) flush(tb *table) error {
	if len(tb.buf) == 0 {
		return nil
	}
	type idRow struct {
		id string
		bufferedRow
	}
	sorted := make([]idRow, 0, len(tb.buf))
	for id, r := range tb.buf {
		sorted = append(sorted, idRow{id, r})
	}
	// A deterministic order: by window, then by identity.
	slices.SortFunc(sorted, func(a, b idRow) int {
		if c := a.Window.Start.Compare(b.Window.Start); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	rows := make([]bufferedRow, len(sorted))
	for i, r := range sorted {
		rows[i] = r.bufferedRow
	}
	name := fmt.Sprintf("%s-%s-%d.parquet", tb.t.Pipeline, s.opts.writer, tb.gen)
	for start := 0; start < len(rows); {
		part := partition(rows[start].Window.Start)
		end := start + 1
		for end < len(rows) && partition(rows[end].Window.Start) == part {
			end++
		}
		dir := filepath.Join(s.dir, tb.t.Name, part)
		if err := s.writeFile(tb, dir, name, rows[start:end]); err != nil {
			return err
		}
		s.opts.log.Debug("parquet sink wrote a file", "file", filepath.Join(dir, name), "rows", end-start)
		start = end
	}
	if err := s.startLog(tb, time.Now().UnixNano()); err != nil {
		return err
	}
	clear(tb.buf)
	tb.bytes = 0
	return nil
}

// partition is the Firehose-style path of an hour.
func partition(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("year=%04d/month=%02d/day=%02d/hour=%02d", t.Year(), t.Month(), t.Day(), t.Hour())
}

// writeFile writes rows to dir/name atomically: a temporary file, fsync,
// rename, fsync of the directory (and of new parent directories).
func (s *Sink) writeFile(tb *table, dir, name string, rows []bufferedRow) error {
	if err := mkdirAllSynced(dir); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // gone already once renamed
	w := pq.NewWriter(f, tb.schema, pq.Compression(&pq.Snappy), pq.CreatedBy("sluice flow", "", ""))
	prows := make([]pq.Row, len(rows))
	for i, r := range rows {
		prows[i] = tb.parquetRow(r)
	}
	if _, err := w.WriteRows(prows); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := w.Close(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// parquetRow is r as a Parquet row of tb's schema.
func (tb *table) parquetRow(r bufferedRow) pq.Row {
	row := make(pq.Row, len(tb.cols))
	set := func(i int, v pq.Value, optional bool) {
		def := 0
		if optional && !v.IsNull() {
			def = 1
		}
		row[tb.cols[i]] = v.Level(0, def, tb.cols[i])
	}
	set(0, pq.ByteArrayValue([]byte(tb.t.Pipeline)), false)
	set(1, pq.Int64Value(r.Window.Start.UnixMicro()), false)
	set(2, pq.Int64Value(r.Window.End.UnixMicro()), false)
	set(3, pq.BooleanValue(r.Final), false)
	set(4, pq.Int64Value(r.written.UnixMicro()), false)
	i := len(reserved)
	for _, v := range slices.Concat(r.Keys, r.Values) {
		set(i, parquetValue(v), true)
		i++
	}
	return row
}

func parquetValue(v any) pq.Value {
	switch x := v.(type) {
	case int64:
		return pq.Int64Value(x)
	case float64:
		return pq.DoubleValue(x)
	case string:
		return pq.ByteArrayValue([]byte(x))
	case bool:
		return pq.BooleanValue(x)
	case time.Time:
		return pq.Int64Value(x.UnixMicro())
	}
	return pq.NullValue()
}

// mkdirAllSynced creates dir and its missing parents, fsyncing the parent
// of each directory it creates.
func mkdirAllSynced(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllSynced(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// ageLoop writes the buffers whose oldest row reached the maximum age.
func (s *Sink) ageLoop() {
	defer close(s.done)
	if s.opts.maxAge <= 0 {
		<-s.stop
		return
	}
	for {
		wait := s.opts.maxAge
		now := time.Now()
		for _, tb := range s.snapshot() {
			tb.mu.Lock()
			if len(tb.buf) > 0 {
				due := tb.oldest.Add(s.opts.maxAge)
				if !due.After(now) {
					if err := s.flush(tb); err != nil {
						s.opts.log.Error("parquet sink: writing files failed; the rows stay buffered", "table", tb.t.Name, "err", err)
					}
				} else {
					wait = min(wait, due.Sub(now))
				}
			}
			tb.mu.Unlock()
		}
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
		}
	}
}

// Close writes what is buffered and releases the directory.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	err := s.Flush(context.Background())
	for _, tb := range s.snapshot() {
		tb.wal.Close()
	}
	s.lock.Close()
	return err
}
