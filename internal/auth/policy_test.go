package auth

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const (
	ordersARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
	secretARN = "arn:aws:kinesis:us-east-1:123456789012:stream/secret"
	otherARN  = "arn:aws:kinesis:us-east-1:123456789012:stream/other"
)

// matrixConfig holds one principal per way of being allowed or denied.
func matrixConfig(t testing.TB) *Config {
	t.Helper()
	cfg, err := ParseConfig([]byte(`{"principals": [
	  {"arn": "arn:aws:iam::123456789012:root", "accessKeys": [{"accessKeyId": "ROOT", "secretAccessKey": "s"}]},
	  {"arn": "arn:aws:iam::123456789012:user/writer", "accessKeys": [{"accessKeyId": "WRITER", "secretAccessKey": "s"}],
	   "policies": [{"Version": "2012-10-17", "Statement": [
	     {"Effect": "Allow", "Action": "kinesis:Put*", "Resource": "arn:aws:kinesis:us-east-1:123456789012:stream/orders*"},
	     {"Effect": "Allow", "Action": ["kinesis:describe*", "kinesis:ListStreams"], "Resource": "*"}]}]},
	  {"arn": "arn:aws:sts::123456789012:assumed-role/Reader/session-1", "accessKeys": [{"accessKeyId": "READER", "secretAccessKey": "s", "sessionToken": "t"}],
	   "policies": [{"Version": "2012-10-17", "Statement": [
	     {"Effect": "Allow", "Action": ["kinesis:Get*", "kinesis:ListShards"], "Resource": "arn:aws:kinesis:*:123456789012:stream/*"},
	     {"Effect": "Deny", "Action": "kinesis:GetRecords", "Resource": "arn:aws:kinesis:*:*:stream/secret"}]}]},
	  {"arn": "arn:aws:iam::123456789012:user/nobody", "accessKeys": [{"accessKeyId": "NOBODY", "secretAccessKey": "s"}]},
	  {"arn": "arn:aws:iam::999999999999:user/outsider", "accessKeys": [{"accessKeyId": "OUTSIDER", "secretAccessKey": "s"}],
	   "policies": [{"Statement": {"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}}]},
	  {"arn": "arn:aws:iam::123456789012:user/office", "accessKeys": [{"accessKeyId": "OFFICE", "secretAccessKey": "s"}],
	   "policies": [{"Version": "2012-10-17", "Statement": [
	     {"Effect": "Allow", "NotAction": ["kinesis:Delete*", "kinesis:*ResourcePolicy"], "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.7"]}}},
	     {"Effect": "Allow", "Action": "kinesis:DeleteStream", "NotResource": "arn:aws:kinesis:*:*:stream/orders", "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
	     {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}}]}]}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Resource policies of the matrix, by name.
var resourcePolicies = map[string]string{
	"": "",
	"deny all": `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*",
		"Action":["kinesis:PutRecord","kinesis:PutRecords","kinesis:GetRecords","kinesis:DeleteStream"],"Resource":"*"}]}`,
	"allow outsider's account": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"kinesis:PutRecord","Resource":"*"}]}`,
	"allow nobody":             `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:user/nobody"]},"Action":"kinesis:GetRecords","Resource":"` + ordersARN + `"}]}`,
	"allow own account":        `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"kinesis:GetRecords"}]}`,
	"allow role":               `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/Reader"},"Action":"kinesis:PutRecords"}]}`,
	"deny all but writer": `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:user/writer"},
		"Action":"kinesis:PutRecord","Resource":"*"}]}`,
	"deny own account": `{"Statement":[{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kinesis:*"}]}`,
	"deny unless writer arn": `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"kinesis:*",
		"Condition":{"StringNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/writer"}}}]}`,
}

