package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/internal/jetstream/natstest"
)

// TestTransient_Placement: a placement refused for want of online peers
// (a cluster forming, a node restarting) is worth retrying; one refused
// for good (no storage, tags, too few nodes) is not.
func TestTransient_Placement(t *testing.T) {
	for _, tc := range []struct {
		desc string
		want bool
	}{
		{"no suitable peers for placement, peer offline", true},
		{"no suitable peers for placement, peer offline, insufficient storage", true},
		{"no suitable peers for placement, insufficient storage", false},
		{"no suitable peers for placement", false},
	} {
		err := fmt.Errorf("create stream: %w", &jetstream.APIError{Code: 400, ErrorCode: 10005, Description: tc.desc})
		if got := transient(err); got != tc.want {
			t.Errorf("transient(%q) = %v, want %v", tc.desc, got, tc.want)
		}
	}
}

// TestOpen_PlacementImpossible: Open keeps waiting for a forming cluster,
// but not for one that can never place the meta bucket (more replicas than
// nodes): that fails before the start-up context ends.
func TestOpen_PlacementImpossible(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster; skipped with -short")
	}
	urls := natstest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	b, err := Open(ctx, Config{URL: strings.Join(urls, ","), Replicas: 5})
	if err == nil {
		b.Close()
		t.Fatal("Open with 5 replicas on 3 nodes succeeded")
	}
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("Open with 5 replicas on 3 nodes waited for its context: %v", err)
	}
	t.Logf("Open: %v", err)
}
