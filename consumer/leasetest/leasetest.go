// Package leasetest is a conformance suite for consumer.LeaseStore
// implementations: every store the consumer runs on passes the same tests,
// so the DynamoDB store behaves alike on AWS, on dynalite and on Sluice.
//
//	func TestMyStore(t *testing.T) {
//		leasetest.Run(t, func(t *testing.T) consumer.LeaseStore { return newEmptyStore(t) })
//	}
package leasetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/consumer"
)

// Run runs the suite; newStore returns a store over a new, empty table
// (EnsureTable not yet called).
func Run(t *testing.T, newStore func(t *testing.T) consumer.LeaseStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s consumer.LeaseStore)
	}{
		{"CreateGetList", testCreateGetList},
		{"TakeRenewEvict", testTakeRenewEvict},
		{"Checkpoint", testCheckpoint},
		{"Handoff", testHandoff},
		{"CheckpointState", testCheckpointState},
		{"UpdateLease", testUpdateLease},
		{"ConcurrentTake", testConcurrentTake},
		{"ManyLeases", testManyLeases},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s := newStore(t)
			if err := s.EnsureTable(ctx); err != nil {
				t.Fatalf("EnsureTable: %v", err)
			}
			if err := s.EnsureTable(ctx); err != nil {
				t.Fatalf("EnsureTable on an existing table: %v", err)
			}
			tc.fn(t, ctx, s)
		})
	}
}

func newLease(key string) consumer.Lease {
	return consumer.Lease{
		Key:             key,
		Checkpoint:      consumer.ExtendedSequenceNumber{Sequence: consumer.SentinelTrimHorizon},
		ParentShardIDs:  []string{"shardId-000000000000"},
		StartingHashKey: "0",
		EndingHashKey:   "170141183460469231731687303715884105727",
	}
}

func mustConflict(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, consumer.ErrLeaseConflict) {
		t.Fatalf("%s: got %v, want ErrLeaseConflict", what, err)
	}
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func testCreateGetList(t *testing.T, ctx context.Context, s consumer.LeaseStore) {
	l := newLease("shardId-000000000001")
	if err := s.CreateLease(ctx, l); err != nil {
		t.Fatalf("CreateLease: %v", err)
	}
	if err := s.CreateLease(ctx, l); !errors.Is(err, consumer.ErrLeaseExists) {
		t.Fatalf("CreateLease again: got %v, want ErrLeaseExists", err)
	}
	got := must[consumer.Lease](t, "GetLease")(s.GetLease(ctx, l.Key))
	if got.Key != l.Key || got.Owner != "" || got.Counter != 0 || got.Checkpoint != l.Checkpoint ||
		!slices.Equal(got.ParentShardIDs, l.ParentShardIDs) || got.EndingHashKey != l.EndingHashKey {
		t.Fatalf("GetLease = %+v, want %+v", got, l)
	}
	if _, err := s.GetLease(ctx, "missing"); !errors.Is(err, consumer.ErrLeaseNotFound) {
		t.Fatalf("GetLease of a missing lease: got %v, want ErrLeaseNotFound", err)
	}
	if err := s.CreateLease(ctx, newLease("shardId-000000000002")); err != nil {
		t.Fatal(err)
	}
	all := must[[]consumer.Lease](t, "ListLeases")(s.ListLeases(ctx))
	if len(all) != 2 {
		t.Fatalf("ListLeases returned %d leases, want 2", len(all))
	}
	if err := s.DeleteLease(ctx, l.Key); err != nil {
		t.Fatalf("DeleteLease: %v", err)
	}
	if err := s.DeleteLease(ctx, l.Key); err != nil {
		t.Fatalf("DeleteLease of a missing lease: %v", err)
	}
	if _, err := s.GetLease(ctx, l.Key); !errors.Is(err, consumer.ErrLeaseNotFound) {
		t.Fatalf("GetLease after delete: got %v, want ErrLeaseNotFound", err)
	}
}

