package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// BenchmarkAuthenticate is the server's cost of verifying one signed
// PutRecords request, by body size (the body is hashed once more), and of
// authorizing it against an identity policy and a resource policy.
//
//	go test -run '^$' -bench 'Authenticate|Authorize' ./internal/auth
func BenchmarkAuthenticate(b *testing.B) {
	g := newGate(testConfig(b), testNow)
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20, 5 << 20} {
		b.Run(fmt.Sprintf("body=%dKiB", size>>10), func(b *testing.B) {
			body := []byte(strings.Repeat("x", size))
			r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:4567/", nil)
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
			r.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
			r.ContentLength = int64(size)
			sum := sha256.Sum256(body)
			if err := v4.NewSigner().SignHTTP(context.Background(), alice, r, hex.EncodeToString(sum[:]), "kinesis", testRegion, testNow); err != nil {
				b.Fatal(err)
			}
			r.Host = r.URL.Host
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.Authenticate(r, "kinesis:PutRecords", body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAuthorize(b *testing.B) {
	g := newGate(matrixConfig(b), testNow)
	writer := g.cfg.Load().Key("WRITER").Principal
	ctx := WithIdentity(context.Background(), &Identity{Principal: writer, Verified: true, Action: "kinesis:PutRecords"})
	policy := resourcePolicies["deny all but writer"]
	b.ReportAllocs()
	for b.Loop() {
		if err := g.Authorize(ctx, "kinesis:PutRecords", ordersARN, policy); err != nil {
			b.Fatal(err)
		}
	}
}
