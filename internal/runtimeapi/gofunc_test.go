package runtimeapi

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// These tests drive the endpoint with a real aws-lambda-go function.

func TestGoFunctionSuccess(t *testing.T) {
	e, _ := startGoFunc(t, Config{})
	for i, id := range []string{"req-1", "req-2", "req-3"} {
		payload := `{"op":"echo","msg":"hello ` + id + `"}`
		resp, err := e.Invoke(invokeCtx(t), inv(id, payload))
		if err != nil {
			t.Fatalf("Invoke #%d: %v", i, err)
		}
		want := Response{Payload: []byte(`{"op":"echo","msg":"hello ` + id + `","size":0,"ms":0}`), ContentType: "application/json"}
		if diff := cmp.Diff(want, resp); diff != "" {
			t.Errorf("Invoke #%d response (-want +got):\n%s", i, diff)
		}
	}
}

func TestGoFunctionReturnedError(t *testing.T) {
	e, _ := startGoFunc(t, Config{})
	resp, err := e.Invoke(invokeCtx(t), inv("req-err", `{"op":"error","msg":"something went wrong!"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Response{
		Payload:       []byte(`{"errorMessage":"something went wrong!","errorType":"errorString"}`),
		ContentType:   "application/json",
		FunctionError: true,
		ErrorType:     "errorString",
	}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("Invoke response (-want +got):\n%s", diff)
	}
	// The environment stays usable after a returned error: the runtime asks for more.
	if err := e.WaitNext(invokeCtx(t)); err != nil {
		t.Errorf("WaitNext after a returned error = %v, want nil", err)
	}
	if resp, err := e.Invoke(invokeCtx(t), inv("req-after", `{"op":"echo"}`)); err != nil || resp.FunctionError {
		t.Errorf("Invoke after error = %+v, %v; want success", resp, err)
	}
}

func TestGoFunctionPanic(t *testing.T) {
	e, p := startGoFunc(t, Config{})
	resp, err := e.Invoke(invokeCtx(t), inv("req-panic", `{"op":"panic","msg":"boom"}`))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ErrorMessage string           `json:"errorMessage"`
		ErrorType    string           `json:"errorType"`
		StackTrace   []map[string]any `json:"stackTrace"`
	}
	if err := json.Unmarshal(resp.Payload, &doc); err != nil {
		t.Fatalf("error document %q: %v", resp.Payload, err)
	}
	if !resp.FunctionError || resp.ErrorType != "string" || doc.ErrorMessage != "handler panicked: boom" || len(doc.StackTrace) == 0 {
		t.Errorf("Invoke(panic) = %+v (document %s), want a function error of type string with a stack", resp, resp.Payload)
	}
	// aws-lambda-go exits after reporting a panic, without asking for more; the platform then
	// starts a new environment.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-p.exited
		cancel()
	}()
	if err := e.WaitNext(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitNext after a panic = %v, want it to wait until the process exits", err)
	}
	var exitErr *exec.ExitError
	if err := p.waitExit(t, 10*time.Second); !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Errorf("process exit = %v, want exit status 1", err)
	}
}

func TestGoFunctionContext(t *testing.T) {
	e, _ := startGoFunc(t, Config{FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:gofunc"})
	deadline := time.Now().Add(42 * time.Second)
	in := Invocation{
		RequestID:       "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
		Payload:         []byte(`{"op":"info"}`),
		Deadline:        deadline,
		TraceID:         "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
		ClientContext:   `{"client":{"app_title":"nimbus-test"},"custom":{"k":"v"}}`,
		CognitoIdentity: `{"cognitoIdentityId":"us-east-1:1234","cognitoIdentityPoolId":"pool"}`,
	}
	resp, err := e.Invoke(invokeCtx(t), in)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(resp.Payload, &got); err != nil {
		t.Fatalf("response %q: %v", resp.Payload, err)
	}
	want := map[string]any{
		"requestId":      in.RequestID,
		"functionArn":    "arn:aws:lambda:us-east-1:000000000000:function:gofunc",
		"deadlineMs":     float64(deadline.UnixMilli()),
		"hasDeadline":    true,
		"clientCustom":   map[string]any{"k": "v"},
		"clientAppTitle": "nimbus-test",
		"cognitoId":      "us-east-1:1234",
		"traceEnv":       in.TraceID,
		"inits":          float64(1),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("context seen by the function (-want +got):\n%s", diff)
	}

	// An invocation naming its own ARN (an alias, say) overrides the configured one.
	in.RequestID, in.InvokedFunctionARN = "req-alias", "arn:aws:lambda:us-east-1:000000000000:function:gofunc:live"
	resp, err = e.Invoke(invokeCtx(t), in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resp.Payload), `"functionArn":"arn:aws:lambda:us-east-1:000000000000:function:gofunc:live"`) {
		t.Errorf("response %s does not carry the invoked alias ARN", resp.Payload)
	}
}

func TestGoFunctionReaderResponse(t *testing.T) {
	e, _ := startGoFunc(t, Config{})
	resp, err := e.Invoke(invokeCtx(t), inv("req-reader", `{"op":"reader","size":100000}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Response{Payload: []byte(strings.Repeat("r", 100000)), ContentType: "application/octet-stream"}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("Invoke response (-want +got):\n%s", diff)
	}
}

// A reader that fails mid-way is reported by aws-lambda-go in HTTP trailers after a partial
// body; the caller gets the error, not the partial body.
func TestGoFunctionFailingReaderTrailers(t *testing.T) {
	e, _ := startGoFunc(t, Config{})
	resp, err := e.Invoke(invokeCtx(t), inv("req-trailer", `{"op":"failreader"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Response{
		Payload:       []byte(`{"errorMessage":"reader broke","errorType":"errorString"}`),
		ContentType:   "application/json",
		FunctionError: true,
		ErrorType:     "errorString",
	}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("Invoke response (-want +got):\n%s", diff)
	}
	if resp, err := e.Invoke(invokeCtx(t), inv("req-after", `{"op":"echo"}`)); err != nil || resp.FunctionError {
		t.Errorf("Invoke after trailer error = %+v, %v; want success", resp, err)
	}
}

func TestGoFunctionResponseTooLarge(t *testing.T) {
	e, p := startGoFunc(t, Config{})
	resp, err := e.Invoke(invokeCtx(t), inv("req-big", `{"op":"reader","size":6291557}`))
	if err != nil {
		t.Fatal(err)
	}
	// The recorded AWS body, byte for byte.
	want := Response{
		Payload:       []byte(`{"errorMessage":"Response payload size exceeded maximum allowed payload size (6291556 bytes).","errorType":"Function.ResponseSizeTooLarge"}`),
		FunctionError: true,
		ErrorType:     "Function.ResponseSizeTooLarge",
	}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("Invoke response (-want +got):\n%s", diff)
	}
	// aws-lambda-go treats the 413 as fatal and exits.
	if err := p.waitExit(t, 10*time.Second); err == nil {
		t.Error("process exited cleanly, want a failure exit after the 413")
	}
	if out := p.out.String(); !strings.Contains(out, "413") {
		t.Errorf("function output does not mention the 413:\n%s", out)
	}

	// A response of exactly the limit passes.
	e2, _ := startGoFunc(t, Config{MaxResponseBytes: 1000})
	if resp, err := e2.Invoke(invokeCtx(t), inv("req-edge", `{"op":"reader","size":1000}`)); err != nil || resp.FunctionError || len(resp.Payload) != 1000 {
		t.Errorf("Invoke(size = limit) = %d bytes, error %v, function error %v; want 1000 bytes", len(resp.Payload), err, resp.FunctionError)
	}
}

// A timeout or a crash seen by the invoker cancels ctx; Invoke returns at once, and the
// abandoned invocation keeps the endpoint busy until the environment is destroyed.
func TestGoFunctionTimeout(t *testing.T) {
	e, _ := startGoFunc(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := e.Invoke(ctx, inv("req-slow", `{"op":"sleep","ms":60000}`))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Invoke(slow) = %v, want context.DeadlineExceeded", err)
	}
	if _, err := e.Invoke(invokeCtx(t), inv("req-next", `{"op":"echo"}`)); !errors.Is(err, ErrBusy) {
		t.Errorf("Invoke after abandoned invocation = %v, want ErrBusy", err)
	}
}

func TestGoFunctionCrash(t *testing.T) {
	e, p := startGoFunc(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-p.exited // the invoker's view: the runtime died
		cancel()
	}()
	_, err := e.Invoke(ctx, inv("req-exit", `{"op":"exit"}`))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Invoke(exit) = %v, want context.Canceled", err)
	}
	var exitErr *exec.ExitError
	if !errors.As(p.err, &exitErr) || exitErr.ExitCode() != 3 {
		t.Errorf("process exit = %v, want exit status 3", p.err)
	}
}

// lambda.WithEnableSIGTERM registers an internal extension before the first /next.
func TestGoFunctionRegistersExtension(t *testing.T) {
	e, p := startGoFunc(t, Config{})
	if !e.ExtensionsRegistered() {
		t.Errorf("ExtensionsRegistered = false after aws-lambda-go started with WithEnableSIGTERM")
	}
	if out := p.out.String(); strings.Contains(out, "WARNING") {
		t.Errorf("aws-lambda-go warned:\n%s", out)
	}
}
