package main

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestInitFailuresAreLogged: a function whose Init fails is logged as Lambda logs it — Init's
// output, INIT_REPORT with the status and error type, START, END, and a REPORT with "Status:
// error" and the error type — in the invocation's log tail and in its log group, for Python,
// Node and provided runtimes.
func TestInitFailuresAreLogged(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "")
	c := s.client()
	cases := []struct {
		name, errorType string
		in              *lambdasdk.CreateFunctionInput
		wantOutput      []string // lines of Init's output, or of the platform's error line
	}{
		{
			name: "py-import", errorType: "Runtime.ImportModuleError",
			in: &lambdasdk.CreateFunctionInput{Runtime: pythonRuntime(t), Handler: aws.String("app.handler"),
				Code: codeOf(zipOf(t, map[string]string{"app.py": "print('loading app')\nimport no_such_module\n"}))},
			wantOutput: []string{"loading app", "[ERROR] Runtime.ImportModuleError: Unable to import module 'app': No module named 'no_such_module'"},
		},
		{
			name: "py-syntax", errorType: "Runtime.UserCodeSyntaxError",
			in: &lambdasdk.CreateFunctionInput{Runtime: pythonRuntime(t), Handler: aws.String("app.handler"),
				Code: codeOf(zipOf(t, map[string]string{"app.py": "def handler(event, context)\n    return 1\n"}))},
			wantOutput: []string{"Runtime.UserCodeSyntaxError"},
		},
		{
			name: "node-import", errorType: "Runtime.ImportModuleError",
			in: &lambdasdk.CreateFunctionInput{Runtime: nodeRuntime(t), Handler: aws.String("index.handler"),
				Code: codeOf(zipOf(t, map[string]string{"index.js": "console.log('loading index');\nrequire('no-such-module');\nexports.handler = async () => 1;\n"}))},
			wantOutput: []string{"loading index", "Runtime.ImportModuleError", "no-such-module"},
		},
		{
			name: "go-exit", errorType: "Runtime.ExitError",
			in: &lambdasdk.CreateFunctionInput{Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
				Code:        codeOf(goFunction(t)),
				Environment: &types.Environment{Variables: map[string]string{"FAIL_INIT": "config missing, giving up"}}},
			wantOutput: []string{"config missing, giving up", "Error: Runtime exited with error: exit status 1\nRuntime.ExitError"},
		},
		{
			name: "no-bootstrap", errorType: "Runtime.InvalidEntrypoint",
			in: &lambdasdk.CreateFunctionInput{Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
				Code: codeOf(zipOf(t, map[string]string{"main": "not a bootstrap"}))},
			wantOutput: []string{"Error: Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]\nRuntime.InvalidEntrypoint"},
		},
	}
	var wg sync.WaitGroup
	for _, tc := range cases {
		tc.in.FunctionName = aws.String(tc.name)
		create(t, c, tc.in)
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.Invoke(context.Background(), &lambdasdk.InvokeInput{FunctionName: aws.String(tc.name), LogType: types.LogTypeTail})
			if err != nil {
				t.Errorf("Invoke(%s) = %v; server log:\n%s", tc.name, err, s.output)
				return
			}
			if aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), tc.errorType) {
				t.Errorf("Invoke(%s) = %q %s, want Unhandled %s", tc.name, aws.ToString(out.FunctionError), out.Payload, tc.errorType)
			}
			checkInitFailureLog(t, tc.name+" tail", logTail(t, out), aws.ToString(out.LogResult) != "", tc.errorType, "error", tc.wantOutput)
			stored := storedLog(t, s, tc.name, "REPORT RequestId")
			checkInitFailureLog(t, tc.name+" log group", stored, true, tc.errorType, "error", tc.wantOutput)
		}()
	}
	wg.Wait()
	// `nimbus invoke --logs` prints the tail, and `nimbus logs` the stored lines.
	r := s.nimbus("invoke", "py-import", "--logs")
	if out := r.stdout + r.stderr; !strings.Contains(out, "No module named 'no_such_module'") ||
		!strings.Contains(out, "Phase: init\tStatus: error\tError Type: Runtime.ImportModuleError") {
		t.Errorf("nimbus invoke --logs of a failed Init printed:\n%s", out)
	}
	if r := s.must("logs", "py-import", "--since", "0"); strings.Count(r.stdout, "Status: error\tError Type: Runtime.ImportModuleError") < 2 {
		t.Errorf("nimbus logs of a failed Init printed:\n%s", r.stdout)
	}
}

