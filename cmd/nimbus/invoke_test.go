package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	// The tests build testdata/gofunc, an aws-lambda-go function, with this module's
	// aws-lambda-go; importing it here keeps it in go.mod (testdata is not scanned).
	_ "github.com/aws/aws-lambda-go/lambdacontext"
)

// requireRoot skips tests that run functions: the sandbox needs root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running functions needs root (namespaces and cgroups); CI runs as root")
	}
}

var (
	goFuncOnce sync.Once
	goFuncZip  []byte
	goFuncBin  []byte // the bootstrap alone, for zips with more in them
	goFuncErr  error
)

// goFunction builds testdata/gofunc, an unmodified aws-lambda-go function, into a zip holding
// an executable bootstrap.
func goFunction(t *testing.T) []byte {
	t.Helper()
	goFuncOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gofunc-")
		if err != nil {
			goFuncErr = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "bootstrap")
		build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "./testdata/gofunc")
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := build.CombinedOutput(); err != nil {
			goFuncErr = errors.New(string(out))
			return
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			goFuncErr = err
			return
		}
		goFuncBin = b
		goFuncZip = zipOf(t, map[string]string{"bootstrap*": string(b)})
	})
	if goFuncErr != nil {
		t.Fatalf("building the Go function: %v", goFuncErr)
	}
	return goFuncZip
}

// create makes a function and waits until it is Active.
func create(t *testing.T, c *lambdasdk.Client, in *lambdasdk.CreateFunctionInput) {
	t.Helper()
	if in.Role == nil {
		in.Role = aws.String("arn:aws:iam::000000000000:role/lambda-role")
	}
	if _, err := c.CreateFunction(context.Background(), in); err != nil {
		t.Fatalf("CreateFunction(%s) = %v", aws.ToString(in.FunctionName), err)
	}
	waitActive(t, c, aws.ToString(in.FunctionName))
}

func createGo(t *testing.T, c *lambdasdk.Client, name string, change func(*lambdasdk.CreateFunctionInput)) {
	t.Helper()
	in := &lambdasdk.CreateFunctionInput{FunctionName: aws.String(name), Runtime: types.RuntimeProvidedal2023,
		Handler: aws.String("bootstrap"), Code: codeOf(goFunction(t))}
	if change != nil {
		change(in)
	}
	create(t, c, in)
}

// invoke calls the function with payload, with the log tail.
func invoke(t *testing.T, c *lambdasdk.Client, name, payload string) *lambdasdk.InvokeOutput {
	t.Helper()
	out, err := c.Invoke(context.Background(), &lambdasdk.InvokeInput{FunctionName: aws.String(name),
		Payload: []byte(payload), LogType: types.LogTypeTail})
	if err != nil {
		t.Fatalf("Invoke(%s, %s) = %v", name, payload, err)
	}
	return out
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("response %q is not a JSON object: %v", b, err)
	}
	return m
}

func logTail(t *testing.T, out *lambdasdk.InvokeOutput) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil {
		t.Fatalf("LogResult is not base64: %v", err)
	}
	return string(b)
}

// wantFunctionError checks an Unhandled function error with the given errorType.
func wantFunctionError(t *testing.T, out *lambdasdk.InvokeOutput, errorType, msgPart string) map[string]any {
	t.Helper()
	body := decode(t, out.Payload)
	if aws.ToString(out.FunctionError) != "Unhandled" || out.StatusCode != 200 || body["errorType"] != errorType ||
		!strings.Contains(body["errorMessage"].(string), msgPart) {
		t.Fatalf("Invoke = status %d FunctionError %q body %s; want 200 Unhandled %s containing %q",
			out.StatusCode, aws.ToString(out.FunctionError), out.Payload, errorType, msgPart)
	}
	return body
}

