package main

// How `sluice tail` prints records: text, JSON lines, or a template in the
// manner of kcat's -f.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/deaggregate"
)

// tailFormatHelp documents --format.
const tailFormatHelp = `output ` + "`format`" + `:
"text": "shardId sequenceNumber partitionKey data" per line; data as text if it is valid UTF-8
  without control characters, else base64; a user record of a KPL aggregate shows SEQUENCE/SUBSEQUENCE
"json": one JSON object per line, AWS's Record fields (Data in base64) plus ShardId, Text when Data
  is UTF-8, and SubSequenceNumber and ExplicitHashKey for user records of aggregates; sluice put
  --format json reads them back
anything with a %: a template, as kcat's -f: %s data, %S data size, %k partition key, %K its length,
  %p shard id, %o sequence number, %O sub-sequence number, %e explicit hash key, %T arrival time
  in ms since the epoch, %t stream, %% a %; \n \t \r \\ escapes; add \n to end a line`

// recordFormat renders one record into buf.
type recordFormat func(buf *bytes.Buffer, rec *printRecord) error

// printRecord is a record as tail prints it: a user record, which is the
// Kinesis record itself unless it came out of a KPL aggregate.
type printRecord struct {
	shardID string
	deaggregate.Record
}

func parseRecordFormat(spec, stream string) (recordFormat, error) {
	switch spec {
	case "text":
		return func(buf *bytes.Buffer, r *printRecord) error { appendRecordText(buf, r); return nil }, nil
	case "json":
		return appendRecordJSON, nil
	}
	if !strings.Contains(spec, "%") {
		return nil, fmt.Errorf("--format must be text, json or a template with %%-verbs, got %q", spec)
	}
	return parseTemplate(spec, stream)
}

// templatePart is a literal (verb 0) or one verb of a template.
type templatePart struct {
	verb    byte
	literal string
}

