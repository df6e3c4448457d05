package consumer

import (
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// deaggregateRecords turns Kinesis records into user records.
func deaggregateRecords(raw []types.Record, startingHashKey, endingHashKey string, log *slog.Logger) []Record {
	out := make([]Record, len(raw))
	for i, r := range raw {
		out[i] = Record{Record: r}
	}
	return out
}