func TestInvokeGoFunction(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "")
	c := s.client()
	createGo(t, c, "go-fn", func(in *lambdasdk.CreateFunctionInput) { in.Timeout = aws.Int32(7) })

	out := invoke(t, c, "go-fn", `{"action":"hello","name":"nimbus"}`)
	body := decode(t, out.Payload)
	if out.StatusCode != 200 || out.FunctionError != nil || body["hello"] != "nimbus" ||
		body["arn"] != "arn:aws:lambda:us-east-1:000000000000:function:go-fn" || aws.ToString(out.ExecutedVersion) != "$LATEST" {
		t.Fatalf("Invoke hello = %d %v %s", out.StatusCode, out.FunctionError, out.Payload)
	}
	tail := logTail(t, out)
	for _, want := range []string{"START RequestId: " + body["requestId"].(string) + " Version: $LATEST", "hello from go to nimbus",
		"END RequestId: " + body["requestId"].(string), "REPORT RequestId: ", "Billed Duration: ", "Memory Size: 128 MB", "Max Memory Used: ", "Init Duration: "} {
		if !strings.Contains(tail, want) {
			t.Errorf("log tail lacks %q:\n%s", want, tail)
		}
	}
	// Init Duration is on the first REPORT only.
	if tail := logTail(t, invoke(t, c, "go-fn", `{"action":"hello"}`)); strings.Contains(tail, "Init Duration") {
		t.Errorf("warm invoke reports an Init Duration:\n%s", tail)
	}

	wantFunctionError(t, invoke(t, c, "go-fn", `{"action":"error"}`), "errorString", "something went wrong")

	body = decode(t, invoke(t, c, "go-fn", `{"action":"deadline"}`).Payload)
	if body["hasDeadline"] != true || body["remainingMs"].(float64) < 5000 || body["remainingMs"].(float64) > 7000 {
		t.Errorf("deadline seen by the function = %v, want about 7 s away", body)
	}

	cc := base64.StdEncoding.EncodeToString([]byte(`{"client":{"app_title":"tests"},"custom":{"k":"v"}}`))
	out, err := c.Invoke(context.Background(), &lambdasdk.InvokeInput{FunctionName: aws.String("go-fn"),
		Payload: []byte(`{"action":"clientcontext"}`), ClientContext: aws.String(cc)})
	if err != nil {
		t.Fatal(err)
	}
	if body := decode(t, out.Payload); body["client"] != "tests" || body["custom"].(map[string]any)["k"] != "v" {
		t.Errorf("client context seen by the function = %s", out.Payload)
	}

	body = decode(t, invoke(t, c, "go-fn", `{"action":"env"}`).Payload)
	if body["function"] != "go-fn" || body["memory"] != "128" || body["logGroup"] != "/aws/lambda/go-fn" {
		t.Errorf("environment seen by the function = %v", body)
	}

	// A panic is returned as the function's error, and the next invoke works in a new environment.
	before := decode(t, invoke(t, c, "go-fn", `{"action":"init"}`).Payload)["init"]
	wantFunctionError(t, invoke(t, c, "go-fn", `{"action":"panic"}`), "string", "boom")
	after := decode(t, invoke(t, c, "go-fn", `{"action":"init"}`).Payload)
	if after["init"] == before {
		t.Errorf("after a panic the same environment served again")
	}

	// DryRun runs nothing.
	dry, err := c.Invoke(context.Background(), &lambdasdk.InvokeInput{FunctionName: aws.String("go-fn"), InvocationType: types.InvocationTypeDryRun})
	if err != nil || dry.StatusCode != 204 {
		t.Errorf("DryRun = %v, %v; want 204", dry, err)
	}
}

