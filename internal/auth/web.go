package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// The operational surfaces (metrics, profiles, the console) are for
// people and scrapers, not SDKs, so besides SigV4 they take two simpler
// proofs of the same access keys:
//
//   - HTTP Basic, the access key id as user name and the secret as
//     password (what Prometheus's basic_auth sends), accepted only over
//     TLS or from a loopback peer so the secret never crosses a network
//     in the clear;
//   - a session cookie for browsers, set by the login form at LoginPath
//     after it checked an access key id and secret: it holds the key id
//     and an expiry, MACed with a key derived from that key's secret, so
//     any server sharing the credentials file accepts it, and changing or
//     removing the key ends its sessions.

const (
	// LoginPath serves the login form (GET) and takes it (POST).
	LoginPath = "/auth/login"
	// LogoutPath ends the session (POST).
	LogoutPath = "/auth/logout"

	sessionCookie   = "sluice_session"
	sessionLifetime = 12 * time.Hour
	sessionVersion  = "v1"
)

// Actions of the operational surfaces, for identity policies.
const (
	ActionGetMetrics  = "sluice:GetMetrics"
	ActionGetProfile  = "sluice:GetProfile"
	ActionViewConsole = "sluice:ViewConsole"
)

// CheckHost refuses requests whose Host header is not one of the allowed
// names, so that a web page cannot reach a local server through a name
// it controls that resolves to 127.0.0.1 (DNS rebinding). With no names
// configured every host is allowed.
func (g *Gate) CheckHost(next http.Handler) http.Handler {
	if g.hosts == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.hostAllowed(r.Host) {
			http.Error(w, "Host "+strconv.Quote(r.Host)+" is not a name this server answers to (see --allowed-hosts).", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Gate) hostAllowed(host string) bool {
	h := normalizeHost(host)
	return g.hosts[h] || slices.ContainsFunc(g.hostSuffixes, func(s string) bool { return strings.HasSuffix(h, s) })
}

// normalizeHost lower-cases a host and drops its port and IPv6 brackets.
func normalizeHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.Trim(h, "[]"))
}

