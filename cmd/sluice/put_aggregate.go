package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/producer"
)

// putAggregated writes the records of src with the producer package, which
// aggregates them per shard. With verbose set it prints "shardId
// sequenceNumber subSequenceNumber" for each record, in input order.
func putAggregated(ctx context.Context, client producer.Client, stream string, src recordSource, verbose io.Writer) (putStats, error) {
	var counts putCounter
	p, err := producer.New(client, stream, producer.WithLinger(putLinger), producer.WithMetrics(&counts))
	if err != nil {
		return putStats{}, err
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the source if a record fails

	records := make(chan types.PutRecordsRequestEntry, putMaxRecords)
	var srcErr error
	go func() {
		defer close(records)
		srcErr = src(ctx, records)
	}()

	// Results are waited for in input order by one goroutine, so output
	// stays in order and a failure stops the run.
	pending := make(chan *producer.Future, 10_000)
	var resErr error
	var stats putStats
	var wg sync.WaitGroup
	wg.Go(func() {
		w := bufio.NewWriter(io.Discard)
		if verbose != nil {
			w = bufio.NewWriter(verbose)
		}
		for f := range pending {
			if resErr != nil {
				continue // drain
			}
			res, err := f.Wait(ctx)
			if err != nil {
				resErr = fmt.Errorf("put records: %w", err)
				cancel()
				continue
			}
			stats.records++
			if verbose != nil {
				fmt.Fprintf(w, "%s %s %d\n", res.ShardID, res.SequenceNumber, res.SubSequenceNumber)
				if len(pending) == 0 {
					if err := w.Flush(); err != nil {
						resErr = fmt.Errorf("write results: %w", err)
						cancel()
					}
				}
			}
		}
		if err := w.Flush(); err != nil && resErr == nil {
			resErr = fmt.Errorf("write results: %w", err)
		}
	})

	var putErr error
	for e := range records {
		f, err := p.PutRecordAsync(ctx, producer.Record{
			PartitionKey: aws.ToString(e.PartitionKey), ExplicitHashKey: aws.ToString(e.ExplicitHashKey), Data: e.Data,
		})
		if err != nil {
			putErr = err
			cancel()
			break
		}
		stats.bytes += int64(len(e.Data))
		pending <- f
	}
	close(pending)
	// Close delivers what is buffered: every record's TTL, or a moment
	// when interrupted.
	grace := producer.DefaultRecordTTL + 10*time.Second
	if parent.Err() != nil {
		grace = 5 * time.Second
	}
	closeCtx, closeCancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer closeCancel()
	closeErr := p.Close(closeCtx)
	wg.Wait()
	for range records { // let the source finish after a failure
	}
	stats.requests, stats.retried = counts.requests.Load(), counts.retried.Load()
	err = errors.Join(putErr, resErr)
	if err == nil {
		err = closeErr
	}
	if err == nil {
		err = srcErr
	}
	return stats, err
}

// putCounter counts requests and retries for the summary line.
type putCounter struct {
	requests, retried atomic.Int64
}

func (c *putCounter) RequestDone(s producer.RequestStats) {
	c.requests.Add(1)
	c.retried.Add(int64(s.Retried))
}

func (c *putCounter) RecordDone(producer.RecordStats) {}