func TestInvokeFailures(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "")
	c := s.client()
	createGo(t, c, "fails", func(in *lambdasdk.CreateFunctionInput) { in.Timeout = aws.Int32(1) })

	body := wantFunctionError(t, invoke(t, c, "fails", `{"action":"sleep","millis":3000}`), "Sandbox.Timedout", "Task timed out after 1.00 seconds")
	if !strings.HasPrefix(body["errorMessage"].(string), "RequestId: ") {
		t.Errorf("timeout message = %q", body["errorMessage"])
	}
	out := invoke(t, c, "fails", `{"action":"crash"}`)
	wantFunctionError(t, out, "Runtime.ExitError", "Runtime exited with error: exit status 3")
	if !strings.Contains(logTail(t, out), "crashing now") {
		t.Errorf("the crashing function's output is not in its log:\n%s", logTail(t, out))
	}
	// The kernel reclaims what it can before it kills, which can take a few seconds.
	createGo(t, c, "hog", func(in *lambdasdk.CreateFunctionInput) { in.Timeout = aws.Int32(30) })
	out = invoke(t, c, "hog", `{"action":"oom","mb":400}`)
	wantFunctionError(t, out, "Runtime.OutOfMemory", "Runtime exited with error: signal: killed")
	if tail := logTail(t, out); !strings.Contains(tail, "Max Memory Used: 128 MB") || !strings.Contains(tail, "Error Type: Runtime.OutOfMemory") {
		t.Errorf("REPORT of an OOM kill:\n%s", tail)
	}
	// A 128 MB function gets 7% of a CPU, so building 7 MB takes it a while.
	wantFunctionError(t, invoke(t, c, "hog", `{"action":"big","mb":7}`), "Function.ResponseSizeTooLarge", "Response payload size exceeded maximum allowed payload size (6291556 bytes).")
	if out := invoke(t, c, "hog", `{"action":"oom","mb":20}`); string(out.Payload) != "20" || out.FunctionError != nil {
		t.Errorf("after the OOM kill, allocating 20 MB = %s", out.Payload)
	}
	// After all that, the function still works.
	if body := decode(t, invoke(t, c, "fails", `{"action":"hello","name":"again"}`).Payload); body["hello"] != "again" {
		t.Errorf("after failures Invoke = %v", body)
	}

	_, err := c.Invoke(context.Background(), &lambdasdk.InvokeInput{FunctionName: aws.String("fails"), Payload: []byte(strings.Repeat("x", 6<<20+1))})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "RequestEntityTooLargeException" ||
		ae.ErrorMessage() != "Request must be smaller than 6291456 bytes for the InvokeFunction operation" {
		t.Errorf("oversized Invoke = %v, want RequestEntityTooLargeException", err)
	}
	_, err = c.Invoke(context.Background(), &lambdasdk.InvokeInput{FunctionName: aws.String("fails"), Payload: []byte("not json")})
	var irc *types.InvalidRequestContentException
	if !errors.As(err, &irc) {
		t.Errorf("non-JSON Invoke = %v, want InvalidRequestContentException", err)
	}
	_, err = c.Invoke(context.Background(), &lambdasdk.InvokeInput{FunctionName: aws.String("missing")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || aws.ToString(nf.Message) != "Function not found: arn:aws:lambda:us-east-1:000000000000:function:missing:$LATEST" {
		t.Errorf("Invoke of a missing function = %v", err)
	}
	// An empty payload is {}.
	if out, err := c.Invoke(context.Background(), &lambdasdk.InvokeInput{FunctionName: aws.String("fails")}); err != nil ||
		!strings.Contains(string(out.Payload), `unknown action \"\"`) {
		t.Errorf("Invoke without a payload = %s, %v", out.Payload, err)
	}
}

func TestParallelInvokesScaleOutThenReuse(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "")
	c := s.client()
	createGo(t, c, "slow", func(in *lambdasdk.CreateFunctionInput) { in.Timeout = aws.Int32(10) })
	const n = 8
	inits := func() map[string]bool {
		var mu sync.Mutex
		seen := map[string]bool{}
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := decode(t, invoke(t, c, "slow", `{"action":"sleep","millis":2500}`).Payload)
				mu.Lock()
				seen[body["init"].(string)] = true
				mu.Unlock()
			}()
		}
		wg.Wait()
		return seen
	}
	first := inits()
	if len(first) != n {
		t.Fatalf("%d parallel invokes ran in %d environments, want %d", n, len(first), n)
	}
	second := inits()
	for id := range second {
		if !first[id] {
			t.Errorf("second round started a new environment %s instead of reusing one", id)
		}
	}
}

