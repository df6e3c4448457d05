package consumer_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicehq/sluice/consumer"
)

// A worker of the application "order-totals" over the stream "orders". Run
// as many copies as you like: they share the shards, and a copy that stops
// on Ctrl-C hands its shards to the others at once.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	kc := kinesis.NewFromConfig(cfg)
	leases := consumer.NewDynamoDBLeaseStore(dynamodb.NewFromConfig(cfg), "order-totals")
	process := consumer.Func(func(ctx context.Context, in consumer.ProcessRecordsInput) error {
		for _, r := range in.Records {
			fmt.Printf("%s %s %s\n", in.ShardID, *r.PartitionKey, r.Data)
		}
		return nil // the consumer checkpoints after the batch
	})
	c, err := consumer.New(kc, leases, "orders", process,
		consumer.WithLogger(slog.Default()),
		consumer.WithDeadLetterStream("orders-failed"),
		consumer.WithRetry(consumer.RetryPolicy{
			InitialBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second, AttemptsToBisect: 2, MaxAttempts: 10,
		}))
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
