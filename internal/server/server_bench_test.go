package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice/internal/jetstream"
	"github.com/sluicehq/sluice/internal/server"
)

// BenchmarkServer measures PutRecords (500 records of 100 bytes, one
// shard) and GetRecords (up to 500 records) through the whole handler of a
// real server, store included: what an API request costs without the
// network.
func BenchmarkServer(b *testing.B) {
	srv, err := server.Open(context.Background(), server.Config{Store: jetstream.Config{DataDir: b.TempDir()}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	h := srv.Handler()
	call := func(op string, body any) *httptest.ResponseRecorder {
		data, _ := json.Marshal(body)
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(data))
		r.Header.Set("X-Amz-Target", "Kinesis_20131202."+op)
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=00")
		r.Header.Set("X-Amz-Date", "20260101T000000Z")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", op, w.Code, w.Body)
		}
		return w
	}
	call("CreateStream", map[string]any{"StreamName": "bench", "ShardCount": 1})
	type entry struct{ PartitionKey, Data string }
	records := make([]entry, 500)
	for i := range records {
		records[i] = entry{fmt.Sprint("pk-", i), "ZGF0YWRhdGFkYXRhZGF0YWRhdGFkYXRhZGF0YWRhdGFkYXRhZGF0YWRhdGFkYXRhZGF0YWRhdGFkYXRhZGF0YWRhdGFkYXRhZGF0YWRhdGFkYXRhZGF0YWRhdGFkYXRh"}
	}
	put := map[string]any{"StreamName": "bench", "Records": records}
	b.Run("PutRecords", func(b *testing.B) {
		for b.Loop() {
			call("PutRecords", put)
		}
	})
	var it struct{ ShardIterator string }
	json.Unmarshal(call("GetShardIterator", map[string]any{"StreamName": "bench", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"}).Body.Bytes(), &it)
	b.Run("GetRecords", func(b *testing.B) {
		for b.Loop() {
			call("GetRecords", map[string]any{"ShardIterator": it.ShardIterator, "Limit": 500})
		}
	})
}