const pythonFull = `
import json, logging, os, sys
logger = logging.getLogger()
logger.setLevel(logging.INFO)
INITS = {"count": 0}
INITS["count"] += 1

def handler(event, context):
    print("print line", event.get("n"))
    logger.info("logging line %s", event.get("n"))
    if event.get("fail"):
        raise ValueError("bad value " + str(event.get("n")))
    return {
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "group": context.log_group_name,
        "stream": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "inits": INITS["count"],
    }
`

func TestInvokePythonAndNode(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "")
	c := s.client()
	create(t, c, &lambdasdk.CreateFunctionInput{FunctionName: aws.String("py"), Runtime: pythonRuntime(t),
		Handler: aws.String("app.handler"), Code: codeOf(zipOf(t, map[string]string{"app.py": pythonFull}))})
	out := invoke(t, c, "py", `{"n": 1}`)
	body := decode(t, out.Payload)
	if body["function_name"] != "py" || body["function_version"] != "$LATEST" || body["memory"] != "128" ||
		body["group"] != "/aws/lambda/py" || body["remaining"].(float64) <= 0 || body["arn"] != "arn:aws:lambda:us-east-1:000000000000:function:py" {
		t.Errorf("Python context = %v", body)
	}
	tail := logTail(t, out)
	if !strings.Contains(tail, "print line 1") || !strings.Contains(tail, "[INFO]") || !strings.Contains(tail, "logging line 1") {
		t.Errorf("Python log tail lacks print and logging lines:\n%s", tail)
	}
	// The interpreter's resident set counts, as it does in Lambda's figure (about 36 MB there),
	// whichever environment first read its files.
	var usedMB int
	if m := regexp.MustCompile(`Max Memory Used: (\d+) MB`).FindStringSubmatch(tail); m != nil {
		usedMB, _ = strconv.Atoi(m[1])
	}
	if usedMB < 6 {
		t.Errorf("Python REPORT Max Memory Used = %d MB, want at least 6 (the interpreter's resident set):\n%s", usedMB, tail)
	}
	errBody := wantFunctionError(t, invoke(t, c, "py", `{"n": 2, "fail": true}`), "ValueError", "bad value 2")
	if st, ok := errBody["stackTrace"].([]any); !ok || len(st) == 0 {
		t.Errorf("Python error has no stackTrace: %v", errBody)
	}
	create(t, c, &lambdasdk.CreateFunctionInput{FunctionName: aws.String("py-import"), Runtime: pythonRuntime(t),
		Handler: aws.String("missing.handler"), Code: codeOf(zipOf(t, map[string]string{"app.py": pythonFull}))})
	wantFunctionError(t, invoke(t, c, "py-import", `{}`), "Runtime.ImportModuleError", "Unable to import module 'missing'")

	node := nodeRuntime(t)
	create(t, c, &lambdasdk.CreateFunctionInput{FunctionName: aws.String("node"), Runtime: node, Handler: aws.String("index.handler"),
		Code: codeOf(zipOf(t, map[string]string{"index.mjs": `
export const handler = async (event, context) => {
  console.log("node says", event.n);
  if (event.fail) throw new TypeError("node failed");
  return { n: event.n, requestId: context.awsRequestId, remaining: context.getRemainingTimeInMillis() };
};`}))})
	out = invoke(t, c, "node", `{"n": 5}`)
	if body := decode(t, out.Payload); body["n"] != float64(5) || body["remaining"].(float64) <= 0 {
		t.Errorf("Node result = %v", body)
	}
	if tail := logTail(t, out); !strings.Contains(tail, "node says 5") {
		t.Errorf("Node log tail lacks console.log:\n%s", tail)
	}
	wantFunctionError(t, invoke(t, c, "node", `{"fail": true}`), "TypeError", "node failed")
	create(t, c, &lambdasdk.CreateFunctionInput{FunctionName: aws.String("node-cjs"), Runtime: node, Handler: aws.String("index.handler"),
		Code: codeOf(zipOf(t, map[string]string{"index.js": `exports.handler = (event, context, callback) => callback(null, {cb: true});`}))})
	if body := decode(t, invoke(t, c, "node-cjs", `{}`).Payload); body["cb"] != true {
		t.Errorf("Node callback handler = %v", body)
	}
}

