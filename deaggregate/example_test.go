package deaggregate_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/deaggregate"
)

// Deaggregate one GetRecords page of a shard, keeping only the user
// records that belong to it.
func Example() {
	ctx := context.Background()
	var client *kinesis.Client // from kinesis.NewFromConfig
	var shard types.Shard      // from ListShards
	var iterator *string       // from GetShardIterator
	if client == nil {
		return // the example needs a stream to read
	}
	out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iterator})
	if err != nil {
		log.Fatal(err)
	}
	recs, err := deaggregate.RecordsInRange(out.Records,
		*shard.HashKeyRange.StartingHashKey, *shard.HashKeyRange.EndingHashKey)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Printf("%s/%d %s: %s\n", r.SequenceNumber, r.SubSequenceNumber, r.PartitionKey, r.Data)
	}
}
