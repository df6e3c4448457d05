package main

// `sluice pipeline list`: the pipelines registered in sluice_pipelines (each
// flow worker keeps an item there, refreshed every few seconds), their
// workers, and the graph they form: source streams → pipeline → the streams
// and sinks it writes.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sluicehq/sluice/flow"
)

// listedPipeline is one pipeline of `pipeline list --output json`.
type listedPipeline struct {
	Name    string   `json:"name"`
	Sources []string `json:"sources"`
	// Outputs are the streams it writes, but its repartition stream.
	Outputs []string `json:"outputs"`
	Sinks   []string `json:"sinks"`
	// RecordsPerSecond and LagMillis are over its live workers.
	RecordsPerSecond float64        `json:"recordsPerSecond"`
	LagMillis        int64          `json:"lagMillis"`
	LastWindowEnd    *time.Time     `json:"lastWindowEnd,omitempty"`
	Workers          []listedWorker `json:"workers"`
}

type listedWorker struct {
	ID                 string     `json:"id"`
	HeartbeatAgeMillis int64      `json:"heartbeatAgeMillis"`
	Stale              bool       `json:"stale"`
	RecordsPerSecond   float64    `json:"recordsPerSecond"`
	LagMillis          int64      `json:"lagMillis"`
	LastWindowEnd      *time.Time `json:"lastWindowEnd,omitempty"`
}

type graphEdge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type pipelineGraph struct {
	Pipelines []*listedPipeline `json:"pipelines"`
	// Edges join "stream:NAME", "pipeline:NAME" and "sink:NAME" nodes,
	// as the console's graph does.
	Edges []graphEdge `json:"edges"`
}

type scanAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

func runPipelineList(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "pipeline list", "sluice pipeline list [flags]")
	var pc pipelineClients
	pc.register(fs, env)
	output := fs.String("output", "table", "`format`: table or json")
	table := fs.String("registry-table", flow.DefaultRegistryTable, "DynamoDB `table` the workers register in")
	staleAfter := fs.Duration("stale-after", 30*time.Second, "a worker whose heartbeat is older is shown as stale (it stopped without deregistering)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError(fs, "pipeline list: unexpected arguments %q", pos)
	}
	if *output != "table" && *output != "json" {
		return usageError(fs, "pipeline list: --output %q: want table or json", *output)
	}
	_, ddb, err := pc.clients(ctx)
	if err != nil {
		return err
	}
	g, err := readPipelineGraph(ctx, ddb, *table, time.Now(), *staleAfter)
	if err != nil {
		return err
	}
	if *output == "json" {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(g)
	}
	printPipelineGraph(env.stdout, g)
	return nil
}

