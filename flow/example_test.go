package flow_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sluicehq/sluice/flow"
)

// A page view, as JSON in the stream "clicks".
type view struct {
	Page string    `json:"page"`
	At   time.Time `json:"at"`
}

// Page views per page per minute, from the stream "clicks" into a sink.
// Run the same program on more machines to share the work: the workers
// share the shards, and a worker's crash costs neither counts nor double
// counts in the sink.
func Example() {
	srv := startExampleServer() // Sluice or AWS: any Kinesis and DynamoDB endpoint
	defer srv.close()
	srv.put("clicks", `{"page":"/home","at":"2026-01-05T10:00:01Z"}`, `{"page":"/cart","at":"2026-01-05T10:00:40Z"}`,
		`{"page":"/home","at":"2026-01-05T10:00:59Z"}`, `{"page":"/home","at":"2026-01-05T10:01:30Z"}`)

	p, err := flow.New("page-views", srv.kinesis, srv.dynamodb, exampleOpts...)
	if err != nil {
		panic(err)
	}
	clicks := flow.JSON[view](flow.Source(p, "clicks"))
	pages := flow.Filter(clicks, func(v view) bool { return v.Page != "" })
	byPage := flow.KeyBy(pages, func(v view) string { return v.Page }, "page")
	results := newPrintSink(3) // prints the rows once it has 3
	flow.AggregateWindows(byPage, "page_views", flow.Tumbling(time.Minute), flow.Count("views", nil)).
		EventTime(func(v view) time.Time { return v.At }, 5*time.Second).
		Idleness(100 * time.Millisecond). // the stream goes quiet: close the windows
		To(results)

	ctx, stop := context.WithCancel(context.Background())
	go func() { results.wait(); stop() }()
	if err := p.Run(ctx); err != nil { // until ctx ends
		panic(err)
	}
	results.print()
	// Output:
	// 10:00-10:01 /cart views=1
	// 10:00-10:01 /home views=2
	// 10:01-10:02 /home views=1
}

// printSink keeps the rows written to it (an upsert by window and key,
// as a warehouse does) and prints them.
type printSink struct {
	mu   sync.Mutex
	rows map[string]string
	want int
	done chan struct{}
	once sync.Once
}

func newPrintSink(want int) *printSink {
	return &printSink{rows: map[string]string{}, want: want, done: make(chan struct{})}
}

func (s *printSink) Open(context.Context, flow.Table) error { return nil }

func (s *printSink) Write(_ context.Context, t flow.Table, rows []flow.Row) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		id := fmt.Sprintf("%s-%s %v", r.Window.Start.Format("15:04"), r.Window.End.Format("15:04"), r.Keys[0])
		s.rows[id] = fmt.Sprintf("%s %s=%v", id, t.Values[0].Name, r.Values[0])
	}
	if len(s.rows) >= s.want {
		s.once.Do(func() { close(s.done) })
	}
	return nil
}

func (s *printSink) Close() error { return nil }

func (s *printSink) wait() { <-s.done }

func (s *printSink) print() {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []string
	for _, l := range s.rows {
		lines = append(lines, l)
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
}