func TestAuthorize_Matrix(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	g := newGate(matrixConfig(t), now)
	const (
		noIdentity = "because no identity-based policy allows the "
		noResource = "because no resource-based policy allows the "
		denyID     = "with an explicit deny in an identity-based policy"
		denyRes    = "with an explicit deny in a resource-based policy"
	)
	tests := []struct {
		key, action, resource, policy string
		ip                            string
		tls                           bool
		want                          string // "" allowed, else the end of the message
	}{
		// The root user needs no identity policy, but a resource policy's
		// Deny binds it too.
		{"ROOT", "kinesis:DeleteStream", ordersARN, "", "127.0.0.1", false, ""},
		{"ROOT", "kinesis:ListStreams", "*", "", "127.0.0.1", false, ""},
		{"ROOT", "kinesis:PutRecord", ordersARN, "deny all", "127.0.0.1", false, denyRes},
		{"ROOT", "kinesis:DeleteStream", ordersARN, "deny all", "127.0.0.1", false, denyRes},
		{"ROOT", "kinesis:DescribeStream", ordersARN, "deny all", "127.0.0.1", false, ""},
		{"ROOT", "kinesis:PutRecord", ordersARN, "deny own account", "127.0.0.1", false, denyRes},
		// ...except for managing the policies themselves, so that no
		// policy locks the account out.
		{"ROOT", "kinesis:DeleteResourcePolicy", ordersARN, "deny own account", "127.0.0.1", false, ""},
		{"WRITER", "kinesis:DeleteResourcePolicy", ordersARN, "deny own account", "127.0.0.1", false, denyRes},

		// Wildcards in actions (case-insensitive) and resources.
		{"WRITER", "kinesis:PutRecord", ordersARN, "", "127.0.0.1", false, ""},
		{"WRITER", "kinesis:PutRecords", ordersARN + "-eu", "", "127.0.0.1", false, ""},
		{"WRITER", "kinesis:PutRecord", otherARN, "", "127.0.0.1", false, noIdentity + "kinesis:PutRecord action"},
		{"WRITER", "kinesis:GetRecords", ordersARN, "", "127.0.0.1", false, noIdentity + "kinesis:GetRecords action"},
		{"WRITER", "kinesis:DescribeStreamSummary", otherARN, "", "127.0.0.1", false, ""},
		{"WRITER", "kinesis:ListStreams", "*", "", "127.0.0.1", false, ""},
		{"WRITER", "kinesis:ListShards", ordersARN, "", "127.0.0.1", false, noIdentity + "kinesis:ListShards action"},
		{"WRITER", "dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/t", "", "127.0.0.1", false, noIdentity + "dynamodb:PutItem action"},
		{"WRITER", "kinesis:PutRecord", ordersARN, "deny all", "127.0.0.1", false, denyRes},
		{"WRITER", "kinesis:PutRecord", ordersARN, "deny all but writer", "127.0.0.1", false, ""},
		{"WRITER", "kinesis:PutRecord", ordersARN, "deny unless writer arn", "127.0.0.1", false, ""},

		// An explicit Deny in the identity policy beats its own Allow.
		{"READER", "kinesis:GetRecords", ordersARN, "", "127.0.0.1", false, ""},
		{"READER", "kinesis:GetRecords", secretARN, "", "127.0.0.1", false, denyID},
		{"READER", "kinesis:GetShardIterator", secretARN, "", "127.0.0.1", false, ""},
		{"READER", "kinesis:PutRecord", ordersARN, "", "127.0.0.1", false, noIdentity + "kinesis:PutRecord action"},
		// A resource policy naming the role lets its sessions in.
		{"READER", "kinesis:PutRecords", ordersARN, "allow role", "127.0.0.1", false, ""},
		{"READER", "kinesis:PutRecord", ordersARN, "deny all but writer", "127.0.0.1", false, denyRes},
		{"READER", "kinesis:GetRecords", ordersARN, "deny unless writer arn", "127.0.0.1", false, denyRes},

		// No identity policy: only a resource policy naming the user lets
		// it in; one naming its account delegates, granting nothing.
		{"NOBODY", "kinesis:GetRecords", ordersARN, "", "127.0.0.1", false, noIdentity + "kinesis:GetRecords action"},
		{"NOBODY", "kinesis:GetRecords", ordersARN, "allow nobody", "127.0.0.1", false, ""},
		{"NOBODY", "kinesis:GetRecords", otherARN, "allow nobody", "127.0.0.1", false, noIdentity + "kinesis:GetRecords action"},
		{"NOBODY", "kinesis:PutRecord", ordersARN, "allow nobody", "127.0.0.1", false, noIdentity + "kinesis:PutRecord action"},
		{"NOBODY", "kinesis:GetRecords", ordersARN, "allow own account", "127.0.0.1", false, noIdentity + "kinesis:GetRecords action"},
		{"NOBODY", "kinesis:ListStreams", "*", "", "127.0.0.1", false, noIdentity + "kinesis:ListStreams action"},

		// Another account's caller needs its own Allow and the resource's.
		{"OUTSIDER", "kinesis:PutRecord", ordersARN, "", "127.0.0.1", false, noResource + "kinesis:PutRecord action"},
		{"OUTSIDER", "kinesis:PutRecord", ordersARN, "allow outsider's account", "127.0.0.1", false, ""},
		{"OUTSIDER", "kinesis:DeleteStream", ordersARN, "allow outsider's account", "127.0.0.1", false, noResource + "kinesis:DeleteStream action"},
		{"OUTSIDER", "kinesis:ListStreams", "*", "", "127.0.0.1", false, noResource + "kinesis:ListStreams action"},

		// Conditions: source address, TLS, time; NotAction, NotResource.
		{"OFFICE", "kinesis:PutRecord", ordersARN, "", "10.1.2.3", false, ""},
		{"OFFICE", "kinesis:PutRecord", ordersARN, "", "192.0.2.7", false, ""},
		{"OFFICE", "kinesis:PutRecord", ordersARN, "", "192.0.2.8", false, noIdentity + "kinesis:PutRecord action"},
		{"OFFICE", "kinesis:PutRecord", ordersARN, "", "::ffff:10.0.0.1", false, ""},
		{"OFFICE", "kinesis:DeleteStream", otherARN, "", "10.1.2.3", true, ""},
		{"OFFICE", "kinesis:DeleteStream", otherARN, "", "10.1.2.3", false, noIdentity + "kinesis:DeleteStream action"},
		{"OFFICE", "kinesis:DeleteStream", ordersARN, "", "10.1.2.3", true, noIdentity + "kinesis:DeleteStream action"},
		{"OFFICE", "kinesis:PutResourcePolicy", ordersARN, "", "10.1.2.3", true, noIdentity + "kinesis:PutResourcePolicy action"},
	}
	for _, tt := range tests {
		name := tt.key + " " + tt.action + " " + tt.resource + " [" + tt.policy + "]"
		k := g.cfg.Load().Key(tt.key)
		id := &Identity{AccessKeyID: tt.key, Principal: k.Principal, Verified: true, Action: tt.action,
			SourceIP: netip.MustParseAddr(tt.ip).Unmap(), Secure: tt.tls}
		err := g.Authorize(WithIdentity(context.Background(), id), tt.action, tt.resource, resourcePolicies[tt.policy])
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: denied: %v", name, err)
		case tt.want != "" && err == nil:
			t.Errorf("%s: allowed, want denied %s", name, tt.want)
		case tt.want != "":
			msg := err.Error()
			on := " on resource: " + tt.resource + " "
			if tt.resource == "*" {
				on = " "
			}
			want := "AccessDeniedException: User: " + k.Principal.ARN + " is not authorized to perform: " + tt.action + on + tt.want
			if msg != want {
				t.Errorf("%s:\n got %s\nwant %s", name, msg, want)
			}
		}
	}
	// After the Deny's date every call is refused.
	late := newGate(matrixConfig(t), time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC))
	k := late.cfg.Load().Key("OFFICE")
	id := &Identity{Principal: k.Principal, Verified: true, SourceIP: netip.MustParseAddr("10.0.0.1")}
	if err := late.Authorize(WithIdentity(context.Background(), id), "kinesis:PutRecord", ordersARN, ""); err == nil || !strings.Contains(err.Error(), denyID) {
		t.Errorf("after the date: %v", err)
	}
}

