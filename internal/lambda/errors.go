package lambda

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a failure with AWS Lambda's error code. Packages return it (or wrap it with %w) when the
// caller must see a specific Lambda error; the API edge renders it as Lambda's wire JSON.
// Anything that is not an *Error reaches clients as a ServiceException.
type Error struct {
	Code    string // AWS error code, e.g. ResourceNotFoundException
	Message string
	Status  int    // HTTP status
	Reason  string // only for TooManyRequestsException
	// RetryAfterSeconds, when non-zero, becomes the Retry-After header of a 429.
	RetryAfterSeconds int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// AsError reports whether err carries a Lambda error, and returns it.
func AsError(err error) (*Error, bool) {
	var le *Error
	ok := errors.As(err, &le)
	return le, ok
}

// Error codes used across Nimbus. The message member's casing on the wire depends on the code;
// the API package knows which.
const (
	CodeResourceNotFound      = "ResourceNotFoundException"
	CodeResourceConflict      = "ResourceConflictException"
	CodeInvalidParameterValue = "InvalidParameterValueException"
	CodeInvalidRequestContent = "InvalidRequestContentException"
	CodeValidation            = "ValidationException"
	CodePreconditionFailed    = "PreconditionFailedException"
	CodeTooManyRequests       = "TooManyRequestsException"
	CodeRequestTooLarge       = "RequestEntityTooLargeException"
	CodeService               = "ServiceException"
	CodeAccessDenied          = "AccessDeniedException"
	CodeUnsupportedMediaType  = "UnsupportedMediaTypeException"
	CodeResourceNotReady      = "ResourceNotReadyException"
	CodeUnknownOperation      = "UnknownOperationException"
)

func newError(status int, code, format string, args []any) *Error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: code, Message: msg, Status: status}
}

// NotFound is a 404 ResourceNotFoundException.
func NotFound(format string, args ...any) *Error {
	return newError(http.StatusNotFound, CodeResourceNotFound, format, args)
}

// Conflict is a 409 ResourceConflictException.
func Conflict(format string, args ...any) *Error {
	return newError(http.StatusConflict, CodeResourceConflict, format, args)
}

// InvalidParameter is a 400 InvalidParameterValueException.
func InvalidParameter(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, CodeInvalidParameterValue, format, args)
}

// InvalidRequestContent is a 400 InvalidRequestContentException.
func InvalidRequestContent(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, CodeInvalidRequestContent, format, args)
}

// Validation is a 400 ValidationException, Lambda's answer to a value that breaks a model
// constraint ("1 validation error detected: ...").
func Validation(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, CodeValidation, format, args)
}

// PreconditionFailed is a 412 PreconditionFailedException (a stale RevisionId).
func PreconditionFailed(format string, args ...any) *Error {
	return newError(http.StatusPreconditionFailed, CodePreconditionFailed, format, args)
}

// TooManyRequests is a 429 TooManyRequestsException with Lambda's Reason.
func TooManyRequests(reason string) *Error {
	return &Error{Code: CodeTooManyRequests, Message: "Rate Exceeded.", Status: http.StatusTooManyRequests, Reason: reason}
}

// RequestTooLarge is a 413 RequestEntityTooLargeException for the named operation.
func RequestTooLarge(limit int64, operation string) *Error {
	return &Error{
		Code:    CodeRequestTooLarge,
		Message: fmt.Sprintf("Request must be smaller than %d bytes for the %s operation", limit, operation),
		Status:  http.StatusRequestEntityTooLarge,
	}
}

// AccessDenied is a 403 AccessDeniedException.
func AccessDenied(format string, args ...any) *Error {
	return newError(http.StatusForbidden, CodeAccessDenied, format, args)
}

// Reasons of TooManyRequestsException, as Lambda sends them.
const (
	ReasonConcurrentInvocationLimitExceeded         = "ConcurrentInvocationLimitExceeded"
	ReasonReservedFunctionConcurrentInvocationLimit = "ReservedFunctionConcurrentInvocationLimitExceeded"
)

// Messages Lambda sends verbatim, recorded from real AWS.
const (
	MsgCouldNotUnzip    = "Could not unzip uploaded file. Please check your file, then try to upload again."
	MsgRevisionMismatch = "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)