// readPipelineGraph reads the registry into pipelines and edges.
func readPipelineGraph(ctx context.Context, api scanAPI, table string, now time.Time, staleAfter time.Duration) (*pipelineGraph, error) {
	g := &pipelineGraph{Pipelines: []*listedPipeline{}, Edges: []graphEdge{}}
	byName := map[string]*listedPipeline{}
	in := &dynamodb.ScanInput{TableName: aws.String(table)}
	for {
		out, err := api.Scan(ctx, in)
		var notFound *ddbtypes.ResourceNotFoundException
		if errors.As(err, &notFound) {
			return g, nil // no pipeline ever ran here
		}
		if err != nil {
			return nil, fmt.Errorf("read the registry %s: %w", table, err)
		}
		for _, it := range out.Items {
			name := attrS(it["pipeline"])
			if name == "" {
				continue
			}
			p := byName[name]
			if p == nil {
				p = &listedPipeline{Name: name, Sources: []string{}, Outputs: []string{}, Sinks: []string{}}
				byName[name] = p
				g.Pipelines = append(g.Pipelines, p)
			}
			p.Sources = unionSorted(p.Sources, attrL(it["sources"]))
			for _, o := range attrL(it["outputs"]) {
				if o != name+"-repartition" {
					p.Outputs = unionSorted(p.Outputs, []string{o})
				}
			}
			p.Sinks = unionSorted(p.Sinks, attrL(it["sinks"]))
			for _, sk := range attrL(it["sinks"]) {
				// A stream sink's stream is an edge of the graph.
				if st, ok := streamSink(sk); ok {
					p.Outputs = unionSorted(p.Outputs, []string{st})
				}
			}
			w := listedWorker{ID: attrS(it["worker"])}
			if hb, ok := attrN(it["heartbeatMillis"]); ok {
				w.HeartbeatAgeMillis = max(0, now.UnixMilli()-int64(hb))
				w.Stale = time.Duration(w.HeartbeatAgeMillis)*time.Millisecond > staleAfter
			}
			w.RecordsPerSecond, _ = attrN(it["recordsPerSecond"])
			lag, _ := attrN(it["lagMillis"])
			w.LagMillis = int64(lag)
			if end, ok := attrN(it["lastWindowEndMillis"]); ok && end > 0 {
				t := time.UnixMilli(int64(end)).UTC()
				w.LastWindowEnd = &t
				if p.LastWindowEnd == nil || t.After(*p.LastWindowEnd) {
					p.LastWindowEnd = &t
				}
			}
			if !w.Stale {
				p.RecordsPerSecond += w.RecordsPerSecond
				p.LagMillis = max(p.LagMillis, w.LagMillis)
			}
			p.Workers = append(p.Workers, w)
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	g.Pipelines = orderPipelines(g.Pipelines)
	for _, p := range g.Pipelines {
		slices.SortFunc(p.Workers, func(a, b listedWorker) int { return strings.Compare(a.ID, b.ID) })
		for _, s := range p.Sources {
			g.Edges = append(g.Edges, graphEdge{"stream:" + s, "pipeline:" + p.Name})
		}
		for _, o := range p.Outputs {
			g.Edges = append(g.Edges, graphEdge{"pipeline:" + p.Name, "stream:" + o})
		}
		for _, s := range p.Sinks {
			if _, ok := streamSink(s); !ok {
				g.Edges = append(g.Edges, graphEdge{"pipeline:" + p.Name, "sink:" + s})
			}
		}
	}
	return g, nil
}

// orderPipelines puts a pipeline after those writing the streams it reads
// (a chain reads top to bottom), otherwise by name.
func orderPipelines(ps []*listedPipeline) []*listedPipeline {
	slices.SortFunc(ps, func(a, b *listedPipeline) int { return strings.Compare(a.Name, b.Name) })
	writers := map[string][]*listedPipeline{}
	for _, p := range ps {
		for _, o := range p.Outputs {
			writers[o] = append(writers[o], p)
		}
	}
	var out []*listedPipeline
	state := map[*listedPipeline]int{} // 1 visiting, 2 done
	var visit func(p *listedPipeline)
	visit = func(p *listedPipeline) {
		if state[p] != 0 {
			return // done, or a cycle: keep the order found so far
		}
		state[p] = 1
		for _, s := range p.Sources {
			for _, w := range writers[s] {
				visit(w)
			}
		}
		state[p] = 2
		out = append(out, p)
	}
	for _, p := range ps {
		visit(p)
	}
	return out
}

func printPipelineGraph(w io.Writer, g *pipelineGraph) {
	if len(g.Pipelines) == 0 {
		fmt.Fprintln(w, "no pipelines are registered (flow workers register in sluice_pipelines while they run)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PIPELINE\tWORKERS\tRECORDS/S\tLAG\tLAST WINDOW END")
	for _, p := range g.Pipelines {
		live := 0
		for _, wk := range p.Workers {
			if !wk.Stale {
				live++
			}
		}
		workers := strconv.Itoa(live)
		if live != len(p.Workers) {
			workers += fmt.Sprintf(" (+%d stale)", len(p.Workers)-live)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\t%s\n", p.Name, workers, p.RecordsPerSecond, fmtLag(p.LagMillis), fmtTime(p.LastWindowEnd))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nWORKERS")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PIPELINE\tWORKER\tHEARTBEAT\tRECORDS/S\tLAG\tLAST WINDOW END")
	for _, p := range g.Pipelines {
		for _, wk := range p.Workers {
			hb := fmtAge(wk.HeartbeatAgeMillis)
			if wk.Stale {
				hb += " (stale)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%s\n", p.Name, wk.ID, hb, wk.RecordsPerSecond, fmtLag(wk.LagMillis), fmtTime(wk.LastWindowEnd))
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "\nGRAPH (source streams → pipeline → streams and sinks written)")
	for _, p := range g.Pipelines {
		var to []string
		for _, o := range p.Outputs {
			to = append(to, "stream "+o)
		}
		for _, s := range p.Sinks {
			if _, ok := streamSink(s); !ok {
				to = append(to, s)
			}
		}
		fmt.Fprintf(w, "  %s → %s → %s\n", strings.Join(p.Sources, ", "), p.Name, strings.Join(to, ", "))
	}
}

// streamSink returns the stream of a stream sink's registry name
// ("stream:NAME#table").
func streamSink(sink string) (string, bool) {
	rest, ok := strings.CutPrefix(sink, "stream:")
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, "#")
	return name, name != ""
}

func fmtLag(ms int64) string {
	if ms < 1000 {
		return fmt.Sprintf("%dms", ms)
	}
	return (time.Duration(ms) * time.Millisecond).Round(100 * time.Millisecond).String()
}

func fmtAge(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).Round(time.Second).String() + " ago"
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func attrS(v ddbtypes.AttributeValue) string {
	if s, ok := v.(*ddbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func attrN(v ddbtypes.AttributeValue) (float64, bool) {
	n, ok := v.(*ddbtypes.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(n.Value, 64)
	return f, err == nil && !math.IsNaN(f)
}

func attrL(v ddbtypes.AttributeValue) []string {
	l, ok := v.(*ddbtypes.AttributeValueMemberL)
	if !ok {
		return nil
	}
	var out []string
	for _, x := range l.Value {
		if s := attrS(x); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func unionSorted(a, b []string) []string {
	for _, x := range b {
		if !slices.Contains(a, x) {
			a = append(a, x)
		}
	}
	slices.Sort(a)
	return a
}
