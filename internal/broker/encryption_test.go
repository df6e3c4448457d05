package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/keyring"
	"github.com/sluicehq/sluice/internal/kinesis"
)

func wantKMSCode(t *testing.T, err error, code kinesis.ErrorCode, msgPart string) {
	t.Helper()
	var e *kinesis.Error
	if !errors.As(err, &e) || e.Code != code || !strings.Contains(e.Message, msgPart) {
		t.Fatalf("got %v, want %s containing %q", err, code, msgPart)
	}
}

func putData(t *testing.T, b *Broker, stream string, data ...string) []kinesis.PutRecordResult {
	t.Helper()
	entries := make([]kinesis.PutRecordEntry, len(data))
	for i, d := range data {
		entries[i] = kinesis.PutRecordEntry{PartitionKey: "k", Data: []byte(d)}
	}
	res, err := b.PutRecords(context.Background(), kinesis.StreamRef{Name: stream}, entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.ErrorCode != "" {
			t.Fatalf("put: %s: %s", r.ErrorCode, r.ErrorMessage)
		}
	}
	return res
}

func TestBroker_StreamEncryption(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	if r := putData(t, b, "s", "plain-before"); r[0].EncryptionType != "" {
		t.Fatalf("put before encryption reports %q", r[0].EncryptionType)
	}
	if err := b.StartStreamEncryption(ctx, ref, kinesis.EncryptionKMS, "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	d, err := b.DescribeStream(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if d.EncryptionType != kinesis.EncryptionKMS || d.KeyID != "alias/aws/kinesis" || d.Status != kinesis.StatusActive {
		t.Fatalf("after start: encryption %q key %q status %s", d.EncryptionType, d.KeyID, d.Status)
	}
	for _, r := range putData(t, b, "s", "SECRET-one", "SECRET-two") {
		if r.EncryptionType != kinesis.EncryptionKMS {
			t.Fatalf("put while encrypted reports %q", r.EncryptionType)
		}
	}
	if err := b.StopStreamEncryption(ctx, ref, kinesis.EncryptionKMS, "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	if d, _ := b.DescribeStream(ctx, ref); d.EncryptionType != "" || d.KeyID != "" {
		t.Fatalf("after stop: encryption %q key %q", d.EncryptionType, d.KeyID)
	}
	putData(t, b, "s", "plain-after")

	// One read spans plain, sealed and plain messages.
	got := readAll(t, b, "s", kinesis.ShardID(0))
	want := []struct{ data, enc string }{{"plain-before", ""}, {"SECRET-one", "KMS"}, {"SECRET-two", "KMS"}, {"plain-after", ""}}
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		if string(got[i].Data) != w.data || got[i].EncryptionType != w.enc || got[i].PartitionKey != "k" {
			t.Errorf("record %d: %q %q %q, want %q %q", i, got[i].Data, got[i].EncryptionType, got[i].PartitionKey, w.data, w.enc)
		}
	}

	// The log holds the sealed message without its plaintext.
	cur, _ := d.CurrentLog()
	msgs, err := b.log.Read(ctx, logName(cur.Epoch), 1, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 {
		t.Fatalf("log holds %d messages, want 3", len(msgs))
	}
	if msgs[1].Data[0] != logMsgVersionSealed || bytes.Contains(msgs[1].Data, []byte("SECRET")) {
		t.Errorf("sealed message: version %d, holds plaintext: %v", msgs[1].Data[0], bytes.Contains(msgs[1].Data, []byte("SECRET")))
	}
	if !bytes.Contains(msgs[0].Data, []byte("plain-before")) {
		t.Error("plain message does not hold its data")
	}
}

