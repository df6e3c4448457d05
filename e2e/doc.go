// Package e2e holds Sluice's black-box end-to-end tests. They build the
// `sluice` binary once, start real `sluice serve` processes on 127.0.0.1:0
// with their own data directories, and drive them the way users do: with
// aws-sdk-go-v2, raw HTTP for protocol-level cases, the AWS CLI, the
// `sluice` client subcommands, and suites in other languages under sdk/
// (the JavaScript SDK v3 with node:test, boto3 with unittest) that
// sdk_javascript_test.go and sdk_python_test.go run. Expected behaviour is AWS's (see
// reference/kinesis-api.md), never Sluice's own client.
//
// The package has no code besides its tests; `go test ./e2e/` runs them.
// Useful flags:
//
//	go test ./e2e/ -short                      fewer crash cycles, no cluster test
//	go test ./e2e/ -run TestCrash -v           one test, with server logs on failure
//	go test ./e2e/ -race                       servers are built with -race too
package e2e
