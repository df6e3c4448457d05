package consumer

import (
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/deaggregate"
)

// deaggregateRecords turns Kinesis records into user records: KPL
// aggregates are expanded, and their user records whose hash key lies
// outside the shard's range dropped (they belong to a sibling after a
// split, which delivers them too). Without a known range, nothing is
// dropped.
//
// A plain record keeps the pointers the read gave it; the user records of
// an aggregate share the aggregate's sequence number and arrival time, and
// their partition keys are allocated once for the batch: a batch costs a
// few allocations, not three per record.
func deaggregateRecords(raw []types.Record, startingHashKey, endingHashKey string, log *slog.Logger) []Record {
	var users []deaggregate.Record
	var err error
	if startingHashKey != "" && endingHashKey != "" {
		users, err = deaggregate.RecordsInRange(raw, startingHashKey, endingHashKey)
		if err != nil {
			log.Warn("lease has an invalid hash range; records are not filtered by it", "err", err)
		}
	}
	if users == nil {
		users, _ = deaggregate.Records(raw)
	}
	aggregated := 0
	for i := range users {
		if users[i].Aggregated {
			aggregated++
		}
	}
	keys := make([]string, aggregated)
	out := make([]Record, len(users))
	// raw[j] is the read record users[i] came from. Both are in order, a
	// record's users follow one another, and only whole aggregates are
	// left out; sequence numbers tell records apart.
	j, next := 0, 0
	for i := range users {
		u := &users[i]
		if !u.Aggregated || u.SubSequenceNumber == 0 {
			for j = next; j < len(raw) && aws.ToString(raw[j].SequenceNumber) != u.SequenceNumber; j++ {
			}
			next = j + 1
		}
		if j >= len(raw) { // not expected; the record from its own fields
			out[i] = userRecord(u, aws.String(u.SequenceNumber), arrivalOf(u.ApproximateArrivalTimestamp), aws.String(u.PartitionKey))
			continue
		}
		r := &raw[j]
		seq, at := r.SequenceNumber, r.ApproximateArrivalTimestamp
		if seq == nil {
			seq = aws.String("")
		}
		if at != nil && at.IsZero() {
			at = nil
		}
		if !u.Aggregated {
			pk := r.PartitionKey
			if pk == nil {
				pk = aws.String("")
			}
			out[i] = userRecord(u, seq, at, pk)
			continue
		}
		k := &keys[len(keys)-aggregated]
		aggregated--
		*k = u.PartitionKey
		out[i] = userRecord(u, seq, at, k)
	}
	return out
}

func userRecord(u *deaggregate.Record, seq *string, at *time.Time, pk *string) Record {
	return Record{
		Record: types.Record{
			Data:                        u.Data,
			PartitionKey:                pk,
			SequenceNumber:              seq,
			ApproximateArrivalTimestamp: at,
			EncryptionType:              u.EncryptionType,
		},
		SubSequenceNumber: u.SubSequenceNumber,
		ExplicitHashKey:   u.ExplicitHashKey,
		Aggregated:        u.Aggregated,
	}
}

func arrivalOf(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return aws.Time(t)
}
