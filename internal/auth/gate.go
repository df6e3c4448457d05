package auth

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// Options configures a Gate.
type Options struct {
	// Region and Account are the server's: they make resource ARNs, and
	// a caller of another account is a cross-account caller.
	Region, Account string
	// Credentials turns authentication on: every request must be signed
	// with one of its keys. Nil leaves the server open (signatures must
	// be present, nothing is verified, everyone acts as the root user).
	Credentials *Config
	// AllowedHosts are the names (and addresses) clients may reach the
	// server by, checked against the Host header; empty allows any.
	AllowedHosts []string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Audit receives the audit log; nil discards it.
	Audit *slog.Logger
	// Logger receives the gate's own problems (a stored policy that no
	// longer parses); nil discards.
	Logger *slog.Logger
}

// Gate authenticates and authorizes requests. It is safe for concurrent
// use; SetConfig swaps the credentials while requests are served.
type Gate struct {
	region, account string
	enabled         bool
	cfg             atomic.Pointer[Config]
	hosts           map[string]bool // nil: any
	hostSuffixes    []string        // ".example.com" entries
	now             func() time.Time
	audit, log      *slog.Logger
	root            *Principal
	signing         signingKeys
	policies        policyCache
}

// New returns a Gate.
func New(opts Options) *Gate {
	g := &Gate{
		region: opts.Region, account: opts.Account,
		enabled: opts.Credentials != nil,
		now:     opts.Now, audit: opts.Audit, log: opts.Logger,
		root: RootPrincipal(opts.Account),
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.audit == nil {
		g.audit = slog.New(slog.DiscardHandler)
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if len(opts.AllowedHosts) > 0 {
		g.hosts = make(map[string]bool, len(opts.AllowedHosts))
		for _, h := range opts.AllowedHosts {
			if strings.HasPrefix(h, ".") {
				g.hostSuffixes = append(g.hostSuffixes, strings.ToLower(h))
				continue
			}
			g.hosts[normalizeHost(h)] = true
		}
	}
	g.cfg.Store(opts.Credentials)
	return g
}

// Enabled reports whether requests are authenticated.
func (g *Gate) Enabled() bool { return g.enabled }

// SetConfig replaces the credentials of an authenticating gate, for a
// reload. A gate started open stays open; one started with credentials
// never becomes open, even if c holds no key (then nobody gets in).
func (g *Gate) SetConfig(c *Config) {
	if !g.enabled {
		return
	}
	if c == nil {
		c = &Config{}
	}
	g.cfg.Store(c)
}

// Identity is who made a request, as authentication found.
type Identity struct {
	// AccessKeyID is the key the request was signed with (not verified
	// on an open server).
	AccessKeyID string
	Principal   *Principal
	// Verified is false on an open server: the caller is taken to be the
	// account's root user.
	Verified bool
	// Action is the operation called, as an IAM action (kinesis:PutRecord).
	Action   string
	SourceIP netip.Addr
	Secure   bool // over TLS
}

type identityKey struct{}

// IdentityFrom returns the identity Authenticate put in ctx, or nil.
func IdentityFrom(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// Authenticate checks the signature of r, whose whole body is body, for
// action (an IAM action such as kinesis:PutRecord: the part before the
// colon is the signing service). It returns r's context carrying the
// caller's Identity, or an error in AWS's words (*kinesis.Error).
func (g *Gate) Authenticate(r *http.Request, action string, body []byte) (context.Context, error) {
	id := &Identity{Action: action, SourceIP: sourceIP(r), Secure: r.TLS != nil}
	if err := CheckPresence(r); err != nil {
		g.denied(id, "", err)
		return nil, err
	}
	if !g.enabled {
		id.Principal = g.root
		if _, params := authParams(r.Header.Get("Authorization")); params["Credential"] != "" {
			id.AccessKeyID, _, _ = strings.Cut(params["Credential"], "/")
		}
		return WithIdentity(r.Context(), id), nil
	}
	service, _, _ := strings.Cut(action, ":")
	key, err := g.verify(r, service, body)
	if key != nil {
		id.AccessKeyID = key.ID
	}
	if err != nil {
		g.denied(id, "", err)
		return nil, err
	}
	id.Principal, id.Verified = key.Principal, true
	return WithIdentity(r.Context(), id), nil
}

// verify checks r's signature, scoped to service, against the
// credentials. It returns the key the request names when it is known,
// with any error.
func (g *Gate) verify(r *http.Request, service string, body []byte) (*Key, error) {
	sig, err := parseSignature(r)
	if err != nil {
		return nil, err
	}
	now := g.now()
	if err := sig.checkTime(now); err != nil {
		return nil, err
	}
	if err := sig.checkScope(service); err != nil {
		return nil, err
	}
	if strings.HasPrefix(claimedPayloadHash(r), "STREAMING-") {
		return nil, kinesis.Errorf(kinesis.ErrInvalidSignature,
			"Chunked payload signing (%s) is not supported here; sign the whole payload or send UNSIGNED-PAYLOAD.", claimedPayloadHash(r))
	}
	key := g.cfg.Load().Key(sig.accessKeyID)
	if key == nil {
		return nil, kinesis.Errorf(kinesis.ErrUnrecognizedClient, "%s", invalidTokenMessage)
	}
	if key.SessionToken != "" || sig.token != "" {
		if !constantTimeEqual(key.SessionToken, sig.token) {
			return key, kinesis.Errorf(kinesis.ErrUnrecognizedClient, "%s", invalidTokenMessage)
		}
		if !key.Expires.IsZero() && !now.Before(key.Expires) {
			return key, kinesis.Errorf(kinesis.ErrExpiredToken, "%s", expiredTokenMessage)
		}
	}
	if !sig.matches(&g.signing, key.secret, sig.stringToSign(r, body)) {
		return key, kinesis.Errorf(kinesis.ErrInvalidSignature, "%s", mismatchMessage)
	}
	return key, nil
}

// Authorize decides whether the caller in ctx may take action on resource
// (an ARN, or "*" for an action on no resource), given the resource's
// policy document ("" when it has none). A denial is an
// AccessDeniedException in AWS's words; every denial, and every decision
// on a control-plane action, goes to the audit log.
func (g *Gate) Authorize(ctx context.Context, action, resource, resourcePolicy string) error {
	id := IdentityFrom(ctx)
	if id == nil {
		if g.enabled { // a request that skipped authentication: refuse it
			return kinesis.Errorf(kinesis.ErrAccessDenied, "Unable to determine the caller to be authorized")
		}
		id = &Identity{Principal: g.root, Action: action}
	}
	var pol *Policy
	if resourcePolicy != "" && !(id.Principal.Root() && managesPolicy(action)) {
		var err error
		if pol, err = g.policies.get(resourcePolicy); err != nil {
			// Stored before it could be checked, or by an older version:
			// fail closed rather than ignore what it may deny.
			g.log.Error("resource policy does not parse; denying", "resource", resource, "err", err)
			return g.deny(id, action, resource, explicitDenyResource)
		}
	}
	req := &request{action: action, lowAction: strings.ToLower(action), resource: resource, principal: id.Principal,
		keys: conditionKeys{g: g, id: id}.get}
	if d := evaluate(req, pol, g.account); d != allowed {
		return g.deny(id, action, resource, d)
	}
	if !dataPlane(action) {
		lvl := slog.LevelInfo
		if !id.Verified {
			lvl = slog.LevelDebug // an open server: no one to account for
		}
		g.audit.Log(context.Background(), lvl, "audit", g.auditAttrs(id, action, resource, "allowed", "")...)
	}
	return nil
}

// managesPolicy reports whether action reads or changes resource
// policies: the root user may always, so that no policy locks it out.
func managesPolicy(action string) bool {
	switch action {
	case "kinesis:PutResourcePolicy", "kinesis:GetResourcePolicy", "kinesis:DeleteResourcePolicy":
		return true
	}
	return false
}

func (g *Gate) deny(id *Identity, action, resource string, d decision) error {
	var why string
	switch d {
	case explicitDenyIdentity:
		why = "with an explicit deny in an identity-based policy"
	case explicitDenyResource:
		why = "with an explicit deny in a resource-based policy"
	case noResourceAllow:
		why = "because no resource-based policy allows the " + action + " action"
	default:
		why = "because no identity-based policy allows the " + action + " action"
	}
	var msg string
	if resource == "*" {
		msg = "User: " + id.Principal.ARN + " is not authorized to perform: " + action + " " + why
	} else {
		msg = "User: " + id.Principal.ARN + " is not authorized to perform: " + action + " on resource: " + resource + " " + why
	}
	err := kinesis.Errorf(kinesis.ErrAccessDenied, "%s", msg)
	g.audit.Info("audit", g.auditAttrs(id, action, resource, string(kinesis.ErrAccessDenied), why)...)
	return err
}

// denied logs a request refused by authentication.
func (g *Gate) denied(id *Identity, resource string, err error) {
	g.audit.Info("audit", g.auditAttrs(id, id.Action, resource, string(kinesis.CodeOf(err)), "")...)
}

// auditAttrs are the fields of an audit line. Never a secret, a signature
// or a token: the access key id is an identifier, as in CloudTrail.
func (g *Gate) auditAttrs(id *Identity, action, resource, outcome, reason string) []any {
	principal := ""
	if id.Principal != nil {
		principal = id.Principal.ARN
	}
	attrs := []any{"principal", principal, "access_key_id", id.AccessKeyID, "action", action}
	if resource != "" {
		attrs = append(attrs, "resource", resource)
	}
	attrs = append(attrs, "outcome", outcome)
	if reason != "" {
		attrs = append(attrs, "reason", reason)
	}
	if id.SourceIP.IsValid() {
		attrs = append(attrs, "source_ip", id.SourceIP.String())
	}
	return attrs
}

// dataPlane reports whether action moves records or items (logged only
// when denied) rather than managing resources (always logged).
func dataPlane(action string) bool {
	switch action {
	case "kinesis:PutRecord", "kinesis:PutRecords", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:SubscribeToShard",
		"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan",
		"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:TransactGetItems", "dynamodb:TransactWriteItems":
		return true
	}
	return false
}

// conditionKeys answers the global condition keys for one request.
type conditionKeys struct {
	g  *Gate
	id *Identity
}

func (c conditionKeys) get(key string) (string, bool) {
	p := c.id.Principal
	switch key {
	case "aws:sourceip":
		if c.id.SourceIP.IsValid() {
			return c.id.SourceIP.String(), true
		}
	case "aws:securetransport":
		return strconv.FormatBool(c.id.Secure), true
	case "aws:principalarn":
		return p.principalARN(), true
	case "aws:principalaccount":
		return p.Account, true
	case "aws:principaltype":
		return p.Type, true
	case "aws:username":
		if p.Type == "User" {
			return p.Name, true
		}
	case "aws:currenttime":
		return c.g.now().UTC().Format(time.RFC3339), true
	case "aws:epochtime":
		return strconv.FormatInt(c.g.now().Unix(), 10), true
	case "aws:requestedregion":
		return c.g.region, true
	case "aws:resourceaccount":
		return c.g.account, true
	}
	return "", false
}

// sourceIP is the address of the peer: proxies' X-Forwarded-For is not
// trusted, since any client can send it.
func sourceIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// policyCache keeps parsed resource policies by their text, so that a
// stream's policy is parsed once, not per request.
type policyCache struct {
	mu sync.Mutex
	m  map[string]policyEntry
}

type policyEntry struct {
	p   *Policy
	err error
}

func (c *policyCache) get(doc string) (*Policy, error) {
	c.mu.Lock()
	e, ok := c.m[doc]
	c.mu.Unlock()
	if ok {
		return e.p, e.err
	}
	e.p, e.err = ParsePolicy(doc, ResourcePolicy)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= 1024 {
		c.m = make(map[string]policyEntry)
	}
	c.m[doc] = e
	c.mu.Unlock()
	return e.p, e.err
}
