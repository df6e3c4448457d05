package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/kinesis"
)

const (
	algorithm = "AWS4-HMAC-SHA256"
	// amzDateFormat is ISO 8601 basic format, as X-Amz-Date carries it.
	amzDateFormat = "20060102T150405Z"
	scopeDate     = "20060102"
	terminator    = "aws4_request"
	// MaxSkew is how far a request's time may be from the server's
	// clock, either way, as AWS allows.
	MaxSkew = 5 * time.Minute
	// maxPresignExpiry is the longest X-Amz-Expires AWS accepts: a week.
	maxPresignExpiry = 7 * 24 * time.Hour

	unsignedPayload = "UNSIGNED-PAYLOAD"
)

// Messages AWS gives, word for word.
const (
	bothFormsMessage      = "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
	mismatchMessage       = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	invalidTokenMessage   = "The security token included in the request is invalid."
	expiredTokenMessage   = "The security token included in the request is expired"
	missingTokenMessage   = "Missing Authentication Token"
	credentialPartsFormat = "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'"
)

// CheckPresence reports what AWS's front end reports before it looks at a
// signature's values: no signature at all (MissingAuthenticationToken),
// both forms at once (InvalidSignature), or parts missing
// (IncompleteSignature, in AWS's words). It is all an open server checks.
func CheckPresence(r *http.Request) error {
	auth := r.Header.Get("Authorization")
	var query url.Values
	if r.URL.RawQuery != "" { // SDKs sign with the header: skip parsing
		query = r.URL.Query()
	}
	_, hasQueryAuth := query["X-Amz-Algorithm"]
	switch {
	case auth != "" && hasQueryAuth:
		return kinesis.Errorf(kinesis.ErrInvalidSignature, "%s", bothFormsMessage)
	case auth == "" && !hasQueryAuth:
		return kinesis.Errorf(kinesis.ErrMissingAuthToken, "%s", missingTokenMessage)
	}
	var msg strings.Builder
	if auth != "" {
		_, params := authParams(auth)
		for _, p := range []string{"Credential", "Signature", "SignedHeaders"} {
			if params[p] == "" {
				msg.WriteString("Authorization header requires '" + p + "' parameter. ")
			}
		}
		if r.Header.Get("X-Amz-Date") == "" && r.Header.Get("Date") == "" {
			msg.WriteString("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")
		}
		if msg.Len() > 0 {
			msg.WriteString("Authorization=" + auth)
		}
	} else {
		for _, p := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"} {
			if query.Get(p) == "" {
				msg.WriteString("AWS query-string parameters must include '" + p + "'. ")
			}
		}
		if msg.Len() > 0 {
			msg.WriteString("Re-examine the query-string parameters.")
		}
	}
	if msg.Len() > 0 {
		return kinesis.Errorf(kinesis.ErrIncompleteSignature, "%s", msg.String())
	}
	return nil
}

// authParams splits "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=x;y,
// Signature=z" into its scheme and its key=value parameters.
func authParams(auth string) (scheme string, params map[string]string) {
	fields := strings.FieldsFunc(auth, func(r rune) bool { return r == ',' || r == ' ' })
	params = make(map[string]string, 3)
	for i, f := range fields {
		if i == 0 {
			scheme = f
			continue
		}
		if k, v, ok := strings.Cut(f, "="); ok {
			params[k] = v
		}
	}
	return scheme, params
}

// signature is the parsed SigV4 signature of a request, in either form.
type signature struct {
	presigned     bool
	credential    string // keyid/date/region/service/aws4_request
	accessKeyID   string
	scope         string // date/region/service/aws4_request
	scopeParts    [4]string
	signedHeaders string // as sent: lower-case names joined by ';'
	signature     string
	amzDate       string // the request time as sent
	at            time.Time
	expires       time.Duration // presigned only; 0 when not given
	token         string        // X-Amz-Security-Token, if any
}

