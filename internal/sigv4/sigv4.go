// Package sigv4 checks that a request carries the parts of an AWS
// Signature Version 4, as AWS's front ends do before a service sees the
// request. Like every emulator, Sluice verifies nothing: any credentials
// are accepted, but an unsigned or half-signed request gets AWS's error.
package sigv4

import (
	"net/http"
	"net/url"
	"strings"
)

// Problem is what is wrong with a request's signature.
type Problem int

const (
	OK Problem = iota
	// BothForms: signed in the header and in the query string
	// (InvalidSignatureException).
	BothForms
	// Missing: no signature at all (MissingAuthenticationToken).
	Missing
	// Incomplete: a signature lacking parts (IncompleteSignatureException);
	// Check's message names them in AWS's words.
	Incomplete
)

// BothFormsMessage is AWS's message for BothForms.
const BothFormsMessage = "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."

// Check reports what is wrong with r's signature and, for Incomplete, the
// message AWS gives.
func Check(r *http.Request) (Problem, string) {
	auth := r.Header.Get("Authorization")
	var query url.Values
	if r.URL.RawQuery != "" { // SDKs sign with the header: skip parsing
		query = r.URL.Query()
	}
	_, hasQueryAuth := query["X-Amz-Algorithm"]
	switch {
	case auth != "" && hasQueryAuth:
		return BothForms, BothFormsMessage
	case auth == "" && !hasQueryAuth:
		return Missing, ""
	}
	var msg strings.Builder
	if auth != "" {
		params := authParams(auth)
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
		return Incomplete, msg.String()
	}
	return OK, ""
}

// authParams splits "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=x;y,
// Signature=z" into its key=value parameters; the scheme is skipped.
func authParams(auth string) map[string]string {
	fields := strings.FieldsFunc(auth, func(r rune) bool { return r == ',' || r == ' ' })
	params := make(map[string]string, 3)
	for i, f := range fields {
		if i == 0 {
			continue
		}
		if k, v, ok := strings.Cut(f, "="); ok {
			params[k] = v
		}
	}
	return params
}