func testTakeRenewEvict(t *testing.T, ctx context.Context, s consumer.LeaseStore) {
	l := newLease("shard-a")
	if err := s.CreateLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	a := must[consumer.Lease](t, "TakeLease")(s.TakeLease(ctx, l, "worker-a", false))
	if a.Owner != "worker-a" || a.Counter != 1 || a.OwnerSwitchesSinceCheckpoint != 1 {
		t.Fatalf("after take: %+v, want owner worker-a, counter 1, 1 owner switch", a)
	}
	_, err := s.TakeLease(ctx, l, "worker-b", false) // counter 0 is stale
	mustConflict(t, "take with a stale counter", err)
	a = must[consumer.Lease](t, "RenewLease")(s.RenewLease(ctx, a))
	if a.Counter != 2 {
		t.Fatalf("after renew: counter %d, want 2", a.Counter)
	}
	stale := a
	stale.Counter = 1
	_, err = s.RenewLease(ctx, stale)
	mustConflict(t, "renew with a stale counter", err)
	other := a
	other.Owner = "worker-b"
	_, err = s.RenewLease(ctx, other)
	mustConflict(t, "renew by a worker that does not own the lease", err)
	// Another worker takes the lease it saw at counter 2 (expired).
	b := must[consumer.Lease](t, "TakeLease from a")(s.TakeLease(ctx, a, "worker-b", false))
	if b.Owner != "worker-b" || b.Counter != 3 || b.OwnerSwitchesSinceCheckpoint != 2 || b.CheckpointOwner != "" {
		t.Fatalf("after take by b: %+v", b)
	}
	_, err = s.RenewLease(ctx, a)
	mustConflict(t, "renew by the previous owner", err)
	_, err = s.EvictLease(ctx, a)
	mustConflict(t, "evict by the previous owner", err)
	b = must[consumer.Lease](t, "EvictLease")(s.EvictLease(ctx, b))
	if b.Owner != "" || b.Counter != 4 {
		t.Fatalf("after evict: %+v, want no owner, counter 4", b)
	}
	got := must[consumer.Lease](t, "GetLease")(s.GetLease(ctx, l.Key))
	if got.Owner != "" || got.Counter != 4 {
		t.Fatalf("stored after evict: %+v", got)
	}
}

func testCheckpoint(t *testing.T, ctx context.Context, s consumer.LeaseStore) {
	l := newLease("shard-c")
	if err := s.CreateLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	a := must[consumer.Lease](t, "TakeLease")(s.TakeLease(ctx, l, "worker-a", false))
	pending := consumer.ExtendedSequenceNumber{Sequence: "49590338271490256608559692538361571095921575989136588898", SubSequence: 3}
	a = must[consumer.Lease](t, "PrepareCheckpoint")(s.PrepareCheckpoint(ctx, a, pending, []byte("state")))
	if a.PendingCheckpoint != pending || string(a.PendingCheckpointState) != "state" {
		t.Fatalf("after prepare: %+v", a)
	}
	cp := consumer.ExtendedSequenceNumber{Sequence: "49590338271490256608559692538361571095921575989136588899", SubSequence: 7}
	before := a.Counter
	a = must[consumer.Lease](t, "UpdateCheckpoint")(s.UpdateCheckpoint(ctx, a, cp, false))
	if a.Checkpoint != cp || a.Counter != before+1 || a.OwnerSwitchesSinceCheckpoint != 0 ||
		!a.PendingCheckpoint.IsZero() || a.PendingCheckpointState != nil || a.Owner != "worker-a" {
		t.Fatalf("after checkpoint: %+v", a)
	}
	stale := a
	stale.Counter--
	_, err := s.UpdateCheckpoint(ctx, stale, cp, false)
	mustConflict(t, "checkpoint with a stale counter", err)
	end := consumer.ExtendedSequenceNumber{Sequence: consumer.SentinelShardEnd}
	a = must[consumer.Lease](t, "UpdateCheckpoint with release")(s.UpdateCheckpoint(ctx, a, end, true))
	if a.Owner != "" || !a.Finished() {
		t.Fatalf("after checkpoint and release: %+v", a)
	}
	got := must[consumer.Lease](t, "GetLease")(s.GetLease(ctx, l.Key))
	if got.Checkpoint != end || got.Owner != "" {
		t.Fatalf("stored: %+v", got)
	}
}