// TestInitTimeoutKeepsItsOutput (issue 9.9): a bootstrap that never asks for work, and one that
// floods stdout during Init, time out after 10 s with the end of Init's output in the tail
// and in the log group, after INIT_REPORT's "Status: timeout"; the flood's lines beyond the
// function's log rate are dropped with a marker saying so.
func TestInitTimeoutKeepsItsOutput(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "")
	c := s.client()
	cases := []struct{ name, code, want string }{
		{"stuck", "import time\nprint('waiting for a database that never answers', flush=True)\ntime.sleep(600)\n",
			"waiting for a database that never answers"},
		{"flood", "import sys\nline = 'f' * (256 * 1024 - 1) + '\\n'\nwhile True:\n    sys.stdout.write(line)\n",
			strings.Repeat("f", 1000)},
	}
	var wg sync.WaitGroup
	for _, tc := range cases {
		create(t, c, &lambdasdk.CreateFunctionInput{FunctionName: aws.String(tc.name), Runtime: pythonRuntime(t),
			Handler: aws.String("app.handler"), Timeout: aws.Int32(30), Code: codeOf(zipOf(t, map[string]string{"app.py": tc.code}))})
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.Invoke(context.Background(), &lambdasdk.InvokeInput{FunctionName: aws.String(tc.name), LogType: types.LogTypeTail})
			if err != nil {
				t.Errorf("Invoke(%s) = %v", tc.name, err)
				return
			}
			if !strings.Contains(string(out.Payload), "Init phase timed out after 10.00 seconds") {
				t.Errorf("Invoke(%s) = %s, want Sandbox.Timedout for Init", tc.name, out.Payload)
			}
			checkInitFailureLog(t, tc.name+" tail", logTail(t, out), true, "", "timeout", []string{tc.want})
			stored := storedLog(t, s, tc.name, "REPORT RequestId")
			checkInitFailureLog(t, tc.name+" log group", stored, true, "", "timeout", []string{tc.want})
		}()
	}
	wg.Wait()
}

var (
	initReportRE = regexp.MustCompile(`INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: init\tStatus: (\w+)(\tError Type: (\S+))?\n`)
	startRE      = regexp.MustCompile(`START RequestId: ([0-9a-f-]{36}) Version: \$LATEST\n`)
	reportRE     = regexp.MustCompile(`REPORT RequestId: ([0-9a-f-]{36})\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\t(Status: \w+(\tError Type: \S+)?)\n`)
)

// checkInitFailureLog checks the log of an invocation whose Init failed: the wanted output,
// then INIT_REPORT, START, END and REPORT in that order, with the status and error type.
func checkInitFailureLog(t *testing.T, what, log string, present bool, errorType, status string, wantOutput []string) {
	t.Helper()
	if !present || log == "" {
		t.Errorf("%s is empty", what)
		return
	}
	for _, w := range wantOutput {
		if !strings.Contains(log, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, log)
		}
	}
	ir := initReportRE.FindStringSubmatchIndex(log)
	st := startRE.FindStringSubmatchIndex(log)
	rp := reportRE.FindStringSubmatchIndex(log)
	if ir == nil || st == nil || rp == nil || !(ir[0] < st[0] && st[0] < rp[0]) {
		t.Errorf("%s: want INIT_REPORT, START, …, REPORT in that order:\n%s", what, log)
		return
	}
	if got := log[ir[2]:ir[3]]; got != status {
		t.Errorf("%s: INIT_REPORT status %q, want %q", what, got, status)
	}
	if errorType != "" && (ir[6] < 0 || log[ir[6]:ir[7]] != errorType) {
		t.Errorf("%s: INIT_REPORT lacks Error Type: %s", what, errorType)
	}
	id := log[st[2]:st[3]]
	if !strings.Contains(log[st[0]:rp[0]], "END RequestId: "+id+"\n") || log[rp[2]:rp[3]] != id {
		t.Errorf("%s: want END and REPORT of %s:\n%s", what, id, log)
	}
	wantStatus := "Status: " + status
	if errorType != "" {
		wantStatus += "\tError Type: " + errorType
	}
	if got := log[rp[4]:rp[5]]; got != wantStatus {
		t.Errorf("%s: REPORT ends with %q, want %q", what, got, wantStatus)
	}
}

// storedLog reads the function's log group until it holds a line containing want (storing is
// asynchronous), and returns the whole log as one string. Safe to call from goroutines.
func storedLog(t *testing.T, s *testServer, function, want string) string {
	t.Helper()
	lc := cwl.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: s.client().Options().Credentials},
		func(o *cwl.Options) { o.BaseEndpoint = aws.String(s.endpoint) })
	var text strings.Builder
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		text.Reset()
		pages := cwl.NewFilterLogEventsPaginator(lc, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/" + function)})
		for pages.HasMorePages() {
			p, err := pages.NextPage(context.Background())
			if err != nil {
				break // the group appears with its first event
			}
			for _, e := range p.Events {
				text.WriteString(aws.ToString(e.Message))
			}
		}
		if strings.Contains(text.String(), want) {
			return text.String()
		}
		if time.Now().After(deadline) {
			t.Errorf("the log group of %s never held %q; its lines shorter than 300 bytes:\n%s", function, want, shortLines(text.String()))
			return text.String()
		}
	}
}

// shortLines keeps a log's lines shorter than 300 bytes, so that a flood does not fill a
// failure's message.
func shortLines(log string) string {
	var b strings.Builder
	for line := range strings.Lines(log) {
		if len(line) < 300 {
			b.WriteString(line)
		}
	}
	return b.String()
}
