package httpapi

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// PutRecords writes up to 500 records. Checked here: the model (1..500
// records, each with Data of at most 10 MiB and a PartitionKey of 1..256
// characters, ExplicitHashKey a decimal), ExplicitHashKey within
// [0, 2^128-1] and the request's total of data and partition keys within
// kinesis.MaxPutRecordsBytes, the last two as InvalidArgumentException.
// The per-stream record size limit, routing and throttling are the
// service's. Entries the service fails one by one come back with ErrorCode
// and ErrorMessage and count in FailedRecordCount; internal failures there
// read "InternalFailure" / "Internal Service Failure" as AWS documents.
//
// Deviation: DryRun=true is refused with InvalidArgumentException rather
// than checked and answered with DryRunOperationException.

// entryFields says which members of a PutRecords entry were present.
type entryFields uint8

const (
	hasData entryFields = 1 << iota
	hasPartitionKey
	hasExplicitHashKey
)

// putRecordsInput is a decoded PutRecords request. Records is nil when the
// member is absent or null; has[i] tells which members of Records[i] were
// given, so that a missing PartitionKey is told from an empty one. count is
// the number of records in the request; decoders may keep fewer (see
// maxDecodedRecords).
type putRecordsInput struct {
	StreamName *string
	StreamARN  *string
	DryRun     *bool
	Records    []kinesis.PutRecordEntry
	has        []entryFields
	count      int
}

// putRecordsWire is the request as reflection-based codecs decode it.
type putRecordsWire struct {
	Records    []putRecordsWireEntry `json:"Records"`
	StreamName *string               `json:"StreamName"`
	StreamARN  *string               `json:"StreamARN"`
	DryRun     *bool                 `json:"DryRun"`
}

type putRecordsWireEntry struct {
	Data            blob    `json:"Data"`
	PartitionKey    *string `json:"PartitionKey"`
	ExplicitHashKey *string `json:"ExplicitHashKey"`
}

// input converts the wire form into the decoded form.
func (w *putRecordsWire) input() putRecordsInput {
	in := putRecordsInput{StreamName: w.StreamName, StreamARN: w.StreamARN, DryRun: w.DryRun}
	if w.Records == nil {
		return in
	}
	in.count = len(w.Records)
	in.Records = make([]kinesis.PutRecordEntry, len(w.Records))
	in.has = make([]entryFields, len(w.Records))
	for i, r := range w.Records {
		if r.Data != nil {
			in.has[i] |= hasData
			in.Records[i].Data = r.Data
		}
		if r.PartitionKey != nil {
			in.has[i] |= hasPartitionKey
			in.Records[i].PartitionKey = *r.PartitionKey
		}
		if r.ExplicitHashKey != nil {
			in.has[i] |= hasExplicitHashKey
			in.Records[i].ExplicitHashKey = *r.ExplicitHashKey
		}
	}
	return in
}

// putRecordsOutput is PutRecords' answer.
type putRecordsOutput struct {
	FailedRecordCount int                     `json:"FailedRecordCount"`
	Records           []putRecordsResultEntry `json:"Records"`
	EncryptionType    string                  `json:"EncryptionType"`
}

type putRecordsResultEntry struct {
	SequenceNumber string `json:"SequenceNumber,omitempty"`
	ShardId        string `json:"ShardId,omitempty"`
	ErrorCode      string `json:"ErrorCode,omitempty"`
	ErrorMessage   string `json:"ErrorMessage,omitempty"`
}

// Per-entry failure words of PutRecords, as AWS documents them.
const (
	entryInternalFailureCode    = "InternalFailure"
	entryInternalFailureMessage = "Internal Service Failure"
)

