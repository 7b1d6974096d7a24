package runtimes

import (
	"encoding/json"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nimbusfaas/nimbus/internal/runtimeapi"
)

const nodeIndex = `'use strict';
let inits = (globalThis.inits || 0) + 1;
globalThis.inits = inits;

exports.handler = async (event, context) => {
  switch (event.op) {
    case 'boom':
      throw new Error('boom');
    case 'log':
      console.log('hello %s', 'world', {a: 1});
      console.error('multi\nline');
      return 'logged';
    case 'context':
      return {
        awsRequestId: context.awsRequestId,
        functionName: context.functionName,
        functionVersion: context.functionVersion,
        invokedFunctionArn: context.invokedFunctionArn,
        memoryLimitInMB: context.memoryLimitInMB,
        logGroupName: context.logGroupName,
        logStreamName: context.logStreamName,
        remainingOk: context.getRemainingTimeInMillis() > 0 && context.getRemainingTimeInMillis() <= 60000,
        clientContext: context.clientContext,
        identity: context.identity,
        waits: context.callbackWaitsForEmptyEventLoop,
        trace: process.env._X_AMZN_TRACE_ID,
        inits,
      };
    case 'undefined':
      return undefined;
    case 'uncaught':
      setTimeout(() => { throw new RangeError('thrown later'); }, 0);
      return new Promise(() => {});
    case 'rejection':
      Promise.reject(new Error('nobody caught me'));
      return new Promise(() => {});
    case 'big':
      return 'x'.repeat(event.size);
    case 'never':
      return new Promise(() => {});
  }
  return { echo: event };
};

// Callback style: the result goes out when the event loop is empty, unless told otherwise.
exports.callback = (event, context, callback) => {
  if (event.op === 'fail') {
    callback(new TypeError('bad input'));
    return;
  }
  const result = { timerRan: false };
  context.callbackWaitsForEmptyEventLoop = event.wait;
  callback(null, result);
  setTimeout(() => { result.timerRan = true; }, event.wait ? 20 : 60000).unref();
  if (event.wait) setTimeout(() => {}, 20);
};

exports.nested = { deeper: { fn: async () => 'nested' } };
exports.notFunction = 42;
`

func TestNodeCommonJS(t *testing.T) {
	r := family(t, Node)
	f := startFunction(t, r, fnOptions{handler: "index.handler", files: map[string]string{"index.js": nodeIndex}})
	if err := f.waitInit(t); err != nil {
		t.Fatal(err)
	}
	if resp := f.invoke(t, "req-1", `{"op":"echo","x":[1,"é"]}`); string(resp.Payload) != `{"echo":{"op":"echo","x":[1,"é"]}}` || resp.FunctionError {
		t.Errorf("echo = %+v (%s)", resp, resp.Payload)
	}
	if resp := f.invoke(t, "req-u", `{"op":"undefined"}`); string(resp.Payload) != "null" {
		t.Errorf("undefined result = %s, want null", resp.Payload)
	}

	resp := f.invoke(t, "req-boom", `{"op":"boom"}`)
	var doc struct {
		ErrorType    string   `json:"errorType"`
		ErrorMessage string   `json:"errorMessage"`
		Trace        []string `json:"trace"`
	}
	if err := json.Unmarshal(resp.Payload, &doc); err != nil {
		t.Fatal(err)
	}
	if !resp.FunctionError || resp.ErrorType != "Error" || doc.ErrorType != "Error" || doc.ErrorMessage != "boom" ||
		len(doc.Trace) < 2 || doc.Trace[0] != "Error: boom" || !strings.Contains(doc.Trace[1], f.task+"/index.js") {
		t.Errorf("boom = %+v (%s), want Lambda's Error document with a trace", resp, resp.Payload)
	}
	f.waitOutput(t, "\treq-boom\tERROR\tInvoke Error \t{\"errorType\":\"Error\",\"errorMessage\":\"boom\",\"stack\":[\"Error: boom\"")
	if resp := f.invoke(t, "req-after", `{}`); resp.FunctionError {
		t.Errorf("invoke after error = %s", resp.Payload)
	}
}

