package producer_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/producer"
	"github.com/sluicehq/sluice/producer/prommetrics"
)

// Write records to a stream, waiting for some and not for others, with
// metrics in Prometheus.
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx) // AWS, or Sluice with AWS_ENDPOINT_URL set
	if err != nil {
		log.Fatal(err)
	}
	p, err := producer.New(kinesis.NewFromConfig(cfg), "orders",
		producer.WithMetrics(prommetrics.New(prometheus.DefaultRegisterer, "orders")),
		producer.WithOrdering(), // keep each customer's orders in order
	)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx) // delivers what is still buffered

	// Wait for one record.
	res, err := p.Put(ctx, "customer-1", []byte(`{"order":1}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored at", res.ShardID, res.SequenceNumber)

	// Many records in flight; check each result later.
	var futures []*producer.Future
	for i := range 1000 {
		f, err := p.PutAsync(ctx, fmt.Sprint("customer-", i%50), []byte(fmt.Sprintf(`{"order":%d}`, i)))
		if err != nil {
			log.Fatal(err) // the context ended while the buffer was full
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		if _, err := f.Wait(ctx); err != nil {
			log.Printf("record lost after every retry: %v", err)
		}
	}
}
