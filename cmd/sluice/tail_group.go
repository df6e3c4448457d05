package main

// `sluice tail --group NAME`: tail as one worker of a consumer group. The
// workers of a group share the stream's shards through a lease table (the
// KCL's schema, in DynamoDB or in Sluice, which answers DynamoDB on its
// Kinesis port), each printing the records of the shards it holds and
// checkpointing after it printed them; start more to spread the shards,
// stop one and the others take its shards over.

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/deaggregate"
)

type groupFlags struct {
	name        string
	table       string
	ddbEndpoint string
	workerID    string
	failover    time.Duration
	failureRate float64
	// fanOutConsumer, when set, reads by enhanced fan-out through the
	// stream consumer of that name (tail's --fan-out and --consumer).
	fanOutConsumer string
}

func (g *groupFlags) register(fs *flag.FlagSet, env *cmdEnv) {
	fs.StringVar(&g.name, "group", "", "consume as a member of the consumer group `name`, sharing the shards with its other members (leases and checkpoints in a lease table)")
	fs.StringVar(&g.table, "lease-table", "", "DynamoDB `table` for the group's leases (default: the group name if it is a valid table name, else one made from it: see sluice group --help)")
	fs.StringVar(&g.ddbEndpoint, "dynamodb-endpoint", env.getenv("AWS_ENDPOINT_URL_DYNAMODB"),
		"DynamoDB endpoint `url` for the lease table, or \"aws\" (default $AWS_ENDPOINT_URL_DYNAMODB, else --endpoint: Sluice serves DynamoDB on its Kinesis port)")
	fs.StringVar(&g.workerID, "worker-id", "", "this member's `id` in the lease table (default: host name and a random suffix)")
	fs.DurationVar(&g.failover, "failover", 10*time.Second, "how long a silent member keeps its shards before others take them over")
	fs.Float64Var(&g.failureRate, "inject-failures", 0, "for testing: fail this `fraction` of batches before printing them, to exercise retries")
}

// run runs tail as a consumer group member until ctx ends.
func (g *groupFlags) run(ctx context.Context, logger *slog.Logger, cf *clientFlags, stream string, start startPosition, out *recordPrinter) error {
	kc, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	ddb, err := g.dynamoDB(ctx, cf)
	if err != nil {
		return err
	}
	table := g.table
	if table == "" {
		table = leaseTableName(g.name)
	}
	initial := consumer.StartAtTrimHorizon()
	switch start.typ {
	case types.ShardIteratorTypeLatest:
		initial = consumer.StartAtLatest()
	case types.ShardIteratorTypeAtTimestamp:
		initial = consumer.StartAtTimestamp(start.at)
	}
	process := consumer.Func(func(ctx context.Context, in consumer.ProcessRecordsInput) error {
		if g.failureRate > 0 && rand.Float64() < g.failureRate {
			return fmt.Errorf("injected failure")
		}
		recs := make([]deaggregate.Record, len(in.Records))
		for i := range in.Records {
			r := &in.Records[i]
			recs[i] = deaggregate.Record{
				SequenceNumber: aws.ToString(r.SequenceNumber), SubSequenceNumber: r.SubSequenceNumber,
				PartitionKey: aws.ToString(r.PartitionKey), ExplicitHashKey: r.ExplicitHashKey,
				Data: r.Data, EncryptionType: r.EncryptionType, Aggregated: r.Aggregated,
			}
			if r.ApproximateArrivalTimestamp != nil {
				recs[i].ApproximateArrivalTimestamp = *r.ApproximateArrivalTimestamp
			}
		}
		return out.print(in.ShardID, recs)
	})
	opts := []consumer.Option{consumer.WithLogger(logger), consumer.WithInitialPosition(initial), consumer.WithFailoverTime(g.failover)}
	if g.fanOutConsumer != "" {
		opts = append(opts, consumer.WithRetrieval(consumer.FanOut{ConsumerName: g.fanOutConsumer}))
	}
	if g.workerID != "" {
		opts = append(opts, consumer.WithWorkerID(g.workerID))
	}
	c, err := consumer.New(kc, consumer.NewDynamoDBLeaseStore(ddb, table), stream, process, opts...)
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	return c.Run(ctx)
}

// dynamoDB returns a client for the group's lease table: at
// --dynamodb-endpoint, else at the Kinesis endpoint (Sluice answers both).
func (g *groupFlags) dynamoDB(ctx context.Context, cf *clientFlags) (*dynamodb.Client, error) {
	endpoint := g.ddbEndpoint
	if endpoint == "" {
		endpoint = cf.endpoint
	}
	cfg, base, err := cf.awsConfig(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = base }), nil
}
