package main

// `sluice put`: write records from arguments or stdin lines.
//
// Records flow from a source (arguments, or a goroutine scanning stdin)
// through a channel into putter.run, which packs them into PutRecords
// requests and retries the entries a response reports as failed. With
// --aggregate they go to the public producer package instead, which packs
// them into KPL aggregates per shard (putAggregated).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

const (
	// putMaxRecords and putMaxBytes are the PutRecords request limits.
	// AWS raised the size limit to 10 MiB in 2025; 5 MiB is accepted
	// everywhere, and a request of 500 records rarely reaches either.
	putMaxRecords = 500
	putMaxBytes   = 5 << 20
	// maxLineBytes fits the largest record Kinesis accepts (10 MiB) plus
	// a partition key and its delimiter.
	maxLineBytes = 10<<20 + 1<<10
	// putLinger is how long a partial batch waits for more records, so a
	// slow stdin (`tail -f log | sluice put s`) still flows promptly.
	putLinger = 100 * time.Millisecond
	// maxPartitionKeyChars is Kinesis's limit on partition keys.
	maxPartitionKeyChars = 256
	// Backoff between retries of failed entries.
	putRetryMinDelay = 100 * time.Millisecond
	putRetryMaxDelay = 5 * time.Second
)

func runPut(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "put", "sluice put STREAM [flags] [RECORD...]\n\n"+
		"Writes each RECORD, or without RECORD arguments each line of stdin (empty lines are skipped).\n"+
		"With --format json each is a JSON object as `sluice tail --format json` prints them:\n"+
		`  {"PartitionKey": "user-1", "Text": "hello"}  or  {"PartitionKey": "k", "Data": "aGVsbG8=", "ExplicitHashKey": "0"}`+"\n"+
		"so `sluice tail a --format json --until-latest | sluice put b --format json` copies a stream.")
	var cf clientFlags
	cf.register(fs, env)
	var keys recordKeys
	fs.StringVar(&keys.fixed, "partition-key", "", "partition `key` for every record (default a random key per record, spreading records over all shards)")
	fs.BoolVar(&keys.fromLine, "key-from-line", false, "take each record's partition key from its line: the text before the first --key-delimiter; the rest is the data")
	fs.StringVar(&keys.delimiter, "key-delimiter", "\t", "`separator` between key and data with --key-from-line")
	fs.StringVar(&keys.hashKey, "explicit-hash-key", "", "explicit hash `key` (a decimal number below 2^128) for every record: it picks the shard instead of the partition key's MD5")
	fs.StringVar(&keys.format, "format", "text", `input format: "text" (each argument or line is a record's data) or "json" (each is a JSON object with PartitionKey, `+
		`Data in base64 or Text, and optionally ExplicitHashKey; a missing key falls back to --partition-key or a random one)`)
	verbose := fs.Bool("v", false, `print "shardId sequenceNumber" for every record on stdout instead of a summary on stderr`)
	retries := fs.Int("retries", 10, "how many times to retry records that PutRecords reports as failed (throttled), with backoff from 100ms to 5s; with --aggregate records are retried for up to 30s instead")
	aggregate := fs.Bool("aggregate", false, "pack records bound for the same shard into KPL aggregates with the Go producer, within each shard's write quota; readers must deaggregate (the KCL, the Go deaggregate package)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 {
		return usageError(fs, "put: missing STREAM")
	}
	if err := keys.validate(); err != nil {
		return usageError(fs, "put: %v", err)
	}
	if *retries < 0 {
		return usageError(fs, "put: --retries must not be negative")
	}
	client, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	var src recordSource
	if records := pos[1:]; len(records) > 0 {
		src = argsSource(records, keys)
	} else {
		src = linesSource(env.stdin, keys)
	}
	var out io.Writer
	if *verbose {
		out = env.stdout
	}
	start := time.Now()
	var s putStats
	if *aggregate {
		s, err = putAggregated(ctx, client, pos[0], src, out)
	} else {
		p := &putter{api: client, stream: pos[0], retries: *retries, linger: putLinger, sleep: sleepCtx, verbose: out}
		err = p.put(ctx, src)
		s = p.stats
	}
	if isCanceled(ctx, err) {
		err = fmt.Errorf("put interrupted: %w", err)
	}
	if err != nil {
		// No summary that could pass for success; say what did get written.
		if s.records > 0 {
			err = fmt.Errorf("%w (%s written before the failure)", err, plural(s.records, "record"))
		}
		return err
	}
	if !*verbose {
		fmt.Fprintf(env.stderr, "put %s (%s) to %s in %s, %v",
			plural(s.records, "record"), formatBytes(s.bytes), pos[0], plural(s.requests, "request"),
			time.Since(start).Round(time.Millisecond))
		if s.retried > 0 {
			fmt.Fprintf(env.stderr, ", %d retried", s.retried)
		}
		fmt.Fprintln(env.stderr)
	}
	return err
}