func testHandoff(t *testing.T, ctx context.Context, s consumer.LeaseStore) {
	l := newLease("shard-h")
	if err := s.CreateLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	a := must[consumer.Lease](t, "TakeLease")(s.TakeLease(ctx, l, "worker-a", false))
	b := must[consumer.Lease](t, "TakeLease with handoff")(s.TakeLease(ctx, a, "worker-b", true))
	if b.Owner != "worker-b" || b.CheckpointOwner != "worker-a" {
		t.Fatalf("after handoff take: %+v, want owner worker-b, checkpointOwner worker-a", b)
	}
	// The new owner renews while it waits; the old one finishes.
	b = must[consumer.Lease](t, "RenewLease by the new owner")(s.RenewLease(ctx, b))
	cp := consumer.ExtendedSequenceNumber{Sequence: "123", SubSequence: 0}
	if err := s.FinishHandoff(ctx, l.Key, "worker-c", cp); !errors.Is(err, consumer.ErrLeaseConflict) {
		t.Fatalf("FinishHandoff by a stranger: got %v, want ErrLeaseConflict", err)
	}
	if err := s.FinishHandoff(ctx, l.Key, "worker-a", cp); err != nil {
		t.Fatalf("FinishHandoff: %v", err)
	}
	if err := s.FinishHandoff(ctx, l.Key, "worker-a", cp); !errors.Is(err, consumer.ErrLeaseConflict) {
		t.Fatalf("FinishHandoff twice: got %v, want ErrLeaseConflict", err)
	}
	got := must[consumer.Lease](t, "GetLease")(s.GetLease(ctx, l.Key))
	if got.CheckpointOwner != "" || got.Checkpoint != cp || got.Owner != "worker-b" || got.Counter != b.Counter {
		t.Fatalf("after handoff: %+v (new owner saw counter %d)", got, b.Counter)
	}
	// The handoff left the new owner's counter alone: it renews on.
	if _, err := s.RenewLease(ctx, b); err != nil {
		t.Fatalf("renew after handoff: %v", err)
	}
	// A handoff with nothing new to checkpoint only clears checkpointOwner.
	d := must[consumer.Lease](t, "GetLease")(s.GetLease(ctx, l.Key))
	must[consumer.Lease](t, "TakeLease with handoff")(s.TakeLease(ctx, d, "worker-e", true))
	if err := s.FinishHandoff(ctx, l.Key, "worker-b", consumer.ExtendedSequenceNumber{}); err != nil {
		t.Fatalf("FinishHandoff without a checkpoint: %v", err)
	}
	if got := must[consumer.Lease](t, "GetLease")(s.GetLease(ctx, l.Key)); got.CheckpointOwner != "" || got.Checkpoint != cp {
		t.Fatalf("after a handoff without a checkpoint: %+v", got)
	}
	// A take clears a pending handoff: the old owner may no longer checkpoint.
	c := must[consumer.Lease](t, "GetLease")(s.GetLease(ctx, l.Key))
	c = must[consumer.Lease](t, "TakeLease with handoff")(s.TakeLease(ctx, c, "worker-c", true))
	c = must[consumer.Lease](t, "TakeLease")(s.TakeLease(ctx, c, "worker-d", false))
	if c.CheckpointOwner != "" {
		t.Fatalf("take left checkpointOwner %q", c.CheckpointOwner)
	}
	if err := s.FinishHandoff(ctx, l.Key, "worker-b", cp); !errors.Is(err, consumer.ErrLeaseConflict) {
		t.Fatalf("FinishHandoff after a take: got %v, want ErrLeaseConflict", err)
	}
}

func testUpdateLease(t *testing.T, ctx context.Context, s consumer.LeaseStore) {
	l := newLease("shard-u")
	if err := s.CreateLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	a := must[consumer.Lease](t, "TakeLease")(s.TakeLease(ctx, l, "worker-a", false))
	a.ChildShardIDs = []string{"shard-v", "shard-w"}
	a = must[consumer.Lease](t, "UpdateLease")(s.UpdateLease(ctx, a))
	got := must[consumer.Lease](t, "GetLease")(s.GetLease(ctx, l.Key))
	slices.Sort(got.ChildShardIDs)
	if !slices.Equal(got.ChildShardIDs, []string{"shard-v", "shard-w"}) || got.Counter != a.Counter {
		t.Fatalf("after update: %+v", got)
	}
	a.Counter--
	_, err := s.UpdateLease(ctx, a)
	mustConflict(t, "update with a stale counter", err)
}

