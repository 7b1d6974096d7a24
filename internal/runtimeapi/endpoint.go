// Package runtimeapi serves the AWS Lambda Runtime API (2018-06-01) for one execution
// environment: the runtime inside the environment long-polls /runtime/invocation/next, and the
// host hands it invocations through Invoke and gets back what it posted to /response or
// /error. A minimal Extensions API (2020-01-01) lets in-process extensions register, which is
// all aws-lambda-go's lambda.WithEnableSIGTERM needs.
//
// One Endpoint serves one environment, one invocation at a time, like Lambda. Its state
// machine and its error bodies follow the Lambda Runtime Interface Emulator, so real runtime
// clients see what they see on AWS.
package runtimeapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nimbusfaas/nimbus/internal/httplimit"
)

// DefaultMaxResponseBytes is Lambda's limit on a synchronous response: 6 MiB + 100 bytes
// (the Runtime Interface Emulator's MaxPayloadSize).
const DefaultMaxResponseBytes = 6*1024*1024 + 100

// Config configures an Endpoint. Zero values take the documented defaults.
type Config struct {
	// FunctionARN is sent as Lambda-Runtime-Invoked-Function-Arn when an Invocation does
	// not name its own.
	FunctionARN string
	// FunctionName, FunctionVersion and Handler are reported to extensions that register.
	// FunctionVersion defaults to "$LATEST".
	FunctionName    string
	FunctionVersion string
	Handler         string
	// MaxResponseBytes bounds a response or error body posted by the runtime. Larger ones give
	// the caller Function.ResponseSizeTooLarge. Default DefaultMaxResponseBytes.
	MaxResponseBytes int
	// Logger receives protocol violations by the runtime at debug level and server errors at
	// warn level. Default: discard.
	Logger *slog.Logger
	// MaxConnections bounds the connections the environment may hold open to its Runtime API;
	// beyond it, new ones wait in the kernel's accept queue until one closes. Default
	// DefaultMaxConnections.
	MaxConnections int
}

// DefaultMaxConnections is how many connections an environment may hold to its Runtime API.
// A runtime needs one (two while an extension registers); the rest is headroom. Every
// connection is a descriptor of the server's own, so without a bound a function opening
// thousands of them would take the descriptors every other function and the API need.
const DefaultMaxConnections = 16

// Invocation is one event handed to the runtime.
type Invocation struct {
	// RequestID is required; it becomes Lambda-Runtime-Aws-Request-Id.
	RequestID string
	// Payload is the event, sent verbatim as the /next body. Invoke returns an answer only
	// once the payload is written; when it returns ctx's error or ErrClosed instead, the
	// write may go on until the runtime reads it or its connection closes, so the caller must
	// not recycle the buffer then.
	Payload []byte
	// Deadline is required (aws-lambda-go fails every invoke without it); it is sent as
	// Lambda-Runtime-Deadline-Ms in Unix epoch milliseconds.
	Deadline time.Time
	// InvokedFunctionARN defaults to Config.FunctionARN.
	InvokedFunctionARN string
	// TraceID, ClientContext (decoded JSON) and CognitoIdentity (JSON) are sent when set.
	TraceID         string
	ClientContext   string
	CognitoIdentity string
}

// Response is what the runtime answered to one invocation.
type Response struct {
	// Payload is the response body, or the error document when FunctionError is true. It
	// belongs to the caller.
	Payload []byte
	// ContentType is the Content-Type the runtime posted with the body, if any.
	ContentType string
	// FunctionError is true when the runtime reported an error (/error, an error trailer on
	// /response) or the response was too large.
	FunctionError bool
	// ErrorType is the Lambda-Runtime-Function-Error-Type the runtime sent (header or
	// trailer), else the errorType field of the error document, else empty.
	ErrorType string
}

// Errors returned by Invoke and WaitInit.
var (
	// ErrClosed is returned once Close has been called.
	ErrClosed = errors.New("runtime api endpoint closed")
	// ErrBusy is returned when an invocation is already outstanding: an environment runs one
	// invocation at a time, and an abandoned one stays outstanding until the runtime answers.
	ErrBusy = errors.New("runtime api endpoint busy with another invocation")
	// ErrTruncatedResponse is returned when the runtime's /response or /error request broke
	// off before its end, which usually means the runtime died while posting.
	ErrTruncatedResponse = errors.New("runtime posted a truncated response")
)

// Endpoint is the Runtime API of one execution environment.
type Endpoint struct {
	cfg      Config
	log      *slog.Logger
	srv      *http.Server
	tooLarge []byte // Function.ResponseSizeTooLarge document for cfg.MaxResponseBytes

	// closed is closed by Close; initDone when the runtime first asks for work or reports an
	// init error.
	closed   chan struct{}
	initDone chan struct{}

	mu    sync.Mutex
	state runtimeState
	// waiter is the /next request parked for work, pending the invocation waiting for a
	// /next, current the invocation the runtime is working on. At most one of waiter and
	// pending is set.
	waiter  *connState
	pending *call
	current *call
	spare   *call // a finished call kept for the next Invoke, to spare an allocation
	initErr *InitError
	// nextAsked is made by WaitNext and closed when the runtime next asks for work.
	nextAsked chan struct{}
	// extensions are the identifiers handed out by /extension/register.
	extensions map[string]string
	serving    bool
}