// recordKeys decides each record's partition key and parses its input.
type recordKeys struct {
	fixed     string // --partition-key
	fromLine  bool   // --key-from-line
	delimiter string // --key-delimiter
	hashKey   string // --explicit-hash-key
	format    string // --format: text or json
}

func (k recordKeys) validate() error {
	switch {
	case k.format != "text" && k.format != "json":
		return fmt.Errorf("--format must be text or json, got %q", k.format)
	case k.format == "json" && k.fromLine:
		return errors.New("--key-from-line does not go with --format json, whose objects carry their PartitionKey")
	case k.fixed != "" && k.fromLine:
		return errors.New("--partition-key and --key-from-line exclude each other")
	case k.fromLine && k.delimiter == "":
		return errors.New("--key-delimiter must not be empty")
	}
	if k.hashKey != "" {
		if err := checkHashKey(k.hashKey); err != nil {
			return fmt.Errorf("--explicit-hash-key: %w", err)
		}
	}
	if k.fixed != "" {
		return checkPartitionKey(k.fixed)
	}
	return nil
}

// maxHashKey is the largest hash key, 2^128-1.
var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

func checkHashKey(s string) error {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || strings.Trim(s, "0123456789") != "" || n.Cmp(maxHashKey) > 0 {
		return fmt.Errorf("%q is not a decimal number from 0 to 2^128-1", s)
	}
	return nil
}

// entry turns one line or argument into a PutRecords entry.
func (k recordKeys) entry(line []byte) (types.PutRecordsRequestEntry, error) {
	if k.format == "json" {
		return k.jsonEntry(line)
	}
	e, err := k.textEntry(line)
	if err == nil && k.hashKey != "" {
		e.ExplicitHashKey = aws.String(k.hashKey)
	}
	return e, err
}

// jsonEntry reads an entry from a line of `tail --format json`.
func (k recordKeys) jsonEntry(line []byte) (types.PutRecordsRequestEntry, error) {
	var j recordJSON
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&j); err != nil {
		return types.PutRecordsRequestEntry{}, fmt.Errorf("not a JSON record: %w", err)
	}
	if dec.More() {
		return types.PutRecordsRequestEntry{}, errors.New("more than one JSON value")
	}
	e := types.PutRecordsRequestEntry{Data: j.Data}
	if j.Data == nil && j.Text != nil {
		e.Data = []byte(*j.Text)
	}
	if j.Data == nil && j.Text == nil {
		return types.PutRecordsRequestEntry{}, errors.New("the record has neither Data nor Text")
	}
	key := j.PartitionKey
	if key == "" {
		key = k.fixed
	}
	if key == "" {
		key = strconv.FormatUint(rand.Uint64(), 36)
	}
	if err := checkPartitionKey(key); err != nil {
		return types.PutRecordsRequestEntry{}, err
	}
	e.PartitionKey = aws.String(key)
	hashKey := j.ExplicitHashKey
	if hashKey == "" {
		hashKey = k.hashKey
	}
	if hashKey != "" {
		if err := checkHashKey(hashKey); err != nil {
			return types.PutRecordsRequestEntry{}, fmt.Errorf("ExplicitHashKey: %w", err)
		}
		e.ExplicitHashKey = aws.String(hashKey)
	}
	return e, nil
}

