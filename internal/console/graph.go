package console

import (
	"net/http"
	"strconv"
)

// The processing graph: streams, and the applications, pipelines, fan-out
// consumers and sinks that read and write them, with throughput on the
// edges where the server knows it (a stream's write rate, a pipeline's
// registered rate, a fan-out consumer's records sent). The browser lays it
// out (dagre).

type graphOut struct {
	Nodes []graphNode `json:"nodes"`
	Edges []graphEdge `json:"edges"`
}

type graphNode struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"` // stream, leases, pipeline, consumer, sink
	Label string `json:"label"`
	Sub   string `json:"sub,omitempty"`
	State string `json:"state,omitempty"`
}

type graphEdge struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Label string `json:"label,omitempty"`
	// Rate is records per second, when known; -1 when not.
	Rate float64 `json:"rate"`
}

func (c *Console) graph(r *http.Request) (any, error) {
	apps := c.appsSnapshot(r.Context(), true)
	out := graphOut{Nodes: []graphNode{}, Edges: []graphEdge{}}
	streams := map[string]bool{}
	for _, a := range c.cfg.Activity.Activity() {
		rates, _ := c.hist.now(a.Name)
		open := 0
		for _, s := range a.Shards {
			if s.Open {
				open++
			}
		}
		out.Nodes = append(out.Nodes, graphNode{ID: "stream:" + a.Name, Kind: "stream", Label: a.Name,
			Sub: plural(open, "shard") + " · " + fmtRate(rates[sIncomingRecords]) + " in", State: string(a.Status)})
		streams[a.Name] = true
	}
	streamNode := func(name string) string {
		if !streams[name] {
			streams[name] = true
			out.Nodes = append(out.Nodes, graphNode{ID: "stream:" + name, Kind: "stream", Label: name, Sub: "not on this server", State: "MISSING"})
		}
		return "stream:" + name
	}
	readers := map[string]int{}
	sinks := map[string]bool{}
	for _, a := range apps.Applications {
		for _, s := range a.Streams {
			readers[s]++
		}
	}
	for _, a := range apps.Applications {
		id := a.Kind + ":" + a.Name
		sub := plural(len(a.Workers), "worker")
		if a.LagMillis > 0 {
			sub += " · " + fmtMillis(a.LagMillis) + " behind"
		}
		out.Nodes = append(out.Nodes, graphNode{ID: id, Kind: a.Kind, Label: a.Name, Sub: sub, State: a.State})
		for _, s := range a.Streams {
			e := graphEdge{From: streamNode(s), To: id, Rate: -1}
			switch {
			case a.Kind == "pipeline" && a.RecordsPerSecond > 0:
				e.Rate = a.RecordsPerSecond
			case readers[s] == 1:
				// The only application polling it: the stream's reads are
				// its reads (and the console's own, if a tail is open).
				rates, _ := c.hist.now(s)
				e.Rate = rates[sGetRecords]
			}
			if e.Rate >= 0 {
				e.Label = fmtRate(e.Rate)
			}
			out.Edges = append(out.Edges, e)
		}
		for _, s := range a.Outputs {
			rates, _ := c.hist.now(s)
			to := streamNode(s)
			out.Edges = append(out.Edges, graphEdge{From: id, To: to, Rate: rates[sIncomingRecords], Label: fmtRate(rates[sIncomingRecords])})
		}
		for _, s := range a.Sinks {
			sid := "sink:" + s
			if !sinks[sid] {
				sinks[sid] = true
				out.Nodes = append(out.Nodes, graphNode{ID: sid, Kind: "sink", Label: s})
			}
			out.Edges = append(out.Edges, graphEdge{From: id, To: sid, Rate: -1})
		}
	}
	for _, fc := range apps.Consumers {
		id := "consumer:" + fc.ARN
		out.Nodes = append(out.Nodes, graphNode{ID: id, Kind: "consumer", Label: fc.Name,
			Sub: "fan-out · " + plural(int(fc.Subscriptions), "subscription"), State: fc.Status})
		out.Edges = append(out.Edges, graphEdge{From: streamNode(fc.Stream), To: id, Rate: fc.RecordsPerSec, Label: fmtRate(fc.RecordsPerSec)})
	}
	return out, nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// fmtRate formats records per second compactly: 0, 12, 3.4k, 1.2M rec/s.
func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M rec/s"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 0, 64) + "k rec/s"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k rec/s"
	case v >= 10 || v == 0:
		return strconv.FormatFloat(v, 'f', 0, 64) + " rec/s"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " rec/s"
}
