package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// PolicyKind says where a policy is attached, which decides the elements
// it may and must have.
type PolicyKind int

const (
	// IdentityPolicy is attached to a principal: no Principal element,
	// a Resource or NotResource is required.
	IdentityPolicy PolicyKind = iota
	// ResourcePolicy is attached to a stream or consumer: a Principal or
	// NotPrincipal is required; without Resource it applies to the
	// resource it is attached to.
	ResourcePolicy
)

// Policy is a parsed IAM policy document.
type Policy struct {
	statements []statement
}

// statement is one statement of a policy. Patterns are kept as written,
// action patterns lower-cased (actions match case-insensitively).
type statement struct {
	sid          string
	deny         bool
	actions      []string
	notAction    bool
	resources    []string // nil: any (resource policies only)
	notResource  bool
	principals   *principalSet // nil: no Principal element
	notPrincipal bool
	conditions   []condition
}

// principalSet is the Principal (or NotPrincipal) element of a statement.
type principalSet struct {
	any      bool            // "*" or {"AWS": "*"}
	accounts map[string]bool // "123456789012" or arn:aws:iam::123456789012:root
	arns     map[string]bool // users, roles, role sessions
}

// ParsePolicy parses and checks a policy document of the given kind.
// Errors say what is wrong in words a user can act on.
func ParsePolicy(doc string, kind PolicyKind) (*Policy, error) {
	var top map[string]json.RawMessage
	if err := strictUnmarshal([]byte(doc), &top); err != nil {
		return nil, fmt.Errorf("the policy is not a JSON object: %w", err)
	}
	for k := range top {
		if k != "Version" && k != "Id" && k != "Statement" {
			return nil, fmt.Errorf("unknown policy element %q", k)
		}
	}
	if v, ok := top["Version"]; ok {
		var version string
		if err := json.Unmarshal(v, &version); err != nil || (version != "2012-10-17" && version != "2008-10-17") {
			return nil, fmt.Errorf("the Version %s: want \"2012-10-17\"", v)
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, errors.New("the policy has no Statement")
	}
	var stmts []map[string]json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
		if err := json.Unmarshal(raw, &stmts); err != nil {
			return nil, fmt.Errorf("the Statement: want an object or an array of objects: %w", err)
		}
	} else {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("the Statement: want an object or an array of objects: %w", err)
		}
		stmts = append(stmts, one)
	}
	if len(stmts) == 0 {
		return nil, errors.New("the policy has no statements")
	}
	p := &Policy{}
	for i, m := range stmts {
		st, err := parseStatement(m, kind)
		if err != nil {
			name := fmt.Sprintf("statement %d", i+1)
			if st.sid != "" {
				name = fmt.Sprintf("statement %q", st.sid)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

func parseStatement(m map[string]json.RawMessage, kind PolicyKind) (statement, error) {
	var st statement
	if raw, ok := m["Sid"]; ok {
		if err := json.Unmarshal(raw, &st.sid); err != nil {
			return st, errors.New("the Sid must be a string")
		}
	}
	for k := range m {
		switch k {
		case "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition":
		default:
			return st, fmt.Errorf("unknown element %q", k)
		}
	}
	var effect string
	if err := json.Unmarshal(m["Effect"], &effect); err != nil || (effect != "Allow" && effect != "Deny") {
		return st, errors.New(`the Effect must be "Allow" or "Deny"`)
	}
	st.deny = effect == "Deny"

	actions, notActions, err := exclusive(m, "Action", "NotAction", true)
	if err != nil {
		return st, err
	}
	st.notAction = notActions != nil
	for _, a := range append(actions, notActions...) {
		if a != "*" && !strings.Contains(a, ":") {
			return st, fmt.Errorf("action %q: want service:Action, such as kinesis:PutRecord", a)
		}
		st.actions = append(st.actions, strings.ToLower(a))
	}

	resources, notResources, err := exclusive(m, "Resource", "NotResource", kind == IdentityPolicy)
	if err != nil {
		return st, err
	}
	st.notResource = notResources != nil
	st.resources = append(resources, notResources...)

	_, hasP := m["Principal"]
	_, hasNP := m["NotPrincipal"]
	switch {
	case kind == IdentityPolicy && (hasP || hasNP):
		return st, errors.New("an identity policy may not have a Principal or NotPrincipal")
	case kind == ResourcePolicy && hasP == hasNP:
		return st, errors.New("a resource policy statement needs exactly one of Principal and NotPrincipal")
	case hasP:
		st.principals, err = parsePrincipals(m["Principal"])
	case hasNP:
		st.principals, err = parsePrincipals(m["NotPrincipal"])
		st.notPrincipal = true
	}
	if err != nil {
		return st, err
	}
	if raw, ok := m["Condition"]; ok {
		if st.conditions, err = parseConditions(raw); err != nil {
			return st, err
		}
	}
	return st, nil
}

// exclusive reads one of two string-or-list elements, which may not both
// be present; required says one must be.
func exclusive(m map[string]json.RawMessage, name, notName string, required bool) (values, notValues []string, err error) {
	raw, has := m[name]
	notRaw, hasNot := m[notName]
	switch {
	case has && hasNot:
		return nil, nil, fmt.Errorf("%s and %s exclude each other", name, notName)
	case has:
		values, err = stringOrList(raw, name)
	case hasNot:
		notValues, err = stringOrList(notRaw, notName)
		if err == nil && notValues == nil {
			notValues = []string{}
		}
	case required:
		return nil, nil, fmt.Errorf("%s or %s is required", name, notName)
	}
	return values, notValues, err
}

// stringOrList reads a JSON string or a non-empty array of strings.
func stringOrList(raw json.RawMessage, name string) ([]string, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		return nil, fmt.Errorf("%s must be a string or a non-empty array of strings", name)
	}
	return list, nil
}

func parsePrincipals(raw json.RawMessage) (*principalSet, error) {
	ps := &principalSet{accounts: map[string]bool{}, arns: map[string]bool{}}
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return nil, errors.New(`Principal must be "*" or an object such as {"AWS": "arn:aws:iam::123456789012:root"}`)
		}
		ps.any = true
		return ps, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New(`Principal must be "*" or an object such as {"AWS": "arn:aws:iam::123456789012:root"}`)
	}
	for typ, v := range m {
		values, err := stringOrList(v, "Principal "+typ)
		if err != nil {
			return nil, err
		}
		switch typ {
		case "AWS":
		case "Service", "Federated", "CanonicalUser":
			continue // no such callers here: they never match
		default:
			return nil, fmt.Errorf("unknown principal type %q", typ)
		}
		for _, v := range values {
			switch {
			case v == "*":
				ps.any = true
			case isAccountID(v):
				ps.accounts[v] = true
			case strings.HasPrefix(v, "arn:") && strings.HasSuffix(v, ":root") && strings.Count(v, ":") == 5:
				ps.accounts[strings.Split(v, ":")[4]] = true
			case strings.HasPrefix(v, "arn:"):
				ps.arns[v] = true
			default:
				return nil, fmt.Errorf("principal %q: want an account id, an ARN or \"*\"", v)
			}
		}
	}
	return ps, nil
}

