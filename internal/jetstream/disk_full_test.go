package jetstream_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/disktest"
	"github.com/sluicehq/sluice/internal/jetstream"
	"github.com/sluicehq/sluice/internal/kinesis"
)

// TestBackend_DiskFull fills a real small filesystem under an embedded
// backend: appends fail with ErrStorageFull (quickly, and never
// acknowledged), succeed again within seconds once space is freed, and
// every acknowledged message is still there. With the guard's reserve the
// disk never fills; without it JetStream meets ENOSPC, and the backend
// restarts it once there is room.
func TestBackend_DiskFull(t *testing.T) {
	for _, tc := range []struct {
		name    string
		minFree int64
	}{{"reserve", 4 << 20}, {"enospc", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			mnt := disktest.Tmpfs(t, 48<<20)
			ballast := disktest.Fill(t, mnt, 16<<20)
			b, err := jetstream.Open(t.Context(), jetstream.Config{
				DataDir: filepath.Join(mnt, "data"), Logger: testLogger(t),
				MinFreeDisk: tc.minFree, DiskCheckInterval: 100 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ctx := t.Context()
			if err := b.CreateLog(ctx, "full", kinesis.LogConfig{}); err != nil {
				t.Fatal(err)
			}
			msgOf := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("%07d", i)), 256<<10/7) }
			acked := map[uint64]int{}
			i := 0
			var fullErr error
			for ; fullErr == nil; i++ {
				if i > 400 {
					t.Fatal("a 48 MiB disk took 100 MiB")
				}
				seq, err := b.Append(ctx, "full", msgOf(i))
				if err != nil {
					fullErr = err
					break
				}
				acked[seq] = i
			}
			if !errors.Is(fullErr, kinesis.ErrStorageFull) {
				t.Fatalf("append on a full disk: %v, want ErrStorageFull", fullErr)
			}
			t.Logf("%d appends acknowledged before: %v", len(acked), fullErr)
			for range 3 {
				if _, err := b.Append(ctx, "full", msgOf(i)); !errors.Is(err, kinesis.ErrStorageFull) {
					t.Fatalf("append while full: %v", err)
				}
			}

			if err := os.Remove(ballast); err != nil {
				t.Fatal(err)
			}
			freed := time.Now()
			deadline := freed.Add(30 * time.Second)
			for {
				seq, err := b.Append(ctx, "full", msgOf(i))
				if err == nil {
					acked[seq] = i
					break
				}
				if !errors.Is(err, kinesis.ErrStorageFull) && !errors.Is(err, kinesis.ErrLogNotFound) || time.Now().After(deadline) {
					t.Fatalf("append after freeing space: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Logf("appends resumed %v after space was freed", time.Since(freed).Round(time.Millisecond))

			for seq, want := range acked {
				msgs, err := b.Read(ctx, "full", seq, 1, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				if len(msgs) == 0 || msgs[0].Seq != seq || !bytes.Equal(msgs[0].Data, msgOf(want)) {
					t.Fatalf("acknowledged message %d lost", seq)
				}
			}
			// Nothing answered with an error was stored: the log holds
			// the acknowledged messages and nothing else.
			var read int
			for from := uint64(1); ; {
				msgs, err := b.Read(ctx, "full", from, 16, 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(msgs) == 0 {
					break
				}
				for _, m := range msgs {
					if _, ok := acked[m.Seq]; !ok {
						t.Errorf("message %d stored, never acknowledged", m.Seq)
					}
					read++
					from = m.Seq + 1
				}
			}
			if read != len(acked) {
				t.Errorf("read %d messages, %d acknowledged", read, len(acked))
			}
		})
	}
}
