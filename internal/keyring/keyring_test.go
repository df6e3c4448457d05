package keyring

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestOpen_CreatesPrivateFileWithDefaultKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "keyring.json")
	if _, _, err := Open(path, false); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open missing without create: %v", err)
	}
	k, created, err := Open(path, true)
	if err != nil || !created {
		t.Fatalf("create: %v, created %v", err, created)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("keyring file mode %v, want 0600", st.Mode().Perm())
	}
	id, err := k.Lookup(DefaultAlias)
	if err != nil {
		t.Fatal(err)
	}
	again, created, err := Open(path, true)
	if err != nil || created {
		t.Fatalf("reopen: %v, created %v", err, created)
	}
	if id2, _ := again.Lookup(DefaultAlias); id2 != id {
		t.Errorf("reopened keyring has default key %s, want %s", id2, id)
	}
	// What one wraps, the other (same file) unwraps.
	w, err := k.Wrap(id, []byte("data key"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := again.Unwrap(id, w, []byte("aad")); err != nil || string(p) != "data key" {
		t.Fatalf("unwrap: %q %v", p, err)
	}
	if _, err := again.Unwrap(id, w, []byte("other")); !errors.Is(err, ErrInvalid) {
		t.Errorf("unwrap with other aad: %v", err)
	}
	if bytes.Contains(w, []byte("data key")) {
		t.Error("wrapped key holds the plaintext")
	}
}

func TestKeyring_Create(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	server, _, err := Open(path, true)
	if err != nil {
		t.Fatal(err)
	}
	cli, _, err := Open(path, false)
	if err != nil {
		t.Fatal(err)
	}
	id, err := cli.Create("alias/mine", "alias/team/orders")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"alias/mine"}, {"alias/aws/other"}, {"mine"}, {"alias/a b"}} {
		if _, err := cli.Create(bad...); err == nil {
			t.Errorf("create %v: no error", bad)
		}
	}
	// The file changed on disk: a keyring opened before finds the new key.
	for _, name := range []string{"alias/mine", "alias/team/orders", id} {
		got, err := server.Lookup(name)
		if err != nil || got != id {
			t.Errorf("lookup %s: %s %v, want %s", name, got, err, id)
		}
	}
	if _, err := server.Lookup("alias/none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("lookup of a missing alias: %v", err)
	}
	if n := len(server.Keys()); n != 2 {
		t.Errorf("%d keys, want 2", n)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("rewritten file mode %v", st.Mode().Perm())
	}
	if _, err := New().Create("alias/x"); err == nil {
		t.Error("create in an in-memory keyring: no error")
	}
}

func TestOpen_RefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"nodefault": `{"keys":[{"id":"11111111-2222-4333-8444-555555555555","aliases":["alias/x"],"material":"` + b64(32) + `"}]}`,
		"short":     `{"keys":[{"id":"11111111-2222-4333-8444-555555555555","aliases":["alias/aws/kinesis"],"material":"` + b64(16) + `"}]}`,
		"badid":     `{"keys":[{"id":"k1","aliases":["alias/aws/kinesis"],"material":"` + b64(32) + `"}]}`,
		"notjson":   `keys`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Open(path, true); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

func b64(n int) string {
	const zeros = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	return zeros[:(n+2)/3*4]
}

func TestParseKeyID(t *testing.T) {
	const id = "1234abcd-12ab-34cd-56ef-1234567890ab"
	tests := []struct {
		in   string
		want KeyRef
		ok   bool
	}{
		{id, KeyRef{Name: id}, true},
		{"alias/aws/kinesis", KeyRef{Name: "alias/aws/kinesis"}, true},
		{"arn:aws:kms:us-east-1:111122223333:key/" + id, KeyRef{"us-east-1", "111122223333", id}, true},
		{"arn:aws:kms:us-east-1:111122223333:alias/mine", KeyRef{"us-east-1", "111122223333", "alias/mine"}, true},
		{"arn:aws-cn:kms:cn-north-1:111122223333:alias/mine", KeyRef{"cn-north-1", "111122223333", "alias/mine"}, true},
		{"arn:aws:kms:us-east-1:111122223333:key/nope", KeyRef{}, false},
		{"arn:aws:kinesis:us-east-1:111122223333:alias/mine", KeyRef{}, false},
		{"mine", KeyRef{}, false},
		{"alias/", KeyRef{}, false},
		{"", KeyRef{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseKeyID(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseKeyID(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
