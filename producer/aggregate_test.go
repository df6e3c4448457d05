package producer

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/deaggregate"
)

// TestAggregate_size checks that the size kept while adding records is
// the exact size of the encoding, which the producer relies on to keep
// aggregates under their maximum, and that deaggregate reads the encoding
// back.
func TestAggregate_size(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 200; n += 7 {
		a := newAggregate()
		for i := range n {
			u := &userRecord{key: fmt.Sprint("k", rng.IntN(5+i)), data: make([]byte, rng.IntN(300))}
			if rng.IntN(3) == 0 {
				u.ehk = fmt.Sprint(rng.Uint64())
			}
			u.hash = md5.Sum([]byte(u.key))
			predicted := a.sizeWith(u)
			a.add(u, time.Second)
			if a.size != predicted {
				t.Fatalf("size after add %d, sizeWith predicted %d", a.size, predicted)
			}
		}
		enc := a.encode()
		if len(a.users) > 1 && len(enc) != a.size {
			t.Fatalf("%d records: kept size %d, encoded %d bytes", n, a.size, len(enc))
		}
		got, err := deaggregate.Records([]types.Record{{Data: enc}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("%d records encoded, %d decoded", n, len(got))
		}
		for i, g := range got {
			u := a.users[i]
			if g.PartitionKey != u.key || g.ExplicitHashKey != u.ehk || !bytes.Equal(g.Data, u.data) || g.SubSequenceNumber != int64(i) {
				t.Fatalf("record %d decoded as %+v", i, g)
			}
		}
	}
}