// An open server's callers are the root user: only resource policies can
// refuse them.
func TestAuthorize_Open(t *testing.T) {
	g := newGate(nil, testNow)
	id := &Identity{Principal: g.root}
	ctx := WithIdentity(context.Background(), id)
	if err := g.Authorize(ctx, "kinesis:PutRecord", ordersARN, ""); err != nil {
		t.Fatal(err)
	}
	err := g.Authorize(ctx, "kinesis:PutRecord", ordersARN, resourcePolicies["deny all"])
	want := "AccessDeniedException: User: arn:aws:iam::123456789012:root is not authorized to perform: kinesis:PutRecord on resource: " + ordersARN + " with an explicit deny in a resource-based policy"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	// A call that skipped authentication is the root user's on an open
	// server, and refused on an authenticating one.
	if err := g.Authorize(context.Background(), "kinesis:PutRecord", ordersARN, ""); err != nil {
		t.Fatal(err)
	}
	if err := newGate(testConfig(t), testNow).Authorize(context.Background(), "kinesis:PutRecord", ordersARN, ""); err == nil {
		t.Fatal("an unauthenticated call was allowed")
	}
}

// A stored policy this server cannot parse fails closed.
func TestAuthorize_UnparseablePolicy(t *testing.T) {
	g := newGate(nil, testNow)
	ctx := WithIdentity(context.Background(), &Identity{Principal: g.root})
	if err := g.Authorize(ctx, "kinesis:PutRecord", ordersARN, `{"Statement":{"Effect":"Maybe"}}`); err == nil {
		t.Fatal("allowed under a policy that does not parse")
	}
}