// TestMemoryBudgetRefusesWith429 fills a node whose budget fits two 128 MB environments.
func TestMemoryBudgetRefusesWith429(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "", "--memory-budget", "256")
	c := s.client()
	createGo(t, c, "budget", func(in *lambdasdk.CreateFunctionInput) { in.Timeout = aws.Int32(10) })
	noRetry := lambdasdk.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: c.Options().Credentials, Retryer: func() aws.Retryer { return aws.NopRetryer{} }},
		func(o *lambdasdk.Options) { o.BaseEndpoint = aws.String(s.endpoint) })
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := noRetry.Invoke(context.Background(), &lambdasdk.InvokeInput{FunctionName: aws.String("budget"),
				Payload: []byte(`{"action":"sleep","millis":2500}`)})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	throttled := 0
	for err := range errs {
		var tmr *types.TooManyRequestsException
		switch {
		case err == nil:
		case errors.As(err, &tmr) && tmr.Reason == types.ThrottleReasonConcurrentInvocationLimitExceeded:
			throttled++
			// Issue 9, point 14: the throttle says which limit it is and how to lift it.
			if msg := aws.ToString(tmr.Message); !strings.Contains(msg, "memory budget of 256 MB") || !strings.Contains(msg, "--memory-budget") {
				t.Errorf("429 message %q does not name the memory budget and its flag", msg)
			}
		default:
			t.Errorf("Invoke = %v", err)
		}
	}
	if throttled != 1 {
		t.Errorf("%d of 3 invokes were throttled on a node with room for 2, want 1", throttled)
	}

	// The account's concurrency is what the budget holds, not a figure no invocation reaches.
	ctx := context.Background()
	settings, err := c.GetAccountSettings(ctx, &lambdasdk.GetAccountSettingsInput{})
	if err != nil || settings.AccountLimit.ConcurrentExecutions != 2 || aws.ToInt32(settings.AccountLimit.UnreservedConcurrentExecutions) != 2 {
		t.Errorf("GetAccountSettings on a 256 MB node = %+v, %v; want ConcurrentExecutions 2", settings.AccountLimit, err)
	}

	// A function that could never fit is refused when it is configured, not throttled forever.
	wantTooBig := func(op string, err error) {
		t.Helper()
		var invalid *types.InvalidParameterValueException
		if !errors.As(err, &invalid) || !strings.Contains(aws.ToString(invalid.Message), "memory budget of 256 MB") ||
			!strings.Contains(aws.ToString(invalid.Message), "--memory-budget") {
			t.Errorf("%s with MemorySize 512 on a 256 MB node = %v, want InvalidParameterValueException naming the budget", op, err)
		}
	}
	_, err = c.CreateFunction(ctx, &lambdasdk.CreateFunctionInput{FunctionName: aws.String("too-big"), Runtime: types.RuntimeProvidedal2023,
		Role: aws.String("arn:aws:iam::000000000000:role/r"), Handler: aws.String("bootstrap"), Code: codeOf(goFunction(t)), MemorySize: aws.Int32(512)})
	wantTooBig("CreateFunction", err)
	_, err = c.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{FunctionName: aws.String("budget"), MemorySize: aws.Int32(512)})
	wantTooBig("UpdateFunctionConfiguration", err)
	if _, err := c.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("too-big")}); err == nil {
		t.Error("the refused function exists")
	}
	if out := invoke(t, c, "budget", `{"action":"hello","name":"fits"}`); out.FunctionError != nil {
		t.Errorf("Invoke after the refused update = %s", out.Payload)
	}
}

