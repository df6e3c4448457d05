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
}