// parseSignature reads the signature of a request that passed
// CheckPresence. Errors are AWS's (IncompleteSignature).
func parseSignature(r *http.Request) (*signature, error) {
	s := &signature{}
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, params := authParams(auth)
		if scheme != algorithm {
			return nil, kinesis.Errorf(kinesis.ErrIncompleteSignature, "Unsupported AWS 'algorithm': '%s'", scheme)
		}
		s.credential, s.signedHeaders, s.signature = params["Credential"], params["SignedHeaders"], params["Signature"]
		s.token = r.Header.Get("X-Amz-Security-Token")
		if s.amzDate = r.Header.Get("X-Amz-Date"); s.amzDate != "" {
			t, err := time.Parse(amzDateFormat, s.amzDate)
			if err != nil {
				return nil, kinesis.Errorf(kinesis.ErrIncompleteSignature, "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", s.amzDate)
			}
			s.at = t
		} else {
			date := r.Header.Get("Date")
			t, err := http.ParseTime(date)
			if err != nil {
				return nil, kinesis.Errorf(kinesis.ErrIncompleteSignature, "Date must be in ISO-8601 'basic format' or RFC 1123 format. Got '%s'.", date)
			}
			s.at, s.amzDate = t.UTC(), t.UTC().Format(amzDateFormat)
		}
	} else {
		q := r.URL.Query()
		s.presigned = true
		if a := q.Get("X-Amz-Algorithm"); a != algorithm {
			return nil, kinesis.Errorf(kinesis.ErrIncompleteSignature, "Unsupported AWS 'algorithm': '%s'", a)
		}
		s.credential, s.signedHeaders, s.signature = q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), q.Get("X-Amz-Signature")
		s.token = q.Get("X-Amz-Security-Token")
		s.amzDate = q.Get("X-Amz-Date")
		t, err := time.Parse(amzDateFormat, s.amzDate)
		if err != nil {
			return nil, kinesis.Errorf(kinesis.ErrIncompleteSignature, "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", s.amzDate)
		}
		s.at = t
		if e := q.Get("X-Amz-Expires"); e != "" {
			n, err := strconv.Atoi(e)
			if err != nil || n < 0 {
				return nil, kinesis.Errorf(kinesis.ErrIncompleteSignature, "X-Amz-Expires should be a number of seconds, not '%s'.", e)
			}
			if time.Duration(n)*time.Second > maxPresignExpiry {
				return nil, kinesis.Errorf(kinesis.ErrIncompleteSignature, "X-Amz-Expires must be less than a week (in seconds) that is 604800")
			}
			s.expires = time.Duration(n) * time.Second
		}
	}
	parts := strings.Split(s.credential, "/")
	if len(parts) != 5 {
		return nil, kinesis.Errorf(kinesis.ErrIncompleteSignature, credentialPartsFormat, s.credential)
	}
	s.accessKeyID = parts[0]
	copy(s.scopeParts[:], parts[1:])
	s.scope = strings.Join(parts[1:], "/")
	return s, nil
}

// checkTime refuses a request signed too long ago or too far ahead, in
// AWS's words.
func (s *signature) checkTime(now time.Time) error {
	now = now.UTC()
	if s.presigned && s.expires > 0 {
		if end := s.at.Add(s.expires); now.After(end) {
			return kinesis.Errorf(kinesis.ErrInvalidSignature, "Signature expired: %s is now earlier than %s (%s + %d sec.)",
				end.Format(amzDateFormat), now.Format(amzDateFormat), s.amzDate, int(s.expires/time.Second))
		}
	} else if earliest := now.Add(-MaxSkew); s.at.Before(earliest) {
		return kinesis.Errorf(kinesis.ErrInvalidSignature, "Signature expired: %s is now earlier than %s (%s - 5 min.)",
			s.amzDate, earliest.Format(amzDateFormat), now.Format(amzDateFormat))
	}
	if latest := now.Add(MaxSkew); s.at.After(latest) {
		return kinesis.Errorf(kinesis.ErrInvalidSignature, "Signature not yet current: %s is still later than %s (%s + 5 min.)",
			s.amzDate, latest.Format(amzDateFormat), now.Format(amzDateFormat))
	}
	return nil
}

// checkScope checks the credential scope: the date must be the request's,
// the service the one called, the terminator aws4_request. Any region is
// accepted: the signature still covers it, and a Sluice server has one.
func (s *signature) checkScope(service string) error {
	var problems []string
	if s.scopeParts[2] != service {
		problems = append(problems, fmt.Sprintf("Credential should be scoped to correct service: '%s'.", service))
	}
	if s.scopeParts[3] != terminator {
		problems = append(problems, fmt.Sprintf("Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", s.scopeParts[3]))
	}
	if want := s.at.Format(scopeDate); s.scopeParts[0] != want {
		problems = append(problems, fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			s.scopeParts[0], want, s.amzDate))
	}
	if len(problems) > 0 {
		return kinesis.Errorf(kinesis.ErrInvalidSignature, "%s", strings.Join(problems, " "))
	}
	if signed := strings.Split(s.signedHeaders, ";"); !slices.Contains(signed, "host") && !slices.Contains(signed, ":authority") {
		return kinesis.Errorf(kinesis.ErrInvalidSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return nil
}

// stringToSign builds the canonical request of r as the SDKs build it and
// returns the string to sign. body is the request's whole body.
func (s *signature) stringToSign(r *http.Request, body []byte) string {
	var b strings.Builder
	b.Grow(512)
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL, s.presigned))
	b.WriteByte('\n')
	for name := range strings.SplitSeq(s.signedHeaders, ";") {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(s.signedHeaders)
	b.WriteByte('\n')
	b.WriteString(payloadHash(r, body))
	sum := sha256.Sum256([]byte(b.String()))
	return algorithm + "\n" + s.amzDate + "\n" + s.scope + "\n" + hex.EncodeToString(sum[:])
}

