package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeys_CreateAndList(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	ctx := context.Background()
	if err := run(ctx, []string{"keys", "create", "--data-dir", dir, "--alias", "alias/a", "--alias", "alias/b"}, nil, &out, &errOut); err != nil {
		t.Fatalf("keys create: %v\n%s", err, errOut.String())
	}
	id := strings.TrimSpace(out.String())
	st, err := os.Stat(filepath.Join(dir, "keyring.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file: %v, mode %v", err, st.Mode().Perm())
	}
	if err := run(ctx, []string{"keys", "create", "--data-dir", dir, "--alias", "alias/a"}, nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "already names") {
		t.Errorf("duplicate alias: %v", err)
	}
	out.Reset()
	if err := run(ctx, []string{"keys", "list", "--keyring", filepath.Join(dir, "keyring.json")}, nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{id, "alias/a,alias/b", "alias/aws/kinesis"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("keys list does not show %q:\n%s", want, out.String())
		}
	}
	if err := run(ctx, []string{"keys", "list", "--data-dir", t.TempDir()}, nil, &out, &errOut); err == nil {
		t.Error("keys list of a missing keyring: no error")
	}
}
