package main

// One-line errors for the client subcommands. The AWS SDK reports a failed
// call as a chain ("operation error Kinesis: ListStreams, exceeded maximum
// number of attempts, 3, https response error StatusCode: 0, RequestID: ,
// request send failed, Post \"http://127.0.0.1:1/\": dial tcp 127.0.0.1:1:
// connect: connection refused"); explain turns it into what happened and
// what to do. --verbose prints the chain as it is.

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/aws/smithy-go"
)

// credentialCodes are AWS error codes that mean the request's signature
// or credentials were refused.
var credentialCodes = map[string]bool{
	"UnrecognizedClientException":         true,
	"InvalidSignatureException":           true,
	"IncompleteSignatureException":        true,
	"MissingAuthenticationTokenException": true,
	"MissingAuthenticationToken":          true,
	"AccessDeniedException":               true,
	"ExpiredTokenException":               true,
}

// explain sums up err in one line. Errors that did not come from an AWS
// call are already one line of ours and pass through.
func explain(err error) string {
	var op *smithy.OperationError
	if !errors.As(err, &op) {
		return err.Error()
	}
	// Our own context ("delete stream orders: ") precedes the SDK's text,
	// and a hint may follow it.
	full, sdk := err.Error(), op.Error()
	prefix, suffix := "", ""
	if i := strings.Index(full, sdk); i >= 0 {
		prefix, suffix = full[:i], full[i+len(sdk):]
	}
	what, standalone := explainCall(op)
	if standalone {
		return what // the endpoint was never reached: the context adds nothing
	}
	return prefix + what + suffix
}

// explainCall words a failed SDK call. standalone reports a failure to
// reach the endpoint at all.
func explainCall(op *smithy.OperationError) (what string, standalone bool) {
	var apiErr smithy.APIError
	if errors.As(op, &apiErr) {
		msg := apiErr.ErrorCode()
		if m := apiErr.ErrorMessage(); m != "" {
			msg += ": " + m
		}
		if credentialCodes[apiErr.ErrorCode()] {
			msg += " (check the credentials: AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and --region)"
		}
		return msg, false
	}
	endpoint := "the endpoint"
	var uerr *url.Error
	if errors.As(op, &uerr) {
		if u, err := url.Parse(uerr.URL); err == nil && u.Host != "" {
			endpoint = u.Scheme + "://" + u.Host
		}
	}
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	var netErr net.Error
	switch {
	case errors.Is(op, syscall.ECONNREFUSED):
		if isAWSEndpoint(endpoint) {
			return fmt.Sprintf("cannot connect to %s: check the network, or --endpoint", endpoint), true
		}
		return fmt.Sprintf("no Sluice at %s: start one with `sluice serve` or set --endpoint", endpoint), true
	case errors.As(op, &dnsErr):
		return fmt.Sprintf("cannot resolve %s (%s): check --endpoint", dnsErr.Name, endpoint), true
	case errors.As(op, &unknownCA), errors.As(op, &hostnameErr):
		return fmt.Sprintf("TLS certificate of %s not trusted (%v): give its CA with AWS_CA_BUNDLE", endpoint, innermost(op)), true
	case errors.As(op, &netErr) && netErr.Timeout():
		return fmt.Sprintf("no answer from %s in time: is it overloaded, or the wrong --endpoint?", endpoint), true
	case strings.Contains(op.Error(), "failed to refresh cached credentials"),
		strings.Contains(op.Error(), "failed to retrieve credentials"):
		return "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", true
	}
	return fmt.Sprintf("%s failed: %v (--verbose shows the whole error)", op.Operation(), innermost(op)), false
}

// innermost is the last error of err's chain: the cause without the
// layers that wrapped it.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

func isAWSEndpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return strings.HasSuffix(h, ".amazonaws.com") || strings.HasSuffix(h, ".amazonaws.com.cn")
}