// testConcurrentTake races takes of one lease seen at one counter: the
// counter fences them, so exactly one wins.
func testConcurrentTake(t *testing.T, ctx context.Context, s consumer.LeaseStore) {
	l := newLease("shard-race")
	if err := s.CreateLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = s.TakeLease(ctx, l, fmt.Sprintf("worker-%d", i), false) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, consumer.ErrLeaseConflict):
			t.Fatalf("TakeLease: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent takes won, want 1", won, n)
	}
	got := must[consumer.Lease](t, "GetLease")(s.GetLease(ctx, l.Key))
	if got.Counter != 1 {
		t.Fatalf("counter %d after one take, want 1", got.Counter)
	}
}

// testManyLeases lists more leases than one small Scan page might hold.
func testManyLeases(t *testing.T, ctx context.Context, s consumer.LeaseStore) {
	const n = 120
	for i := range n {
		l := newLease(fmt.Sprintf("shardId-%012d", i))
		l.PendingCheckpointState = make([]byte, 8<<10) // ~1 MiB in all: two Scan pages on DynamoDB
		l.PendingCheckpoint = consumer.ExtendedSequenceNumber{Sequence: "1"}
		if err := s.CreateLease(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	all := must[[]consumer.Lease](t, "ListLeases")(s.ListLeases(ctx))
	seen := map[string]bool{}
	for _, l := range all {
		seen[l.Key] = true
	}
	if len(all) != n || len(seen) != n {
		t.Fatalf("ListLeases returned %d leases (%d distinct), want %d", len(all), len(seen), n)
	}
}

// testCheckpointState checks a CheckpointStateStore (skipped for stores
// that keep no state): state goes with the checkpoint, survives a plain
// checkpoint, and goes through a handoff's final write.
func testCheckpointState(t *testing.T, ctx context.Context, s consumer.LeaseStore) {
	ss, ok := s.(consumer.CheckpointStateStore)
	if !ok {
		t.Skipf("%T keeps no checkpoint state", s)
	}
	l := newLease("shard-s")
	if err := s.CreateLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	a := must[consumer.Lease](t, "TakeLease")(s.TakeLease(ctx, l, "worker-a", false))
	cp := consumer.ExtendedSequenceNumber{Sequence: "49590338271490256608559692538361571095921575989136588898", SubSequence: -1}
	before := a.Counter
	a = must[consumer.Lease](t, "UpdateCheckpointState")(ss.UpdateCheckpointState(ctx, a, cp, []byte("state-1")))
	if a.Checkpoint != cp || string(a.CheckpointState) != "state-1" || a.Counter != before+1 {
		t.Fatalf("after checkpoint with state: %+v", a)
	}
	stale := a
	stale.Counter--
	_, err := ss.UpdateCheckpointState(ctx, stale, cp, []byte("zombie"))
	mustConflict(t, "checkpoint with state and a stale counter", err)
	later := consumer.ExtendedSequenceNumber{Sequence: "49590338271490256608559692538361571095921575989136588899"}
	a = must[consumer.Lease](t, "UpdateCheckpoint")(s.UpdateCheckpoint(ctx, a, later, false))
	if string(a.CheckpointState) != "state-1" {
		t.Fatalf("a checkpoint without state changed the state: %+v", a)
	}
	b := must[consumer.Lease](t, "TakeLease with handoff")(s.TakeLease(ctx, a, "worker-b", true))
	if err := ss.FinishHandoffState(ctx, b.Key, "worker-a", later, []byte("state-2")); err != nil {
		t.Fatalf("FinishHandoffState: %v", err)
	}
	got := must[consumer.Lease](t, "GetLease")(s.GetLease(ctx, l.Key))
	if got.Checkpoint != later || string(got.CheckpointState) != "state-2" || got.CheckpointOwner != "" || got.Owner != "worker-b" {
		t.Fatalf("after the handoff's final write with state: %+v", got)
	}
	err = ss.FinishHandoffState(ctx, b.Key, "worker-a", later, []byte("late"))
	mustConflict(t, "a second final handoff write", err)
	if got := must[consumer.Lease](t, "GetLease")(s.GetLease(ctx, l.Key)); string(got.CheckpointState) != "state-2" {
		t.Fatalf("a refused write changed the state: %+v", got)
	}
}