func TestParsePolicy_Errors(t *testing.T) {
	tests := []struct {
		kind PolicyKind
		doc  string
		want string
	}{
		{ResourcePolicy, `[]`, "not a JSON object"},
		{ResourcePolicy, `{"Statement":[]}`, "no statements"},
		{ResourcePolicy, `{"Version":"2020-01-01","Statement":[]}`, "Version"},
		{ResourcePolicy, `{"Statement":{"Effect":"Allow","Principal":"*"}}`, "Action or NotAction is required"},
		{ResourcePolicy, `{"Statement":{"Effect":"Allow","Action":"kinesis:Get*"}}`, "exactly one of Principal and NotPrincipal"},
		{ResourcePolicy, `{"Statement":{"Effect":"Allow","Principal":"me","Action":"kinesis:Get*"}}`, `Principal must be "*"`},
		{ResourcePolicy, `{"Statement":{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"kinesis:Get*"}}`, `principal "bob"`},
		{ResourcePolicy, `{"Statement":{"Sid":"x","Effect":"Allow","Principal":"*","Action":"GetRecords"}}`, `statement "x": action "GetRecords"`},
		{ResourcePolicy, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"kinesis:*","Action2":1}}`, `unknown element "Action2"`},
		{ResourcePolicy, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"kinesis:*","NotAction":"kinesis:Get*"}}`, "exclude each other"},
		{ResourcePolicy, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"kinesis:*","Condition":{"StringSorta":{"aws:PrincipalArn":"x"}}}}`, `unknown condition operator "StringSorta"`},
		{ResourcePolicy, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"kinesis:*","Condition":{"IpAddress":{"aws:SourceIp":"home"}}}}`, "not an IP address"},
		{ResourcePolicy, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"kinesis:*","Condition":{"DateLessThan":{"aws:CurrentTime":"soon"}}}}`, "not a date"},
		{IdentityPolicy, `{"Statement":{"Effect":"Allow","Action":"kinesis:*"}}`, "Resource or NotResource is required"},
		{IdentityPolicy, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"kinesis:*","Resource":"*"}}`, "may not have a Principal"},
	}
	for _, tt := range tests {
		_, err := ParsePolicy(tt.doc, tt.kind)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.doc, err, tt.want)
		}
	}
}