// TestIdleEnvironmentsAreReapedWithSIGTERM keeps environments warm for a second: the reaper
// then ends the idle one, and a function that asked for SIGTERM (aws-lambda-go's
// WithEnableSIGTERM) gets it and logs it before it is killed.
func TestIdleEnvironmentsAreReapedWithSIGTERM(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "", "--keep-warm", "1s")
	c := s.client()
	createGo(t, c, "graceful", func(in *lambdasdk.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"ENABLE_SIGTERM": "1"}}
	})
	first := decode(t, invoke(t, c, "graceful", `{"action":"init"}`).Payload)["init"]
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := exec.Command(nimbusBin, "logs", "graceful", "--data-dir", s.dataDir).CombinedOutput()
		if strings.Contains(string(out), "SIGTERM received, cleaning up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reaped environment's log has no SIGTERM line:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if again := decode(t, invoke(t, c, "graceful", `{"action":"init"}`).Payload)["init"]; again == first {
		t.Errorf("the reaped environment served again")
	}
}

// TestUpdateRetiresWarmEnvironments: after UpdateFunctionConfiguration the next invoke runs in
// a new environment with the new configuration, and the old one ends at once rather than
// after the keep-warm time (10 minutes here): it gets its SIGTERM and logs it.
func TestUpdateRetiresWarmEnvironments(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "")
	c := s.client()
	createGo(t, c, "updated", func(in *lambdasdk.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"ENABLE_SIGTERM": "1"}}
	})
	invoke(t, c, "updated", `{"action":"init"}`)
	if _, err := c.UpdateFunctionConfiguration(context.Background(), &lambdasdk.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("updated"), MemorySize: aws.Int32(256)}); err != nil {
		t.Fatal(err)
	}
	waitUpdated(t, c, "updated")
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command(nimbusBin, "logs", "updated", "--data-dir", s.dataDir).CombinedOutput()
		if strings.Contains(string(out), "SIGTERM received, cleaning up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outdated environment was not ended:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := decode(t, invoke(t, c, "updated", `{"action":"env"}`).Payload); got["memory"] != "256" {
		t.Errorf("after the update the function sees memory %v, want 256", got["memory"])
	}
}

