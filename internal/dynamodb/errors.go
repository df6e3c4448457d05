package dynamodb

import (
	"fmt"
	"net/http"
)

// Error type prefixes: DynamoDB's own exceptions, and the AWS front end's
// (validation, serialization, authentication).
const (
	prefixDynamoDB = "com.amazonaws.dynamodb.v20120810#"
	prefixValidate = "com.amazon.coral.validate#"
	prefixService  = "com.amazon.coral.service#"
	prefixAvail    = "com.amazon.coral.availability#"
)

// apiError is an error as the client sees it: __type, message, HTTP status
// and, for a failed condition with ReturnValuesOnConditionCheckFailure
// ALL_OLD, the item.
type apiError struct {
	typ    string
	msg    string
	status int
	item   Item
	// reasons are a TransactionCanceledException's CancellationReasons;
	// that exception's message member is "Message", as in the model.
	reasons []cancellationReason
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func validationError(format string, args ...any) *apiError {
	return &apiError{typ: prefixValidate + "ValidationException", msg: fmt.Sprintf(format, args...), status: http.StatusBadRequest}
}

// validationMsg wraps a message from the value decoders, which use
// errSerialization for a member of the wrong JSON type.
func validationMsg(msg string) *apiError {
	if msg == errSerialization {
		return serializationError()
	}
	return &apiError{typ: prefixValidate + "ValidationException", msg: msg, status: http.StatusBadRequest}
}

func serializationError() *apiError {
	return &apiError{typ: prefixService + "SerializationException", status: http.StatusBadRequest}
}

func resourceNotFound(msg string) *apiError {
	return &apiError{typ: prefixDynamoDB + "ResourceNotFoundException", msg: msg, status: http.StatusBadRequest}
}

func resourceInUse(msg string) *apiError {
	return &apiError{typ: prefixDynamoDB + "ResourceInUseException", msg: msg, status: http.StatusBadRequest}
}

func limitExceeded(msg string) *apiError {
	return &apiError{typ: prefixDynamoDB + "LimitExceededException", msg: msg, status: http.StatusBadRequest}
}

func conditionalCheckFailed(item Item) *apiError {
	return &apiError{typ: prefixDynamoDB + "ConditionalCheckFailedException", msg: "The conditional request failed",
		status: http.StatusBadRequest, item: item}
}

func serviceError(name, msg string) *apiError {
	return &apiError{typ: prefixService + name, msg: msg, status: http.StatusBadRequest}
}

func internalError() *apiError {
	return &apiError{typ: prefixDynamoDB + "InternalServerError", msg: "Internal server error", status: http.StatusInternalServerError}
}

// throttlingError is DynamoDB's answer to a request it has no room for;
// the SDKs retry it with backoff.
func throttlingError() *apiError {
	return &apiError{typ: prefixAvail + "ThrottlingException", msg: "Rate of requests exceeds the allowed throughput.", status: http.StatusBadRequest}
}

// serviceUnavailable is the answer to a write the store refused for want
// of space; the SDKs retry 503s with backoff.
func serviceUnavailable(msg string) *apiError {
	return &apiError{typ: prefixService + "ServiceUnavailable", msg: msg, status: http.StatusServiceUnavailable}
}