// payloadHash is the last line of the canonical request: the hex SHA-256
// of the body, or UNSIGNED-PAYLOAD when the client says so (the Java SDK
// does over TLS). A hash claimed in X-Amz-Content-Sha256 is never trusted:
// the body's own hash is used, so a body changed after signing fails.
func payloadHash(r *http.Request, body []byte) string {
	if claimedPayloadHash(r) == unsignedPayload {
		return unsignedPayload
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// claimedPayloadHash is X-Amz-Content-Sha256, from the header or the
// query.
func claimedPayloadHash(r *http.Request) string {
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" || r.URL.RawQuery == "" {
		return h
	}
	return r.URL.Query().Get("X-Amz-Content-Sha256")
}

// canonicalURI is the path as sent, URI-encoded once more, as every
// service but S3 signs it.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return escape(p, false)
}

// canonicalQuery is the query's parameters sorted by encoded name, then
// value, each RFC 3986-encoded; a presigned request leaves out its
// signature.
func canonicalQuery(u *url.URL, presigned bool) string {
	if u.RawQuery == "" {
		return ""
	}
	type param struct{ k, v string }
	var params []param
	for k, vs := range u.Query() {
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		ek := escape(k, true)
		for _, v := range vs {
			params = append(params, param{ek, escape(v, true)})
		}
	}
	slices.SortFunc(params, func(a, b param) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// canonicalHeaderValue is a signed header's value: its values joined by
// commas, each trimmed with inner runs of spaces made one. Go moves Host
// out of the header map, and HTTP/2 carries it as :authority, which the
// JavaScript SDK signs under that name.
func canonicalHeaderValue(r *http.Request, name string) string {
	switch name {
	case "host", ":authority":
		return stripSpaces(r.Host)
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) == 0 && r.ContentLength >= 0 {
			return strconv.FormatInt(r.ContentLength, 10)
		}
	}
	values := r.Header.Values(name)
	if len(values) == 1 {
		return stripSpaces(values[0])
	}
	var b strings.Builder
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(stripSpaces(v))
	}
	return b.String()
}

// stripSpaces trims s and makes every run of spaces inside it one space.
func stripSpaces(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "  ") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// escape URI-encodes s as SigV4 does: unreserved characters stay, every
// other byte becomes %XX (upper case); '/' stays unless encodeSlash.
func escape(s string, encodeSlash bool) string {
	const hexUpper = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && !encodeSlash {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexUpper[c>>4])
		b.WriteByte(hexUpper[c&15])
	}
	return b.String()
}

// signingKeys caches derived signing keys: four HMACs per request saved.
// A key depends on the secret, the day, the region and the service, so
// entries go stale daily; the cache is cleared when it grows large.
type signingKeys struct {
	mu   sync.Mutex
	keys map[string][]byte
}

func (c *signingKeys) get(secret, scope string) []byte {
	id := scope + "\x00" + secret
	c.mu.Lock()
	k, ok := c.keys[id]
	c.mu.Unlock()
	if ok {
		return k
	}
	parts := strings.SplitN(scope, "/", 4) // date/region/service/aws4_request
	k = []byte("AWS4" + secret)
	for _, p := range parts {
		k = hmacSHA256(k, p)
	}
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= 4096 {
		c.keys = make(map[string][]byte)
	}
	c.keys[id] = k
	c.mu.Unlock()
	return k
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signatureMatches compares the signature sent with the one computed from
// the secret, in constant time.
func (s *signature) matches(keys *signingKeys, secret, stringToSign string) bool {
	want := hex.EncodeToString(hmacSHA256(keys.get(secret, s.scope), stringToSign))
	return hmac.Equal([]byte(want), []byte(s.signature))
}
