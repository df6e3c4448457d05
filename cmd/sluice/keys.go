package main

// `sluice keys create|list`: the keyring of `sluice serve`, whose keys
// StartStreamEncryption names by KeyId. It works on the keyring file
// directly, so a running server finds a new key without a restart (it
// reads the file again when asked for a key it does not know).

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/sluicehq/sluice/internal/keyring"
)

func keysCommands() []command {
	return []command{
		{"create", "add a new random key with aliases to the keyring", runKeysCreate},
		{"list", "list the keyring's key ids and aliases", runKeysList},
	}
}

func runKeys(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		keysUsage(env.stderr)
		return flag.ErrHelp
	}
	for _, c := range keysCommands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	keysUsage(env.stderr)
	return fmt.Errorf("unknown keys command %q", args[0])
}

func keysUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: sluice keys <command> [flags]\n\nCommands:")
	for _, c := range keysCommands() {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'sluice keys <command> --help' for the flags of a command.")
}

// keyringFlags locate the keyring file as `sluice serve` does.
type keyringFlags struct {
	path, dataDir string
}

func (k *keyringFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.path, "keyring", "", "keyring `file` (default <data-dir>/keyring.json)")
	fs.StringVar(&k.dataDir, "data-dir", "./sluice-data", "data `directory` of the server, where the keyring is by default")
}

func (k *keyringFlags) file() string {
	if k.path != "" {
		return k.path
	}
	return filepath.Join(k.dataDir, "keyring.json")
}

// openKeyring opens (or on first start creates) the keyring of `sluice
// serve`.
func openKeyring(c serveConfig, logger *slog.Logger) (*keyring.Keyring, error) {
	kf := keyringFlags{path: c.keyring, dataDir: c.dataDir}
	kr, created, err := keyring.Open(kf.file(), true)
	if err != nil {
		return nil, err
	}
	if created {
		logger.Info("created a keyring with the key alias/aws/kinesis", "file", kr.Path())
		if c.natsURL != "" {
			logger.Warn("every server of a cluster must use the same keyring: copy this file to each, or give each --keyring (SLUICE_KEYRING) naming a shared one", "file", kr.Path())
		}
	}
	return kr, nil
}

func runKeysCreate(ctx context.Context, env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var kf keyringFlags
	kf.register(fs)
	var aliases []string
	fs.Func("alias", "an alias `name` for the key, alias/...; repeat for several", func(v string) error {
		aliases = append(aliases, v)
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "Usage: sluice keys create [--alias alias/NAME]... [flags]\n\nAdds a new random 256-bit key to the keyring file (created if missing) and\nprints its key id. Streams name it by key id, key ARN, alias or alias ARN.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := flagsFromEnv(fs, env.getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("keys create: unexpected arguments %q", fs.Args())
	}
	kr, _, err := keyring.Open(kf.file(), true)
	if err != nil {
		return err
	}
	id, err := kr.Create(aliases...)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, id)
	return nil
}

func runKeysList(ctx context.Context, env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("keys list", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var kf keyringFlags
	kf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := flagsFromEnv(fs, env.getenv); err != nil {
		return err
	}
	kr, _, err := keyring.Open(kf.file(), false)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY ID\tCREATED\tALIASES")
	for _, k := range kr.Keys() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, k.CreatedAt.Format("2006-01-02T15:04:05Z"), strings.Join(k.Aliases, ","))
	}
	return tw.Flush()
}
