package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/internal/jetstream/natstest"
)

// startClusterPair starts a 3-node JetStream cluster (R3) and two
// `sluice serve` processes over it. It skips under -short and marks the
// test parallel. args go to both servers.
func startClusterPair(t *testing.T, args ...string) (a, b *server) {
	if testing.Short() {
		t.Skip("starts a 3-node JetStream cluster and two servers; skipped with -short")
	}
	t.Parallel()
	urls := strings.Join(natstest.StartCluster(t, 3), ",")
	args = append([]string{"--nats-url", urls, "--replicas", "3"}, args...)
	return startServer(t, args...), startServer(t, args...)
}

// TestCluster_TwoServersShareOneJetStreamCluster runs two stateless
// `sluice serve` processes over one 3-node JetStream cluster (R3): a stream
// created through one is served by both, records written through either
// are read through either, iterators move between them, and a delete
// through one is seen by the other.
func TestCluster_TwoServersShareOneJetStreamCluster(t *testing.T) {
	a, b := startClusterPair(t)
	ca, cb := a.Client(), b.Client()
	ctx := t.Context()
	name := "shared"

	createStream(t, ca, name, 2)
	waitActive(t, cb, name)
	if got := idsOf(listAllShards(t, cb, name)); !slices.Equal(got, shardIDs(2)) {
		t.Fatalf("server B lists shards %v", got)
	}

	// Alternate single puts between the servers with one partition key:
	// each acknowledged put is ordered after the one before it.
	var seqs []string
	want := map[string]string{} // sequence number -> data
	for i := range 20 {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		out := putRecord(t, c, name, "alternating", []byte(fmt.Sprint("alt-", i)))
		if len(seqs) > 0 && seqNum(t, *out.SequenceNumber).Cmp(seqNum(t, seqs[len(seqs)-1])) <= 0 {
			t.Errorf("put %d through server %c: sequence number %s not above the previous %s", i, "AB"[i%2], *out.SequenceNumber, seqs[len(seqs)-1])
		}
		seqs = append(seqs, *out.SequenceNumber)
		want[*out.SequenceNumber] = fmt.Sprint("alt-", i)
	}
	for _, c := range []*kinesis.Client{ca, cb} {
		prefix := "a"
		if c == cb {
			prefix = "b"
		}
		in := entries(prefix, 100)
		for i, r := range putRecords(t, c, name, in) {
			want[*r.SequenceNumber] = string(in[i].Data)
		}
	}

	// Read everything through B, then through A. Direct reads may be
	// answered by a follower a few milliseconds behind, so poll briefly.
	for _, srv := range []struct {
		name string
		c    *kinesis.Client
	}{{"B", cb}, {"A", ca}} {
		var got map[string]string
		deadline := time.Now().Add(10 * time.Second)
		for {
			got = map[string]string{}
			for _, id := range shardIDs(2) {
				recs := readShard(t, srv.c, name, id)
				checkOrdered(t, id, recs)
				for _, r := range recs {
					got[*r.SequenceNumber] = string(r.Data)
				}
			}
			if len(got) >= len(want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		missing := 0
		for seq, d := range want {
			if got[seq] != d {
				missing++
				if missing <= 5 {
					t.Errorf("through server %s: record %s is %q, want %q", srv.name, seq, got[seq], d)
				}
			}
		}
		if missing > 0 || len(got) != len(want) {
			t.Errorf("through server %s: read %d records, %d wrong or missing of %d written", srv.name, len(got), missing, len(want))
		}
	}

	// An iterator from A continues on B.
	it := iterator(t, ca, name, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon)
	out, err := cb.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(5)})
	if err != nil {
		t.Fatalf("server B refuses an iterator from server A: %v", err)
	}
	if len(out.Records) == 0 {
		t.Errorf("server B read nothing with an iterator from server A")
	}

	// Metadata changes through one server are seen by the other.
	if _, err := cb.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String(name), RetentionPeriodHours: aws.Int32(48)}); err != nil {
		t.Fatal(err)
	}
	sum, err := ca.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToInt32(sum.StreamDescriptionSummary.RetentionPeriodHours); got != 48 {
		t.Errorf("server A shows retention %d after server B raised it to 48", got)
	}
	_, err = cb.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)})
	wantTyped[*types.ResourceInUseException](t, err)

	if _, err := cb.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	kinesisWaitGone(t, ca, name)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = ca.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: []byte("after delete")})
		if err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantTyped[*types.ResourceNotFoundException](t, err)
}
