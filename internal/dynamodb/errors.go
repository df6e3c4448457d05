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
