package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func TestCheckHost(t *testing.T) {
	g := New(Options{Account: testAccount, AllowedHosts: []string{"localhost", ".localhost", "127.0.0.1", "::1", "Kinesis.Example.com"}})
	h := g.CheckHost(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	for host, want := range map[string]int{
		"localhost:4567":           200,
		"app.localhost:4567":       200,
		"127.0.0.1:4567":           200,
		"[::1]:4567":               200,
		"kinesis.example.com":      200,
		"KINESIS.example.com:443":  200,
		"attacker.example:4567":    421,
		"localhost.attacker:4567":  421,
		"127.0.0.1.nip.io:4567":    421,
		"":                         421,
		"evil-localhost.com:4567":  421,
		"example.com":              421,
		"sub.kinesis.example.com":  421,
		"192.168.1.10:4567":        421,
		"kinesis.example.com.:443": 421,
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != want {
			t.Errorf("Host %q: %d, want %d", host, rec.Code, want)
		}
	}
	// No names: any host.
	open := New(Options{Account: testAccount}).CheckHost(http.NotFoundHandler())
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Host = "anything"
	rec := httptest.NewRecorder()
	open.ServeHTTP(rec, r)
	if rec.Code != 404 {
		t.Errorf("no allowed hosts: %d", rec.Code)
	}
}

// opsServer serves a protected page and the login form.
func opsServer(t *testing.T, g *Gate) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", g.Protect(ActionGetMetrics, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "metrics for "+IdentityFrom(r.Context()).Principal.ARN)
	})))
	mux.Handle("GET /console/", g.Protect(ActionViewConsole, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "console for "+IdentityFrom(r.Context()).Principal.ARN)
	})))
	mux.Handle(LoginPath, g.Login())
	mux.Handle(LogoutPath, g.Login())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, c *http.Client, r *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestProtect(t *testing.T) {
	g := newGate(testConfig(t), testNow)
	srv := opsServer(t, g)
	req := func() *http.Request { r, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil); return r }

	// Nothing: 401 with a Basic challenge.
	resp, err := srv.Client().Do(req())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("no credentials: %d %v", resp.StatusCode, resp.Header)
	}
	// A page's script gets JSON and no challenge (no browser dialog).
	r := req()
	r.Header.Set("Sec-Fetch-Mode", "cors")
	resp, err = srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("script without a session: %d %v", resp.StatusCode, resp.Header)
	}
	// Basic from loopback.
	r = req()
	r.SetBasicAuth("AKIDALICE", "alice-secret")
	if code, body := get(t, srv.Client(), r); code != 200 || body != "metrics for arn:aws:iam::123456789012:user/alice" {
		t.Fatalf("basic: %d %s", code, body)
	}
	r = req()
	r.SetBasicAuth("AKIDALICE", "wrong")
	if code, _ := get(t, srv.Client(), r); code != 401 {
		t.Fatalf("basic, wrong secret: %d", code)
	}
	// A temporary key cannot use Basic: it has a token to show.
	r = req()
	r.SetBasicAuth("ASIATEMP", "temp-secret")
	if code, _ := get(t, srv.Client(), r); code != 401 {
		t.Fatalf("basic, temporary key: %d", code)
	}
	// SigV4, as awscurl signs.
	r = req()
	sum := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(context.Background(), alice, r, hex.EncodeToString(sum[:]), "kinesis", testRegion, testNow); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, srv.Client(), r); code != 200 || !strings.HasSuffix(body, "user/alice") {
		t.Fatalf("sigv4: %d %s", code, body)
	}
	r = req()
	_ = v4.NewSigner().SignHTTP(context.Background(), alice, r, hex.EncodeToString(sum[:]), "kinesis", testRegion, testNow.Add(-time.Hour))
	if code, body := get(t, srv.Client(), r); code != 401 || !strings.Contains(body, "Signature expired") {
		t.Fatalf("stale sigv4: %d %s", code, body)
	}
	// A principal whose policies do not allow the surface: 403.
	r = req()
	r.SetBasicAuth("AKIDROOT", "root-secret")
	if code, _ := get(t, srv.Client(), r); code != 200 {
		t.Fatalf("root: %d", code)
	}
	cfg, _ := ParseConfig([]byte(`{"principals":[{"arn":"arn:aws:iam::123456789012:user/app","accessKeys":[{"accessKeyId":"APP","secretAccessKey":"s"}],
		"policies":[{"Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}}]}]}`))
	g.SetConfig(cfg)
	r = req()
	r.SetBasicAuth("APP", "s")
	if code, body := get(t, srv.Client(), r); code != 403 || !strings.Contains(body, "is not authorized to perform: sluice:GetMetrics because no identity-based policy allows") {
		t.Fatalf("app: %d %s", code, body)
	}
}

