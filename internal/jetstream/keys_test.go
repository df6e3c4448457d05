package jetstream

import (
	"regexp"
	"strings"
	"testing"
)

func TestEscapeKey(t *testing.T) {
	cases := []struct{ key, esc string }{
		{"stream/my-stream_1", "stream/my-stream_1"},
		{"stream/my.stream", "stream/my=2Estream"},
		{"a=2E", "a=3D2E"},
		{"a b", "a=20b"},
		{"*>", "=2A=3E"},
		{"é", "=C3=A9"},
		{"\x00\xff", "=00=FF"},
	}
	for _, c := range cases {
		if got := escapeKey(c.key); got != c.esc {
			t.Errorf("escapeKey(%q) = %q, want %q", c.key, got, c.esc)
		}
		if got, err := unescapeKey(c.esc); err != nil || got != c.key {
			t.Errorf("unescapeKey(%q) = %q, %v; want %q", c.esc, got, err, c.key)
		}
	}
	for _, bad := range []string{"=", "=4", "=4g", "=zz", "a=2"} {
		if got, err := unescapeKey(bad); err == nil {
			t.Errorf("unescapeKey(%q) = %q, want an error", bad, got)
		}
	}
}

// kvKeyRe is what a JetStream KV key may contain (nats.go validKeyRe).
var kvKeyRe = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)

func FuzzEscapeKey(f *testing.F) {
	for _, s := range []string{"stream/a.b", "..", "=", "=3D", "a b\x00", "ü"} {
		f.Add(s, "stream/")
	}
	f.Fuzz(func(t *testing.T, key, prefix string) {
		if key == "" {
			return
		}
		esc := escapeKey(key)
		if !kvKeyRe.MatchString(esc) || strings.Contains(esc, ".") {
			t.Fatalf("escapeKey(%q) = %q: not a single-token KV key", key, esc)
		}
		back, err := unescapeKey(esc)
		if err != nil || back != key {
			t.Fatalf("round trip of %q: %q, %v", key, back, err)
		}
		// Prefixes are preserved both ways.
		if strings.HasPrefix(key, prefix) != strings.HasPrefix(esc, escapeKey(prefix)) {
			t.Fatalf("prefix %q of %q: not preserved by escaping (%q, %q)", prefix, key, escapeKey(prefix), esc)
		}
	})
}
