package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultAlias names the key every keyring has, as AWS's managed Kinesis
// key is always there.
const DefaultAlias = "alias/aws/kinesis"

// KeySize is the size of every key in bytes: AES-256.
const KeySize = 32

// Errors callers branch on.
var (
	// ErrNotFound: no key of that id or alias.
	ErrNotFound = errors.New("key not found")
	// ErrInvalid: a ciphertext that the key does not open (wrong key, or
	// tampered with).
	ErrInvalid = errors.New("ciphertext does not authenticate")
)

// Key is one named 256-bit key. Material never leaves the package but in
// the keyring file.
type Key struct {
	ID        string    `json:"id"` // a UUID, as KMS key ids are
	Aliases   []string  `json:"aliases,omitempty"`
	Material  []byte    `json:"material"` // KeySize bytes (base64 in the file)
	CreatedAt time.Time `json:"createdAt"`
}

// file is the keyring file's format.
type file struct {
	Keys []Key `json:"keys"`
}

// Keyring holds named keys, in memory or backed by a file. It is safe for
// concurrent use.
type Keyring struct {
	path string // "" for an in-memory keyring

	mu      sync.RWMutex
	keys    []Key
	aeads   map[string]cipher.AEAD // by key id
	aliases map[string]string      // alias name -> key id
	stat    os.FileInfo            // of the file when last read
}

// New returns an in-memory keyring holding only DefaultAlias, with a
// random key: what it encrypts cannot be read by any other keyring.
func New() *Keyring {
	k := &Keyring{}
	if err := k.set([]Key{newKey(DefaultAlias)}); err != nil {
		panic(err) // a fresh key is always valid
	}
	return k
}

// Open reads the keyring file at path. With create, a missing file is
// created (mode 0600) holding a new DefaultAlias key; created reports it.
// A file without DefaultAlias is refused: every keyring has it.
func Open(path string, create bool) (k *Keyring, created bool, err error) {
	k = &Keyring{path: path}
	err = k.reload()
	if errors.Is(err, os.ErrNotExist) && create {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, fmt.Errorf("create keyring %s: %w", path, err)
		}
		// O_EXCL: two processes starting at once keep one key.
		var f *os.File
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			data, _ := json.MarshalIndent(file{Keys: []Key{newKey(DefaultAlias)}}, "", "  ")
			_, err = f.Write(append(data, '\n'))
			if serr := f.Sync(); err == nil {
				err = serr
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(path)
				return nil, false, fmt.Errorf("create keyring %s: %w", path, err)
			}
			created = true
		} else if !errors.Is(err, os.ErrExist) {
			return nil, false, fmt.Errorf("create keyring %s: %w", path, err)
		}
		err = k.reload()
	}
	if err != nil {
		return nil, false, err
	}
	return k, created, nil
}

// Path is the keyring's file, "" for an in-memory keyring.
func (k *Keyring) Path() string { return k.path }

// reload reads the file again.
func (k *Keyring) reload() error {
	st, err := os.Stat(k.path)
	if err != nil {
		return fmt.Errorf("read keyring: %w", err)
	}
	data, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("read keyring: %w", err)
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("read keyring %s: %w", k.path, err)
	}
	if err := k.set(f.Keys); err != nil {
		return fmt.Errorf("read keyring %s: %w", k.path, err)
	}
	k.mu.Lock()
	k.stat = st
	k.mu.Unlock()
	return nil
}

