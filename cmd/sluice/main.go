// Command sluice is the Sluice server and its command-line client.
//
//	sluice serve                 run the Kinesis-compatible server
//	sluice stream create|list|describe|delete|split|merge|scale|retention|tag
//	sluice put | tail | bench    write, follow and load-test any Kinesis endpoint
//	sluice group list|describe|reset   consumer groups and their checkpoints
//	sluice keys create|list      the server's encryption keyring
//	sluice dev-cluster           a local 3-node cluster with servers over it
//	sluice pipeline run|validate|list|query   pipelines from YAML files
//	sluice version | completion  build information, shell completion
//
// Exit status: 0 on success (and for --help), 1 when a command fails, 2
// when it was called wrongly (unknown command or flag, missing argument).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &cmdEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	code := env.main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// command is one subcommand: it parses its own flags from args. A command
// with subs is a group of commands (`sluice stream ...`) instead.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) error
	subs    func() []command
	help    string // for a group: printed under its list of commands
}

// cmdEnv is what a subcommand may touch of the process.
type cmdEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	// verbose is set by a client command's --verbose: errors are printed
	// with their whole chain rather than summed up in one line.
	verbose bool
	// synopses are the usage lines of the flag sets newFlagSet made, for
	// the short usage printed under a usage error.
	synopses map[*flag.FlagSet]string
	// onFlagSet, when set, sees every flag set newFlagSet makes; shell
	// completion uses it to learn a command's flags.
	onFlagSet func(*flag.FlagSet)
}

func commands() []command {
	return []command{
		{name: "serve", summary: "run the Kinesis-compatible server", run: runServe},
		{name: "stream", summary: "create, list, describe, reshard, tag or delete streams", subs: streamCommands},
		{name: "put", summary: "write records from arguments or stdin lines", run: runPut},
		{name: "tail", summary: "follow every shard of a stream and print records", run: runTail},
		{name: "group", summary: "list consumer groups, show their checkpoints and lag, move checkpoints", subs: groupCommands, help: groupHelp},
		{name: "bench", summary: "load-test a Kinesis endpoint", run: runBench},
		{name: "pipeline", summary: "run, validate or list pipelines described in YAML files", subs: pipelineCommands, help: pipelineHelp},
		{name: "keys", summary: "create or list the server's encryption keys", subs: keysCommands},
		{name: "dev-cluster", summary: "run a 3-node JetStream cluster and servers over it, to try cluster mode", run: runDevCluster},
		{name: "version", summary: "print the version, commit and Go version of this binary", run: runVersion},
		{name: "completion", summary: "print a shell completion script: bash, zsh or fish", run: runCompletion},
		{name: completeCommand, run: runComplete}, // hidden: answers the completion scripts
	}
}

// main runs one command line and reports how it ended; it returns the
// exit status.
func (env *cmdEnv) main(ctx context.Context, args []string) int {
	err := env.run(ctx, args)
	return env.report(err)
}

// run is main without the reporting, for tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	env := &cmdEnv{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return env.run(ctx, args)
}

func (env *cmdEnv) run(ctx context.Context, args []string) error {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		return runVersion(ctx, env, args[1:])
	}
	return dispatch(ctx, env, "sluice", "", commands(), args)
}

// dispatch runs the command of cmds that args[0] names.
func dispatch(ctx context.Context, env *cmdEnv, path, help string, cmds []command, args []string) error {
	// Under a usage error, the command names on one line: the whole
	// list would push the message off a small terminal.
	usage := func(w io.Writer) { commandsBrief(w, path, cmds) }
	fullUsage := func(w io.Writer) {
		commandsUsage(w, path, cmds)
		if help != "" {
			fmt.Fprintf(w, "\n%s\n", help)
		}
	}
	if len(args) == 0 {
		return &usageErr{msg: "missing command", usage: usage}
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fullUsage(env.stdout)
		return flag.ErrHelp
	case "help":
		if len(args) == 1 {
			fullUsage(env.stdout)
			return flag.ErrHelp
		}
		// `sluice help tail` is `sluice tail --help`.
		return dispatch(ctx, env, path, help, cmds, append(args[1:], "--help"))
	}
	for _, c := range cmds {
		if c.name != args[0] {
			continue
		}
		if c.subs != nil {
			return dispatch(ctx, env, path+" "+c.name, c.help, c.subs(), args[1:])
		}
		return c.run(ctx, env, args[1:])
	}
	return &usageErr{msg: fmt.Sprintf("unknown command %q", args[0]), usage: usage}
}

func commandsUsage(w io.Writer, path string, cmds []command) {
	fmt.Fprintf(w, "Usage: %s <command> [flags]\n\nCommands:\n", path)
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.name))
	}
	for _, c := range cmds {
		if c.summary != "" {
			fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
		}
	}
	fmt.Fprintf(w, "\nRun '%s <command> --help' for the flags of a command.\n", path)
}

// commandsBrief is the short usage printed under a usage error.
func commandsBrief(w io.Writer, path string, cmds []command) {
	var names []string
	for _, c := range cmds {
		if c.summary != "" {
			names = append(names, c.name)
		}
	}
	fmt.Fprintf(w, "Usage: %s <command> [flags]\nCommands: %s\nRun '%s --help' for what each does.\n", path, strings.Join(names, ", "), path)
}

// report prints how a command ended and returns the exit status: usage
// errors get the message and a short usage (2), other errors one line
// saying what happened and what to do, or the whole chain with --verbose (1).
func (env *cmdEnv) report(err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ue *usageErr
	if errors.As(err, &ue) {
		fmt.Fprintf(env.stderr, "sluice: %s\n", ue.msg)
		switch {
		case ue.usage != nil:
			ue.usage(env.stderr)
		case ue.fs != nil:
			synopsis := env.synopses[ue.fs]
			if synopsis == "" {
				synopsis = "sluice " + ue.fs.Name() + " [flags]"
			}
			fmt.Fprintf(env.stderr, "Usage: %s\nRun 'sluice %s --help' for the flags.\n", synopsis, ue.fs.Name())
		}
		return exitUsage
	}
	if env.verbose {
		fmt.Fprintf(env.stderr, "sluice: %v\n", err)
	} else {
		fmt.Fprintf(env.stderr, "sluice: %s\n", explain(err))
	}
	return exitError
}

// usageErr is a command called wrongly: an unknown command or flag, a
// missing or extra argument, a bad flag value.
type usageErr struct {
	msg string
	// fs is the flag set of the command, whose synopsis is printed; or
	// usage prints a short usage itself.
	fs    *flag.FlagSet
	usage func(io.Writer)
}

func (e *usageErr) Error() string { return e.msg }