// runtimeState names follow the Runtime Interface Emulator, whose names appear in
// InvalidStateTransition messages.
type runtimeState uint8

const (
	stateStarted runtimeState = iota
	stateInitError
	stateReady
	stateRunning
	stateInvocationResponse
	stateInvocationErrorResponse
	stateResponseSent
	stateClosed
)

func (s runtimeState) String() string {
	switch s {
	case stateStarted:
		return "Started"
	case stateInitError:
		return "InitError"
	case stateReady:
		return "Ready"
	case stateRunning:
		return "Running"
	case stateInvocationResponse:
		return "InvocationResponse"
	case stateInvocationErrorResponse:
		return "InvocationErrorResponse"
	case stateResponseSent:
		return "RuntimeResponseSentState"
	default:
		return "Closed"
	}
}

// call is one Invoke in flight.
type call struct {
	inv  Invocation
	done chan struct{} // receives once when finished, unless abandoned
	// delivering counts the /next handler writing inv to the runtime: an answer is recorded
	// only once that write is over, so that neither the call nor its payload is reused while
	// being written.
	delivering sync.WaitGroup
	// Guarded by Endpoint.mu.
	finished  bool
	abandoned bool
	resp      Response
	err       error
}

// connState is per connection, made once when the runtime connects: the /next request on it
// parks on wake, and its response headers are built in reused slices (a connection carries
// one request at a time, so they are free again by the next /next).
type connState struct {
	wake     chan *call
	hdrID    [1]string
	hdrDL    [1]string
	hdrARN   [1]string
	hdrTrace [1]string
	hdrCC    [1]string
	hdrCog   [1]string
	hdrLen   [1]string
	dlBuf    [20]byte
	body     bytes.Buffer // reads chunked bodies posted on this connection
}

type connKey struct{}

// New returns an Endpoint. Serve starts it.
func New(cfg Config) *Endpoint {
	if cfg.FunctionVersion == "" {
		cfg.FunctionVersion = "$LATEST"
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Endpoint{
		cfg: cfg,
		log: log,
		tooLarge: errorDocument("Function.ResponseSizeTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", cfg.MaxResponseBytes)),
		closed:     make(chan struct{}),
		initDone:   make(chan struct{}),
		extensions: map[string]string{},
	}
	e.srv = &http.Server{
		Handler: e.routes(),
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, &connState{wake: make(chan *call, 1)})
		},
		// A runtime may be frozen between invocations for as long as the environment is
		// kept warm, so idle connections are never timed out.
		ReadHeaderTimeout: time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return e
}

// Serve answers the runtime on l until Close. It returns nil after Close.
func (e *Endpoint) Serve(l net.Listener) error {
	e.mu.Lock()
	if e.serving || e.state == stateClosed {
		e.mu.Unlock()
		return errors.New("runtime api endpoint: serve called twice or after close")
	}
	e.serving = true
	e.mu.Unlock()
	if err := e.srv.Serve(httplimit.Listener(l, e.cfg.MaxConnections)); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving runtime api: %w", err)
	}
	return nil
}

// Close stops the endpoint: it closes the listener and every connection, and fails any
// Invoke or WaitInit in progress with ErrClosed. Call it once the runtime process is gone.
// It is idempotent.
func (e *Endpoint) Close() error {
	e.mu.Lock()
	if e.state == stateClosed {
		e.mu.Unlock()
		return nil
	}
	e.state = stateClosed
	close(e.closed)
	if e.waiter != nil {
		e.waiter.wake <- nil
		e.waiter = nil
	}
	if c := e.pending; c != nil {
		e.pending = nil
		e.finishLocked(c, Response{}, ErrClosed)
	}
	if c := e.current; c != nil {
		e.finishLocked(c, Response{}, ErrClosed)
	}
	e.mu.Unlock()
	return e.srv.Close()
}