// set replaces the keys after checking them.
func (k *Keyring) set(keys []Key) error {
	aeads := make(map[string]cipher.AEAD, len(keys))
	aliases := make(map[string]string)
	for _, key := range keys {
		if !uuidRe.MatchString(key.ID) {
			return fmt.Errorf("key id %q is not a UUID", key.ID)
		}
		if _, dup := aeads[key.ID]; dup {
			return fmt.Errorf("key %s appears twice", key.ID)
		}
		if len(key.Material) != KeySize {
			return fmt.Errorf("key %s has %d bytes of material, want %d", key.ID, len(key.Material), KeySize)
		}
		for _, a := range key.Aliases {
			if !aliasRe.MatchString(a) {
				return fmt.Errorf("key %s: alias %q is not alias/ followed by letters, digits, /, _ or -", key.ID, a)
			}
			if other, dup := aliases[a]; dup {
				return fmt.Errorf("alias %s names both %s and %s", a, other, key.ID)
			}
			aliases[a] = key.ID
		}
		aeads[key.ID] = newAEAD(key.Material)
	}
	if _, ok := aliases[DefaultAlias]; !ok {
		return fmt.Errorf("no key has the alias %s", DefaultAlias)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys, k.aeads, k.aliases = keys, aeads, aliases
	return nil
}

func newAEAD(material []byte) cipher.AEAD {
	block, err := aes.NewCipher(material)
	if err != nil {
		panic(err) // KeySize bytes always make a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

func newKey(aliases ...string) Key {
	material := make([]byte, KeySize)
	rand.Read(material)
	return Key{ID: newUUID(), Aliases: aliases, Material: material, CreatedAt: time.Now().UTC().Truncate(time.Second)}
}

func newUUID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

var (
	uuidRe  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	aliasRe = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]{1,250}$`)
)

// ValidAlias reports whether name is a KMS alias name: alias/ followed by
// 1 to 250 letters, digits, slashes, underscores or dashes.
func ValidAlias(name string) bool { return aliasRe.MatchString(name) }

// Create adds a new random key with the given aliases to the keyring file
// and returns its id. Aliases under alias/aws/ are AWS's and refused. The
// file is rewritten atomically (a temporary file renamed over it).
func (k *Keyring) Create(aliases ...string) (string, error) {
	if k.path == "" {
		return "", errors.New("create key: in-memory keyring")
	}
	if err := k.reload(); err != nil {
		return "", err
	}
	k.mu.RLock()
	keys := slices.Clone(k.keys)
	for _, a := range aliases {
		if !aliasRe.MatchString(a) {
			k.mu.RUnlock()
			return "", fmt.Errorf("alias %q: want alias/ followed by letters, digits, /, _ or -", a)
		}
		if strings.HasPrefix(a, "alias/aws/") {
			k.mu.RUnlock()
			return "", fmt.Errorf("alias %s: the alias/aws/ prefix is reserved for AWS managed keys", a)
		}
		if id, dup := k.aliases[a]; dup {
			k.mu.RUnlock()
			return "", fmt.Errorf("alias %s already names key %s", a, id)
		}
	}
	k.mu.RUnlock()
	key := newKey(aliases...)
	keys = append(keys, key)
	data, err := json.MarshalIndent(file{Keys: keys}, "", "  ")
	if err != nil {
		return "", fmt.Errorf("create key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(k.path), ".keyring-*")
	if err != nil {
		return "", fmt.Errorf("create key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), k.path)
	}
	if err != nil {
		return "", fmt.Errorf("create key: write %s: %w", k.path, err)
	}
	if err := k.reload(); err != nil {
		return "", err
	}
	return key.ID, nil
}

// KeyInfo describes a key without its material.
type KeyInfo struct {
	ID        string
	Aliases   []string
	CreatedAt time.Time
}

// Keys lists the keys in file order.
func (k *Keyring) Keys() []KeyInfo {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]KeyInfo, len(k.keys))
	for i, key := range k.keys {
		out[i] = KeyInfo{ID: key.ID, Aliases: slices.Clone(key.Aliases), CreatedAt: key.CreatedAt}
	}
	return out
}

// Lookup returns the id of the key named by a key id (UUID) or an alias
// name (alias/...). A name not found makes a file-backed keyring read its
// file again if it changed, so keys added by `sluice keys create` are
// found without a restart.
func (k *Keyring) Lookup(name string) (string, error) {
	if id, ok := k.lookup(name); ok {
		return id, nil
	}
	if k.changed() {
		if err := k.reload(); err != nil {
			return "", err
		}
		if id, ok := k.lookup(name); ok {
			return id, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, ErrNotFound)
}

func (k *Keyring) lookup(name string) (string, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if strings.HasPrefix(name, "alias/") {
		id, ok := k.aliases[name]
		return id, ok
	}
	_, ok := k.aeads[name]
	return name, ok
}

// changed reports whether the keyring file was modified since it was
// read: replaced (Create renames a new file over it) or written to.
func (k *Keyring) changed() bool {
	if k.path == "" {
		return false
	}
	st, err := os.Stat(k.path)
	if err != nil {
		return false
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	old := k.stat
	return old == nil || !os.SameFile(st, old) || !st.ModTime().Equal(old.ModTime()) || st.Size() != old.Size()
}

func (k *Keyring) aead(id string) (cipher.AEAD, error) {
	k.mu.RLock()
	a, ok := k.aeads[id]
	k.mu.RUnlock()
	if !ok {
		if _, err := k.Lookup(id); err != nil {
			return nil, err
		}
		k.mu.RLock()
		a = k.aeads[id]
		k.mu.RUnlock()
	}
	return a, nil
}

// Wrap encrypts plaintext (a data key) under key id with AES-256-GCM,
// binding aad, and returns nonce followed by ciphertext.
func (k *Keyring) Wrap(id string, plaintext, aad []byte) ([]byte, error) {
	a, err := k.aead(id)
	if err != nil {
		return nil, fmt.Errorf("wrap with key %s: %w", id, err)
	}
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plaintext)+a.Overhead())
	rand.Read(nonce)
	return a.Seal(nonce, nonce, plaintext, aad), nil
}

// Unwrap opens what Wrap returned, with the same key id and aad.
// ErrNotFound if the key is not in the keyring, ErrInvalid if it does not
// open.
func (k *Keyring) Unwrap(id string, wrapped, aad []byte) ([]byte, error) {
	a, err := k.aead(id)
	if err != nil {
		return nil, fmt.Errorf("unwrap with key %s: %w", id, err)
	}
	if len(wrapped) < a.NonceSize()+a.Overhead() {
		return nil, fmt.Errorf("unwrap with key %s: %w", id, ErrInvalid)
	}
	n := a.NonceSize()
	out, err := a.Open(nil, wrapped[:n], wrapped[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("unwrap with key %s: %w", id, ErrInvalid)
	}
	return out, nil
}

// KeyRef is a KMS KeyId taken apart: Name is the key id or the alias name
// (alias/...); Region and Account are set when it was an ARN.
type KeyRef struct {
	Region, Account string
	Name            string
}

// ParseKeyID takes apart a KeyId in one of the forms KMS accepts: a key id
// (UUID), a key ARN (arn:aws:kms:<region>:<account>:key/<id>), an alias
// name (alias/<name>) or an alias ARN (arn:aws:kms:<region>:<account>:alias/<name>).
func ParseKeyID(s string) (KeyRef, bool) {
	if !strings.HasPrefix(s, "arn:") {
		if uuidRe.MatchString(s) || aliasRe.MatchString(s) {
			return KeyRef{Name: s}, true
		}
		return KeyRef{}, false
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || !strings.HasPrefix(parts[1], "aws") || parts[2] != "kms" || parts[3] == "" || parts[4] == "" {
		return KeyRef{}, false
	}
	ref := KeyRef{Region: parts[3], Account: parts[4]}
	switch {
	case strings.HasPrefix(parts[5], "key/") && uuidRe.MatchString(parts[5][4:]):
		ref.Name = parts[5][4:]
	case aliasRe.MatchString(parts[5]):
		ref.Name = parts[5]
	default:
		return KeyRef{}, false
	}
	return ref, true
}