// TestReservedConcurrency sets, reads and removes a function's reserved concurrency through
// the SDK, and checks that invocations beyond it are throttled with Lambda's Reason: 0 stops
// the function, 1 lets one invocation run at a time.
func TestReservedConcurrency(t *testing.T) {
	requireRoot(t)
	// A budget that holds 1,000 environments of 128 MB gives the node Lambda's default
	// account concurrency, and so Lambda's minimum of 100 unreserved.
	s := startServer(t, "", "--memory-budget", "128000")
	c := s.client()
	ctx := context.Background()
	createGo(t, c, "capped", func(in *lambdasdk.CreateFunctionInput) { in.Timeout = aws.Int32(10) })
	noRetry := lambdasdk.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: c.Options().Credentials, Retryer: func() aws.Retryer { return aws.NopRetryer{} }},
		func(o *lambdasdk.Options) { o.BaseEndpoint = aws.String(s.endpoint) })
	reserve := func(n int32) {
		t.Helper()
		out, err := c.PutFunctionConcurrency(ctx, &lambdasdk.PutFunctionConcurrencyInput{FunctionName: aws.String("capped"), ReservedConcurrentExecutions: aws.Int32(n)})
		if err != nil || aws.ToInt32(out.ReservedConcurrentExecutions) != n {
			t.Fatalf("PutFunctionConcurrency(%d) = %+v, %v", n, out, err)
		}
	}
	wantThrottled := func(err error) bool {
		var tmr *types.TooManyRequestsException
		return errors.As(err, &tmr) && tmr.Reason == types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded
	}
	settings, err := c.GetAccountSettings(ctx, &lambdasdk.GetAccountSettingsInput{})
	if err != nil {
		t.Fatal(err)
	}
	limit := settings.AccountLimit.ConcurrentExecutions

	reserve(0)
	if _, err := noRetry.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String("capped"), Payload: []byte(`{"action":"hello"}`)}); !wantThrottled(err) {
		t.Fatalf("Invoke with reserved concurrency 0 = %v, want TooManyRequestsException (ReservedFunctionConcurrentInvocationLimitExceeded)", err)
	}
	if out, err := exec.Command(nimbusBin, "invoke", "--data-dir", s.dataDir, "capped").CombinedOutput(); err == nil || !strings.Contains(string(out), "reserved concurrency allows (0 stops it)") {
		t.Errorf("nimbus invoke with reserved concurrency 0 = %v:\n%s", err, out)
	}

	reserve(1)
	got, err := c.GetFunctionConcurrency(ctx, &lambdasdk.GetFunctionConcurrencyInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:capped")})
	if err != nil || aws.ToInt32(got.ReservedConcurrentExecutions) != 1 {
		t.Fatalf("GetFunctionConcurrency = %+v, %v, want 1", got, err)
	}
	fn, err := c.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("capped")})
	if err != nil || fn.Concurrency == nil || aws.ToInt32(fn.Concurrency.ReservedConcurrentExecutions) != 1 {
		t.Fatalf("GetFunction Concurrency = %+v, %v, want 1", fn.Concurrency, err)
	}
	if settings, err := c.GetAccountSettings(ctx, &lambdasdk.GetAccountSettingsInput{}); err != nil || aws.ToInt32(settings.AccountLimit.UnreservedConcurrentExecutions) != limit-1 {
		t.Fatalf("GetAccountSettings unreserved = %v, %v, want %d", settings.AccountLimit.UnreservedConcurrentExecutions, err, limit-1)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			_, err := noRetry.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String("capped"), Payload: []byte(`{"action":"sleep","millis":1500}`)})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	throttled := 0
	for err := range errs {
		switch {
		case err == nil:
		case wantThrottled(err):
			throttled++
		default:
			t.Errorf("Invoke = %v", err)
		}
	}
	if throttled != 1 {
		t.Errorf("%d of 2 parallel invokes were throttled with reserved concurrency 1, want 1", throttled)
	}

	_, err = c.PutFunctionConcurrency(ctx, &lambdasdk.PutFunctionConcurrencyInput{FunctionName: aws.String("capped"), ReservedConcurrentExecutions: aws.Int32(limit - 99)})
	var invalid *types.InvalidParameterValueException
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "below its minimum value of [100]") {
		t.Errorf("PutFunctionConcurrency(limit-99) = %v, want InvalidParameterValueException", err)
	}
	_, err = c.PutFunctionConcurrency(ctx, &lambdasdk.PutFunctionConcurrencyInput{FunctionName: aws.String("nope"), ReservedConcurrentExecutions: aws.Int32(1)})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("PutFunctionConcurrency on a missing function = %v, want ResourceNotFoundException", err)
	}

	if _, err := c.DeleteFunctionConcurrency(ctx, &lambdasdk.DeleteFunctionConcurrencyInput{FunctionName: aws.String("capped")}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetFunctionConcurrency(ctx, &lambdasdk.GetFunctionConcurrencyInput{FunctionName: aws.String("capped")}); err != nil || got.ReservedConcurrentExecutions != nil {
		t.Fatalf("GetFunctionConcurrency after delete = %+v, %v, want none", got, err)
	}
	if fn, err := c.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("capped")}); err != nil || fn.Concurrency != nil {
		t.Fatalf("GetFunction Concurrency after delete = %+v, %v, want none", fn.Concurrency, err)
	}
	if out := invoke(t, c, "capped", `{"action":"hello","name":"free"}`); out.FunctionError != nil || decode(t, out.Payload)["hello"] != "free" {
		t.Fatalf("Invoke after DeleteFunctionConcurrency = %v %s", out.FunctionError, out.Payload)
	}
}