func (h *Handler) putRecords(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in putRecordsInput
	if err := c.decodePutRecords(body, &in); err != nil {
		return nil, err
	}
	var v validator
	if in.Records == nil {
		v.null("records")
	} else {
		v.count("records", in.count, func() string { return listOfEntries(in.count) }, 1, kinesis.MaxPutRecordsEntries)
		for i := range in.Records {
			if !entryValid(&in.Records[i], in.has[i]) {
				validateEntry(&v, "records."+strconv.Itoa(i+1)+".member.", &in.Records[i], in.has[i])
			}
		}
	}
	v.streamRefMembers(in.StreamName, in.StreamARN)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref, err := streamRef(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	if deref(in.DryRun) {
		return nil, invalidArgument("DryRun is not supported by this server yet.")
	}
	total := 0
	for i := range in.Records {
		e := &in.Records[i]
		if err := checkExplicitHashKey(e.ExplicitHashKey); err != nil {
			return nil, err
		}
		total += len(e.Data) + len(e.PartitionKey)
	}
	if total > kinesis.MaxPutRecordsBytes {
		return nil, invalidArgument("Records size exceeds %d MB limit", kinesis.MaxPutRecordsBytes>>20)
	}

	results, err := h.svc.PutRecords(ctx, ref, in.Records)
	if err != nil {
		return nil, err
	}
	if len(results) != len(in.Records) {
		return nil, fmt.Errorf("put records: service returned %d results for %d records", len(results), len(in.Records))
	}
	o := putRecordsOutput{Records: make([]putRecordsResultEntry, len(results)), EncryptionType: encryptionType("")}
	var firstInternal string
	for i, r := range results {
		if r.ErrorCode == "" {
			o.Records[i] = putRecordsResultEntry{SequenceNumber: r.SequenceNumber, ShardId: r.ShardID}
			if r.EncryptionType != "" {
				o.EncryptionType = r.EncryptionType
			}
			continue
		}
		o.FailedRecordCount++
		code, msg := string(r.ErrorCode), r.ErrorMessage
		if r.ErrorCode == kinesis.ErrInternalFailure && msg != kinesis.StorageFullMessage {
			if firstInternal == "" {
				firstInternal = msg
			}
			code, msg = entryInternalFailureCode, entryInternalFailureMessage
		}
		o.Records[i] = putRecordsResultEntry{ErrorCode: code, ErrorMessage: msg}
	}
	if firstInternal != "" {
		h.log.WarnContext(ctx, "put records: entries failed internally", "failed", o.FailedRecordCount, "first", firstInternal)
	}
	return c.encodePutRecords(out(), &o), nil
}

// entryValid is a quick model check of one record that builds no strings:
// validateEntry runs only for records that fail it.
func entryValid(e *kinesis.PutRecordEntry, has entryFields) bool {
	if has&(hasData|hasPartitionKey) != hasData|hasPartitionKey || len(e.Data) > maxDataBytes ||
		e.PartitionKey == "" || len(e.PartitionKey) > partitionKeyRule.max && javaLen(e.PartitionKey) > partitionKeyRule.max {
		return false
	}
	return has&hasExplicitHashKey == 0 || hashKeyRule.match(e.ExplicitHashKey)
}

// validateEntry checks one record against the model; prefix is the path of
// the entry ("records.3.member.").
func validateEntry(v *validator, prefix string, e *kinesis.PutRecordEntry, has entryFields) {
	if has&hasPartitionKey != 0 {
		v.strValue(prefix+"partitionKey", e.PartitionKey, partitionKeyRule)
	} else {
		v.null(prefix + "partitionKey")
	}
	if has&hasExplicitHashKey != 0 {
		v.strValue(prefix+"explicitHashKey", e.ExplicitHashKey, hashKeyRule)
	}
	v.blob(prefix+"data", e.Data, has&hasData != 0, true, maxDataBytes)
}

// listOfEntries is how a too short or too long Records list prints in a
// violation; AWS prints every entry's Java identity, this prints the first
// few.
func listOfEntries(n int) string {
	const shown = 3
	parts := make([]string, 0, shown+1)
	for i := 0; i < min(n, shown); i++ {
		parts = append(parts, "PutRecordsRequestEntry")
	}
	if n > shown {
		parts = append(parts, "... ("+strconv.Itoa(n)+" entries)")
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// checkExplicitHashKey checks that a validated (decimal) ExplicitHashKey is
// at most 2^128-1.
func checkExplicitHashKey(k string) error {
	if len(k) < 39 { // 2^128-1 has 39 digits
		return nil
	}
	if _, ok := kinesis.ParseHashKey(k); !ok {
		return invalidArgument("Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was %s", k)
	}
	return nil
}
