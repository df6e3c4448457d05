package consumer

import (
	"crypto/md5"
	"fmt"
	"log/slog"
	"math/big"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicehq/sluice/deaggregate"
)

// kplAggregate encodes user records (partition key, data) as the KPL does.
func kplAggregate(users ...[2]string) []byte {
	var msg []byte
	index := map[string]uint64{}
	for _, u := range users {
		if _, ok := index[u[0]]; !ok {
			index[u[0]] = uint64(len(index))
			msg = protowire.AppendTag(msg, 1, protowire.BytesType)
			msg = protowire.AppendString(msg, u[0])
		}
	}
	for _, u := range users {
		var r []byte
		r = protowire.AppendTag(r, 1, protowire.VarintType)
		r = protowire.AppendVarint(r, index[u[0]])
		r = protowire.AppendTag(r, 3, protowire.BytesType)
		r = protowire.AppendString(r, u[1])
		msg = protowire.AppendTag(msg, 3, protowire.BytesType)
		msg = protowire.AppendBytes(msg, r)
	}
	sum := md5.Sum(msg)
	return append(append(append([]byte{}, deaggregate.Magic...), msg...), sum[:]...)
}

// TestDeaggregateRecords checks the records made with shared pointers
// against the user records deaggregate returns, field by field.
func TestDeaggregateRecords(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123).UTC()
	half := new(big.Int).Lsh(big.NewInt(1), 127)
	lowEnd := new(big.Int).Sub(half, big.NewInt(1)).String()
	var low, high []string // partition keys hashing into each half
	for i := 0; len(low) < 3 || len(high) < 3; i++ {
		k := fmt.Sprint("key-", i)
		if sum := md5.Sum([]byte(k)); sum[0] < 0x80 {
			low = append(low, k)
		} else {
			high = append(high, k)
		}
	}
	raw := []types.Record{
		{SequenceNumber: aws.String("1"), PartitionKey: aws.String("p1"), Data: []byte("plain"), ApproximateArrivalTimestamp: aws.Time(at)},
		{SequenceNumber: aws.String("2"), PartitionKey: aws.String(low[0]), Data: kplAggregate([2]string{low[0], "a"}, [2]string{low[1], "b"}, [2]string{low[0], "c"}), ApproximateArrivalTimestamp: aws.Time(at)},
		{SequenceNumber: aws.String("3"), PartitionKey: aws.String(low[0]), Data: kplAggregate([2]string{low[2], "out"}, [2]string{high[0], "of range"})},
		{SequenceNumber: aws.String("4"), Data: []byte("no key, no time"), EncryptionType: types.EncryptionTypeKms},
		{SequenceNumber: aws.String("5"), PartitionKey: aws.String(high[1]), Data: kplAggregate([2]string{high[1], "d"}), ApproximateArrivalTimestamp: aws.Time(time.Time{})},
		{PartitionKey: aws.String("p6"), Data: []byte("no sequence number")},
		{SequenceNumber: aws.String("7"), PartitionKey: aws.String("p7"), Data: append(append([]byte{}, deaggregate.Magic...), "not an aggregate: bad digest.........."...)},
	}
	for _, rng := range [][2]string{{"", ""}, {"0", lowEnd}, {new(big.Int).Add(half, big.NewInt(0)).String(), "340282366920938463463374607431768211455"}, {"0", "340282366920938463463374607431768211455"}} {
		t.Run(rng[0]+"-"+rng[1], func(t *testing.T) {
			want, err := deaggregate.Records(raw)
			if rng[0] != "" {
				want, err = deaggregate.RecordsInRange(raw, rng[0], rng[1])
			}
			if err != nil {
				t.Fatal(err)
			}
			got := deaggregateRecords(raw, rng[0], rng[1], slog.Default())
			if len(got) != len(want) {
				t.Fatalf("%d records, want %d", len(got), len(want))
			}
			for i, w := range want {
				g := got[i]
				var gotAt time.Time
				if g.ApproximateArrivalTimestamp != nil {
					gotAt = *g.ApproximateArrivalTimestamp
					if gotAt.IsZero() {
						t.Errorf("record %d: a zero arrival time, not nil", i)
					}
				}
				if g.SequenceNumber == nil || g.PartitionKey == nil {
					t.Fatalf("record %d: nil sequence number or partition key", i)
				}
				if *g.SequenceNumber != w.SequenceNumber || g.SubSequenceNumber != w.SubSequenceNumber || *g.PartitionKey != w.PartitionKey ||
					string(g.Data) != string(w.Data) || !gotAt.Equal(w.ApproximateArrivalTimestamp) || g.EncryptionType != w.EncryptionType ||
					g.Aggregated != w.Aggregated || g.ExplicitHashKey != w.ExplicitHashKey {
					t.Errorf("record %d: got %s/%d key %q data %q at %v enc %q agg %v, want %s/%d key %q data %q at %v enc %q agg %v", i,
						*g.SequenceNumber, g.SubSequenceNumber, *g.PartitionKey, g.Data, gotAt, g.EncryptionType, g.Aggregated,
						w.SequenceNumber, w.SubSequenceNumber, w.PartitionKey, w.Data, w.ApproximateArrivalTimestamp, w.EncryptionType, w.Aggregated)
				}
			}
			// Partition keys of user records are their own variables.
			for i := range got {
				for j := range i {
					if got[i].Aggregated && got[i].PartitionKey == got[j].PartitionKey {
						t.Errorf("records %d and %d share a partition key variable", j, i)
					}
				}
			}
		})
	}
}