// Protect lets a request through to next only if its caller, proven by a
// session cookie, HTTP Basic or SigV4, may take action (on no resource).
// Browsers without a session are sent to the login form; other clients
// get 401 with a Basic challenge. On an open server everyone passes.
func (g *Gate) Protect(action string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := &Identity{Action: action, SourceIP: sourceIP(r), Secure: r.TLS != nil}
		if !g.enabled {
			id.Principal = g.root
			next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
			return
		}
		key, err := g.operatorKey(r)
		if key != nil {
			id.AccessKeyID = key.ID
		}
		if err != nil || key == nil {
			if err != nil {
				g.denied(id, "", err)
			}
			msg := "Authentication required: a console session, HTTP Basic (access key id and secret, over TLS or loopback) or a SigV4 signature."
			if err != nil {
				msg = err.Error()
			}
			switch {
			case wantsHTML(r) && r.Method == http.MethodGet:
				http.Redirect(w, r, LoginPath+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			case r.Header.Get("Sec-Fetch-Mode") != "":
				// A script of a page (the console's, its session over): no
				// Basic challenge, which would pop up the browser's dialog.
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_ = json.NewEncoder(w).Encode(map[string]string{"__type": string(kinesis.ErrUnrecognizedClient), "message": msg, "signIn": LoginPath})
			default:
				w.Header().Set("WWW-Authenticate", `Basic realm="sluice", charset="UTF-8"`)
				http.Error(w, msg, http.StatusUnauthorized)
			}
			return
		}
		id.Principal, id.Verified = key.Principal, true
		ctx := WithIdentity(r.Context(), id)
		if err := g.Authorize(ctx, action, "*", ""); err != nil {
			http.Error(w, err.(*kinesis.Error).Message, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// operatorKey finds the key a request to an operational surface proves
// it holds. No proof at all is (nil, nil).
func (g *Gate) operatorKey(r *http.Request) (*Key, error) {
	cfg := g.cfg.Load()
	if c, err := r.Cookie(sessionCookie); err == nil {
		if k := g.checkSession(cfg, c.Value); k != nil {
			return k, nil
		}
	}
	if id, secret, ok := r.BasicAuth(); ok {
		if r.TLS == nil && !sourceIP(r).IsLoopback() {
			return nil, errors.New("HTTP Basic authentication is accepted only over TLS or from this machine")
		}
		if k := cfg.Key(id); k != nil && k.SessionToken == "" && constantTimeEqual(k.secret, secret) {
			return k, nil
		}
		return nil, errors.New("the access key id or secret is not right")
	}
	if r.Header.Get("Authorization") != "" || r.URL.Query().Has("X-Amz-Algorithm") {
		if err := CheckPresence(r); err != nil {
			return nil, err
		}
		return g.verify(r, "kinesis", nil)
	}
	return nil, nil
}

func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// sessionMAC authenticates a session for key k until exp.
func sessionMAC(k *Key, exp int64) string {
	key := hmacSHA256([]byte(k.secret), "sluice console session "+sessionVersion)
	return hex.EncodeToString(hmacSHA256(key, sessionVersion+"|"+k.ID+"|"+strconv.FormatInt(exp, 10)))
}

func (g *Gate) newSession(k *Key) (value string, exp time.Time) {
	exp = g.now().Add(sessionLifetime)
	id := base64.RawURLEncoding.EncodeToString([]byte(k.ID))
	return sessionVersion + "." + id + "." + strconv.FormatInt(exp.Unix(), 10) + "." + sessionMAC(k, exp.Unix()), exp
}

// checkSession returns the key a session cookie is valid for, or nil.
func (g *Gate) checkSession(cfg *Config, value string) *Key {
	parts := strings.Split(value, ".")
	if len(parts) != 4 || parts[0] != sessionVersion {
		return nil
	}
	id, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || g.now().Unix() >= exp {
		return nil
	}
	k := cfg.Key(string(id))
	if k == nil || k.SessionToken != "" {
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(sessionMAC(k, exp)), []byte(parts[3])) != 1 {
		return nil
	}
	return k
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sluice: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem}
label{display:block;margin-top:1rem}input{width:100%;box-sizing:border-box;padding:.4rem}
button{margin-top:1.2rem;padding:.4rem 1rem}.err{color:#b00020}</style></head>
<body><h1>Sluice</h1>
<p>Sign in with an access key of this server.</p>
{{if .Error}}<p class="err">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="next" value="{{.Next}}">
<label>Access key id <input name="access_key_id" autocomplete="username" required></label>
<label>Secret access key <input name="secret_access_key" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form></body></html>
`))

// Login serves the login form at LoginPath and, on POST, checks the key
// and sets the session cookie; LogoutPath clears it. On an open server
// there is nothing to sign in to: it redirects to next.
func (g *Gate) Login() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next := safeNext(r.FormValue("next"))
		if r.URL.Path == LogoutPath {
			if r.Method != http.MethodPost {
				w.Header().Set("Allow", http.MethodPost)
				http.Error(w, "Sign out with POST.", http.StatusMethodNotAllowed)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
			http.Redirect(w, r, LoginPath, http.StatusSeeOther)
			return
		}
		if !g.enabled {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		switch r.Method {
		case http.MethodGet:
			g.renderLogin(w, http.StatusOK, next, "")
		case http.MethodPost:
			g.login(w, r, next)
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
		}
	})
}

func (g *Gate) login(w http.ResponseWriter, r *http.Request, next string) {
	// A cross-site form post would log the victim in as someone else.
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		if u, err := url.Parse(o); err != nil || !strings.EqualFold(u.Host, r.Host) {
			http.Error(w, "Cross-origin sign-in refused.", http.StatusForbidden)
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "Bad form.", http.StatusBadRequest)
		return
	}
	keyID, secret := r.PostForm.Get("access_key_id"), r.PostForm.Get("secret_access_key")
	k := g.cfg.Load().Key(keyID)
	id := &Identity{Action: ActionViewConsole, AccessKeyID: keyID, SourceIP: sourceIP(r), Secure: r.TLS != nil}
	if k == nil || k.SessionToken != "" || !constantTimeEqual(k.secret, secret) {
		g.denied(id, "", kinesis.Errorf(kinesis.ErrUnrecognizedClient, "%s", invalidTokenMessage))
		g.renderLogin(w, http.StatusUnauthorized, next, "The access key id or secret is not right.")
		return
	}
	value, exp := g.newSession(k)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", Expires: exp, MaxAge: int(sessionLifetime / time.Second),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	id.Principal, id.Verified = k.Principal, true
	g.audit.Info("audit", g.auditAttrs(id, "sluice:SignIn", "", "allowed", "")...)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (g *Gate) renderLogin(w http.ResponseWriter, status int, next, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, struct{ Action, Next, Error string }{LoginPath, next, msg})
}

// safeNext keeps a redirect target on this server: a path, not a URL.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/console/"
	}
	return next
}
