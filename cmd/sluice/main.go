// Command sluice is the Sluice server and its command-line client.
//
//	sluice serve                 run the Kinesis-compatible server
//	sluice stream create|list|describe|delete
//	sluice put | tail | bench    write, follow and load-test any Kinesis endpoint
//	sluice keys create|list      the server's encryption keyring
//	sluice dev-cluster           a local 3-node cluster with servers over it
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "sluice:", err)
		os.Exit(1)
	}
}

// command is one subcommand: it parses its own flags from args.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) error
}

// cmdEnv is what a subcommand may touch of the process.
type cmdEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func commands() []command {
	return []command{
		{"serve", "run the Kinesis-compatible server", runServe},
		{"stream", "create, list, describe or delete streams", runStream},
		{"put", "write records from arguments or stdin lines", runPut},
		{"tail", "follow every shard of a stream and print records", runTail},
		{"bench", "load-test a Kinesis endpoint", runBench},
		{"keys", "create or list the server's encryption keys", runKeys},
		{"dev-cluster", "run a 3-node JetStream cluster and servers over it, to try cluster mode", runDevCluster},
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	env := &cmdEnv{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return flag.ErrHelp
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: sluice <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'sluice <command> --help' for the flags of a command.")
}