// WaitInit waits for the end of the runtime's Init phase: it returns nil when the runtime
// first asks for an invocation, an *InitError when the runtime reports an init error, or the
// context's error.
func (e *Endpoint) WaitInit(ctx context.Context) error {
	select {
	case <-e.initDone:
		return e.initResult()
	case <-e.closed:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// initResult is how Init ended, once initDone is closed: the *InitError, or nil.
func (e *Endpoint) initResult() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.initErr != nil {
		return e.initErr
	}
	return nil
}

// WaitNext waits until the runtime asks for an invocation, that is until it is parked in
// /next: it returns nil then, at once if it already is. It returns the *InitError if Init
// failed, ErrClosed after Close, or the context's error. After a function error it tells a
// runtime that carries on from one that is about to exit (aws-lambda-go after a panic).
func (e *Endpoint) WaitNext(ctx context.Context) error {
	e.mu.Lock()
	switch {
	case e.state == stateReady:
		e.mu.Unlock()
		return nil
	case e.initErr != nil:
		err := e.initErr
		e.mu.Unlock()
		return err
	case e.state == stateClosed:
		e.mu.Unlock()
		return ErrClosed
	}
	if e.nextAsked == nil {
		e.nextAsked = make(chan struct{})
	}
	asked := e.nextAsked
	var initDone chan struct{} // nil, so never ready, unless Init is still running
	if e.state == stateStarted || e.state == stateInitError {
		initDone = e.initDone
	}
	e.mu.Unlock()
	select {
	case <-asked:
		return nil
	case <-initDone:
		// Init ended: by a first /next (then asked is closed too) or by an init error.
		return e.initResult()
	case <-e.closed:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ExtensionsRegistered reports whether an extension registered; Lambda then sends the runtime
// SIGTERM before SIGKILL at shutdown.
func (e *Endpoint) ExtensionsRegistered() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.extensions) > 0
}

// Invoke hands inv to the runtime, waiting for its next /next if it is not already waiting,
// and returns what the runtime answers. A function error is a Response with FunctionError
// set, not an error. Invoke returns early with ctx's error when ctx ends (a timeout, or the
// invoker saw the runtime die); the invocation then stays outstanding until the runtime
// answers it, and is expected to end with the environment.
func (e *Endpoint) Invoke(ctx context.Context, inv Invocation) (Response, error) {
	if inv.RequestID == "" {
		return Response{}, errors.New("runtime api invoke: empty request id")
	}
	if inv.Deadline.IsZero() {
		return Response{}, errors.New("runtime api invoke: zero deadline")
	}
	e.mu.Lock()
	switch {
	case e.state == stateClosed:
		e.mu.Unlock()
		return Response{}, ErrClosed
	case e.initErr != nil:
		// (While an init error is still being posted, the invocation waits for it below.)
		err := e.initErr
		e.mu.Unlock()
		return Response{}, err
	case e.pending != nil || e.current != nil:
		e.mu.Unlock()
		return Response{}, ErrBusy
	}
	c := e.spare
	e.spare = nil
	if c == nil {
		c = &call{done: make(chan struct{}, 1)}
	}
	c.inv = inv
	if w := e.waiter; w != nil {
		e.waiter = nil
		e.current = c
		e.state = stateRunning
		c.delivering.Add(1)
		w.wake <- c
	} else {
		e.pending = c
	}
	e.mu.Unlock()

	select {
	case <-c.done:
	case <-ctx.Done():
		e.mu.Lock()
		switch {
		case c.finished:
			// Answered while ctx ended: the answer wins, and done holds its signal.
			e.mu.Unlock()
			<-c.done
		case e.pending == c:
			e.pending = nil
			e.recycleLocked(c)
			e.mu.Unlock()
			return Response{}, ctx.Err()
		default:
			c.abandoned = true
			e.mu.Unlock()
			return Response{}, ctx.Err()
		}
	}
	e.mu.Lock()
	resp, err := c.resp, c.err
	if err == nil {
		// Answered, so its delivery is over; a call ended by Close may still be written.
		e.recycleLocked(c)
	}
	e.mu.Unlock()
	return resp, err
}

// finishLocked ends c with its answer and wakes its Invoke.
func (e *Endpoint) finishLocked(c *call, resp Response, err error) {
	if e.current == c {
		e.current = nil
	}
	c.finished = true
	c.resp = resp
	c.err = err
	if !c.abandoned {
		c.done <- struct{}{}
	}
}

func (e *Endpoint) recycleLocked(c *call) {
	c.inv = Invocation{}
	c.finished, c.abandoned = false, false
	c.resp, c.err = Response{}, nil
	e.spare = c
}

// headers fills the /next response headers for inv.
func (cs *connState) headers(h http.Header, inv *Invocation, defaultARN string) {
	cs.hdrID[0] = inv.RequestID
	h["Lambda-Runtime-Aws-Request-Id"] = cs.hdrID[:]
	cs.hdrDL[0] = string(strconv.AppendInt(cs.dlBuf[:0], inv.Deadline.UnixMilli(), 10))
	h["Lambda-Runtime-Deadline-Ms"] = cs.hdrDL[:]
	arn := inv.InvokedFunctionARN
	if arn == "" {
		arn = defaultARN
	}
	if arn != "" {
		cs.hdrARN[0] = arn
		h["Lambda-Runtime-Invoked-Function-Arn"] = cs.hdrARN[:]
	}
	if inv.TraceID != "" {
		cs.hdrTrace[0] = inv.TraceID
		h["Lambda-Runtime-Trace-Id"] = cs.hdrTrace[:]
	}
	if inv.ClientContext != "" {
		cs.hdrCC[0] = inv.ClientContext
		h["Lambda-Runtime-Client-Context"] = cs.hdrCC[:]
	}
	if inv.CognitoIdentity != "" {
		cs.hdrCog[0] = inv.CognitoIdentity
		h["Lambda-Runtime-Cognito-Identity"] = cs.hdrCog[:]
	}
	cs.hdrLen[0] = strconv.Itoa(len(inv.Payload))
	h["Content-Length"] = cs.hdrLen[:]
	h["Content-Type"] = contentTypeJSON
	h["Date"] = nil // not part of the contract; saves formatting a date per invocation
}
