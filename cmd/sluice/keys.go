package main

// `sluice keys create|list`: the keyring of `sluice serve`, whose keys
// StartStreamEncryption names by KeyId. It works on the keyring file
// directly, so a running server finds a new key without a restart (it
// reads the file again when asked for a key it does not know).

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/sluicehq/sluice/internal/keyring"
)

func keysCommands() []command {
	return []command{
		{name: "create", summary: "add a new random key with aliases to the keyring", run: runKeysCreate},
		{name: "list", summary: "list the keyring's key ids and aliases", run: runKeysList},
	}
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
	fs := newFlagSet(env, "keys create", "sluice keys create [--alias alias/NAME]... [flags]\n\n"+
		"Adds a new random 256-bit key to the keyring file (created if missing) and\n"+
		"prints its key id. Streams name it by key id, key ARN, alias or alias ARN.")
	var kf keyringFlags
	kf.register(fs)
	var aliases []string
	fs.Func("alias", "an alias `name` for the key, alias/...; repeat for several", func(v string) error {
		aliases = append(aliases, v)
		return nil
	})
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := flagsFromEnv(fs, env.getenv); err != nil {
		return err
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
	fs := newFlagSet(env, "keys list", "sluice keys list [flags]")
	var kf keyringFlags
	kf.register(fs)
	if err := parseFlags(fs, args); err != nil {
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
