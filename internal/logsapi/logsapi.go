package logsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/nimbusfaas/nimbus/internal/auth"
	"github.com/nimbusfaas/nimbus/internal/logs"
)

// Wire constants of the CloudWatch Logs JSON 1.1 protocol.
const (
	// TargetPrefix starts the X-Amz-Target header of every operation: "Logs_20140328.FilterLogEvents".
	TargetPrefix = "Logs_20140328."
	// SigningName is the SigV4 service name clients sign these requests with.
	SigningName = "logs"
	// ContentType is the media type of requests and responses.
	ContentType = "application/x-amz-json-1.1"
)

// maxRequestBody bounds a request: every read operation's input is a few hundred bytes.
const maxRequestBody = 1 << 20

// Reader is the log store as this API needs it; *logs.Service implements it.
type Reader interface {
	Scan(ctx context.Context, group string, since time.Time, opts logs.ReadOptions, fn func(logs.Event) bool) (logs.Cursor, bool, error)
	Streams(ctx context.Context, group string) ([]logs.StreamInfo, error)
	Groups(ctx context.Context) ([]string, error)
}

// Authenticator checks a request's SigV4 signature in two steps: from its headers, before the
// body is read, then with the body's hex SHA-256. *auth.Verifier implements it.
type Authenticator interface {
	VerifyHeaders(r *http.Request) (*auth.Pending, error)
}

// Config configures a Handler.
type Config struct {
	// Logs is where the events are read from. Required.
	Logs Reader
	// Auth verifies requests that come through ServeHTTP. Nil accepts every request (for a
	// caller that verified the request already and uses ServeTarget, or for tests).
	Auth Authenticator
	// Region and AccountID go into the ARNs of groups and streams. Empty means "us-east-1" and
	// "000000000000".
	Region    string
	AccountID string
	// RetentionDays is reported as every group's retentionInDays. Zero leaves it out (CloudWatch's
	// "never expire").
	RetentionDays int
	// Logger receives internal errors, which clients only see as ServiceUnavailableException.
	// Nil means slog.Default().
	Logger *slog.Logger
}

// Handler serves the CloudWatch Logs operations.
type Handler struct {
	logs      Reader
	auth      Authenticator
	region    string
	account   string
	retention int
	log       *slog.Logger
}

// New returns a Handler. It panics when cfg.Logs is nil: that is a wiring mistake.
func New(cfg Config) *Handler {
	if cfg.Logs == nil {
		panic("logsapi: Config.Logs is required")
	}
	h := &Handler{logs: cfg.Logs, auth: cfg.Auth, region: cfg.Region, account: cfg.AccountID,
		retention: cfg.RetentionDays, log: cfg.Logger}
	if h.region == "" {
		h.region = "us-east-1"
	}
	if h.account == "" {
		h.account = "000000000000"
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h
}

// ServeHTTP serves a JSON 1.1 request: POST with X-Amz-Target: Logs_20140328.<Operation>. It
// reads the body, verifies the signature when Config.Auth is set, and runs the operation.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", uuid.NewString())
	if err := h.serveHTTP(w, r); err != nil {
		h.WriteError(w, r, err)
	}
}

func (h *Handler) serveHTTP(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return &Error{Code: "UnknownOperationException", Status: http.StatusBadRequest,
			Message: "CloudWatch Logs operations are POST requests to /"}
	}
	// A request that cannot be authentic is refused before its body is read, and its
	// connection closed rather than drained.
	var pending *auth.Pending
	if h.auth != nil {
		p, err := h.auth.VerifyHeaders(r)
		if err != nil {
			w.Header().Set("Connection", "close")
			return err
		}
		pending = p
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &Error{Code: "SerializationException", Status: http.StatusRequestEntityTooLarge,
				Message: fmt.Sprintf("Request must be smaller than %d bytes", mbe.Limit)}
		}
		return fmt.Errorf("read request body: %w", err)
	}
	if pending != nil {
		if _, err := pending.Verify(auth.PayloadSHA256(body)); err != nil {
			return err
		}
	}
	return h.ServeTarget(w, r, r.Header.Get("X-Amz-Target"), body)
}

