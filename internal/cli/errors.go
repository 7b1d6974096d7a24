package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// UserError is an error whose message is meant for the user as it is: one sentence saying
// what went wrong and what to do.
type UserError struct {
	Msg string
	Err error // the cause, for errors.Is/As; not shown
}

func (e *UserError) Error() string { return e.Msg }
func (e *UserError) Unwrap() error { return e.Err }

// ExitStatus ends the command with this status and no further message: the command already
// said what went wrong (a function error, say).
type ExitStatus int

func (e ExitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// explain turns an error of an API call into a UserError. subject names what the call was
// about ("function hello"), for the messages that need it.
func (a *App) explain(err error, subject string) error {
	if err == nil {
		return nil
	}
	var ue *UserError
	if errors.As(err, &ue) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return &UserError{Msg: "interrupted", Err: err}
	}
	t := a.Target
	if errors.Is(err, syscall.ECONNREFUSED) {
		if t.Source == FromDataDir {
			if t.PID > 0 && !processAlive(t.PID) {
				return &UserError{Err: err, Msg: fmt.Sprintf("the Nimbus server recorded in %s (pid %d) is not running: start it with `nimbus server`",
					filepath.Join(t.DataDir, ServerInfoFile), t.PID)}
			}
			return &UserError{Err: err, Msg: fmt.Sprintf("no Nimbus server is answering at %s: start one with `nimbus server`", t.Endpoint)}
		}
		return &UserError{Err: err, Msg: fmt.Sprintf("no Nimbus server is answering at %s: check --endpoint or AWS_ENDPOINT_URL, or start one with `nimbus server`", t.Endpoint)}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return &UserError{Err: err, Msg: a.explainAPI(ae, err, subject)}
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	if errors.As(err, &dnsErr) || errors.As(err, &opErr) {
		return &UserError{Err: err, Msg: fmt.Sprintf("cannot reach %s (%v): check --endpoint or AWS_ENDPOINT_URL", t.Endpoint, innermost(err))}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return &UserError{Err: err, Msg: fmt.Sprintf("the server at %s answered with HTTP %d, which is not a Lambda API answer: check that --endpoint or AWS_ENDPOINT_URL points at Nimbus", t.Endpoint, re.HTTPStatusCode())}
	}
	return &UserError{Err: err, Msg: innermost(err).Error()}
}

func (a *App) explainAPI(ae smithy.APIError, err error, subject string) string {
	msg := ae.ErrorMessage()
	switch ae.ErrorCode() {
	case "ResourceNotFoundException":
		if subject != "" {
			return fmt.Sprintf("%s does not exist: `nimbus ls` lists the functions there are", subject)
		}
	case "UnrecognizedClientException", "InvalidSignatureException", "MissingAuthenticationTokenException",
		"IncompleteSignatureException", "SignatureDoesNotMatch":
		return fmt.Sprintf("the server at %s refused the credentials (%s): use the key `nimbus env` prints on the server's machine (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", a.Target.Endpoint, msg)
	case "AccessDeniedException":
		return fmt.Sprintf("the server refused access (%s): use a key allowed to do this", msg)
	case "TooManyRequestsException":
		var tmr *types.TooManyRequestsException
		if errors.As(err, &tmr) && tmr.Reason == types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
			return fmt.Sprintf("%s is running as many invocations as its reserved concurrency allows (0 stops it): `aws lambda get-function-concurrency` shows it, `aws lambda delete-function-concurrency` lifts it", orDefault(subject, "the function"))
		}
		return fmt.Sprintf("%s is at its concurrency limit (%s): try again in a moment", orDefault(subject, "the function"), msg)
	case "ResourceConflictException":
		return fmt.Sprintf("%s: wait for the change in progress to finish and run the command again", msg)
	case "RequestEntityTooLargeException":
		return fmt.Sprintf("the request is too large (%s): make it smaller", msg)
	case "ServiceException", "ServiceUnavailableException", "InternalFailure":
		return fmt.Sprintf("the server failed (%s): its log says why", msg)
	case "UnknownOperationException":
		return fmt.Sprintf("the server at %s does not know this operation (%s): is it a Nimbus server of this version?", a.Target.Endpoint, msg)
	}
	if msg == "" {
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) {
			return fmt.Sprintf("the server answered %s (HTTP %d)", ae.ErrorCode(), re.HTTPStatusCode())
		}
		return fmt.Sprintf("the server answered %s", ae.ErrorCode())
	}
	return fmt.Sprintf("the server refused the request: %s", msg)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// innermost is the deepest error of a chain: the SDK's wrapping ("operation error Lambda:
// GetFunction, https response error StatusCode: 0, RequestID: , …") says nothing a user needs.
func innermost(err error) error {
	for {
		var u *url.Error
		if errors.As(err, &u) {
			err = u.Err
		}
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
