package main

// `sluice pipeline run --generate clickstream`: a load of page views for
// trying a pipeline out (as Flink's datagen source is for a Flink job):
// JSON records with the page, the HTTP status, the user and the latency.
// When it creates the stream it first writes the last minutes of traffic
// (--generate-backfill) as fast as the stream takes them, so windows close
// at once; then it writes live at --generate-rate. Every fifth minute the
// cart and checkout pages fail (503) for most requests, which takes the
// error rate well above 5 % for that minute.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/producer"
)

// click is one generated record.
type click struct {
	At        string `json:"at"` // RFC 3339, milliseconds
	User      string `json:"user"`
	Page      string `json:"page"`
	Status    int    `json:"status"`
	LatencyMs int    `json:"latency_ms"`
}

// clickPages are the pages and their share of the views, in percent.
var clickPages = []struct {
	path  string
	share int
}{
	{"/", 30}, {"/products", 20}, {"/product/1", 10}, {"/product/2", 8}, {"/product/3", 7},
	{"/search", 10}, {"/cart", 9}, {"/checkout", 6},
}

// outage reports whether the minute of t is one where cart and checkout fail.
func outage(t time.Time) bool { return t.Unix()/60%5 == 3 }

// newClick makes the click of a user at t.
func newClick(rng *rand.Rand, t time.Time) click {
	c := click{At: t.UTC().Format("2006-01-02T15:04:05.000Z07:00"), User: fmt.Sprintf("u%03d", rng.IntN(500)), Status: 200}
	n := rng.IntN(100)
	for _, p := range clickPages {
		if n < p.share {
			c.Page = p.path
			break
		}
		n -= p.share
	}
	c.LatencyMs = 20 + int(rng.ExpFloat64()*60)
	switch r := rng.IntN(1000); {
	case outage(t) && (c.Page == "/cart" || c.Page == "/checkout") && r < 700:
		c.Status, c.LatencyMs = 503, 3000+rng.IntN(2000)
	case r < 8:
		c.Status = 500
	case r < 40:
		c.Status = 404
	}
	return c
}

// clickGenerator writes clicks into a stream.
type clickGenerator struct {
	client   *kinesis.Client
	stream   string
	rate     int           // records per second of event time
	backfill time.Duration // history written first, when the stream is new
	log      *slog.Logger
	now      func() time.Time
	created  bool // the stream was created by prepare: backfill it
}

// prepare creates the stream if it is missing, before the pipeline starts.
func (g *clickGenerator) prepare(ctx context.Context) error {
	var err error
	g.created, err = g.ensureStream(ctx)
	return err
}

func (g *clickGenerator) run(ctx context.Context) error {
	if g.now == nil {
		g.now = time.Now
	}
	created := g.created
	p, err := producer.New(g.client, g.stream)
	if err != nil {
		return err
	}
	defer p.Close(context.WithoutCancel(ctx))
	rng := rand.New(rand.NewPCG(uint64(g.now().UnixNano()), 1))
	t := g.now()
	if created && g.backfill > 0 {
		t = t.Add(-g.backfill).Truncate(time.Minute)
		g.log.Info("generating clicks", "stream", g.stream, "from", t.Format(time.RFC3339), "rate", g.rate)
	}
	caughtUp := !created || g.backfill <= 0
	step := time.Second / time.Duration(g.rate)
	for n := 0; ; n++ {
		if ctx.Err() != nil {
			return nil
		}
		if now := g.now(); t.After(now) {
			if !caughtUp {
				caughtUp = true
				if err := p.Flush(ctx); err != nil && ctx.Err() == nil {
					return err
				}
				g.log.Info("generator caught up with the present; writing live", "records", n)
			}
			if err := sleepCtx(ctx, t.Sub(now)); err != nil {
				return nil
			}
		}
		c := newClick(rng, t)
		data, _ := json.Marshal(c)
		if _, err := p.PutAsync(ctx, c.User, data); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		t = t.Add(step)
	}
}

// ensureStream creates the stream with 2 shards if it is missing, and says
// whether it did.
func (g *clickGenerator) ensureStream(ctx context.Context) (bool, error) {
	_, err := g.client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(g.stream)})
	var notFound *types.ResourceNotFoundException
	if err == nil || !errors.As(err, &notFound) {
		return false, err
	}
	_, err = g.client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(g.stream), ShardCount: aws.Int32(2)})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return false, fmt.Errorf("create stream %s: %w", g.stream, err)
	}
	return err == nil, waitActive(ctx, g.client, g.stream, streamWaitTimeout)
}
