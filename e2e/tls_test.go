package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// TestTLS_SelfSigned serves TLS beside plain HTTP with --tls-self-signed:
// the SDK, trusting the certificate the server wrote, talks HTTP/2
// (negotiated by ALPN) to the TLS listener and sees what the plain one
// serves.
func TestTLS_SelfSigned(t *testing.T) {
	t.Parallel()
	s, tlsAddr, hc, protos := startTLSServer(t)
	secure := newClient("https://"+tlsAddr, hc)

	createStream(t, s.Client(), "tls", 1)
	put, err := secure.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String("tls"), PartitionKey: aws.String("k"), Data: []byte("over TLS")})
	if err != nil {
		t.Fatalf("PutRecord over TLS: %v", err)
	}
	recs := readShard(t, s.Client(), "tls", aws.ToString(put.ShardId))
	if len(recs) != 1 || string(recs[0].Data) != "over TLS" {
		t.Fatalf("plain listener read %d records", len(recs))
	}
	for _, p := range *protos {
		if p != "HTTP/2.0" {
			t.Fatalf("TLS response over %s, want HTTP/2.0 by ALPN", p)
		}
	}
	if len(*protos) == 0 {
		t.Fatal("no response came over TLS")
	}
}

// startTLSServer starts a server with a self-signed TLS listener beside the
// plain one. It returns the TLS address and an HTTP client that trusts the
// server's certificate and records the protocol of every response, for
// tests to see HTTP/2 was negotiated by ALPN.
func startTLSServer(t *testing.T) (s *server, tlsAddr string, hc *http.Client, protos *[]string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr = ln.Addr().String()
	ln.Close()
	s = startServer(t, "--tls-self-signed", "--tls-addr", tlsAddr)

	pemBytes, err := os.ReadFile(filepath.Join(s.dataDir, "tls-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatal("tls-cert.pem holds no certificate")
	}
	protos = new([]string)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	hc = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := transport.RoundTrip(r)
		if err == nil {
			*protos = append(*protos, resp.Proto)
		}
		return resp, err
	})}
	return s, tlsAddr, hc, protos
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
