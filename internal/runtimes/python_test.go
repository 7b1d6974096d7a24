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

const pythonApp = `import os
import sys


def hello(event, context):
    return {"hello": event, "decimal_ok": True}


def handler(event, context):
    op = event.get("op")
    if op == "boom":
        raise ValueError("boom")
    if op == "keyerror":
        return {}["action"]
    if op == "marshal":
        return {"s": {1, 2}}
    if op == "bytes":
        return b"raw bytes"
    if op == "print":
        print("printed line")
        print("second", "line")
        return "ok"
    if op == "logging":
        import logging
        logger = logging.getLogger()
        logging.warning("warned %s", "here")
        logger.info("not shown at the default level")
        logger.setLevel(logging.INFO)
        logger.info("shown after setLevel")
        logger.setLevel(logging.WARNING)
        return "ok"
    if op == "big":
        return "x" * event["size"]
    if op == "modules":
        heavy = ("json", "re", "enum", "logging", "traceback", "socket", "http.client", "urllib", "ssl")
        return [m for m in heavy if m in sys.modules]
    if op == "context":
        cc = context.client_context
        return {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 60000,
            "client_custom": cc.custom if cc else None,
            "client_app_title": cc.client.app_title if cc and cc.client else None,
            "cognito_identity_id": context.identity.cognito_identity_id,
            "cognito_identity_pool_id": context.identity.cognito_identity_pool_id,
            "trace": os.environ.get("_X_AMZN_TRACE_ID"),
            "cwd_on_path": sys.path[0],
        }
    return {"echo": event}
`

func TestPythonSuccessAndErrors(t *testing.T) {
	r := family(t, Python)
	f := startFunction(t, r, fnOptions{handler: "app.handler", files: map[string]string{"app.py": pythonApp}})
	if err := f.waitInit(t); err != nil {
		t.Fatalf("WaitInit = %v", err)
	}

	resp := f.invoke(t, "req-1", `{"op":"echo","n":[1,2.5,"é",null,true]}`)
	if want := (runtimeapi.Response{Payload: []byte(`{"echo": {"op": "echo", "n": [1, 2.5, "\u00e9", null, true]}}`), ContentType: "application/json"}); !cmp.Equal(want, resp) {
		t.Errorf("echo = %+v (%s), want %s", resp, resp.Payload, want.Payload)
	}

	resp = f.invoke(t, "req-boom", `{"op":"boom"}`)
	var doc struct {
		ErrorMessage string   `json:"errorMessage"`
		ErrorType    string   `json:"errorType"`
		RequestID    string   `json:"requestId"`
		StackTrace   []string `json:"stackTrace"`
	}
	if err := json.Unmarshal(resp.Payload, &doc); err != nil {
		t.Fatalf("error document %s: %v", resp.Payload, err)
	}
	wantTrace := []string{"  File \"" + f.task + "/app.py\", line 12, in handler\n    raise ValueError(\"boom\")\n"}
	if !resp.FunctionError || resp.ErrorType != "ValueError" || doc.ErrorMessage != "boom" || doc.ErrorType != "ValueError" ||
		doc.RequestID != "req-boom" || !cmp.Equal(wantTrace, doc.StackTrace) {
		t.Errorf("boom = %+v, document %s; want a ValueError with trace %q", resp, resp.Payload, wantTrace)
	}
	// Lambda's error log line: one event, lines joined by \r, indentation as no-break spaces.
	f.waitOutput(t, "[ERROR] ValueError: boom\rTraceback (most recent call last):\r\u00a0\u00a0File \""+f.task+
		"/app.py\", line 12, in handler\r\u00a0\u00a0\u00a0\u00a0raise ValueError(\"boom\")\n")

	resp = f.invoke(t, "req-key", `{"op":"keyerror"}`)
	if !strings.Contains(string(resp.Payload), `"errorMessage": "'action'", "errorType": "KeyError", "requestId": "req-key"`) {
		t.Errorf("keyerror document = %s, want Lambda's KeyError shape", resp.Payload)
	}

	resp = f.invoke(t, "req-marshal", `{"op":"marshal"}`)
	wantDoc := `{"errorMessage": "Unable to marshal response: Object of type set is not JSON serializable", "errorType": "Runtime.MarshalError", "requestId": "req-marshal", "stackTrace": []}`
	if !resp.FunctionError || string(resp.Payload) != wantDoc || resp.ErrorType != "Runtime.MarshalError" {
		t.Errorf("marshal = %+v (%s), want %s", resp, resp.Payload, wantDoc)
	}

	resp = f.invoke(t, "req-bytes", `{"op":"bytes"}`)
	if resp.FunctionError || string(resp.Payload) != "raw bytes" || resp.ContentType != "application/unknown" {
		t.Errorf("bytes = %+v (%s), want raw bytes", resp, resp.Payload)
	}

	resp = f.invoke(t, "req-bad-json", `{not json`)
	if resp.ErrorType != "Runtime.UnmarshalError" {
		t.Errorf("invalid event = %s, want Runtime.UnmarshalError", resp.Payload)
	}

	// Still serving after all those errors.
	if resp := f.invoke(t, "req-last", `{"op":"echo"}`); resp.FunctionError {
		t.Errorf("echo after errors = %s", resp.Payload)
	}
}

