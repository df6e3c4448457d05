package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/internal/jetstream/natstest"
)

// filesContaining lists the files under dir (recursively, raw bytes) that
// contain needle.
func filesContaining(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func randomMarker(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// waitStatus polls DescribeStreamSummary until the stream has status want.
func waitStatus(t *testing.T, c *kinesis.Client, name string, want types.StreamStatus) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if out.StreamDescriptionSummary.StreamStatus == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s still %s, want %s", name, out.StreamDescriptionSummary.StreamStatus, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEncryption_AtRest turns encryption on and off with the Go SDK and
// proves that records written while it was on are on disk only encrypted:
// a raw grep of the data directory finds a plain stream's payload but not
// the encrypted one's, before and after a restart.
func TestEncryption_AtRest(t *testing.T) {
	t.Parallel()
	const delay = 2 * time.Second
	s := startServer(t, "--update-stream-delay", delay.String())
	c := s.Client()
	ctx := t.Context()
	enc, plain := streamName(t)+"-enc", streamName(t)+"-plain"
	createStream(t, c, enc, 1)
	createStream(t, c, plain, 1)
	secret := randomMarker("sluice-secret-")
	visible := randomMarker("sluice-visible-")

	if out := putRecord(t, c, enc, "k", []byte("before")); out.EncryptionType != types.EncryptionTypeNone {
		t.Fatalf("put before encryption: EncryptionType %q", out.EncryptionType)
	}
	started := time.Now()
	if _, err := c.StartStreamEncryption(ctx, &kinesis.StartStreamEncryptionInput{
		StreamName: aws.String(enc), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis"),
	}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(enc)})
	if err != nil {
		t.Fatal(err)
	}
	sd := d.StreamDescription
	if sd.StreamStatus != types.StreamStatusUpdating && time.Since(started) < delay {
		t.Errorf("status %s right after StartStreamEncryption, want UPDATING", sd.StreamStatus)
	}
	if sd.EncryptionType != types.EncryptionTypeKms || aws.ToString(sd.KeyId) != "alias/aws/kinesis" {
		t.Errorf("DescribeStream: EncryptionType %q KeyId %q", sd.EncryptionType, aws.ToString(sd.KeyId))
	}
	// Writes work while UPDATING, and are encrypted.
	if out := putRecord(t, c, enc, "k", []byte(secret+"-0")); out.EncryptionType != types.EncryptionTypeKms {
		t.Errorf("PutRecord while encrypted: EncryptionType %q", out.EncryptionType)
	}
	pr, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(enc), Records: []types.PutRecordsRequestEntry{
		{PartitionKey: aws.String("k"), Data: []byte(secret + "-1")},
		{PartitionKey: aws.String("k"), Data: []byte(secret + "-2")},
	}})
	if err != nil || aws.ToInt32(pr.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords: %v", err)
	}
	if pr.EncryptionType != types.EncryptionTypeKms {
		t.Errorf("PutRecords while encrypted: EncryptionType %q", pr.EncryptionType)
	}
	waitStatus(t, c, enc, types.StreamStatusActive)
	sum, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(enc)})
	if err != nil {
		t.Fatal(err)
	}
	if sum.StreamDescriptionSummary.EncryptionType != types.EncryptionTypeKms || aws.ToString(sum.StreamDescriptionSummary.KeyId) != "alias/aws/kinesis" {
		t.Errorf("DescribeStreamSummary: %q %q", sum.StreamDescriptionSummary.EncryptionType, aws.ToString(sum.StreamDescriptionSummary.KeyId))
	}
	if _, err := c.StopStreamEncryption(ctx, &kinesis.StopStreamEncryptionInput{
		StreamName: aws.String(enc), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis"),
	}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, enc, types.StreamStatusActive)
	if out := putRecord(t, c, enc, "k", []byte("after")); out.EncryptionType != types.EncryptionTypeNone {
		t.Errorf("put after StopStreamEncryption: EncryptionType %q", out.EncryptionType)
	}
	putRecord(t, c, plain, "k", []byte(visible))

	check := func(when string) {
		t.Helper()
		recs := readShard(t, c, enc, "shardId-000000000000")
		want := []struct {
			data string
			enc  types.EncryptionType
		}{{"before", types.EncryptionTypeNone}, {secret + "-0", types.EncryptionTypeKms}, {secret + "-1", types.EncryptionTypeKms},
			{secret + "-2", types.EncryptionTypeKms}, {"after", types.EncryptionTypeNone}}
		if len(recs) != len(want) {
			t.Fatalf("%s: read %d records, want %d", when, len(recs), len(want))
		}
		for i, w := range want {
			if string(recs[i].Data) != w.data || recs[i].EncryptionType != w.enc {
				t.Errorf("%s: record %d: %q %q, want %q %q", when, i, recs[i].Data, recs[i].EncryptionType, w.data, w.enc)
			}
		}
	}
	check("before restart")

	// Stopped, so that everything is on disk and nothing is in flight.
	s.Stop()
	if hits := filesContaining(t, s.dataDir, []byte(secret)); len(hits) > 0 {
		t.Errorf("plaintext of encrypted records found in %v", hits)
	}
	if hits := filesContaining(t, s.dataDir, []byte(visible)); len(hits) == 0 {
		t.Error("the plain stream's payload is not found in the data directory: the grep proves nothing")
	}
	s.Start()
	check("after restart")

	// Enhanced fan-out delivers the same records, decrypted and marked.
	fc := fanOutClient(s, true)
	es := mustSubscribe(t, fc, registerConsumer(t, fc, enc, "efo"), "shardId-000000000000", trimHorizon())
	var kinds []types.EncryptionType
	for len(kinds) < 5 {
		ev := nextEvent(t, es)
		if ev == nil {
			t.Fatalf("feed ended after %d records: %v", len(kinds), es.Err())
		}
		for _, r := range ev.Records {
			if r.EncryptionType == types.EncryptionTypeKms && !strings.HasPrefix(string(r.Data), secret) {
				t.Errorf("SubscribeToShard: KMS record %q", r.Data)
			}
			kinds = append(kinds, r.EncryptionType)
		}
	}
	if want := []types.EncryptionType{"NONE", "KMS", "KMS", "KMS", "NONE"}; !slices.Equal(kinds, want) {
		t.Errorf("SubscribeToShard: EncryptionTypes %v, want %v", kinds, want)
	}
}

