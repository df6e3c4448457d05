package dynamodb

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// recordingGuard lets everything through but the tables it refuses, and
// records what it was asked.
type recordingGuard struct {
	asked  []string
	refuse string
}

func (g *recordingGuard) Authenticate(r *http.Request, action string, body []byte) (context.Context, error) {
	return r.Context(), nil
}

func (g *recordingGuard) Authorize(ctx context.Context, action, resource, policy string) error {
	g.asked = append(g.asked, action+" "+resource)
	if resource == g.refuse {
		return kinesis.Errorf(kinesis.ErrAccessDenied, "User: u is not authorized to perform: %s on resource: %s", action, resource)
	}
	return nil
}

// Every operation is authorized on the tables it names, or on * when it
// names none: a batch or transaction on each of its tables.
func TestResources(t *testing.T) {
	h := New(nil, Options{Region: "eu-west-1", Account: "123456789012"})
	const arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/"
	for body, want := range map[string][]string{
		`{"TableName":"leases","Key":{}}`:                                 {arn + "leases"},
		`{"TableName":"leases","IndexName":"byOwner"}`:                    {arn + "leases/index/byOwner"},
		`{"TableName":"arn:aws:dynamodb:eu-west-1:123456789012:table/x"}`: {arn + "x"},
		`{}`:                               {"*"},
		`{"Limit":3}`:                      {"*"},
		`{"RequestItems":{"b":[],"a":[]}}`: {arn + "a", arn + "b"},
		`{"TransactItems":[{"Put":{"TableName":"a"}},{"Update":{"TableName":"c"}},{"ConditionCheck":{"TableName":"a"}}]}`: {arn + "a", arn + "c"},
	} {
		if got := h.resources([]byte(body)); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", body, got, want)
		}
	}
}

func TestHandler_Authorize(t *testing.T) {
	g := &recordingGuard{refuse: "arn:aws:dynamodb:us-east-1:000000000000:table/secret"}
	h := New(nil, Options{Auth: g})
	serve := func(op, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-amz-json-1.0")
		r.Header.Set("X-Amz-Target", TargetPrefix+op)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	rec := serve("GetItem", `{"TableName":"secret","Key":{"k":{"S":"v"}}}`)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"__type":"com.amazon.coral.service#AccessDeniedException"`) ||
		!strings.Contains(rec.Body.String(), "dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/secret") {
		t.Fatalf("denied GetItem: %d %s", rec.Code, rec.Body)
	}
	// A malformed body is refused before anyone is asked.
	g.asked = nil
	if rec := serve("GetItem", `{"TableName":`); rec.Code != 400 || !strings.Contains(rec.Body.String(), "SerializationException") || len(g.asked) != 0 {
		t.Fatalf("malformed: %d %s, asked %v", rec.Code, rec.Body, g.asked)
	}
	g.refuse = "*" // no store behind this handler: stop before it
	serve("ListTables", `{}`)
	if !slices.Equal(g.asked, []string{"dynamodb:ListTables *"}) {
		t.Fatalf("ListTables asked %v", g.asked)
	}
}