func (k recordKeys) textEntry(line []byte) (types.PutRecordsRequestEntry, error) {
	key, data := k.fixed, line
	switch {
	case k.fromLine:
		i := bytes.Index(line, []byte(k.delimiter))
		if i < 0 {
			return types.PutRecordsRequestEntry{}, fmt.Errorf("no key delimiter %q", k.delimiter)
		}
		key, data = string(line[:i]), line[i+len(k.delimiter):]
		if err := checkPartitionKey(key); err != nil {
			return types.PutRecordsRequestEntry{}, err
		}
	case key == "":
		key = strconv.FormatUint(rand.Uint64(), 36)
	}
	return types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: data}, nil
}

func checkPartitionKey(key string) error {
	if !utf8.ValidString(key) {
		return fmt.Errorf("partition key %q is not valid UTF-8", key)
	}
	if n := utf8.RuneCountInString(key); n < 1 || n > maxPartitionKeyChars {
		return fmt.Errorf("partition key must have 1 to %d characters, got %d", maxPartitionKeyChars, n)
	}
	return nil
}

// recordSource sends records to out until it runs dry; it does not close out.
type recordSource func(ctx context.Context, out chan<- types.PutRecordsRequestEntry) error

func argsSource(records []string, keys recordKeys) recordSource {
	return func(ctx context.Context, out chan<- types.PutRecordsRequestEntry) error {
		for i, r := range records {
			e, err := keys.entry([]byte(r))
			if err != nil {
				return fmt.Errorf("record %d: %w", i+1, err)
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
}

func linesSource(r io.Reader, keys recordKeys) recordSource {
	return func(ctx context.Context, out chan<- types.PutRecordsRequestEntry) error {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), maxLineBytes)
		n := 0
		for sc.Scan() {
			n++
			if len(sc.Bytes()) == 0 {
				continue
			}
			// The scanner reuses its buffer; the entry outlives this line.
			e, err := keys.entry(bytes.Clone(sc.Bytes()))
			if err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				return fmt.Errorf("line %d: longer than %d bytes", n+1, maxLineBytes)
			}
			return fmt.Errorf("read stdin: %w", err)
		}
		return nil
	}
}

// putBatch collects entries for one PutRecords request.
type putBatch struct {
	entries []types.PutRecordsRequestEntry
	bytes   int
}

// entrySize is what an entry counts against the request size limit.
func entrySize(e types.PutRecordsRequestEntry) int {
	return len(e.Data) + len(aws.ToString(e.PartitionKey)) + len(aws.ToString(e.ExplicitHashKey))
}

// fits reports whether e can join the batch. An empty batch takes any entry,
// so one oversized record goes alone and the server judges it.
func (b *putBatch) fits(e types.PutRecordsRequestEntry) bool {
	if len(b.entries) == 0 {
		return true
	}
	return len(b.entries) < putMaxRecords && b.bytes+entrySize(e) <= putMaxBytes
}

func (b *putBatch) add(e types.PutRecordsRequestEntry) {
	b.entries = append(b.entries, e)
	b.bytes += entrySize(e)
}

func (b *putBatch) full() bool { return len(b.entries) >= putMaxRecords || b.bytes >= putMaxBytes }

type putRecordsAPI interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

// putter writes batches of records to one stream, one request at a time so
// records of a partition key keep their order unless a retry reorders them.
type putter struct {
	api     putRecordsAPI
	stream  string
	retries int
	linger  time.Duration // how long a partial batch waits for more records
	verbose io.Writer     // nil: no per-record output
	sleep   func(ctx context.Context, d time.Duration) error
	stats   putStats
}

