package runtimeapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// These tests speak raw HTTP to the endpoint, as a misbehaving runtime might.

type rawClient struct {
	tb   testing.TB
	base string
	hc   *http.Client
}

func newRawClient(tb testing.TB, addr string) *rawClient {
	tr := &http.Transport{}
	tb.Cleanup(tr.CloseIdleConnections)
	return &rawClient{tb: tb, base: "http://" + addr, hc: &http.Client{Transport: tr}}
}

type rawResponse struct {
	Status int
	Header http.Header
	Body   string
}

func (c *rawClient) do(method, path string, header http.Header, body string) rawResponse {
	c.tb.Helper()
	return c.doCtx(context.Background(), method, path, header, body)
}

func (c *rawClient) doCtx(ctx context.Context, method, path string, header http.Header, body string) rawResponse {
	c.tb.Helper()
	r, err := c.try(ctx, method, path, header, body)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// try is doCtx without the test's failure, for goroutines that may outlive the test.
func (c *rawClient) try(ctx context.Context, method, path string, header http.Header, body string) (rawResponse, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, strings.NewReader(body))
	if err != nil {
		return rawResponse{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return rawResponse{resp.StatusCode, resp.Header, string(b)}, err
}

// nextAsync starts a GET /next and returns a channel with its response.
func (c *rawClient) nextAsync() <-chan rawResponse {
	ch := make(chan rawResponse, 1)
	go func() {
		r, err := c.try(context.Background(), "GET", "/2018-06-01/runtime/invocation/next", nil, "")
		if err != nil {
			r.Status, r.Body = -1, err.Error()
		}
		ch <- r
	}()
	return ch
}

// invokeAsync runs Invoke in the background.
func invokeAsync(e *Endpoint, in Invocation) <-chan invokeResult {
	ch := make(chan invokeResult, 1)
	go func() {
		resp, err := e.Invoke(context.Background(), in)
		ch <- invokeResult{resp, err}
	}()
	return ch
}

type invokeResult struct {
	resp Response
	err  error
}

func stateError(from, to string) string {
	return `{"errorMessage":"State transition from ` + from + ` to ` + to + ` failed for runtime. Error: State transition is not allowed","errorType":"InvalidStateTransition"}`
}

const (
	invalidRequestID = `{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}`
	accepted         = `{"status":"OK"}`
)

func check(t *testing.T, what string, got rawResponse, wantStatus int, wantBody string) {
	t.Helper()
	if got.Status != wantStatus || got.Body != wantBody {
		t.Errorf("%s = %d %s, want %d %s", what, got.Status, got.Body, wantStatus, wantBody)
	}
}

func TestProtocolStateMachine(t *testing.T) {
	e, addr := startEndpoint(t, Config{FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:f"})
	c := newRawClient(t, addr)
	const base = "/2018-06-01/runtime/invocation/"

	check(t, "POST response before init", c.do("POST", base+"x/response", nil, "{}"), 403, stateError("Started", "InvocationResponse"))
	check(t, "POST error before init", c.do("POST", base+"x/error", nil, "{}"), 403, stateError("Started", "InvocationErrorResponse"))

	next := c.nextAsync()
	if err := e.WaitInit(invokeCtx(t)); err != nil {
		t.Fatalf("WaitInit = %v, want nil after the first /next", err)
	}
	deadline := time.UnixMilli(1542409706888)
	first := invokeAsync(e, Invocation{RequestID: "id-1", Payload: []byte(`{"a":1}`), Deadline: deadline, TraceID: "Root=1-abc"})
	got := <-next
	wantHeader := map[string]string{
		"Lambda-Runtime-Aws-Request-Id":       "id-1",
		"Lambda-Runtime-Deadline-Ms":          "1542409706888",
		"Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:000000000000:function:f",
		"Lambda-Runtime-Trace-Id":             "Root=1-abc",
		"Lambda-Runtime-Client-Context":       "",
		"Lambda-Runtime-Cognito-Identity":     "",
		"Content-Type":                        "application/json",
	}
	gotHeader := map[string]string{}
	for k := range wantHeader {
		gotHeader[k] = got.Header.Get(k)
	}
	if diff := cmp.Diff(wantHeader, gotHeader); diff != "" || got.Status != 200 || got.Body != `{"a":1}` {
		t.Errorf("GET /next = %d %q, headers (-want +got):\n%s", got.Status, got.Body, diff)
	}

	check(t, "GET /next while an invocation is outstanding", c.do("GET", base+"next", nil, ""), 403, stateError("Running", "Ready"))
	nextAsked := make(chan error, 1)
	go func() { nextAsked <- e.WaitNext(invokeCtx(t)) }()
	check(t, "POST response for a wrong id", c.do("POST", base+"id-0/response", nil, "{}"), 400, invalidRequestID)
	check(t, "POST init/error after init", c.do("POST", "/2018-06-01/runtime/init/error", nil, "{}"), 403, stateError("Running", "InitError"))
	check(t, "POST response", c.do("POST", base+"id-1/response", http.Header{"Content-Type": {"application/json"}}, `"done"`), 202, accepted)
	if r := <-first; r.err != nil || string(r.resp.Payload) != `"done"` || r.resp.FunctionError {
		t.Errorf("Invoke = %+v, %v; want payload \"done\"", r.resp, r.err)
	}
	check(t, "second POST response", c.do("POST", base+"id-1/response", nil, `"again"`), 403, stateError("RuntimeResponseSentState", "InvocationResponse"))
	check(t, "POST error after response", c.do("POST", base+"id-1/error", nil, `{}`), 403, stateError("RuntimeResponseSentState", "InvocationErrorResponse"))

	// Next invocation: the stale id is refused, an error with an explicit type is accepted.
	select {
	case err := <-nextAsked:
		t.Fatalf("WaitNext = %v before the runtime asked for more", err)
	default:
	}
	next = c.nextAsync()
	if err := <-nextAsked; err != nil {
		t.Errorf("WaitNext = %v, want nil once the runtime asks", err)
	}
	if err := e.WaitNext(invokeCtx(t)); err != nil {
		t.Errorf("WaitNext while parked = %v, want nil", err)
	}
	second := invokeAsync(e, inv("id-2", `{}`))
	if got := <-next; got.Header.Get("Lambda-Runtime-Aws-Request-Id") != "id-2" {
		t.Fatalf("GET /next = %+v, want id-2", got)
	}
	check(t, "POST response for the previous id", c.do("POST", base+"id-1/response", nil, "{}"), 400, invalidRequestID)
	doc := `{"errorMessage":"bad","errorType":"MyError","stackTrace":[]}`
	check(t, "POST error", c.do("POST", base+"id-2/error", http.Header{"Lambda-Runtime-Function-Error-Type": {"Function.MyError"}}, doc), 202, accepted)
	r := <-second
	if want := (Response{Payload: []byte(doc), FunctionError: true, ErrorType: "Function.MyError"}); r.err != nil || !cmp.Equal(want, r.resp) {
		t.Errorf("Invoke = %+v, %v; want %+v", r.resp, r.err, want)
	}
	check(t, "second POST error", c.do("POST", base+"id-2/error", nil, doc), 403, stateError("RuntimeResponseSentState", "InvocationErrorResponse"))

	// An /error without a body gets a document built from its type header.
	next = c.nextAsync()
	third := invokeAsync(e, inv("id-3", `{}`))
	<-next
	check(t, "POST empty error", c.do("POST", base+"id-3/error", http.Header{"Lambda-Runtime-Function-Error-Type": {"Runtime.Crashed"}}, ""), 202, accepted)
	r = <-third
	if want := (Response{Payload: []byte(`{"errorMessage":"","errorType":"Runtime.Crashed"}`), FunctionError: true, ErrorType: "Runtime.Crashed"}); r.err != nil || !cmp.Equal(want, r.resp) {
		t.Errorf("Invoke = %+v, %v; want %+v", r.resp, r.err, want)
	}
}

func TestProtocolInitError(t *testing.T) {
	e, addr := startEndpoint(t, Config{})
	c := newRawClient(t, addr)
	pending := invokeAsync(e, inv("id-1", `{}`)) // the invoker may invoke before Init ends
	doc := `{"errorMessage":"Unable to import module 'app': No module named 'app'","errorType":"Runtime.ImportModuleError","requestId":"","stackTrace":[]}`
	check(t, "POST init/error", c.do("POST", "/2018-06-01/runtime/init/error",
		http.Header{"Lambda-Runtime-Function-Error-Type": {"Runtime.ImportModuleError"}}, doc), 202, accepted)

	want := &InitError{ErrorType: "Runtime.ImportModuleError", ErrorMessage: "Unable to import module 'app': No module named 'app'", Body: []byte(doc)}
	var ie *InitError
	if err := e.WaitInit(invokeCtx(t)); !errors.As(err, &ie) || !cmp.Equal(want, ie) {
		t.Errorf("WaitInit = %v, want %+v", err, want)
	}
	if r := <-pending; !errors.As(r.err, &ie) {
		t.Errorf("pending Invoke = %v, want the init error", r.err)
	}
	if _, err := e.Invoke(invokeCtx(t), inv("id-2", `{}`)); !errors.As(err, &ie) {
		t.Errorf("Invoke after init error = %v, want the init error", err)
	}
	if err := e.WaitNext(invokeCtx(t)); !errors.As(err, &ie) {
		t.Errorf("WaitNext after init error = %v, want the init error", err)
	}
	check(t, "second POST init/error", c.do("POST", "/2018-06-01/runtime/init/error", nil, doc), 403, stateError("InitError", "InitError"))
	check(t, "GET /next after init error", c.do("GET", "/2018-06-01/runtime/invocation/next", nil, ""), 403, stateError("InitError", "Ready"))
}

func TestProtocolResponseModeAndPing(t *testing.T) {
	e, addr := startEndpoint(t, Config{})
	c := newRawClient(t, addr)
	check(t, "GET /ping", c.do("GET", "/2018-06-01/ping", nil, ""), 200, "pong")

	next := c.nextAsync()
	r := invokeAsync(e, inv("id-1", `{}`))
	<-next
	check(t, "POST response with a bad mode", c.do("POST", "/2018-06-01/runtime/invocation/id-1/response",
		http.Header{"Lambda-Runtime-Function-Response-Mode": {"bogus"}}, "x"), 400,
		`{"errorMessage":"Invalid function response mode","errorType":"InvalidFunctionResponseMode"}`)
	got := <-r
	if got.err != nil || !got.resp.FunctionError || got.resp.ErrorType != "Runtime.InvalidResponseModeHeader" {
		t.Errorf("Invoke = %+v, %v; want Runtime.InvalidResponseModeHeader", got.resp, got.err)
	}
}

func TestProtocolResponseTooLargeContentLength(t *testing.T) {
	e, addr := startEndpoint(t, Config{MaxResponseBytes: 10})
	c := newRawClient(t, addr)
	next := c.nextAsync()
	r := invokeAsync(e, inv("id-1", `{}`))
	<-next
	check(t, "POST oversize response", c.do("POST", "/2018-06-01/runtime/invocation/id-1/response", nil, "0123456789A"), 413,
		`{"errorMessage":"Exceeded maximum allowed payload size (10 bytes).","errorType":"RequestEntityTooLarge"}`)
	got := <-r
	want := Response{
		Payload:       []byte(`{"errorMessage":"Response payload size exceeded maximum allowed payload size (10 bytes).","errorType":"Function.ResponseSizeTooLarge"}`),
		FunctionError: true,
		ErrorType:     "Function.ResponseSizeTooLarge",
	}
	if got.err != nil || !cmp.Equal(want, got.resp) {
		t.Errorf("Invoke = %+v, %v; want %+v", got.resp, got.err, want)
	}
}

// A /next whose connection dies while parked must not swallow the invocation.
func TestProtocolNextConnectionDropped(t *testing.T) {
	e, addr := startEndpoint(t, Config{})
	c := newRawClient(t, addr)
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		dropped := make(chan struct{})
		go func() {
			defer close(dropped)
			req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/2018-06-01/runtime/invocation/next", nil)
			if resp, err := c.hc.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		if i == 0 {
			if err := e.WaitInit(invokeCtx(t)); err != nil {
				t.Fatal(err)
			}
		}
		id := "id-" + string(rune('a'+i))
		r := invokeAsync(e, inv(id, `{}`)) // races with the drop below
		cancel()
		<-dropped
		got := <-c.nextAsync()
		if got.Status == 403 {
			// The dropped request took the invocation and delivered it before the drop.
			check(t, "GET /next", got, 403, stateError("Running", "Ready"))
		} else if got.Header.Get("Lambda-Runtime-Aws-Request-Id") != id {
			t.Fatalf("GET /next after a dropped /next = %+v, want invocation %s", got, id)
		}
		check(t, "POST response", c.do("POST", "/2018-06-01/runtime/invocation/"+id+"/response", nil, `1`), 202, accepted)
		if got := <-r; got.err != nil || string(got.resp.Payload) != "1" {
			t.Fatalf("Invoke = %+v, %v", got.resp, got.err)
		}
	}
}

func TestInvokeCancelledBeforeDelivery(t *testing.T) {
	e, _ := startEndpoint(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Invoke(ctx, inv("id-1", `{}`)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Invoke(cancelled) = %v, want context.Canceled", err)
	}
	// Nothing reached the runtime, so the endpoint is free again.
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := e.Invoke(ctx, inv("id-2", `{}`)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Invoke = %v, want context.DeadlineExceeded (not ErrBusy)", err)
	}
	for _, bad := range []Invocation{{Deadline: time.Now()}, {RequestID: "x"}} {
		if _, err := e.Invoke(context.Background(), bad); err == nil {
			t.Errorf("Invoke(%+v) = nil error, want a refusal", bad)
		}
	}
}

func TestCloseEndsWaitersAndLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	e, addr := startEndpoint(t, Config{})
	c := newRawClient(t, addr)
	pending := invokeAsync(e, inv("id-1", `{}`))
	waitInit := make(chan error, 1)
	go func() { waitInit <- e.WaitInit(context.Background()) }()
	reg := c.do("POST", "/2020-01-01/extension/register", http.Header{"Lambda-Extension-Name": {"ext"}}, `{"events":[]}`)
	extNext := make(chan struct{})
	go func() {
		defer close(extNext)
		req, _ := http.NewRequest("GET", c.base+"/2020-01-01/extension/event/next", nil)
		req.Header.Set("Lambda-Extension-Identifier", reg.Header.Get("Lambda-Extension-Identifier"))
		if resp, err := c.hc.Do(req); err == nil {
			resp.Body.Close()
		}
	}()

	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if r := <-pending; !errors.Is(r.err, ErrClosed) {
		t.Errorf("pending Invoke after Close = %v, want ErrClosed", r.err)
	}
	if err := <-waitInit; !errors.Is(err, ErrClosed) {
		t.Errorf("WaitInit after Close = %v, want ErrClosed", err)
	}
	<-extNext
	if _, err := e.Invoke(context.Background(), inv("id-2", `{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close = %v, want ErrClosed", err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	c.hc.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func TestExtensionsAPI(t *testing.T) {
	e, addr := startEndpoint(t, Config{FunctionName: "f", Handler: "app.handler"})
	c := newRawClient(t, addr)
	const register = "/2020-01-01/extension/register"

	check(t, "register without a name", c.do("POST", register, nil, `{"events":[]}`), 403,
		`{"errorMessage":"Empty extension name","errorType":"Extension.InvalidExtensionName"}`)
	check(t, "register for INVOKE", c.do("POST", register, http.Header{"Lambda-Extension-Name": {"x"}}, `{"events":["INVOKE"]}`), 403,
		`{"errorMessage":"INVOKE: event not supported","errorType":"Extension.InvalidEventType"}`)
	got := c.do("POST", register, http.Header{"Lambda-Extension-Name": {"GoLangEnableSIGTERM"}}, `{"events":[]}`)
	var body map[string]string
	if err := json.Unmarshal([]byte(got.Body), &body); got.Status != 200 || err != nil || len(got.Header.Get("Lambda-Extension-Identifier")) != 36 {
		t.Fatalf("register = %d %s (identifier %q), want 200 with an identifier", got.Status, got.Body, got.Header.Get("Lambda-Extension-Identifier"))
	}
	if want := map[string]string{"functionName": "f", "functionVersion": "$LATEST", "handler": "app.handler"}; !cmp.Equal(want, body) {
		t.Errorf("register body = %v, want %v", body, want)
	}
	check(t, "register the same name again", c.do("POST", register, http.Header{"Lambda-Extension-Name": {"GoLangEnableSIGTERM"}}, `{"events":[]}`), 403,
		`{"errorMessage":"Extension with this name already registered","errorType":"Extension.InvalidExtensionState"}`)
	check(t, "event/next without identifier", c.do("GET", "/2020-01-01/extension/event/next", nil, ""), 403,
		`{"errorMessage":"Missing Lambda-Extension-Identifier header","errorType":"Extension.MissingExtensionIdentifier"}`)
	check(t, "event/next with a bogus identifier", c.do("GET", "/2020-01-01/extension/event/next", http.Header{"Lambda-Extension-Identifier": {"nope"}}, ""), 403,
		`{"errorMessage":"Invalid Lambda-Extension-Identifier","errorType":"Extension.InvalidExtensionIdentifier"}`)
	if !e.ExtensionsRegistered() {
		t.Error("ExtensionsRegistered = false after a registration")
	}

	// A valid event/next blocks until the environment ends.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/2020-01-01/extension/event/next", nil)
	req.Header.Set("Lambda-Extension-Identifier", got.Header.Get("Lambda-Extension-Identifier"))
	if resp, err := c.hc.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("event/next = %v, %v; want it to block", resp, err)
	}

	c.nextAsync()
	if err := e.WaitInit(invokeCtx(t)); err != nil {
		t.Fatal(err)
	}
	check(t, "register after init", c.do("POST", register, http.Header{"Lambda-Extension-Name": {"late"}}, `{"events":[]}`), 403,
		`{"errorMessage":"Extension registration closed already","errorType":"Extension.RegistrationClosed"}`)
}
