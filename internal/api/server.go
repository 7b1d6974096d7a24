package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nimbusfaas/nimbus/internal/auth"
	"github.com/nimbusfaas/nimbus/internal/httplimit"
	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/store"
)

// Catalog is the function store as the API needs it.
type Catalog interface {
	CreateFunction(ctx context.Context, fn *lambda.Function) error
	GetFunction(ctx context.Context, name string) (*lambda.Function, error)
	UpdateFunction(ctx context.Context, name string, update func(*lambda.Function) error) (*lambda.Function, error)
	DeleteFunction(ctx context.Context, name string) error
	PutCode(ctx context.Context, zip []byte) (sha256hex string, err error)
	GetCode(ctx context.Context, sha256hex string) ([]byte, error)
}

// Functions finds functions in memory, with no I/O: it serves the invoke path and listings.
// It sees this node's own writes as soon as they return (store.Catalog). Its records are
// shared: handlers must not change them.
type Functions interface {
	Lookup(name string) (*lambda.Function, bool)
	// Resolve returns the version an invocation with this qualifier runs, picking a weighted
	// alias's version at random by its weights.
	Resolve(name, qualifier string) (*lambda.Function, bool)
	// List returns every function sorted by name.
	List() []*lambda.Function
	// ReservedConcurrency is the concurrency reserved by all functions together.
	ReservedConcurrency() int
}

// Runtimes says which runtimes this node can run.
type Runtimes interface {
	Names() []string
}

// Authenticator checks a request's SigV4 signature in two steps: from its headers, before the
// body is read, then with the body's hex SHA-256. *auth.Verifier implements it.
type Authenticator interface {
	VerifyHeaders(r *http.Request) (*auth.Pending, error)
}

// Interface guards.
var (
	_ Catalog       = (*store.Store)(nil)
	_ Functions     = (*store.Catalog)(nil)
	_ Authenticator = (*auth.Verifier)(nil)
	_ http.Handler  = (*Server)(nil)
)

// Config configures the API server.
type Config struct {
	Catalog Catalog
	// Functions is the in-memory view of Catalog's functions.
	Functions Functions
	Runtimes  Runtimes
	// PrepareCode validates an uploaded zip and readies it on this node (extracting it into the
	// code cache). A zip to refuse gives codezip.ErrInvalidZip or codezip.ErrUnzippedTooLarge.
	PrepareCode func(ctx context.Context, zip []byte) error
	// Auth verifies every request. Nil accepts every request (tests of handlers only).
	Auth     Authenticator
	Location lambda.Location
	// Invoker runs functions; nil answers Invoke with ServiceException.
	Invoker Invoker
	// Async queues asynchronous invocations; nil answers them with ServiceException.
	Async AsyncQueue
	// CodeKey signs the presigned Code.Location URLs of GetFunction; Auth must accept it.
	CodeKey auth.Key
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// MaxBodyBytesInFlight bounds the request bodies buffered at once, across all requests;
	// a request whose body does not fit waits for room. Default DefaultMaxBodyBytesInFlight.
	MaxBodyBytesInFlight int64
}

// DefaultMaxBodyBytesInFlight holds one of the largest CreateFunction bodies (70 MB) and some
// invocations, or twenty 6 MB invocations; a second large deploy waits for the first's body.
// The heap may grow to about twice what is held before the garbage collector runs, so this
// bounds what callers who know an access key id but not its secret can make the server hold
// (measured with bench/flood -mode forged).
const DefaultMaxBodyBytesInFlight = 128 << 20

// Server serves the Lambda API.
type Server struct {
	catalog  Catalog
	fns      Functions
	runtimes Runtimes
	prepare  func(ctx context.Context, zip []byte) error
	auth     Authenticator
	loc      lambda.Location
	invoker  Invoker
	async    AsyncQueue
	codeKey  auth.Key
	log      *slog.Logger
	now      func() time.Time
	mux      *http.ServeMux
	bodies   *httplimit.Budget
}