type putStats struct {
	records, bytes, requests, retried int64
}

// put drains src into PutRecords requests.
func (p *putter) put(ctx context.Context, src recordSource) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the source if sending fails
	records := make(chan types.PutRecordsRequestEntry, putMaxRecords)
	var srcErr error
	go func() {
		defer close(records)
		srcErr = src(ctx, records)
	}()
	if err := p.run(ctx, records); err != nil {
		return err
	}
	// run returned nil, so records is closed and srcErr is set.
	return srcErr
}

// run batches records until the channel closes, sending a batch when it is
// full or its first record has waited p.linger.
func (p *putter) run(ctx context.Context, records <-chan types.PutRecordsRequestEntry) error {
	var b putBatch
	linger := time.NewTimer(p.linger)
	linger.Stop()
	flush := func() error {
		linger.Stop()
		if len(b.entries) == 0 {
			return nil
		}
		err := p.send(ctx, b.entries)
		b = putBatch{}
		return err
	}
	for {
		select {
		case e, ok := <-records:
			if !ok {
				return flush()
			}
			if !b.fits(e) {
				if err := flush(); err != nil {
					return err
				}
			}
			b.add(e)
			if b.full() {
				if err := flush(); err != nil {
					return err
				}
			} else if len(b.entries) == 1 {
				linger.Reset(p.linger)
			}
		case <-linger.C:
			if err := flush(); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// send writes entries with one PutRecords request, then retries the entries
// it reports as failed (PutRecords is not all-or-nothing) with backoff.
func (p *putter) send(ctx context.Context, entries []types.PutRecordsRequestEntry) error {
	name, arn := streamRef(p.stream)
	results := make([]types.PutRecordsResultEntry, len(entries))
	pending := make([]int, len(entries)) // indexes into entries
	for i := range pending {
		pending[i] = i
	}
	batch := entries
	delay := putRetryMinDelay
	for attempt := 0; ; attempt++ {
		out, err := p.api.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: name, StreamARN: arn, Records: batch})
		p.stats.requests++
		if err != nil {
			return fmt.Errorf("put records: %w", err)
		}
		if len(out.Records) != len(batch) {
			return fmt.Errorf("put records: response has %d results for %d records", len(out.Records), len(batch))
		}
		var failed []int
		var last types.PutRecordsResultEntry
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				failed = append(failed, pending[i])
				last = r
				continue
			}
			results[pending[i]] = r
		}
		if len(failed) == 0 {
			break
		}
		if attempt >= p.retries {
			return fmt.Errorf("put records: %d of %d records still failing after %d retries: %s: %s",
				len(failed), len(entries), p.retries, aws.ToString(last.ErrorCode), aws.ToString(last.ErrorMessage))
		}
		p.stats.retried += int64(len(failed))
		// Jitter keeps concurrent writers from retrying in lockstep.
		if err := p.sleep(ctx, delay/2+rand.N(delay/2+1)); err != nil {
			return fmt.Errorf("put records: %w", err)
		}
		delay = min(2*delay, putRetryMaxDelay)
		pending = failed
		batch = make([]types.PutRecordsRequestEntry, len(failed))
		for i, j := range failed {
			batch[i] = entries[j]
		}
	}
	for _, e := range entries {
		p.stats.records++
		p.stats.bytes += int64(len(e.Data))
	}
	if p.verbose != nil {
		var buf bytes.Buffer
		for _, r := range results {
			fmt.Fprintf(&buf, "%s %s\n", aws.ToString(r.ShardId), aws.ToString(r.SequenceNumber))
		}
		if _, err := p.verbose.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
	}
	return nil
}

// formatBytes renders n in binary units: 512 B, 1.5 KiB, 20.0 MiB.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