func TestNodeContextAndLogs(t *testing.T) {
	r := family(t, Node)
	f := startFunction(t, r, fnOptions{handler: "index.handler", files: map[string]string{"index.js": nodeIndex}})
	if err := f.waitInit(t); err != nil {
		t.Fatal(err)
	}
	resp := f.invokeWith(t, runtimeapi.Invocation{
		RequestID:          "req-ctx",
		Payload:            []byte(`{"op":"context"}`),
		Deadline:           time.Now().Add(30 * time.Second),
		InvokedFunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:fn",
		TraceID:            "Root=1-abc",
		ClientContext:      `{"custom":{"k":"v"}}`,
		CognitoIdentity:    `{"cognitoIdentityId":"id-1"}`,
	})
	var got map[string]any
	if err := json.Unmarshal(resp.Payload, &got); err != nil {
		t.Fatalf("context %s: %v", resp.Payload, err)
	}
	want := map[string]any{
		"awsRequestId":       "req-ctx",
		"functionName":       "fn",
		"functionVersion":    "$LATEST",
		"invokedFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
		"memoryLimitInMB":    "256",
		"logGroupName":       "/aws/lambda/fn",
		"logStreamName":      "2026/11/27/[$LATEST]abc",
		"remainingOk":        true,
		"clientContext":      map[string]any{"custom": map[string]any{"k": "v"}},
		"identity":           map[string]any{"cognitoIdentityId": "id-1"},
		"waits":              true,
		"trace":              "Root=1-abc",
		"inits":              float64(1),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("context (-want +got):\n%s", diff)
	}

	f.invoke(t, "req-log", `{"op":"log"}`)
	out := f.waitOutput(t, "multi\rline")
	ts := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`
	for _, re := range []string{
		`(?m)^` + ts + `\treq-log\tINFO\thello world \{ a: 1 \}$`,
		`(?m)^` + ts + `\treq-log\tERROR\tmulti\rline$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %s:\n%q", re, out)
		}
	}
}

func TestNodeCallbackStyle(t *testing.T) {
	r := family(t, Node)
	f := startFunction(t, r, fnOptions{handler: "index.callback", files: map[string]string{"index.js": nodeIndex}})
	if err := f.waitInit(t); err != nil {
		t.Fatal(err)
	}
	// Waiting for the empty event loop: the result is serialized after the timer ran.
	if resp := f.invoke(t, "req-wait", `{"wait":true}`); string(resp.Payload) != `{"timerRan":true}` {
		t.Errorf("callback waiting for the event loop = %s, want timerRan true", resp.Payload)
	}
	// Not waiting: the result goes out at once, the pending timer notwithstanding.
	if resp := f.invoke(t, "req-nowait", `{"wait":false}`); string(resp.Payload) != `{"timerRan":false}` {
		t.Errorf("callback not waiting = %s, want timerRan false", resp.Payload)
	}
	resp := f.invoke(t, "req-fail", `{"op":"fail"}`)
	if !resp.FunctionError || resp.ErrorType != "TypeError" || !strings.HasPrefix(string(resp.Payload), `{"errorType":"TypeError","errorMessage":"bad input","trace":["TypeError: bad input"`) {
		t.Errorf("callback(error) = %+v (%s)", resp, resp.Payload)
	}
}

func TestNodeESModules(t *testing.T) {
	r := family(t, Node)
	files := map[string]string{
		"app.mjs":            "export const handler = async (event) => ({ esm: 'mjs', event });\n",
		"esm/package.json":   `{"type":"module"}`,
		"esm/app.js":         "import { sep } from 'node:path';\nexport const handler = async () => 'esm js ' + sep;\n",
		"cjs/app.cjs":        "exports.handler = async () => 'cjs';\n",
		"lib/deep/nested.js": "exports.a = { b: async () => 'deep' };\n",
	}
	for handler, want := range map[string]string{
		"app.handler":         `{"esm":"mjs","event":{"x":1}}`,
		"esm/app.handler":     `"esm js /"`,
		"cjs/app.handler":     `"cjs"`,
		"lib/deep/nested.a.b": `"deep"`,
	} {
		f := startFunction(t, r, fnOptions{handler: handler, files: files})
		if err := f.waitInit(t); err != nil {
			t.Fatalf("%s: WaitInit = %v", handler, err)
		}
		if resp := f.invoke(t, "req", `{"x":1}`); string(resp.Payload) != want {
			t.Errorf("%s: response %s, want %s", handler, resp.Payload, want)
		}
	}
}