func parseTemplate(spec, stream string) (recordFormat, error) {
	var parts []templatePart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, templatePart{literal: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(spec); i++ {
		c := spec[i]
		switch {
		case c == '\\' && i+1 < len(spec):
			i++
			switch spec[i] {
			case 'n':
				lit.WriteByte('\n')
			case 't':
				lit.WriteByte('\t')
			case 'r':
				lit.WriteByte('\r')
			case '\\':
				lit.WriteByte('\\')
			default:
				lit.WriteByte('\\')
				lit.WriteByte(spec[i])
			}
		case c == '%':
			if i+1 == len(spec) {
				return nil, fmt.Errorf("--format %q ends in a lone %%", spec)
			}
			i++
			if spec[i] == '%' {
				lit.WriteByte('%')
				continue
			}
			if !strings.ContainsRune("sSkKpoOeTt", rune(spec[i])) {
				return nil, fmt.Errorf("--format %q: unknown verb %%%c", spec, spec[i])
			}
			flush()
			parts = append(parts, templatePart{verb: spec[i]})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return func(buf *bytes.Buffer, r *printRecord) error {
		for _, p := range parts {
			switch p.verb {
			case 0:
				buf.WriteString(p.literal)
			case 's':
				buf.Write(r.Data)
			case 'S':
				buf.WriteString(strconv.Itoa(len(r.Data)))
			case 'k':
				buf.WriteString(r.PartitionKey)
			case 'K':
				buf.WriteString(strconv.Itoa(len(r.PartitionKey)))
			case 'p':
				buf.WriteString(r.shardID)
			case 'o':
				buf.WriteString(r.SequenceNumber)
			case 'O':
				buf.WriteString(strconv.FormatInt(r.SubSequenceNumber, 10))
			case 'e':
				buf.WriteString(r.ExplicitHashKey)
			case 'T':
				if !r.ApproximateArrivalTimestamp.IsZero() {
					buf.WriteString(strconv.FormatInt(r.ApproximateArrivalTimestamp.UnixMilli(), 10))
				}
			case 't':
				buf.WriteString(stream)
			}
		}
		return nil
	}, nil
}

// recordPrinter writes records from all shard readers to one writer, a
// whole batch at a time so lines never interleave.
type recordPrinter struct {
	w      io.Writer
	format recordFormat // nil: text
	// raw prints KPL aggregates as they are stored instead of their user
	// records (--raw).
	raw bool
	max int64 // stop after this many records; 0: no limit

	mu      sync.Mutex
	printed int64
}

// userRecords turns records read from a shard into the records tail
// prints: the user records of KPL aggregates in their place, unless raw.
// Every user record is printed, whatever its hash key: tail shows what the
// stream holds rather than filtering as a KCL worker does.
func (p *recordPrinter) userRecords(records []types.Record) []deaggregate.Record {
	if !p.raw {
		users, _ := deaggregate.Records(records) // never fails: malformed aggregates pass as they are
		return users
	}
	out := make([]deaggregate.Record, len(records))
	for i, r := range records {
		out[i] = deaggregate.Record{
			SequenceNumber: aws.ToString(r.SequenceNumber), PartitionKey: aws.ToString(r.PartitionKey),
			Data: r.Data, EncryptionType: r.EncryptionType,
		}
		if r.ApproximateArrivalTimestamp != nil {
			out[i].ApproximateArrivalTimestamp = *r.ApproximateArrivalTimestamp
		}
	}
	return out
}

// printRaw prints records as read from a shard.
func (p *recordPrinter) printRaw(shardID string, records []types.Record) error {
	if len(records) == 0 {
		return nil
	}
	return p.print(shardID, p.userRecords(records))
}

// print prints user records of one shard. It returns errEnough once
// --max-records are printed.
func (p *recordPrinter) print(shardID string, records []deaggregate.Record) error {
	if len(records) == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.max > 0 {
		if p.printed >= p.max {
			return errEnough
		}
		records = records[:min(int64(len(records)), p.max-p.printed)]
	}
	format := p.format
	if format == nil {
		format = func(buf *bytes.Buffer, r *printRecord) error { appendRecordText(buf, r); return nil }
	}
	var buf bytes.Buffer
	for i := range records {
		if err := format(&buf, &printRecord{shardID: shardID, Record: records[i]}); err != nil {
			return err
		}
	}
	if _, err := p.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	p.printed += int64(len(records))
	if p.max > 0 && p.printed >= p.max {
		return errEnough
	}
	return nil
}

// appendRecordText appends "shardId sequenceNumber partitionKey data\n".
func appendRecordText(buf *bytes.Buffer, r *printRecord) {
	buf.WriteString(r.shardID)
	buf.WriteByte(' ')
	buf.WriteString(r.SequenceNumber)
	if r.Aggregated {
		buf.WriteByte('/')
		buf.WriteString(strconv.FormatInt(r.SubSequenceNumber, 10))
	}
	buf.WriteByte(' ')
	buf.WriteString(r.PartitionKey)
	buf.WriteByte(' ')
	if isPrintableText(r.Data) {
		buf.Write(r.Data)
	} else {
		buf.WriteString(base64.StdEncoding.EncodeToString(r.Data))
	}
	buf.WriteByte('\n')
}

// isPrintableText reports whether data can be printed as-is on one line:
// valid UTF-8 with no control characters but tab.
func isPrintableText(data []byte) bool {
	if !utf8.Valid(data) {
		return false
	}
	for _, r := range string(data) {
		if r != '\t' && unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// recordJSON is one line of `tail --format json` and of `put --format
// json`: AWS's record fields plus the shard, Text when Data is valid UTF-8
// (Data is base64, as on the wire), and for a user record of a KPL
// aggregate its sub-sequence number and explicit hash key.
type recordJSON struct {
	ShardId                     string     `json:"ShardId,omitempty"`
	SequenceNumber              string     `json:"SequenceNumber,omitempty"`
	SubSequenceNumber           *int64     `json:"SubSequenceNumber,omitempty"`
	PartitionKey                string     `json:"PartitionKey"`
	ExplicitHashKey             string     `json:"ExplicitHashKey,omitempty"`
	ApproximateArrivalTimestamp *time.Time `json:"ApproximateArrivalTimestamp,omitempty"`
	Data                        []byte     `json:"Data"`
	Text                        *string    `json:"Text,omitempty"`
}

func appendRecordJSON(buf *bytes.Buffer, r *printRecord) error {
	j := recordJSON{
		ShardId:         r.shardID,
		SequenceNumber:  r.SequenceNumber,
		PartitionKey:    r.PartitionKey,
		ExplicitHashKey: r.ExplicitHashKey,
		Data:            r.Data,
	}
	if r.Aggregated {
		j.SubSequenceNumber = aws.Int64(r.SubSequenceNumber)
	}
	if !r.ApproximateArrivalTimestamp.IsZero() {
		j.ApproximateArrivalTimestamp = aws.Time(r.ApproximateArrivalTimestamp)
	}
	if j.Data == nil {
		j.Data = []byte{} // "" rather than null
	}
	if utf8.Valid(r.Data) {
		j.Text = aws.String(string(r.Data))
	}
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode record %s: %w", j.SequenceNumber, err)
	}
	buf.Write(b)
	buf.WriteByte('\n')
	return nil
}
