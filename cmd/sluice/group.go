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

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/consumer"
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
	fs.StringVar(&g.table, "lease-table", "", "DynamoDB `table` for the group's leases (default: the group name)")
	fs.StringVar(&g.ddbEndpoint, "dynamodb-endpoint", env.getenv("AWS_ENDPOINT_URL_DYNAMODB"),
		"DynamoDB endpoint `url` for the lease table, or \"aws\" (default $AWS_ENDPOINT_URL_DYNAMODB, else --endpoint: Sluice serves DynamoDB on its Kinesis port)")
	fs.StringVar(&g.workerID, "worker-id", "", "this member's `id` in the lease table (default: host name and a random suffix)")
	fs.DurationVar(&g.failover, "failover", 10*time.Second, "how long a silent member keeps its shards before others take them over")
	fs.Float64Var(&g.failureRate, "inject-failures", 0, "for testing: fail this `fraction` of batches before printing them, to exercise retries")
}

// runGroup runs tail as a consumer group member until ctx ends.
func (g *groupFlags) run(ctx context.Context, env *cmdEnv, cf *clientFlags, stream string, start startPosition, out *recordPrinter) error {
	if g.failureRate < 0 || g.failureRate >= 1 {
		return fmt.Errorf("tail: --inject-failures must be in [0, 1)")
	}
	if out.max > 0 {
		// Records cut off after the last one printed would be checkpointed
		// unprinted and lost to the group.
		return fmt.Errorf("tail: --max-records does not go with --group")
	}
	kc, err := cf.newClient(ctx)
	if err != nil {
		return err
	}
	endpoint := g.ddbEndpoint
	if endpoint == "" {
		endpoint = cf.endpoint
	}
	cfg, base, err := cf.awsConfig(ctx, endpoint)
	if err != nil {
		return err
	}
	ddb := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = base })
	table := g.table
	if table == "" {
		table = g.name
	}
	initial := consumer.StartAtTrimHorizon()
	switch start.typ {
	case types.ShardIteratorTypeLatest:
		initial = consumer.StartAtLatest()
	case types.ShardIteratorTypeAtTimestamp:
		initial = consumer.StartAtTimestamp(start.at)
	}
	logger := slog.New(slog.NewTextHandler(env.stderr, nil))
	process := consumer.Func(func(ctx context.Context, in consumer.ProcessRecordsInput) error {
		if g.failureRate > 0 && rand.Float64() < g.failureRate {
			return fmt.Errorf("injected failure")
		}
		recs := make([]types.Record, len(in.Records))
		for i := range in.Records {
			recs[i] = in.Records[i].Record
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
