// Package sluicetest starts a Sluice server inside a test, as net/http/httptest
// starts an HTTP server: a real Kinesis Data Streams API on 127.0.0.1 with an
// embedded JetStream store in a temporary directory, wired exactly as
// `sluice serve` wires it, gone when the test ends.
//
// Code under test talks to it through aws-sdk-go-v2 like it talks to AWS:
// [Server.AWSConfig] gives an aws.Config pointed at the server with static
// credentials, and [Server.Kinesis] a client built from it.
//
//	func TestOrders(t *testing.T) {
//		srv := sluicetest.Start(t)
//		srv.CreateStream(t.Context(), "orders", 2)
//		app := orders.New(srv.Kinesis()) // the code under test
//		...
//	}
package sluicetest