func TestNodeInitErrors(t *testing.T) {
	r := family(t, Node)
	files := map[string]string{
		"index.js":  nodeIndex,
		"broken.js": "exports.handler = async () => {\n",
	}
	tests := []struct {
		handler, errorType, messagePrefix string
	}{
		{"missing.handler", "Runtime.ImportModuleError", "Error: Cannot find module 'missing'"},
		{"index.nothere", "Runtime.HandlerNotFound", "index.nothere is undefined or not exported"},
		{"index.notFunction", "Runtime.HandlerNotFound", "index.notFunction is not a function"},
		{"broken.handler", "Runtime.UserCodeSyntaxError", "SyntaxError: Unexpected end of input"},
		{"nodot", "Runtime.MalformedHandlerName", "Bad handler"},
		{"../up.handler", "Runtime.MalformedHandlerName", "'../up.handler' is not a valid handler name."},
	}
	for _, tt := range tests {
		t.Run(tt.handler, func(t *testing.T) {
			f := startFunction(t, r, fnOptions{handler: tt.handler, files: files})
			var ie *runtimeapi.InitError
			if err := f.waitInit(t); !errors.As(err, &ie) {
				t.Fatalf("WaitInit = %v, want an init error", err)
			}
			var doc struct {
				ErrorType string   `json:"errorType"`
				Trace     []string `json:"trace"`
			}
			_ = json.Unmarshal(ie.Body, &doc)
			if ie.ErrorType != tt.errorType || doc.ErrorType != tt.errorType || !strings.HasPrefix(ie.ErrorMessage, tt.messagePrefix) {
				t.Errorf("init error = %s %q (body %s), want %s %q…", ie.ErrorType, ie.ErrorMessage, ie.Body, tt.errorType, tt.messagePrefix)
			}
			if err := f.waitExit(t); err == nil {
				t.Error("process exited cleanly after an init error")
			}
		})
	}
}

// Errors outside the handler's promise end the invocation and the process, as on Lambda.
func TestNodeUncaughtErrors(t *testing.T) {
	r := family(t, Node)
	tests := []struct {
		op, errorType string
		exitCode      int
	}{
		{"uncaught", "RangeError", 129},
		{"rejection", "Runtime.UnhandledPromiseRejection", 128},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			f := startFunction(t, r, fnOptions{handler: "index.handler", files: map[string]string{"index.js": nodeIndex}})
			if err := f.waitInit(t); err != nil {
				t.Fatal(err)
			}
			resp := f.invoke(t, "req-"+tt.op, `{"op":"`+tt.op+`"}`)
			if !resp.FunctionError || resp.ErrorType != tt.errorType {
				t.Errorf("invoke = %+v (%s), want %s", resp, resp.Payload, tt.errorType)
			}
			var exitErr *exec.ExitError
			if err := f.waitExit(t); !errors.As(err, &exitErr) || exitErr.ExitCode() != tt.exitCode {
				t.Errorf("exit = %v, want exit status %d", err, tt.exitCode)
			}
		})
	}

	// An async handler whose promise never settles, once nothing else is left to run.
	f := startFunction(t, r, fnOptions{handler: "index.handler", files: map[string]string{"index.js": nodeIndex}})
	if err := f.waitInit(t); err != nil {
		t.Fatal(err)
	}
	if resp := f.invoke(t, "req-never", `{"op":"never"}`); resp.ErrorType != "Runtime.NodeJsExit" {
		t.Errorf("never-settling handler = %s, want Runtime.NodeJsExit", resp.Payload)
	}
	if resp := f.invoke(t, "req-next", `{}`); resp.FunctionError {
		t.Errorf("invoke after NodeJsExit = %s, want success", resp.Payload)
	}
}

func TestNodeResponseTooLarge(t *testing.T) {
	r := family(t, Node)
	f := startFunction(t, r, fnOptions{handler: "index.handler", files: map[string]string{"index.js": nodeIndex},
		config: runtimeapi.Config{MaxResponseBytes: 1000}})
	if err := f.waitInit(t); err != nil {
		t.Fatal(err)
	}
	if resp := f.invoke(t, "req-big", `{"op":"big","size":300000}`); resp.ErrorType != "Function.ResponseSizeTooLarge" {
		t.Errorf("oversize response = %+v (%s)", resp, resp.Payload)
	}
	if err := f.e.WaitNext(invokeTimeout(t)); err != nil {
		t.Fatalf("WaitNext after an oversize response = %v; output:\n%s", err, f.out.String())
	}
	if resp := f.invoke(t, "req-after", `{}`); resp.FunctionError {
		t.Errorf("invoke after oversize = %s", resp.Payload)
	}
}
