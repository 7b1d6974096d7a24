package auth

import (
	"fmt"
	"net/http"
)

// AWS error codes an authentication failure can carry. They are the codes real AWS services send,
// so SDKs and the CLI classify them as they would against AWS.
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	CodeUnrecognizedClient         = "UnrecognizedClientException"
	CodeInvalidSignature           = "InvalidSignatureException"
	CodeIncompleteSignature        = "IncompleteSignatureException"
)

// Error is an authentication failure in AWS's terms. Code and Message go on the wire (the API
// layer renders them); Detail is for the server log only — it may hold the canonical request we
// computed, which helps a user debug a signer but is not something AWS sends back.
type Error struct {
	Code    string // AWS error code, one of the Code* constants
	Message string // message for the client, AWS's text where AWS has one
	Status  int    // HTTP status
	Detail  string // extra context for logs; never sent to the client
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Detail)
	}
	return e.Code + ": " + e.Message
}

// Is reports whether target is an *Error with the same Code, so callers can test for a class of
// failure with errors.Is(err, auth.ErrInvalidSignature) whatever the message says.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels, one per code, for errors.Is. The values returned by Verify are fresh *Error values
// with the same Code and a specific Message.
var (
	ErrMissingAuthenticationToken = &Error{Code: CodeMissingAuthenticationToken, Status: http.StatusForbidden, Message: msgMissingToken}
	ErrUnrecognizedClient         = &Error{Code: CodeUnrecognizedClient, Status: http.StatusForbidden, Message: msgUnrecognizedClient}
	ErrInvalidSignature           = &Error{Code: CodeInvalidSignature, Status: http.StatusForbidden, Message: msgSignatureMismatch}
	ErrIncompleteSignature        = &Error{Code: CodeIncompleteSignature, Status: http.StatusBadRequest}
)

// Messages as AWS words them (recorded from real AWS responses quoted in client bug reports and
// emulators that were checked against AWS).
const (
	msgMissingToken       = "Missing Authentication Token"
	msgUnrecognizedClient = "The security token included in the request is invalid."
	msgSignatureMismatch  = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

func missingToken() *Error {
	return &Error{Code: CodeMissingAuthenticationToken, Status: http.StatusForbidden, Message: msgMissingToken}
}

func unrecognizedClient(detail string) *Error {
	return &Error{Code: CodeUnrecognizedClient, Status: http.StatusForbidden, Message: msgUnrecognizedClient, Detail: detail}
}

func invalidSignature(msg, detail string) *Error {
	return &Error{Code: CodeInvalidSignature, Status: http.StatusForbidden, Message: msg, Detail: detail}
}

func incompleteSignature(msg string) *Error {
	return &Error{Code: CodeIncompleteSignature, Status: http.StatusBadRequest, Message: msg}
}