func TestBroker_StreamEncryptionErrors(t *testing.T) {
	kr, _, err := keyring.Open(filepath.Join(t.TempDir(), "keyring.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	mine, err := kr.Create("alias/mine")
	if err != nil {
		t.Fatal(err)
	}
	b := openBroker(t, Config{Keyring: kr, AccountID: "123456789012", Region: "eu-west-1"})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	start := func(typ, key string) error { return b.StartStreamEncryption(ctx, ref, typ, key) }

	wantKMSCode(t, start(kinesis.EncryptionKMS, "alias/nope"), kinesis.ErrKMSNotFound, "Alias arn:aws:kms:eu-west-1:123456789012:alias/nope is not found.")
	wantKMSCode(t, start(kinesis.EncryptionKMS, "11111111-2222-4333-8444-555555555555"), kinesis.ErrKMSNotFound,
		"Key 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-4333-8444-555555555555' does not exist")
	wantKMSCode(t, start(kinesis.EncryptionKMS, "not a key"), kinesis.ErrKMSNotFound, "Invalid keyId 'not a key'")
	wantKMSCode(t, start(kinesis.EncryptionKMS, "arn:aws:kms:us-east-1:123456789012:alias/mine"), kinesis.ErrKMSNotFound, "is not found") // another region
	wantKMSCode(t, start(kinesis.EncryptionNone, "alias/mine"), kinesis.ErrInvalidArgument, "the only valid value is KMS")
	wantKMSCode(t, b.StartStreamEncryption(ctx, kinesis.StreamRef{Name: "nope"}, kinesis.EncryptionKMS, "alias/mine"), kinesis.ErrResourceNotFound, "Stream nope")
	wantKMSCode(t, b.StopStreamEncryption(ctx, ref, kinesis.EncryptionKMS, "alias/nope"), kinesis.ErrKMSNotFound, "is not found")

	// Every form of KeyId names the key.
	for _, id := range []string{"alias/mine", mine, "arn:aws:kms:eu-west-1:123456789012:key/" + mine, "arn:aws:kms:eu-west-1:123456789012:alias/mine"} {
		if err := start(kinesis.EncryptionKMS, id); err != nil {
			t.Fatalf("start with %s: %v", id, err)
		}
		if d, _ := b.DescribeStream(ctx, ref); d.KeyID != id {
			t.Fatalf("KeyId shown %q, want %q as given", d.KeyID, id)
		}
	}
	if r := putData(t, b, "s", "x"); r[0].EncryptionType != kinesis.EncryptionKMS {
		t.Fatal("not encrypted")
	}
	if got := readAll(t, b, "s", kinesis.ShardID(0)); len(got) != 1 || string(got[0].Data) != "x" {
		t.Fatalf("read %v", got)
	}
}

func TestBroker_StreamEncryptionUpdating(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	b := openBroker(t, Config{Now: clock, UpdateDelay: time.Second})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	if err := b.StartStreamEncryption(ctx, ref, kinesis.EncryptionKMS, "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	if d, _ := b.DescribeStream(ctx, ref); d.Status != kinesis.StatusUpdating {
		t.Fatalf("status %s right after start, want UPDATING", d.Status)
	}
	// Writes and reads go on while UPDATING; control changes wait.
	putData(t, b, "s", "during")
	wantKMSCode(t, b.StopStreamEncryption(ctx, ref, kinesis.EncryptionKMS, "alias/aws/kinesis"), kinesis.ErrResourceInUse, "not ACTIVE, instead in state UPDATING")
	advance(time.Second)
	if d, _ := b.DescribeStream(ctx, ref); d.Status != kinesis.StatusActive {
		t.Fatalf("status %s after the delay, want ACTIVE", d.Status)
	}
	if err := b.StopStreamEncryption(ctx, ref, kinesis.EncryptionKMS, "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, b, "s", kinesis.ShardID(0)); len(got) != 1 || got[0].EncryptionType != kinesis.EncryptionKMS {
		t.Fatalf("read %v", got)
	}
}

// TestBroker_StreamEncryptionAcrossBrokers: brokers sharing a keyring read
// each other's records, also under a data key a broker's cache has not
// seen yet; a broker without the key answers KMSNotFoundException.
func TestBroker_StreamEncryptionAcrossBrokers(t *testing.T) {
	kr := keyring.New()
	bs := openBrokers(t, 2, Config{Keyring: kr})
	ctx := context.Background()
	ref := kinesis.StreamRef{Name: "s"}
	if err := bs[0].CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	readAll(t, bs[1], "s", kinesis.ShardID(0)) // caches the stream, unencrypted
	if err := bs[0].StartStreamEncryption(ctx, ref, kinesis.EncryptionKMS, "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	putData(t, bs[0], "s", "shared")
	got := readAll(t, bs[1], "s", kinesis.ShardID(0))
	if len(got) != 1 || string(got[0].Data) != "shared" || got[0].EncryptionType != kinesis.EncryptionKMS {
		t.Fatalf("other broker read %v", got)
	}

	other, err := New(ctx, bs[0].log, bs[0].meta, Config{}) // a keyring of its own
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	it, err := other.GetShardIterator(ctx, kinesis.GetShardIteratorInput{Stream: ref, ShardID: kinesis.ShardID(0), Type: kinesis.TrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.GetRecords(ctx, it, 10)
	wantKMSCode(t, err, kinesis.ErrKMSNotFound, "does not hold the key")
	_, err = other.PutRecords(ctx, ref, []kinesis.PutRecordEntry{{PartitionKey: "k", Data: []byte("x")}})
	wantKMSCode(t, err, kinesis.ErrKMSNotFound, "does not hold the key")
}

// TestSealedMessage_Bound: a sealed message opens only for its stream and
// shard, and not once changed.
func TestSealedMessage_Bound(t *testing.T) {
	b := openBroker(t, Config{})
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: n, ShardCount: 1}); err != nil {
			t.Fatal(err)
		}
		if err := b.StartStreamEncryption(ctx, kinesis.StreamRef{Name: n}, kinesis.EncryptionKMS, "alias/aws/kinesis"); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := b.stream(ctx, "a")
	other, _ := b.stream(ctx, "b")
	c, err := b.writeCipher(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	seal := func() []byte {
		msg := binary.AppendUvarint(c.appendSealedHeader(nil, time.UnixMilli(1234)), 1)
		msg = appendBatchRecords(msg, []packedRecord{{PartitionKey: "pk", Data: []byte("hello")}})
		return c.seal(msg, 7)
	}
	br, sealed, err := b.openBatch(ctx, a, 7, seal())
	if err != nil || !sealed || br.count != 1 || br.arrival.UnixMilli() != 1234 {
		t.Fatalf("open: %v sealed %v count %d", err, sealed, br.count)
	}
	if pk, data, err := br.next(); err != nil || string(pk) != "pk" || string(data) != "hello" {
		t.Fatalf("record %q %q %v", pk, data, err)
	}
	if _, _, err := b.openBatch(ctx, a, 8, seal()); kinesis.CodeOf(err) != kinesis.ErrKMSInvalidState {
		t.Errorf("opened in another shard: %v", err)
	}
	// Stream b has a data key 1 of its own, which does not open a's message.
	if _, _, err := b.openBatch(ctx, other, 7, seal()); kinesis.CodeOf(err) != kinesis.ErrKMSInvalidState {
		t.Errorf("opened in another stream: %v", err)
	}
	for _, i := range []int{3, 13, 20, sealedHeaderSize + 1} { // arrival, key id, nonce, ciphertext
		msg := seal()
		msg[i] ^= 1
		if _, _, err := b.openBatch(ctx, a, 7, msg); err == nil {
			t.Errorf("opened with byte %d changed", i)
		}
	}
}

// FuzzOpenBatch: no stored message, sealed or not, makes the reader panic
// or return records past the message.
func FuzzOpenBatch(f *testing.F) {
	b := openBroker(f, Config{})
	ctx := context.Background()
	if err := b.CreateStream(ctx, kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		f.Fatal(err)
	}
	if err := b.StartStreamEncryption(ctx, kinesis.StreamRef{Name: "s"}, kinesis.EncryptionKMS, "alias/aws/kinesis"); err != nil {
		f.Fatal(err)
	}
	s, _ := b.stream(ctx, "s")
	c, err := b.writeCipher(ctx, s)
	if err != nil {
		f.Fatal(err)
	}
	recs := []packedRecord{{PartitionKey: "pk", Data: []byte("hello")}, {PartitionKey: "k2", Data: nil}}
	sealed := binary.AppendUvarint(c.appendSealedHeader(nil, time.UnixMilli(1)), uint64(len(recs)))
	f.Add(c.seal(appendBatchRecords(sealed, recs), 1))
	f.Add(appendBatchRecords(appendBatchHeader(nil, time.UnixMilli(1), len(recs)), recs))
	f.Add([]byte{batchVersionSealed, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, msg []byte) {
		n := len(msg)
		br, _, err := b.openBatch(ctx, s, 1, slices.Clone(msg))
		if err != nil {
			return
		}
		total := 0
		for range br.count {
			pk, data, err := br.next()
			if err != nil {
				return
			}
			total += len(pk) + len(data)
		}
		if total > n {
			t.Fatalf("records of %d bytes from a message of %d", total, n)
		}
	})
}
