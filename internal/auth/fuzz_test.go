package auth

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// FuzzParsePolicy: any document either fails to parse or evaluates,
// against any action and resource, without panicking.
//
//	go test -run '^$' -fuzz FuzzParsePolicy ./internal/auth
func FuzzParsePolicy(f *testing.F) {
	for _, p := range resourcePolicies {
		f.Add(p, "kinesis:PutRecord", ordersARN)
	}
	f.Add(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"kinesis:*","Condition":{"ForAllValues:DateLessThanIfExists":{"aws:CurrentTime":["2026-01-01",1700000000]},"Null":{"aws:SourceIp":"false"}}}}`, "kinesis:GetRecords", "*")
	f.Add(`{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["123456789012","arn:aws:iam::1:user/x"]},"NotAction":"a:b","NotResource":["*?*"]}]}`, "x:y", "arn")
	g := newGate(nil, testNow)
	id := &Identity{Principal: g.root, SourceIP: netip.MustParseAddr("10.0.0.1")}
	ctx := WithIdentity(context.Background(), id)
	f.Fuzz(func(t *testing.T, doc, action, resource string) {
		p, err := ParsePolicy(doc, ResourcePolicy)
		if err != nil {
			return
		}
		req := &request{action: action, lowAction: action, resource: resource, principal: g.root, keys: conditionKeys{g: g, id: id}.get}
		evaluate(req, p, testAccount)
		_ = g.Authorize(ctx, action, resource, doc)
		if _, err := ParsePolicy(doc, IdentityPolicy); err == nil {
			(&Principal{ARN: "arn:aws:iam::1:user/u", Account: "1", Type: "User", Policies: []*Policy{p}}).principalARN()
		}
	})
}

// FuzzAuthenticate: any Authorization header, date and query give an
// answer (an identity or an AWS error), never a panic.
//
//	go test -run '^$' -fuzz FuzzAuthenticate ./internal/auth
func FuzzAuthenticate(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDALICE/20260314/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "20260314T150926Z", "", "{}")
	f.Add("", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDALICE%2F20260314%2Fus-east-1%2Fkinesis%2Faws4_request&X-Amz-Date=20260314T150926Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00&X-Amz-Expires=60", "")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f, SignedHeaders=;;:authority;;, Signature=", "x", "%zz&a=b&a", "\x00")
	g := newGate(testConfig(f), testNow)
	f.Fuzz(func(t *testing.T, authz, date, query, body string) {
		r := httptest.NewRequest("POST", "http://127.0.0.1:4567/", nil)
		r.URL.RawQuery = query
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if date != "" {
			r.Header.Set("X-Amz-Date", date)
		}
		if _, err := g.Authenticate(r, "kinesis:PutRecord", []byte(body)); err == nil {
			t.Fatalf("a made-up signature was accepted: %q %q %q", authz, date, query)
		}
	})
}
