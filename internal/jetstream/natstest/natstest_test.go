package natstest_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sluicehq/sluice/internal/jetstream/natstest"
)

func TestStartCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster; skipped with -short")
	}
	start := time.Now()
	urls := natstest.StartCluster(t, 3)
	t.Logf("3-node cluster ready in %v", time.Since(start))
	if len(urls) != 3 {
		t.Fatalf("got %d URLs, want 3", len(urls))
	}
	for _, u := range urls {
		nc, err := nats.Connect(u)
		if err != nil {
			t.Fatalf("connect %s: %v", u, err)
		}
		if max := nc.MaxPayload(); max < 16<<20 {
			t.Errorf("%s: max payload %d, want at least 16 MiB", u, max)
		}
		nc.Close()
	}

	// Every node can hold a replica at once: an R3 stream is placed on
	// the first try, not refused for a peer the leader has not heard from.
	nc, err := nats.Connect(urls[0])
	if err != nil {
		t.Fatalf("connect %s: %v", urls[0], err)
	}
	defer nc.Close()
	js, err := nc.JetStream(nats.MaxWait(30 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "r3", Subjects: []string{"r3"}, Replicas: 3}); err != nil {
		t.Fatalf("create an R3 stream right after StartCluster: %v", err)
	}
}