// strictUnmarshal decodes one JSON value, refusing trailing data.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the policy")
	}
	return nil
}

// principalMatch is how a Principal element matches a caller.
type principalMatch int

const (
	noMatch principalMatch = iota
	// accountMatch: the element names the caller's account, which grants
	// nothing by itself to a user of it (the account delegates to its
	// identity policies) but lets a cross-account caller in, and a Deny
	// applies to everyone in it.
	accountMatch
	// directMatch: the element names the caller (or everyone).
	directMatch
)

func (ps *principalSet) match(p *Principal) principalMatch {
	switch {
	case ps.any || ps.arns[p.ARN] || p.RoleARN != "" && ps.arns[p.RoleARN]:
		return directMatch
	case ps.accounts[p.Account] && p.Root():
		return directMatch
	case ps.accounts[p.Account]:
		return accountMatch
	}
	return noMatch
}

// request is one authorization question.
type request struct {
	action    string // kinesis:PutRecord
	lowAction string
	resource  string // an ARN, or "*" for actions on no resource
	principal *Principal
	keys      func(key string) (string, bool) // condition keys, lower-case names
}

// matchesAction reports whether st covers the request's action and
// resource; conditions and principals are checked by the caller.
func (st *statement) matchesActionResource(req *request) bool {
	hit := slices.ContainsFunc(st.actions, func(p string) bool { return glob(p, req.lowAction) })
	if hit == st.notAction {
		return false
	}
	if st.resources == nil {
		return true
	}
	hit = slices.ContainsFunc(st.resources, func(p string) bool { return glob(p, req.resource) })
	return hit != st.notResource
}

func (st *statement) conditionsHold(req *request) bool {
	for i := range st.conditions {
		if !st.conditions[i].eval(req.keys) {
			return false
		}
	}
	return true
}

// glob matches s against a pattern where * matches any run of characters
// (colons included) and ? any one character.
func glob(pattern, s string) bool {
	if pattern == "*" {
		return true
	}
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// decision is the outcome of evaluating policies, with the reason AWS
// gives when it is a denial.
type decision int

const (
	allowed decision = iota
	implicitDeny
	explicitDenyIdentity
	explicitDenyResource
	noResourceAllow // a cross-account caller the resource policy does not let in
)

// evaluate decides a request as AWS does for the identity policies of the
// caller and the resource policy of the resource (nil when none): any
// applicable Deny denies; otherwise the caller's own account needs an
// Allow from either, another account's caller needs both (the resource
// policy naming the caller or its account).
func evaluate(req *request, resource *Policy, resourceAccount string) decision {
	p := req.principal
	identityAllow := p.Root()
	for _, pol := range p.Policies {
		for i := range pol.statements {
			st := &pol.statements[i]
			if !st.matchesActionResource(req) || !st.conditionsHold(req) {
				continue
			}
			if st.deny {
				return explicitDenyIdentity
			}
			identityAllow = true
		}
	}
	var resourceAllow, resourceDelegates bool
	if resource != nil {
		for i := range resource.statements {
			st := &resource.statements[i]
			m := st.principals.match(p)
			if st.notPrincipal { // everyone but those named
				if m == noMatch {
					m = directMatch
				} else {
					m = noMatch
				}
			}
			if m == noMatch || !st.matchesActionResource(req) || !st.conditionsHold(req) {
				continue
			}
			switch {
			case st.deny:
				return explicitDenyResource
			case m == directMatch:
				resourceAllow = true
			default:
				resourceDelegates = true
			}
		}
	}
	if p.Account == resourceAccount || resourceAccount == "" {
		if identityAllow || resourceAllow {
			return allowed
		}
		return implicitDeny
	}
	switch {
	case !identityAllow:
		return implicitDeny
	case !resourceAllow && !resourceDelegates:
		return noResourceAllow
	}
	return allowed
}
