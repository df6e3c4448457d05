package sigv4

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	const signed = "AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=ab"
	tests := []struct {
		name    string
		target  string
		auth    string
		date    bool
		want    Problem
		wantMsg string
	}{
		{"header", "/", signed, true, OK, ""},
		{"query", "/?X-Amz-Algorithm=a&X-Amz-Credential=c&X-Amz-Signature=s&X-Amz-SignedHeaders=h&X-Amz-Date=d", "", false, OK, ""},
		{"none", "/", "", true, Missing, ""},
		{"both", "/?X-Amz-Algorithm=a", signed, true, BothForms, BothFormsMessage},
		{"no date", "/", signed, false, Incomplete, "requires existence of either a 'X-Amz-Date' or a 'Date' header"},
		{"no signature", "/", "AWS4-HMAC-SHA256 Credential=a, SignedHeaders=host", true, Incomplete, "Authorization header requires 'Signature' parameter. "},
		{"query part missing", "/?X-Amz-Algorithm=a", "", false, Incomplete, "AWS query-string parameters must include 'X-Amz-Credential'. "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", tt.target, nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			if tt.date {
				r.Header.Set("X-Amz-Date", "20260101T000000Z")
			}
			got, msg := Check(r)
			if got != tt.want || !strings.Contains(msg, tt.wantMsg) {
				t.Fatalf("Check = %v, %q; want %v with %q", got, msg, tt.want, tt.wantMsg)
			}
		})
	}
}
