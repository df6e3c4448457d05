package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is what an authenticating server knows: the access keys it
// accepts, each belonging to a principal, and each principal's identity
// policies. It is immutable once built; a reload builds a new one.
type Config struct {
	keys map[string]*Key
}

// Key is an access key: its id, its secret, and the principal it signs
// for. A key with a SessionToken is temporary: requests must carry the
// token, and after Expires (if set) they are refused as expired.
type Key struct {
	ID           string
	secret       string
	SessionToken string
	Expires      time.Time
	Principal    *Principal
}

// Principal is who signs with a key: an account's root user, an IAM user,
// or a role session.
type Principal struct {
	ARN     string
	Account string
	// Type is aws:PrincipalType: Account (the root user), User,
	// AssumedRole.
	Type string
	// Name is the user name (aws:username) or the session name.
	Name string
	// RoleARN is the role an AssumedRole session belongs to: aws:PrincipalArn
	// and Principal elements naming the role match its sessions.
	RoleARN  string
	Policies []*Policy
}

// Root reports whether p is an account's root user, which needs no
// identity policy.
func (p *Principal) Root() bool { return p.Type == "Account" }

// principalARN returns the ARN conditions and Principal elements match:
// the role for a role session, else the principal's own.
func (p *Principal) principalARN() string {
	if p.RoleARN != "" {
		return p.RoleARN
	}
	return p.ARN
}

// RootPrincipal is the root user of account.
func RootPrincipal(account string) *Principal {
	return &Principal{ARN: "arn:aws:iam::" + account + ":root", Account: account, Type: "Account", Name: account}
}

// Key returns the access key with the given id, or nil.
func (c *Config) Key(id string) *Key {
	if c == nil {
		return nil
	}
	return c.keys[id]
}

// Keys is the number of access keys.
func (c *Config) Keys() int {
	if c == nil {
		return 0
	}
	return len(c.keys)
}

// configFile is the credentials file: principals, each with its access
// keys and identity policies.
type configFile struct {
	Principals []struct {
		ARN        string `json:"arn"`
		AccessKeys []struct {
			AccessKeyID     string     `json:"accessKeyId"`
			SecretAccessKey string     `json:"secretAccessKey"`
			SessionToken    string     `json:"sessionToken"`
			Expires         *time.Time `json:"expires"`
		} `json:"accessKeys"`
		Policies []json.RawMessage `json:"policies"`
	} `json:"principals"`
}

// ParseConfig reads a credentials file (JSON; see docs/security.md).
// Every principal ARN, key and policy is checked; an error names the
// first problem.
func ParseConfig(data []byte) (*Config, error) {
	var f configFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	c := &Config{keys: map[string]*Key{}}
	for i, fp := range f.Principals {
		p, err := ParsePrincipalARN(fp.ARN)
		if err != nil {
			return nil, fmt.Errorf("credentials: principal %d: %w", i+1, err)
		}
		for j, raw := range fp.Policies {
			pol, err := ParsePolicy(string(raw), IdentityPolicy)
			if err != nil {
				return nil, fmt.Errorf("credentials: %s: policy %d: %w", p.ARN, j+1, err)
			}
			p.Policies = append(p.Policies, pol)
		}
		for _, fk := range fp.AccessKeys {
			k := &Key{ID: fk.AccessKeyID, secret: fk.SecretAccessKey, SessionToken: fk.SessionToken, Principal: p}
			if fk.Expires != nil {
				k.Expires = *fk.Expires
			}
			if err := c.add(k); err != nil {
				return nil, fmt.Errorf("credentials: %s: %w", p.ARN, err)
			}
		}
	}
	return c, nil
}

// WithRootKey returns a copy of c (which may be nil) that also accepts an
// access key of account's root user.
func (c *Config) WithRootKey(account, id, secret string) (*Config, error) {
	n := &Config{keys: map[string]*Key{}}
	if c != nil {
		for k, v := range c.keys {
			n.keys[k] = v
		}
	}
	if err := n.add(&Key{ID: id, secret: secret, Principal: RootPrincipal(account)}); err != nil {
		return nil, err
	}
	return n, nil
}

func (c *Config) add(k *Key) error {
	switch {
	case k.ID == "":
		return errors.New("an access key has no accessKeyId")
	case strings.ContainsAny(k.ID, "/ ,="):
		return fmt.Errorf("access key id %q: may not hold '/', ',', '=' or spaces", k.ID)
	case k.secret == "":
		return fmt.Errorf("access key %s has no secretAccessKey", k.ID)
	case c.keys[k.ID] != nil:
		return fmt.Errorf("access key %s is listed twice", k.ID)
	}
	c.keys[k.ID] = k
	return nil
}

// ParsePrincipalARN reads the ARN of a principal a key may belong to:
// arn:aws:iam::ACCOUNT:root, arn:aws:iam::ACCOUNT:user/[PATH/]NAME or
// arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.
func ParsePrincipalARN(arn string) (*Principal, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[3] != "" || !isAccountID(parts[4]) {
		return nil, fmt.Errorf("principal %q: want arn:aws:iam::ACCOUNT:root, ...:user/NAME or arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION", arn)
	}
	partition, service, account, res := parts[1], parts[2], parts[4], parts[5]
	p := &Principal{ARN: arn, Account: account}
	switch {
	case service == "iam" && res == "root":
		p.Type, p.Name = "Account", account
	case service == "iam" && strings.HasPrefix(res, "user/") && !strings.HasSuffix(res, "/"):
		p.Type, p.Name = "User", res[strings.LastIndexByte(res, '/')+1:]
	case service == "sts" && strings.HasPrefix(res, "assumed-role/") && strings.Count(res, "/") == 2 && !strings.HasSuffix(res, "/"):
		role, session, _ := strings.Cut(strings.TrimPrefix(res, "assumed-role/"), "/")
		if role == "" {
			return nil, fmt.Errorf("principal %q: no role name", arn)
		}
		p.Type, p.Name = "AssumedRole", session
		p.RoleARN = "arn:" + partition + ":iam::" + account + ":role/" + role
	default:
		return nil, fmt.Errorf("principal %q: want arn:aws:iam::ACCOUNT:root, ...:user/NAME or arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION", arn)
	}
	return p, nil
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