func TestPythonContext(t *testing.T) {
	r := family(t, Python)
	f := startFunction(t, r, fnOptions{handler: "app.handler", files: map[string]string{"app.py": pythonApp}})
	if err := f.waitInit(t); err != nil {
		t.Fatal(err)
	}
	resp := f.invokeWith(t, runtimeapi.Invocation{
		RequestID:          "req-ctx",
		Payload:            []byte(`{"op":"context"}`),
		Deadline:           time.Now().Add(30 * time.Second),
		InvokedFunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:fn:live",
		TraceID:            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1",
		ClientContext:      `{"client":{"app_title":"nimbus"},"custom":{"k":"v"},"env":{}}`,
		CognitoIdentity:    `{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}`,
	})
	var got map[string]any
	if err := json.Unmarshal(resp.Payload, &got); err != nil {
		t.Fatalf("context = %s: %v", resp.Payload, err)
	}
	want := map[string]any{
		"aws_request_id":           "req-ctx",
		"function_name":            "fn",
		"function_version":         "$LATEST",
		"invoked_function_arn":     "arn:aws:lambda:us-east-1:000000000000:function:fn:live",
		"memory_limit_in_mb":       "256",
		"log_group_name":           "/aws/lambda/fn",
		"log_stream_name":          "2026/11/27/[$LATEST]abc",
		"remaining_ok":             true,
		"client_custom":            map[string]any{"k": "v"},
		"client_app_title":         "nimbus",
		"cognito_identity_id":      "id-1",
		"cognito_identity_pool_id": "pool-1",
		"trace":                    "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1",
		"cwd_on_path":              f.task,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("context (-want +got):\n%s", diff)
	}
}

func TestPythonLogFormat(t *testing.T) {
	r := family(t, Python)
	f := startFunction(t, r, fnOptions{handler: "app.handler", files: map[string]string{"app.py": pythonApp}})
	if err := f.waitInit(t); err != nil {
		t.Fatal(err)
	}
	f.invoke(t, "req-print", `{"op":"print"}`)
	f.invoke(t, "req-log", `{"op":"logging"}`)
	out := f.waitOutput(t, "shown after setLevel")
	if !strings.Contains(out, "printed line\nsecond line\n") {
		t.Errorf("print output missing from:\n%s", out)
	}
	ts := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`
	for _, re := range []string{
		`(?m)^\[WARNING\]\t` + ts + `\treq-log\twarned here$`,
		`(?m)^\[INFO\]\t` + ts + `\treq-log\tshown after setLevel$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %s:\n%q", re, out)
		}
	}
	if strings.Contains(out, "not shown") {
		t.Errorf("INFO logged at the default WARNING level:\n%s", out)
	}
}