// ServeTarget runs the operation that target names ("Logs_20140328.FilterLogEvents") on an
// already read and authenticated body, and writes its response. An error means nothing was
// written: render it with WriteError.
func (h *Handler) ServeTarget(w http.ResponseWriter, r *http.Request, target string, body []byte) error {
	op, ok := strings.CutPrefix(target, TargetPrefix)
	if !ok {
		return &Error{Code: "UnknownOperationException", Status: http.StatusBadRequest,
			Message: fmt.Sprintf("X-Amz-Target %q is not a CloudWatch Logs operation", target)}
	}
	var out any
	var err error
	ctx := r.Context()
	switch op {
	case "DescribeLogGroups":
		var in describeLogGroupsInput
		if err = decode(body, &in); err == nil {
			out, err = h.describeLogGroups(ctx, &in)
		}
	case "DescribeLogStreams":
		var in describeLogStreamsInput
		if err = decode(body, &in); err == nil {
			out, err = h.describeLogStreams(ctx, &in)
		}
	case "GetLogEvents":
		var in getLogEventsInput
		if err = decode(body, &in); err == nil {
			out, err = h.getLogEvents(ctx, &in)
		}
	case "FilterLogEvents":
		var in filterLogEventsInput
		if err = decode(body, &in); err == nil {
			out, err = h.filterLogEvents(ctx, &in)
		}
	default:
		return &Error{Code: "UnknownOperationException", Status: http.StatusBadRequest,
			Message: fmt.Sprintf("Nimbus does not implement the CloudWatch Logs operation %s", op)}
	}
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(out); err != nil {
		return fmt.Errorf("encode %s response: %w", op, err)
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(buf.Bytes())
	return err
}

// decode reads a JSON 1.1 request body; an empty body is an empty input.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalidParameter("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must be of type %s", te.Field, te.Type)
		}
		return &Error{Code: "SerializationException", Status: http.StatusBadRequest, Message: "Could not parse the request body as JSON: " + err.Error()}
	}
	return nil
}

// Error is a CloudWatch Logs error: Code is AWS's exception name.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errors as CloudWatch Logs words them.
var (
	errGroupNotFound  = &Error{Code: "ResourceNotFoundException", Status: http.StatusBadRequest, Message: "The specified log group does not exist."}
	errStreamNotFound = &Error{Code: "ResourceNotFoundException", Status: http.StatusBadRequest, Message: "The specified log stream does not exist."}
	errBadToken       = &Error{Code: "InvalidParameterException", Status: http.StatusBadRequest, Message: "The specified nextToken is invalid."}
)

func invalidParameter(format string, args ...any) *Error {
	return &Error{Code: "InvalidParameterException", Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// WriteError renders err in the JSON 1.1 shape, {"__type": code, "message": text}: an *Error
// as it is, an authentication failure with its AWS code, anything else as a logged
// ServiceUnavailableException that reveals no internals.
func (h *Handler) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	var ae *auth.Error
	switch {
	case errors.As(err, &e):
	case errors.As(err, &ae):
		h.log.Info("logs API request refused", "err", err)
		e = &Error{Code: ae.Code, Message: ae.Message, Status: ae.Status}
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the client went away; nobody is listening
	default:
		h.log.Error("logs API request failed", "target", r.Header.Get("X-Amz-Target"), "err", err)
		e = &Error{Code: "ServiceUnavailableException", Status: http.StatusInternalServerError,
			Message: "The service cannot complete the request."}
	}
	body, _ := json.Marshal(map[string]string{"__type": e.Code, "message": e.Message})
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.WriteHeader(e.Status)
	w.Write(append(body, '\n'))
}

// Interface guards.
var (
	_ http.Handler = (*Handler)(nil)
	_ Reader       = (*logs.Service)(nil)
)
