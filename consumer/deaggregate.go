package consumer

import (
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/deaggregate"
)

// deaggregateRecords turns Kinesis records into user records: KPL
// aggregates are expanded, and their user records whose hash key lies
// outside the shard's range dropped (they belong to a sibling after a
// split, which delivers them too). Without a known range, nothing is
// dropped.
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
	out := make([]Record, len(users))
	for i := range users {
		u := &users[i]
		out[i] = Record{
			Record: types.Record{
				Data:           u.Data,
				PartitionKey:   aws.String(u.PartitionKey),
				SequenceNumber: aws.String(u.SequenceNumber),
				EncryptionType: u.EncryptionType,
			},
			SubSequenceNumber: u.SubSequenceNumber,
			ExplicitHashKey:   u.ExplicitHashKey,
			Aggregated:        u.Aggregated,
		}
		if !u.ApproximateArrivalTimestamp.IsZero() {
			out[i].ApproximateArrivalTimestamp = aws.Time(u.ApproximateArrivalTimestamp)
		}
	}
	return out
}
