package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

func TestParseEpochSeconds(t *testing.T) {
	ms := func(n int64) time.Time { return time.UnixMilli(n).UTC() }
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "1459799926.48", want: ms(1459799926480)},
		{in: "1459799926", want: ms(1459799926000)},
		{in: "1.45979992648E9", want: ms(1459799926480)},
		{in: "1459799926480e-3", want: ms(1459799926480)},
		{in: "145979992.648E+1", want: ms(1459799926480)},
		{in: "0", want: time.Unix(0, 0).UTC()},
		{in: "-0.0", want: time.Unix(0, 0).UTC()},
		{in: "-1.5", want: ms(-1500)},
		{in: "0.000000001", want: time.Unix(0, 1).UTC()},
		{in: "0.0000000019", want: time.Unix(0, 1).UTC()},
		{in: "1e-999999999", want: time.Unix(0, 0).UTC()},
		{in: "0.000" + strings.Repeat("0", 5000) + "1e5000", want: time.Unix(0, 100_000).UTC()}, // 10^-5004 × 10^5000
		{in: "1e999999999", wantErr: true},
		{in: "1e100000000000000000000", wantErr: true},
		{in: "100000000001", wantErr: true},
		{in: "1e12", wantErr: true},
		{in: `"1459799926"`, wantErr: true},
		{in: "true", wantErr: true},
		{in: "-", wantErr: true},
		{in: "1.", wantErr: true},
		{in: ".5", wantErr: true},
		{in: "0x10", wantErr: true},
		{in: "1/2", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseEpochSeconds(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && !got.Equal(tt.want)) {
			t.Errorf("parseEpochSeconds(%.40q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestAppendEpochSeconds(t *testing.T) {
	tests := map[int64]string{ // epoch milliseconds → JSON
		1459799926480: "1459799926.48",
		1459799926000: "1459799926",
		1459799926001: "1459799926.001",
		1459799926100: "1459799926.1",
		0:             "0",
		-1500:         "-1.5",
	}
	for msec, want := range tests {
		if got := string(appendEpochSeconds(nil, time.UnixMilli(msec))); got != want {
			t.Errorf("appendEpochSeconds(%d ms) = %s, want %s", msec, got, want)
		}
	}
	// Sub-millisecond precision is dropped, never rounded up.
	if got := string(appendEpochSeconds(nil, time.Unix(1, 999_999_999))); got != "1.999" {
		t.Errorf("got %s", got)
	}
}

// sameJSON checks that got is valid JSON with the same value as want.
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	decode := func(b []byte) any {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("invalid JSON %s: %v", b, err)
		}
		return v
	}
	if !json.Valid(got) {
		t.Fatalf("invalid JSON: %s", got)
	}
	if g, w := decode(got), decode(want); !reflect.DeepEqual(g, w) {
		t.Errorf("JSON differs:\n got %s\nwant %s", got, want)
	}
}

func TestAppendGetRecordsJSON(t *testing.T) {
	full := kinesis.GetRecordsOutput{
		Records: []kinesis.Record{
			{SequenceNumber: "49592592288669974188510550010873737925033238827737546754", ApproximateArrivalTimestamp: time.UnixMilli(1459799926480),
				Data: []byte("hello"), PartitionKey: "pk"},
			{SequenceNumber: "2", ApproximateArrivalTimestamp: time.UnixMilli(1459799926000), Data: nil,
				PartitionKey: "a\"b\\c\n\t\x01\x1f<>&\u2028\u2029😀\xff/", EncryptionType: "KMS"},
			{SequenceNumber: "3", Data: bytes.Repeat([]byte{0xff, 0, 1}, 100)},
		},
		NextShardIterator:  "AAAAAAAAAAE+/==",
		MillisBehindLatest: 1234,
		ChildShards: []kinesis.ChildShard{
			{ShardID: "shardId-000000000002", ParentShards: []string{"shardId-000000000000", "shardId-000000000001"},
				HashRange: kinesis.HashRange{End: kinesis.MaxHashKey}},
			{ShardID: "shardId-000000000003", HashRange: kinesis.HashRange{Start: kinesis.HashKey{Lo: 5}, End: kinesis.HashKey{Lo: 9}}},
		},
	}
	for name, out := range map[string]kinesis.GetRecordsOutput{
		"full":       full,
		"empty":      {},
		"shard end":  {Records: full.Records[:1], ChildShards: full.ChildShards[:1]},
		"no records": {NextShardIterator: "it", MillisBehindLatest: 5},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(toWireGetRecords(&out))
			if err != nil {
				t.Fatal(err)
			}
			got := appendGetRecordsJSON([]byte("prefix"), &out)
			if !bytes.HasPrefix(got, []byte("prefix")) {
				t.Fatalf("dst not appended to")
			}
			sameJSON(t, got[len("prefix"):], want)
		})
	}
}

func TestAppendPutRecordsJSON(t *testing.T) {
	out := putRecordsOutput{
		FailedRecordCount: 2,
		Records: []putRecordsResultEntry{
			{SequenceNumber: "1", ShardId: "shardId-000000000000"},
			{ErrorCode: "ProvisionedThroughputExceededException", ErrorMessage: "Rate exceeded for \"s\"."},
			{ErrorCode: entryInternalFailureCode, ErrorMessage: entryInternalFailureMessage},
		},
		EncryptionType: "NONE",
	}
	want, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, appendPutRecordsJSON(nil, &out), want)
	empty := putRecordsOutput{Records: []putRecordsResultEntry{}, EncryptionType: "NONE"}
	want, _ = json.Marshal(empty)
	sameJSON(t, appendPutRecordsJSON(nil, &empty), want)
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "abc", "a\"b\\c\n\r\t\x00\x1f\x7f", "<>&", "\u2028\u2029", "😀", "\xff\xfe", "\xed\xa0\x80", "ü\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		want, _ := json.Marshal(s)
		var g, w string
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: %v", s, got, err)
		}
		_ = json.Unmarshal(want, &w)
		if g != w {
			t.Fatalf("appendJSONString(%q) reads back as %q, encoding/json's as %q", s, g, w)
		}
	})
}

func TestTimestampJSON(t *testing.T) {
	var v struct {
		T  Timestamp  `json:"T"`
		P  *Timestamp `json:"P"`
		Z  Timestamp  `json:"Z,omitzero"`
		Nl *Timestamp `json:"Nl"`
	}
	if err := json.Unmarshal([]byte(`{"T":1459799926.48,"P":1.45979992648E9,"Nl":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.T.UnixMilli() != 1459799926480 || v.P == nil || v.P.UnixMilli() != 1459799926480 || v.Nl != nil {
		t.Fatalf("decoded %+v", v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"T":1459799926.48,"P":1459799926.48,"Nl":null}` {
		t.Errorf("encoded %s", b)
	}
}
