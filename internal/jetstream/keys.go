package jetstream

import (
	"errors"
	"fmt"
	"strings"
)

// KV keys allow only [-/_=.a-zA-Z0-9] and no empty '.'-separated tokens,
// while metadata keys are arbitrary. escapeKey keeps [A-Za-z0-9_/-] and
// writes every other byte, '.' and '=' included, as "=XX" (upper-case hex).
// The mapping is per byte and prefix-free, so escapeKey(p) is a prefix of
// escapeKey(k) exactly when p is a prefix of k, and a key is always one
// subject token.

const hexDigits = "0123456789ABCDEF"

func plainKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '/'
}

func escapeKey(key string) string {
	var sb strings.Builder
	sb.Grow(len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		if plainKeyByte(c) {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('=')
		sb.WriteByte(hexDigits[c>>4])
		sb.WriteByte(hexDigits[c&0xF])
	}
	return sb.String()
}

func unescapeKey(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("unescape key %q: truncated escape", s)
		}
		hi, lo := unhex(s[i+1]), unhex(s[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("unescape key %q: bad escape", s)
		}
		out = append(out, byte(hi<<4|lo))
		i += 2
	}
	return string(out), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

func checkKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	return nil
}