func TestPythonPackageHandlers(t *testing.T) {
	r := family(t, Python)
	files := map[string]string{
		"pkg/__init__.py":     "",
		"pkg/sub/__init__.py": "",
		"pkg/sub/mod.py":      "def handler(event, context):\n    return 'from ' + __name__\n",
	}
	for _, handler := range []string{"pkg.sub.mod.handler", "pkg/sub/mod.handler"} {
		f := startFunction(t, r, fnOptions{handler: handler, files: files})
		if err := f.waitInit(t); err != nil {
			t.Fatalf("%s: WaitInit = %v", handler, err)
		}
		if resp := f.invoke(t, "req", `{}`); string(resp.Payload) != `"from pkg.sub.mod"` {
			t.Errorf("%s: response %s, want \"from pkg.sub.mod\"", handler, resp.Payload)
		}
	}
}

func TestPythonInitErrors(t *testing.T) {
	r := family(t, Python)
	files := map[string]string{
		"app.py":    pythonApp,
		"broken.py": "def handler(event, context)\n    return 1\n",
		"raises.py": "raise RuntimeError('init failed')\n",
	}
	tests := []struct {
		handler, errorType, message string
	}{
		{"missing.handler", "Runtime.ImportModuleError", "Unable to import module 'missing': No module named 'missing'"},
		{"app.nothere", "Runtime.HandlerNotFound", "Handler 'nothere' missing on module 'app'"},
		{"broken.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'broken': expected ':' (broken.py, line 1)"},
		{"nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)"},
		{"sys.handler", "Runtime.BuiltInModuleConflict", "Cannot use built-in module sys as a handler module"},
		{"raises.handler", "RuntimeError", "init failed"},
	}
	for _, tt := range tests {
		t.Run(tt.handler, func(t *testing.T) {
			f := startFunction(t, r, fnOptions{handler: tt.handler, files: files})
			err := f.waitInit(t)
			var ie *runtimeapi.InitError
			if !errors.As(err, &ie) {
				t.Fatalf("WaitInit = %v, want an init error", err)
			}
			var doc map[string]any
			if err := json.Unmarshal(ie.Body, &doc); err != nil {
				t.Fatalf("init error body %s: %v", ie.Body, err)
			}
			if ie.ErrorType != tt.errorType || ie.ErrorMessage != tt.message || doc["requestId"] != "" || doc["stackTrace"] == nil {
				t.Errorf("init error = %s %q (body %s), want %s %q", ie.ErrorType, ie.ErrorMessage, ie.Body, tt.errorType, tt.message)
			}
			var exitErr *exec.ExitError
			if err := f.waitExit(t); !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
				t.Errorf("exit = %v, want exit status 1", err)
			}
		})
	}
}

// The client keeps the cold path lean: nothing heavy is imported before user code asks.
func TestPythonStartsLean(t *testing.T) {
	r := family(t, Python)
	f := startFunction(t, r, fnOptions{handler: "app.handler", files: map[string]string{"app.py": pythonApp}})
	if err := f.waitInit(t); err != nil {
		t.Fatal(err)
	}
	if resp := f.invoke(t, "req", `{"op":"modules"}`); string(resp.Payload) != "[]" {
		t.Errorf("heavy modules loaded by the client: %s", resp.Payload)
	}
}

// An oversize response reaches the caller as Lambda's error; the client carries on.
func TestPythonResponseTooLarge(t *testing.T) {
	r := family(t, Python)
	f := startFunction(t, r, fnOptions{handler: "app.handler", files: map[string]string{"app.py": pythonApp},
		config: runtimeapi.Config{MaxResponseBytes: 1000}})
	if err := f.waitInit(t); err != nil {
		t.Fatal(err)
	}
	resp := f.invoke(t, "req-big", `{"op":"big","size":300000}`)
	if resp.ErrorType != "Function.ResponseSizeTooLarge" || string(resp.Payload) != `{"errorMessage":"Response payload size exceeded maximum allowed payload size (1000 bytes).","errorType":"Function.ResponseSizeTooLarge"}` {
		t.Errorf("oversize response = %+v (%s)", resp, resp.Payload)
	}
	if err := f.e.WaitNext(invokeTimeout(t)); err != nil {
		t.Fatalf("WaitNext after an oversize response = %v; output:\n%s", err, f.out.String())
	}
	if resp := f.invoke(t, "req-after", `{"op":"echo"}`); resp.FunctionError {
		t.Errorf("invoke after oversize = %s", resp.Payload)
	}
}