// New returns a Server with its routes.
func New(cfg Config) *Server {
	s := &Server{
		catalog: cfg.Catalog, fns: cfg.Functions, runtimes: cfg.Runtimes, prepare: cfg.PrepareCode, auth: cfg.Auth,
		loc: cfg.Location, invoker: cfg.Invoker, async: cfg.Async, codeKey: cfg.CodeKey, log: cfg.Logger, now: cfg.Now,
		mux: http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.MaxBodyBytesInFlight <= 0 {
		cfg.MaxBodyBytesInFlight = DefaultMaxBodyBytesInFlight
	}
	s.bodies = httplimit.NewBudget(cfg.MaxBodyBytesInFlight)
	s.routes()
	return s
}

// Request body limits per kind of operation.
const (
	smallBody  = 1 << 20
	codeBody   = lambda.MaxCreateRequestSize
	invokeBody = lambda.MaxSyncPayload
)

func (s *Server) routes() {
	// Lambda's operations live under several date prefixes; each is matched exactly.
	s.handle("POST /2015-03-31/functions", "CreateFunction", codeBody, s.createFunction)
	s.handle("GET /2015-03-31/functions", "ListFunctions", 0, s.listFunctions)
	s.handle("GET /2015-03-31/functions/{name}", "GetFunction", 0, s.getFunction)
	s.handle("GET /2015-03-31/functions/{name}/configuration", "GetFunctionConfiguration", 0, s.getFunctionConfiguration)
	s.handle("PUT /2015-03-31/functions/{name}/code", "UpdateFunctionCode", codeBody, s.updateFunctionCode)
	s.handle("PUT /2015-03-31/functions/{name}/configuration", "UpdateFunctionConfiguration", smallBody, s.updateFunctionConfiguration)
	s.handle("DELETE /2015-03-31/functions/{name}", "DeleteFunction", 0, s.deleteFunction)
	s.handle("POST /2015-03-31/functions/{name}/invocations", "InvokeFunction", invokeBody, s.invoke)
	s.handle("POST /2015-03-31/functions/{name}/versions", "PublishVersion", smallBody, s.publishVersion)
	s.handle("GET /2015-03-31/functions/{name}/versions", "ListVersionsByFunction", 0, s.listVersionsByFunction)
	s.handle("POST /2015-03-31/functions/{name}/aliases", "CreateAlias", smallBody, s.createAlias)
	s.handle("GET /2015-03-31/functions/{name}/aliases", "ListAliases", 0, s.listAliases)
	s.handle("GET /2015-03-31/functions/{name}/aliases/{alias}", "GetAlias", 0, s.getAlias)
	s.handle("PUT /2015-03-31/functions/{name}/aliases/{alias}", "UpdateAlias", smallBody, s.updateAlias)
	s.handle("DELETE /2015-03-31/functions/{name}/aliases/{alias}", "DeleteAlias", 0, s.deleteAlias)
	s.handle("GET "+codePath+"{sha256}", "GetFunctionCode", 0, s.getCode)
	s.handle("PUT /2017-10-31/functions/{name}/concurrency", "PutFunctionConcurrency", smallBody, s.putFunctionConcurrency)
	s.handle("GET /2019-09-30/functions/{name}/concurrency", "GetFunctionConcurrency", 0, s.getFunctionConcurrency)
	s.handle("DELETE /2017-10-31/functions/{name}/concurrency", "DeleteFunctionConcurrency", 0, s.deleteFunctionConcurrency)
	s.handle("POST /2014-11-13/functions/{name}/invoke-async", "InvokeAsync", lambda.MaxInvokeAsyncPayload, s.invokeAsync)
	s.handle("PUT /2019-09-25/functions/{name}/event-invoke-config", "PutFunctionEventInvokeConfig", smallBody, s.putFunctionEventInvokeConfig)
	s.handle("POST /2019-09-25/functions/{name}/event-invoke-config", "UpdateFunctionEventInvokeConfig", smallBody, s.updateFunctionEventInvokeConfig)
	s.handle("GET /2019-09-25/functions/{name}/event-invoke-config", "GetFunctionEventInvokeConfig", 0, s.getFunctionEventInvokeConfig)
	s.handle("DELETE /2019-09-25/functions/{name}/event-invoke-config", "DeleteFunctionEventInvokeConfig", 0, s.deleteFunctionEventInvokeConfig)
	s.handle("GET /2019-09-25/functions/{name}/event-invoke-config/list", "ListFunctionEventInvokeConfigs", 0, s.listFunctionEventInvokeConfigs)
	// Nimbus's own: the asynchronous queue's backlog (nimbus queue).
	s.handle("GET /nimbus/async-queue", "NimbusAsyncQueue", 0, s.asyncQueueStatus)
	s.handle("GET /2016-08-19/account-settings", "GetAccountSettings", 0, s.getAccountSettings)
	s.handle("POST /2017-03-31/tags/{arn}", "TagResource", smallBody, s.tagResource)
	s.handle("GET /2017-03-31/tags/{arn}", "ListTags", 0, s.listTags)
	s.handle("DELETE /2017-03-31/tags/{arn}", "UntagResource", 0, s.untagResource)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.log, &lambda.Error{Code: lambda.CodeUnknownOperation, Status: http.StatusNotFound,
			Message: "Unknown operation " + r.Method + " " + r.URL.Path})
	})
}