// TestEncryption_Errors checks the answers to bad encryption requests, and
// that a key made by `sluice keys create` on a running server's keyring
// can be used at once.
func TestEncryption_Errors(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client()
	ctx := t.Context()
	name := streamName(t)
	createStream(t, c, name, 1)
	start := func(typ types.EncryptionType, key string) error {
		_, err := c.StartStreamEncryption(ctx, &kinesis.StartStreamEncryptionInput{StreamName: aws.String(name), EncryptionType: typ, KeyId: aws.String(key)})
		return err
	}

	e := wantTyped[*types.KMSNotFoundException](t, start(types.EncryptionTypeKms, "alias/nope"))
	if want := "Alias arn:aws:kms:us-east-1:000000000000:alias/nope is not found."; e.ErrorMessage() != want {
		t.Errorf("message %q, want %q", e.ErrorMessage(), want)
	}
	wantTyped[*types.KMSNotFoundException](t, start(types.EncryptionTypeKms, "arn:aws:kms:us-east-1:000000000000:key/11111111-2222-4333-8444-555555555555"))
	wantTyped[*types.InvalidArgumentException](t, start(types.EncryptionTypeNone, "alias/aws/kinesis"))
	wantError(t, start("AES", "alias/aws/kinesis"), "ValidationException")
	_, err := c.StartStreamEncryption(ctx, &kinesis.StartStreamEncryptionInput{StreamName: aws.String("absent"), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")})
	wantTyped[*types.ResourceNotFoundException](t, err)
	_, err = c.StopStreamEncryption(ctx, &kinesis.StopStreamEncryptionInput{StreamName: aws.String(name), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/nope")})
	wantTyped[*types.KMSNotFoundException](t, err)

	out, err := exec.Command(sluiceBin, "keys", "create", "--data-dir", s.dataDir, "--alias", "alias/e2e").CombinedOutput()
	if err != nil {
		t.Fatalf("sluice keys create: %v\n%s", err, out)
	}
	keyID := strings.TrimSpace(string(out))
	for _, id := range []string{"alias/e2e", "arn:aws:kms:us-east-1:000000000000:key/" + keyID} {
		if err := start(types.EncryptionTypeKms, id); err != nil {
			t.Fatalf("start with %s: %v", id, err)
		}
	}
	if got := putRecord(t, c, name, "k", []byte("x")); got.EncryptionType != types.EncryptionTypeKms {
		t.Errorf("EncryptionType %q", got.EncryptionType)
	}
	list, err := exec.Command(sluiceBin, "keys", "list", "--data-dir", s.dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(list), keyID) || !strings.Contains(string(list), "alias/aws/kinesis") {
		t.Errorf("sluice keys list: %v\n%s", err, list)
	}
}

// TestEncryption_CBOR turns encryption on and reads records back as the
// Java SDK does, in CBOR.
func TestEncryption_CBOR(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	name := streamName(t)
	createStream(t, s.Client(), name, 1)
	if status, typ, msg := s.postCBOR(t, "StartStreamEncryption", map[string]any{"StreamName": name, "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}, nil); status != 200 {
		t.Fatalf("StartStreamEncryption: %d %s %s", status, typ, msg)
	}
	var put struct{ ShardId, SequenceNumber, EncryptionType string }
	if status, typ, msg := s.postCBOR(t, "PutRecord", map[string]any{"StreamName": name, "Data": []byte("cbor secret"), "PartitionKey": "k"}, &put); status != 200 {
		t.Fatalf("PutRecord: %d %s %s", status, typ, msg)
	}
	if put.EncryptionType != "KMS" {
		t.Errorf("PutRecord: EncryptionType %q", put.EncryptionType)
	}
	var it struct{ ShardIterator string }
	s.postCBOR(t, "GetShardIterator", map[string]any{"StreamName": name, "ShardId": put.ShardId, "ShardIteratorType": "TRIM_HORIZON"}, &it)
	var got struct {
		Records []struct {
			Data           []byte
			EncryptionType string
		}
	}
	if status, typ, msg := s.postCBOR(t, "GetRecords", map[string]any{"ShardIterator": it.ShardIterator}, &got); status != 200 {
		t.Fatalf("GetRecords: %d %s %s", status, typ, msg)
	}
	if len(got.Records) != 1 || string(got.Records[0].Data) != "cbor secret" || got.Records[0].EncryptionType != "KMS" {
		t.Errorf("GetRecords: %+v", got.Records)
	}
	if status, typ, _ := s.postCBOR(t, "StopStreamEncryption", map[string]any{"StreamName": name, "EncryptionType": "KMS", "KeyId": "alias/gone"}, nil); status != 400 || typ != "KMSNotFoundException" {
		t.Errorf("StopStreamEncryption with an unknown key: %d %s", status, typ)
	}
}

// TestEncryption_Cluster: servers of one JetStream cluster that share a
// keyring file read each other's encrypted records; a server with a
// keyring of its own refuses them with KMSNotFoundException rather than
// returning anything.
func TestEncryption_Cluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node JetStream cluster and three servers; skipped with -short")
	}
	t.Parallel()
	shared := filepath.Join(t.TempDir(), "keyring.json")
	if out, err := exec.Command(sluiceBin, "keys", "create", "--keyring", shared, "--alias", "alias/cluster").CombinedOutput(); err != nil {
		t.Fatalf("sluice keys create: %v\n%s", err, out)
	}
	urls := strings.Join(natstest.StartCluster(t, 3), ",")
	a := startServer(t, "--nats-url", urls, "--replicas", "3", "--keyring", shared)
	b := startServer(t, "--nats-url", urls, "--replicas", "3", "--keyring", shared)
	alone := startServer(t, "--nats-url", urls, "--replicas", "3") // creates its own keyring
	ca, cb := a.Client(), b.Client()
	name := streamName(t)
	createStream(t, ca, name, 1)
	if _, err := ca.StartStreamEncryption(t.Context(), &kinesis.StartStreamEncryptionInput{
		StreamName: aws.String(name), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/cluster"),
	}); err != nil {
		t.Fatal(err)
	}
	secret := randomMarker("cluster-secret-")
	if out := putRecord(t, ca, name, "k", []byte(secret)); out.EncryptionType != types.EncryptionTypeKms {
		t.Fatalf("EncryptionType %q", out.EncryptionType)
	}
	// Direct reads may be answered by a follower a moment behind.
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs := readShard(t, cb, name, "shardId-000000000000")
		if len(recs) == 1 {
			if string(recs[0].Data) != secret || recs[0].EncryptionType != types.EncryptionTypeKms {
				t.Fatalf("server B read %q %q", recs[0].Data, recs[0].EncryptionType)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server B reads %d records, want 1", len(recs))
		}
		time.Sleep(200 * time.Millisecond)
	}
	c := alone.Client()
	it := iterator(t, c, name, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon)
	_, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
	wantTyped[*types.KMSNotFoundException](t, err)
	_, err = c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: []byte("x")})
	wantTyped[*types.KMSNotFoundException](t, err)
}
