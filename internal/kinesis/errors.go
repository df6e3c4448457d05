package kinesis

import (
	"errors"
	"fmt"
)

// ErrorCode names an AWS exception, exactly as it appears in `__type`.
type ErrorCode string

const (
	ErrResourceNotFound      ErrorCode = "ResourceNotFoundException"
	ErrResourceInUse         ErrorCode = "ResourceInUseException"
	ErrInvalidArgument       ErrorCode = "InvalidArgumentException"
	ErrLimitExceeded         ErrorCode = "LimitExceededException"
	ErrExpiredIterator       ErrorCode = "ExpiredIteratorException"
	ErrExpiredNextToken      ErrorCode = "ExpiredNextTokenException"
	ErrProvisionedThroughput ErrorCode = "ProvisionedThroughputExceededException"
	ErrValidation            ErrorCode = "ValidationException"
	ErrAccessDenied          ErrorCode = "AccessDeniedException"
	ErrInternalFailure       ErrorCode = "InternalFailureException"
	ErrSerialization         ErrorCode = "SerializationException"
	ErrUnknownOperation      ErrorCode = "UnknownOperationException"
	ErrMissingAuthToken      ErrorCode = "MissingAuthenticationTokenException"
	ErrIncompleteSignature   ErrorCode = "IncompleteSignatureException"
	ErrInvalidSignature      ErrorCode = "InvalidSignatureException"
	ErrUnrecognizedClient    ErrorCode = "UnrecognizedClientException"
	ErrExpiredToken          ErrorCode = "ExpiredTokenException"
	ErrRequestEntityTooLarge ErrorCode = "RequestEntityTooLargeException"
	ErrKMSDisabled           ErrorCode = "KMSDisabledException"
	ErrKMSNotFound           ErrorCode = "KMSNotFoundException"
	ErrKMSInvalidState       ErrorCode = "KMSInvalidStateException"
	ErrKMSAccessDenied       ErrorCode = "KMSAccessDeniedException"
	ErrKMSOptInRequired      ErrorCode = "KMSOptInRequired" // sic: no Exception suffix in the model
	ErrKMSThrottling         ErrorCode = "KMSThrottlingException"

	// AWS's common errors, which any service may answer: the server
	// refuses work it has no room for, and clients retry with backoff.
	ErrThrottling         ErrorCode = "ThrottlingException"
	ErrRequestTimeout     ErrorCode = "RequestTimeoutException"
	ErrServiceUnavailable ErrorCode = "ServiceUnavailable"
)

// errorInfo is what the protocol layer needs to know of a code.
type errorInfo struct {
	status    int  // HTTP status
	retryable bool // whether a client may retry the same request
}

// errorTable holds, as data, the HTTP status and retryability of each code.
var errorTable = map[ErrorCode]errorInfo{
	ErrResourceNotFound:      {400, false},
	ErrResourceInUse:         {400, false},
	ErrInvalidArgument:       {400, false},
	ErrLimitExceeded:         {400, true},
	ErrExpiredIterator:       {400, false},
	ErrExpiredNextToken:      {400, false},
	ErrProvisionedThroughput: {400, true},
	ErrValidation:            {400, false},
	ErrAccessDenied:          {400, false},
	ErrInternalFailure:       {500, true},
	ErrSerialization:         {400, false},
	ErrUnknownOperation:      {400, false},
	ErrMissingAuthToken:      {400, false},
	ErrIncompleteSignature:   {400, false},
	ErrInvalidSignature:      {400, false},
	ErrUnrecognizedClient:    {400, false},
	ErrExpiredToken:          {400, false},
	ErrRequestEntityTooLarge: {413, false},
	ErrKMSDisabled:           {400, false},
	ErrKMSNotFound:           {400, false},
	ErrKMSInvalidState:       {400, false},
	ErrKMSAccessDenied:       {400, false},
	ErrKMSOptInRequired:      {400, false},
	ErrKMSThrottling:         {400, true},
	ErrThrottling:            {400, true},
	ErrRequestTimeout:        {408, true},
	ErrServiceUnavailable:    {503, true},
}

// HTTPStatus is the status code AWS answers this error with.
func (c ErrorCode) HTTPStatus() int {
	if info, ok := errorTable[c]; ok {
		return info.status
	}
	return 500
}

// Retryable reports whether a client may retry a request that failed so.
func (c ErrorCode) Retryable() bool { return errorTable[c].retryable }

// Error is a failure the API reports to the client: a code and a message
// in AWS's words. Errors that are not *Error are internal failures and are
// never shown to clients.
type Error struct {
	Code    ErrorCode
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of err, or ErrInternalFailure when err carries
// none.
func CodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ErrInternalFailure
}

// StreamNotFound is the error AWS gives for a stream that does not exist.
func StreamNotFound(name, account string) *Error {
	return Errorf(ErrResourceNotFound, "Stream %s under account %s not found.", name, account)
}
