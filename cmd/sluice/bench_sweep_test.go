package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicehq/sluice/sluicetest"
)

func TestSweep(t *testing.T) {
	srv := sluicetest.Start(t)
	client := srv.Kinesis()
	var cells []sweepResult
	cfg := sweepConfig{
		Prefix: "sw", Shards: []int{1, 3}, RecordSizes: []int{10, 300}, Rounds: 2,
		Bench: benchConfig{Producers: 2, Batch: 20, Duration: 100 * time.Millisecond, Read: true},
		Cell:  func(r sweepResult) { cells = append(cells, r) },
	}
	results, err := sweep(t.Context(), client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 8 || len(cells) != 8 {
		t.Fatalf("%d results, %d cells reported; want 8 (2 rounds × 2 sizes × 2 shard counts)", len(results), len(cells))
	}
	// Rounds run one after another, each over the whole grid.
	for i, r := range results {
		wantRound, wantSize, wantShards := 1+i/4, []int{10, 300}[i/2%2], []int{1, 3}[i%2]
		if r.Round != wantRound || r.RecordSize != wantSize || r.Shards != wantShards {
			t.Errorf("result %d: round %d, %d B, %d shards; want round %d, %d B, %d shards", i, r.Round, r.RecordSize, r.Shards, wantRound, wantSize, wantShards)
		}
		p := r.Bench.Put
		if r.Bench.Shards != r.Shards || p.Records == 0 || p.Bytes != p.Records*int64(r.RecordSize) || r.Create <= 0 {
			t.Errorf("result %d: %d open shards, put %+v, create %v", i, r.Bench.Shards, p, r.Create)
		}
		// Each cell reads only its own stream: what it wrote, no more.
		if r.Bench.Read == nil || r.Bench.Read.Records != p.Records {
			t.Errorf("result %d: read %+v after %d records put", i, r.Bench.Read, p.Records)
		}
	}
	// Every cell's stream is gone again.
	out, err := client.ListStreams(t.Context(), &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.StreamNames) != 0 {
		t.Errorf("streams left behind: %q", out.StreamNames)
	}

	rows := sweepTable(results, cfg.Shards, cfg.RecordSizes)
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4", len(rows))
	}
	for _, r := range rows {
		if r.Rounds != 2 || r.Put <= 0 || r.Read <= 0 || r.PutRatio <= 0 || r.ReadRatio <= 0 {
			t.Errorf("row %+v", r)
		}
		if r.Shards == 1 && (r.PutRatio != 1 || r.ReadRatio != 1) {
			t.Errorf("the first shard count compares with itself: %+v", r)
		}
	}
	var table bytes.Buffer
	writeSweepTable(&table, rows, cfg)
	for _, want := range []string{"| shards | record |", "| 1 | 10 B |", "| 3 | 300 B |", "read records/s", "medians of 2 round(s)"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func TestSweepTable_RatiosWithinRounds(t *testing.T) {
	res := func(round, shards int, put float64) sweepResult {
		return sweepResult{Round: round, Shards: shards, RecordSize: 100,
			Bench: benchResult{Put: benchPhase{Records: int64(put), Elapsed: time.Second}}}
	}
	// Round 2 ran on a machine twice as busy: the ratios stay 0.5.
	rows := sweepTable([]sweepResult{res(1, 4, 1000), res(1, 1000, 500), res(2, 4, 400), res(2, 1000, 200), res(3, 4, 800), res(3, 1000, 400)},
		[]int{4, 1000}, []int{100})
	if len(rows) != 2 || rows[1].PutRatio != 0.5 || rows[0].Put != 800 || rows[1].Put != 400 {
		t.Errorf("rows %+v", rows)
	}
}

func TestSweepConfig_Validate(t *testing.T) {
	good := sweepConfig{Prefix: "p", Shards: []int{4}, RecordSizes: []int{100}, Rounds: 1,
		Bench: benchConfig{Producers: 1, Batch: 500, Duration: time.Second}}
	if err := good.validate(); err != nil {
		t.Errorf("good config: %v", err)
	}
	for _, mutate := range []func(*sweepConfig){
		func(c *sweepConfig) { c.Prefix = "" },
		func(c *sweepConfig) { c.Shards = nil },
		func(c *sweepConfig) { c.Shards = []int{4, 0} },
		func(c *sweepConfig) { c.RecordSizes = []int{11 << 20} },
		func(c *sweepConfig) { c.Rounds = 0 },
		func(c *sweepConfig) { c.Bench.Producers = 0 },
	} {
		c := good
		mutate(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
	if _, err := parseInts("4, 16,x"); err == nil {
		t.Error("parseInts accepted x")
	}
	if got, err := parseInts("4, 16"); err != nil || len(got) != 2 || got[1] != 16 {
		t.Errorf("parseInts = %v, %v", got, err)
	}
}