func TestCondition_Operators(t *testing.T) {
	keys := map[string]string{
		"aws:principalarn": "arn:aws:iam::123456789012:user/alice",
		"aws:epochtime":    "1773500966",
		"aws:currenttime":  "2026-03-14T15:09:26Z",
		"aws:sourceip":     "10.1.2.3",
		"aws:username":     "Alice",
	}
	lookup := func(k string) (string, bool) { v, ok := keys[k]; return v, ok }
	tests := []struct {
		cond string
		want bool
	}{
		{`{"StringEquals":{"aws:username":"Alice"}}`, true},
		{`{"StringEquals":{"AWS:UserName":["Bob","Alice"]}}`, true},
		{`{"StringEquals":{"aws:username":"alice"}}`, false},
		{`{"StringEqualsIgnoreCase":{"aws:username":"alice"}}`, true},
		{`{"StringNotEquals":{"aws:username":["Bob","Carol"]}}`, true},
		{`{"StringNotEquals":{"aws:username":["Bob","Alice"]}}`, false},
		{`{"StringNotEquals":{"aws:missing":"x"}}`, true},
		{`{"StringEquals":{"aws:missing":"x"}}`, false},
		{`{"StringEqualsIfExists":{"aws:missing":"x"}}`, true},
		{`{"StringEqualsIfExists":{"aws:username":"x"}}`, false},
		{`{"StringLike":{"aws:username":"Al?c*"}}`, true},
		{`{"StringNotLike":{"aws:username":"B*"}}`, true},
		{`{"ArnLike":{"aws:principalarn":"arn:aws:iam::*:user/*"}}`, true},
		{`{"ArnLike":{"aws:principalarn":"arn:aws:iam::*:role/*"}}`, false},
		{`{"ArnNotEquals":{"aws:principalarn":"arn:aws:iam::123456789012:user/bob"}}`, true},
		{`{"NumericGreaterThan":{"aws:epochtime":1773500000}}`, true},
		{`{"NumericLessThanEquals":{"aws:epochtime":"1773500966"}}`, true},
		{`{"NumericNotEquals":{"aws:epochtime":1773500966}}`, false},
		{`{"DateLessThan":{"aws:currenttime":"2026-03-15T00:00:00Z"}}`, true},
		{`{"DateGreaterThanEquals":{"aws:currenttime":"2026-03-14"}}`, true},
		{`{"DateEquals":{"aws:epochtime":"1773500966"}}`, true},
		{`{"IpAddress":{"aws:sourceip":"10.0.0.0/8"}}`, true},
		{`{"NotIpAddress":{"aws:sourceip":["192.168.0.0/16","10.1.2.3/32"]}}`, false},
		{`{"Bool":{"aws:missing":"true"}}`, false},
		{`{"Null":{"aws:missing":"true"}}`, true},
		{`{"Null":{"aws:username":"true"}}`, false},
		{`{"Null":{"aws:username":false}}`, true},
		{`{"ForAnyValue:StringEquals":{"aws:missing":"x"}}`, false},
		{`{"ForAllValues:StringEquals":{"aws:missing":"x"}}`, true},
		{`{"ForAnyValue:StringLike":{"aws:username":"A*"}}`, true},
		{`{"StringEquals":{"aws:username":"Alice"},"IpAddress":{"aws:sourceip":"192.0.2.0/24"}}`, false},
	}
	for _, tt := range tests {
		conds, err := parseConditions([]byte(tt.cond))
		if err != nil {
			t.Fatalf("%s: %v", tt.cond, err)
		}
		got := true
		for i := range conds {
			got = got && conds[i].eval(lookup)
		}
		if got != tt.want {
			t.Errorf("%s = %v, want %v", tt.cond, got, tt.want)
		}
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"kinesis:put*", "kinesis:putrecords", true},
		{"kinesis:put*", "kinesis:getrecords", false},
		{"kinesis:*records", "kinesis:putrecords", true},
		{"kinesis:?etrecords", "kinesis:getrecords", true},
		{"arn:aws:kinesis:*:*:stream/*", "arn:aws:kinesis:us-east-1:1:stream/x", true},
		{"arn:aws:kinesis:*:*:stream/*", "arn:aws:kinesis:us-east-1:1:stream/x/consumer/c:1", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"", "", true},
		{"", "x", false},
	}
	for _, tt := range tests {
		if got := glob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("glob(%q, %q) = %v", tt.pattern, tt.s, got)
		}
	}
}

func TestParseConfig_Errors(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`{"principals":[{"arn":"alice"}]}`, `principal "alice"`},
		{`{"principals":[{"arn":"arn:aws:iam::123:user/a"}]}`, "principal"},
		{`{"principals":[{"arn":"arn:aws:iam::123456789012:group/a"}]}`, "principal"},
		{`{"principals":[{"arn":"arn:aws:iam::123456789012:user/a","accessKeys":[{"accessKeyId":"K"}]}]}`, "has no secretAccessKey"},
		{`{"principals":[{"arn":"arn:aws:iam::123456789012:user/a","accessKeys":[{"accessKeyId":"K","secretAccessKey":"s"},{"accessKeyId":"K","secretAccessKey":"t"}]}]}`, "listed twice"},
		{`{"principals":[{"arn":"arn:aws:iam::123456789012:user/a","policies":[{"Statement":{"Effect":"Allow","Action":"kinesis:*"}}]}]}`, "policy 1: statement 1: Resource or NotResource is required"},
		{`{"principal":[]}`, "unknown field"},
	}
	for _, tt := range tests {
		_, err := ParseConfig([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.doc, err, tt.want)
		}
	}
}