// Basic authentication sends the secret itself: not over plain HTTP from
// another machine.
func TestProtect_BasicNeedsTLSOrLoopback(t *testing.T) {
	g := newGate(testConfig(t), testNow)
	h := g.Protect(ActionGetMetrics, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	r.RemoteAddr = "192.0.2.10:40000"
	r.SetBasicAuth("AKIDALICE", "alice-secret")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), "only over TLS") {
		t.Fatalf("basic over plain HTTP from afar: %d %s", rec.Code, rec.Body)
	}
}

// A browser signs in with the form, gets a session cookie, reaches the
// console with it, and signs out.
func TestLogin_Session(t *testing.T) {
	now := testNow
	g := New(Options{Region: testRegion, Account: testAccount, Credentials: testConfig(t), Now: func() time.Time { return now }})
	srv := opsServer(t, g)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}

	// A browser without a session is sent to the form.
	r, _ := http.NewRequest(http.MethodGet, srv.URL+"/console/streams", nil)
	r.Header.Set("Accept", "text/html")
	code, body := get(t, c, r)
	if code != 200 || !strings.Contains(body, `name="secret_access_key"`) || !strings.Contains(body, `value="/console/streams"`) {
		t.Fatalf("redirect to the form: %d %s", code, body)
	}
	login := func(secret, next string) (int, string) {
		form := url.Values{"access_key_id": {"AKIDALICE"}, "secret_access_key": {secret}, "next": {next}}
		r, _ := http.NewRequest(http.MethodPost, srv.URL+LoginPath, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return get(t, c, r)
	}
	if code, body := login("wrong", "/console/"); code != 401 || !strings.Contains(body, "not right") {
		t.Fatalf("wrong secret: %d %s", code, body)
	}
	if code, body := login("alice-secret", "/console/streams"); code != 200 || body != "console for arn:aws:iam::123456789012:user/alice" {
		t.Fatalf("sign in: %d %s", code, body)
	}
	// The cookie is HttpOnly and SameSite=Strict.
	u, _ := url.Parse(srv.URL)
	cookies := jar.Cookies(u)
	if len(cookies) != 1 || cookies[0].Name != sessionCookie {
		t.Fatalf("cookies %v", cookies)
	}
	// A redirect target off this server is not followed.
	if code, body := login("alice-secret", "//evil.example/"); code != 200 || !strings.HasPrefix(body, "console for") {
		t.Fatalf("next off-site: %d %s", code, body)
	}
	// A cross-site form post is refused.
	form := url.Values{"access_key_id": {"AKIDALICE"}, "secret_access_key": {"alice-secret"}}
	r, _ = http.NewRequest(http.MethodPost, srv.URL+LoginPath, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", "https://evil.example")
	if code, _ := get(t, http.DefaultClient, r); code != 403 {
		t.Fatalf("cross-origin sign-in: %d", code)
	}

	// The session expires.
	now = now.Add(sessionLifetime)
	r, _ = http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	if code, _ := get(t, c, r); code != 401 {
		t.Fatalf("expired session: %d", code)
	}
	now = testNow
	if code, _ := get(t, c, r); code != 200 {
		t.Fatalf("session: %d", code)
	}
	// Changing the key's secret ends its sessions.
	cfg, _ := ParseConfig([]byte(`{"principals":[{"arn":"arn:aws:iam::123456789012:user/alice","accessKeys":[{"accessKeyId":"AKIDALICE","secretAccessKey":"rotated"}]}]}`))
	g.SetConfig(cfg)
	if code, _ := get(t, c, r); code != 401 {
		t.Fatalf("session after the secret changed: %d", code)
	}
	g.SetConfig(testConfig(t))
	if code, _ := get(t, c, r); code != 200 {
		t.Fatalf("session with the secret back: %d", code)
	}
	// Signing out clears the cookie.
	r, _ = http.NewRequest(http.MethodPost, srv.URL+LogoutPath, nil)
	get(t, c, r)
	r, _ = http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	if code, _ := get(t, c, r); code != 401 {
		t.Fatalf("after sign-out: %d", code)
	}
	// A forged cookie gets nothing.
	for _, v := range []string{"v1.QUtJREFMSUNF.9999999999.00", "v1.x.y.z", "garbage", ""} {
		r, _ = http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: v})
		if code, _ := get(t, http.DefaultClient, r); code != 401 {
			t.Errorf("cookie %q: %d", v, code)
		}
	}
}

// On an open server the surfaces are open and the form is not needed.
func TestProtect_Open(t *testing.T) {
	srv := opsServer(t, newGate(nil, testNow))
	r, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	if code, body := get(t, srv.Client(), r); code != 200 || body != "metrics for arn:aws:iam::123456789012:root" {
		t.Fatalf("open: %d %s", code, body)
	}
	r, _ = http.NewRequest(http.MethodGet, srv.URL+LoginPath+"?next=/console/", nil)
	if code, body := get(t, srv.Client(), r); code != 200 || !strings.HasPrefix(body, "console for") {
		t.Fatalf("open login: %d %s", code, body)
	}
}