// handlerFunc is an API operation: it gets the request, its already-read and authenticated
// body, and returns an error for writeError to render.
type handlerFunc func(w http.ResponseWriter, r *http.Request, body []byte) error

// handle registers an operation. It authenticates the request from its headers, reads at most
// limit bytes of body (limit 0: no body expected, but up to smallBody is read so the signature
// can be checked) and checks the signature against it, then runs h.
func (s *Server) handle(pattern, operation string, limit int64, h handlerFunc) {
	if limit == 0 {
		limit = smallBody
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(context.WithValue(r.Context(), operationKey{}, operation))
		if err := s.serve(w, r, limit, h); err != nil {
			writeError(w, r, s.log, err)
		}
	})
}

// serve refuses what it can before reading a body, so that callers who cannot authenticate,
// or who announce a body larger than the operation takes, cost no memory: a refused request's
// connection is closed rather than drained. Bodies are buffered within the server's budget.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, limit int64, h handlerFunc) error {
	var pending *auth.Pending
	if s.auth != nil {
		p, err := s.auth.VerifyHeaders(r)
		if err != nil {
			w.Header().Set("Connection", "close")
			return err
		}
		pending = p
	}
	if r.ContentLength > limit {
		// A client still sending its body when the connection closes sees a broken pipe, not
		// the 413 (the SDKs retry, then fail without Lambda's error). So the body of a caller
		// whose headers passed is read and thrown away first, which costs no memory, up to a
		// bound; beyond it the answer comes at once and the connection is closed.
		if r.ContentLength <= limit+maxDiscard {
			io.Copy(io.Discard, r.Body)
		} else {
			w.Header().Set("Connection", "close")
		}
		return lambda.RequestTooLarge(limit, operationName(r))
	}
	body, sum, release, err := s.readBody(w, r, limit)
	if err != nil {
		return err
	}
	defer release()
	if pending != nil {
		if _, err := pending.Verify(sum); err != nil {
			return err
		}
	}
	return h(w, r, body)
}

// maxDiscard is how much more than an operation takes the server reads of an authenticated
// caller's oversized body, to answer it with RequestEntityTooLargeException.
const maxDiscard = 16 << 20

// readBody reads at most limit bytes of r's body, hashing it as it arrives, once the bytes it
// announces (limit when it does not say) fit in the server's budget; release gives them back.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) (body []byte, sha256hex string, release func(), err error) {
	n := r.ContentLength
	if n == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil, auth.EmptyPayloadSHA256, func() {}, nil
	}
	if n < 0 {
		n = limit
	}
	if err := s.bodies.Acquire(r.Context(), n); err != nil {
		return nil, "", nil, bodyNotRead(err)
	}
	release = func() { s.bodies.Release(n) }
	buf := bytes.NewBuffer(make([]byte, 0, min(n, limit)))
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(buf, h), http.MaxBytesReader(w, r.Body, limit)); err != nil {
		release()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, "", nil, err // RequestEntityTooLargeException
		}
		return nil, "", nil, bodyNotRead(err)
	}
	return buf.Bytes(), hex.EncodeToString(h.Sum(nil)), release, nil
}

// bodyNotRead is the answer to a body that stopped arriving, came too slowly (past the body
// deadline) or whose client went away: the client's doing, so not a ServiceException.
func bodyNotRead(err error) error {
	return &lambda.Error{Code: lambda.CodeInvalidRequestContent, Status: http.StatusBadRequest,
		Message: "The request body could not be read: " + err.Error()}
}

// ServeHTTP strips one trailing slash before routing: older SDK model generations send
// "/2015-03-31/functions/" and "/2016-08-19/account-settings/". The signature is still checked
// against the path as sent, which the verifier takes from r.RequestURI.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", newRequestID())
	if p := r.URL.EscapedPath(); len(p) > 1 && strings.HasSuffix(p, "/") {
		r.URL.RawPath = strings.TrimSuffix(p, "/")
		r.URL.Path = strings.TrimSuffix(r.URL.Path, "/")
	}
	s.mux.ServeHTTP(w, r)
}

// writeJSON writes v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// decodeJSON decodes a request body into v, refusing malformed JSON the way Lambda does.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return serializationError(typeMismatch(body, te))
		}
		return serializationError("Could not parse request body into json: " + err.Error())
	}
	return nil
}
