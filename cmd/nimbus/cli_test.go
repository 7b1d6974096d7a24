package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests run the nimbus binary as a user would: from the repository root, against a
// server found through its data dir (NIMBUS_DATA_DIR), with nothing of the caller's AWS
// settings in the environment.

// repoRoot is where `nimbus deploy examples/…` is typed.
var repoRoot = func() string {
	wd, _ := os.Getwd()
	return filepath.Join(wd, "..", "..")
}()

type result struct {
	stdout, stderr string
	code           int
}

// userEnv is the caller's environment without AWS or Nimbus settings, plus extra.
func userEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "NIMBUS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// nimbusIn runs `nimbus args…` with env and stdin, and returns what it printed and its exit
// status.
func nimbusIn(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(nimbusBin, args...)
	cmd.Dir = repoRoot
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("nimbus %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// nimbus runs a command against s, found through its data dir.
func (s *testServer) nimbus(args ...string) result {
	s.t.Helper()
	return nimbusIn(s.t, userEnv("NIMBUS_DATA_DIR="+s.dataDir), "", args...)
}

// must runs a command that has to succeed.
func (s *testServer) must(args ...string) result {
	s.t.Helper()
	r := s.nimbus(args...)
	if r.code != 0 {
		s.t.Fatalf("nimbus %s: exit %d\nstdout: %s\nstderr: %s\nserver log:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr, s.output)
	}
	return r
}

// follow starts `nimbus logs ARGS --follow` against s. Each line it prints comes on lines,
// which is closed when it ends; its stderr is kept for failure messages. It is killed when the
// test ends.
func (s *testServer) follow(args ...string) (cmd *exec.Cmd, lines <-chan string, stderr *bytes.Buffer) {
	s.t.Helper()
	cmd = exec.Command(nimbusBin, append(append([]string{"logs"}, args...), "--follow")...)
	cmd.Dir = repoRoot
	cmd.Env = userEnv("NIMBUS_DATA_DIR=" + s.dataDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	stderr = &bytes.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	out := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out <- sc.Text()
		}
		close(out)
	}()
	return cmd, out, stderr
}

func parseJSON(t *testing.T, what, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%s: output is not JSON (%v):\n%s", what, err, s)
	}
}

// oneLine checks that a failure said one line, and returns it.
func oneLine(t *testing.T, what string, r result) string {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("%s succeeded, want a failure; stdout: %s", what, r.stdout)
	}
	msg := strings.TrimSuffix(r.stderr, "\n")
	if msg == "" || strings.Contains(msg, "\n") {
		t.Errorf("%s: stderr is not one line:\n%s", what, r.stderr)
	}
	return msg
}

type deployed struct {
	FunctionName, Runtime, Handler, CodeSha256, Action, State string
	MemorySize, Timeout                                       int
	Environment                                               map[string]string
}

func TestCLIExamples(t *testing.T) {
	requireRoot(t)
	pythonRuntime(t)
	nodeRuntime(t)
	s := startServer(t, "")

	// Deploy each example with the one line the README shows.
	for _, tc := range []struct{ example, runtimePrefix, handler, inferred string }{
		{"python-http", "python3.", "lambda_function.lambda_handler", "found lambda_function.py"},
		{"node-text", "nodejs", "index.handler", "found index.mjs"},
		{"go-hello", "provided.al2023", "bootstrap", "building examples/go-hello with go build"},
	} {
		r := s.must("deploy", "examples/"+tc.example)
		if !strings.HasPrefix(r.stdout, "Created "+tc.example+"\n") || !strings.Contains(r.stdout, "sha256 ") || !strings.Contains(r.stdout, "arn:aws:lambda:") {
			t.Errorf("deploy examples/%s printed:\n%s", tc.example, r.stdout)
		}
		if !strings.Contains(r.stderr, tc.inferred) {
			t.Errorf("deploy examples/%s: stderr %q does not say %q", tc.example, r.stderr, tc.inferred)
		}
		var fn deployed
		parseJSON(t, "get --output json", s.must("get", tc.example, "--output", "json").stdout, &fn)
		if !strings.HasPrefix(fn.Runtime, tc.runtimePrefix) || fn.Handler != tc.handler || fn.State != "Active" {
			t.Errorf("get %s = runtime %s handler %s state %s; want %s…, %s, Active", tc.example, fn.Runtime, fn.Handler, fn.State, tc.runtimePrefix, tc.handler)
		}
	}

	// Invoke each.
	var hello struct {
		StatusCode int
		Body       string `json:"body"`
	}
	r := s.must("invoke", "python-http", "--payload", "@examples/python-http/events/hello.json")
	parseJSON(t, "invoke python-http", r.stdout, &hello)
	if !strings.Contains(hello.Body, "Hello, Ada!") {
		t.Errorf("invoke python-http = %s, want a body greeting Ada", r.stdout)
	}
	var text struct{ Result string }
	parseJSON(t, "invoke node-text", s.must("invoke", "node-text", "--payload", `{"text": "  the quick   brown fox ", "ops": ["trim", "title"]}`).stdout, &text)
	if text.Result != "The Quick Brown Fox" {
		t.Errorf("invoke node-text result = %q, want %q", text.Result, "The Quick Brown Fox")
	}
	var greeting struct{ Greeting, Function string }
	parseJSON(t, "invoke go-hello", s.must("invoke", "go-hello", "--payload", "@examples/go-hello/events/fr.json").stdout, &greeting)
	if greeting.Greeting != "Bonjour, Ada !" || greeting.Function != "go-hello" {
		t.Errorf("invoke go-hello = %+v, want Bonjour, Ada ! from go-hello", greeting)
	}
	// The payload from standard input, and the log tail on stderr.
	r = nimbusIn(t, userEnv("NIMBUS_DATA_DIR="+s.dataDir), `{"name": "stdin"}`, "invoke", "go-hello", "--payload", "-", "--logs")
	if r.code != 0 || !strings.Contains(r.stdout, "Hello, stdin!") {
		t.Errorf("invoke go-hello --payload - = exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "START RequestId: ") || !strings.Contains(r.stderr, "greeted stdin in en") || !strings.Contains(r.stderr, "REPORT RequestId: ") {
		t.Errorf("invoke --logs: stderr has no log tail with the function's output:\n%s", r.stderr)
	}

	// A function error: exit status 1, "<errorType>: <errorMessage>" on stderr, nothing on stdout.
	r = s.nimbus("invoke", "node-text", "--payload", "@examples/node-text/events/bad-op.json")
	if msg := oneLine(t, "invoke with a bad op", r); r.code != 1 || !strings.HasPrefix(msg, `UnknownOperation: unknown operation "shout"`) || r.stdout != "" {
		t.Errorf("invoke with a bad op = exit %d, stderr %q, stdout %q; want 1, UnknownOperation: …, nothing", r.code, r.stderr, r.stdout)
	}
	var failed struct {
		StatusCode    int
		FunctionError string
		Payload       struct{ ErrorType string }
	}
	r = s.nimbus("invoke", "go-hello", "--payload", `{"language": "tlh"}`, "--output", "json")
	parseJSON(t, "invoke --output json of a failure", r.stdout, &failed)
	if r.code != 1 || failed.StatusCode != 200 || failed.FunctionError != "Unhandled" || failed.Payload.ErrorType == "" {
		t.Errorf("invoke go-hello (bad language) --output json = exit %d, %+v", r.code, failed)
	}

	// Logs, through the CloudWatch Logs API.
	waitForLog(t, s, "python-http", `"path": "/hello"`)
	var evs []struct{ Message, LogStream, EventID string }
	r = s.must("logs", "python-http", "--output", "json", "--filter", "REPORT", "--since", "0")
	parseJSON(t, "logs --output json", r.stdout, &evs)
	if len(evs) == 0 || !strings.HasPrefix(evs[0].Message, "REPORT RequestId: ") || !strings.Contains(evs[0].LogStream, "[$LATEST]") || evs[0].EventID == "" {
		t.Errorf("logs --filter REPORT --output json: events %+v", evs)
	}

	// ls and get.
	var fns []deployed
	parseJSON(t, "ls --output json", s.must("ls", "--output", "json").stdout, &fns)
	var names []string
	for _, f := range fns {
		names = append(names, f.FunctionName)
	}
	if strings.Join(names, " ") != "go-hello node-text python-http" {
		t.Errorf("ls --output json names = %v", names)
	}
	if r := s.must("ls"); !strings.HasPrefix(r.stdout, "NAME ") || strings.Count(r.stdout, "\n") != 4 {
		t.Errorf("ls printed:\n%s", r.stdout)
	}
	if r := s.must("get", "python-http"); !strings.Contains(r.stdout, "Handler") || !strings.Contains(r.stdout, "/aws/lambda/python-http") {
		t.Errorf("get python-http printed:\n%s", r.stdout)
	}

	// Redeploys: unchanged code is recognised; configuration flags update.
	var again deployed
	parseJSON(t, "redeploy", s.must("deploy", "examples/python-http", "--output", "json").stdout, &again)
	if again.Action != "unchanged" {
		t.Errorf("redeploy of unchanged code: Action %q, want unchanged", again.Action)
	}
	r = s.must("deploy", "examples/python-http", "--memory", "256", "--timeout", "10", "--env", "GREETING=hi", "--output", "json")
	parseJSON(t, "redeploy with flags", r.stdout, &again)
	if again.Action != "updated" || again.MemorySize != 256 || again.Timeout != 10 || again.Environment["GREETING"] != "hi" {
		t.Errorf("redeploy --memory 256 --timeout 10 --env GREETING=hi = %+v", again)
	}

	// rm, and what a missing function says.
	var removed []struct {
		FunctionName string
		Deleted      bool
	}
	parseJSON(t, "rm --output json", s.must("rm", "node-text", "--output", "json").stdout, &removed)
	if len(removed) != 1 || !removed[0].Deleted || removed[0].FunctionName != "node-text" {
		t.Errorf("rm node-text --output json = %+v", removed)
	}
	if r := s.must("ls", "-q"); r.stdout != "go-hello\npython-http\n" {
		t.Errorf("ls -q after rm = %q", r.stdout)
	}
	r = s.nimbus("get", "node-text")
	if msg := oneLine(t, "get of a removed function", r); r.code != 1 || msg != "nimbus: function node-text does not exist: `nimbus ls` lists the functions there are" {
		t.Errorf("get node-text after rm = exit %d, %q", r.code, msg)
	}
	r = s.nimbus("invoke", "node-text")
	if msg := oneLine(t, "invoke of a removed function", r); r.code != 1 || !strings.Contains(msg, "does not exist") {
		t.Errorf("invoke node-text after rm = exit %d, %q", r.code, msg)
	}
}

// waitForLog polls `nimbus logs NAME` until a line containing want shows up: storing log lines
// is asynchronous.
func waitForLog(t *testing.T, s *testServer, name, want string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := s.must("logs", name, "--since", "0")
		if strings.Contains(r.stdout, want) {
			return r.stdout
		}
		if time.Now().After(deadline) {
			t.Fatalf("nimbus logs %s never showed %q; it printed:\n%s%s", name, want, r.stdout, r.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCLILogsFollowAndAWSCLI(t *testing.T) {
	requireRoot(t)
	pythonRuntime(t)
	s := startServer(t, "")
	s.must("deploy", "examples/python-http", "--name", "web")

	// Before any invocation: no log group yet, which is not an error.
	r := s.must("logs", "web")
	if r.stdout != "" || !strings.Contains(r.stderr, "no logs for web yet") {
		t.Errorf("logs before any invocation = %q, %q", r.stdout, r.stderr)
	}

	follow, events, stderr := s.follow("web", "--output", "json")

	for _, path := range []string{"/first", "/second"} {
		s.must("invoke", "web", "--payload", fmt.Sprintf(`{"httpMethod": "GET", "path": %q}`, path))
	}
	want := map[string]bool{`"path": "/first"`: false, `"path": "/second"`: false}
	reports := 0
	timeout := time.After(30 * time.Second)
	for reports < 2 || !want[`"path": "/first"`] || !want[`"path": "/second"`] {
		select {
		case line, ok := <-events:
			if !ok {
				t.Fatalf("logs --follow ended early; stderr: %s", stderr.String())
			}
			var ev struct{ Message string }
			parseJSON(t, "logs --follow --output json", line, &ev)
			if strings.HasPrefix(ev.Message, "REPORT ") {
				reports++
			}
			for k := range want {
				if strings.Contains(ev.Message, k) {
					if want[k] {
						t.Errorf("logs --follow printed %s twice", k)
					}
					want[k] = true
				}
			}
		case <-timeout:
			t.Fatalf("logs --follow: after 30 s, saw %d REPORT lines and %v; stderr: %s", reports, want, stderr.String())
		}
	}
	follow.Process.Signal(syscall.SIGINT)
	if err := follow.Wait(); err != nil {
		t.Errorf("logs --follow after Ctrl-C: %v (stderr %s)", err, stderr.String())
	}

	// The aws CLI reads the same logs.
	if _, err := exec.LookPath("aws"); err != nil {
		t.Log("no aws CLI: skipping aws logs filter-log-events")
		return
	}
	cmd := exec.Command("aws", "--endpoint-url", s.endpoint, "logs", "filter-log-events", "--log-group-name", "/aws/lambda/web", "--filter-pattern", "REPORT", "--output", "json")
	cmd.Env = s.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws logs filter-log-events: %v\n%s", err, out)
	}
	var filtered struct{ Events []struct{ Message string } }
	parseJSON(t, "aws logs filter-log-events", string(out), &filtered)
	if len(filtered.Events) != 2 {
		t.Errorf("aws logs filter-log-events --filter-pattern REPORT: %d events, want 2:\n%s", len(filtered.Events), out)
	}
}

// TestCLIErrors checks the failures a new user meets first: each is one line that says what
// to do, with a non-zero exit status.
func TestCLIErrors(t *testing.T) {
	s := startServer(t, "")

	// A runtime the server does not have.
	r := s.nimbus("deploy", "examples/python-http", "--runtime", "python2.7")
	msg := oneLine(t, "deploy --runtime python2.7", r)
	if r.code != 1 || !strings.HasPrefix(msg, "nimbus: runtime python2.7 is not available on this server: use one of ") ||
		!strings.Contains(msg, "provided.al2023") || !strings.HasSuffix(msg, "with --runtime") {
		t.Errorf("deploy --runtime python2.7 = exit %d, %q", r.code, msg)
	}
	if r := s.must("ls", "-q"); r.stdout != "" {
		t.Errorf("functions after a refused deploy: %q", r.stdout)
	}

	// Code nobody can tell how to run.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hi"), 0o644)
	r = s.nimbus("deploy", dir)
	if msg := oneLine(t, "deploy of a directory without code", r); !strings.Contains(msg, "cannot tell what runtime") || !strings.Contains(msg, "--runtime") {
		t.Errorf("deploy of a directory without code = %q", msg)
	}
	r = s.nimbus("deploy", filepath.Join(dir, "missing"))
	oneLine(t, "deploy of a missing path", r)

	// A payload that is not JSON.
	r = s.nimbus("invoke", "x", "--payload", "{oops")
	if msg := oneLine(t, "invoke --payload {oops", r); !strings.Contains(msg, "is not JSON") {
		t.Errorf("invoke with a bad payload = %q", msg)
	}

	// Wrong credentials.
	r = nimbusIn(t, userEnv("NIMBUS_DATA_DIR="+s.dataDir, "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY=nope"), "", "ls")
	if msg := oneLine(t, "ls with a wrong key", r); !strings.Contains(msg, "refused the credentials") || !strings.Contains(msg, "nimbus env") {
		t.Errorf("ls with a wrong key = %q", msg)
	}

	// Usage mistakes exit 2.
	if r := s.nimbus("invoke"); r.code != 2 || !strings.Contains(r.stderr, "Usage: nimbus invoke NAME") {
		t.Errorf("invoke without a name = exit %d, %q", r.code, r.stderr)
	}
	if r := s.nimbus("ls", "--output", "yaml"); r.code != 1 || !strings.Contains(r.stderr, "use table or json") {
		t.Errorf("ls --output yaml = exit %d, %q", r.code, r.stderr)
	}

	// No server: nothing in the data dir, then a server that has stopped.
	empty := t.TempDir()
	r = nimbusIn(t, userEnv("NIMBUS_DATA_DIR="+empty), "", "ls")
	if msg := oneLine(t, "ls without a server", r); !strings.Contains(msg, "no Nimbus server found") || !strings.Contains(msg, "nimbus server") {
		t.Errorf("ls without a server = %q", msg)
	}
	s.stop(syscall.SIGTERM)
	r = s.nimbus("ls")
	if msg := oneLine(t, "ls after the server stopped", r); !strings.Contains(msg, "is not running: start it with `nimbus server`") {
		t.Errorf("ls after the server stopped = %q", msg)
	}
}

func TestCLICompletionAndEnv(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := nimbusIn(t, userEnv(), "", "completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, "deploy") || !strings.Contains(r.stdout, "nimbus ls -q") {
			t.Errorf("completion %s = exit %d:\n%s%s", shell, r.code, r.stdout, r.stderr)
		}
		if shell == "bash" {
			check := exec.Command("bash", "-n")
			check.Stdin = strings.NewReader(r.stdout)
			if out, err := check.CombinedOutput(); err != nil {
				t.Errorf("bash -n on the bash completion: %v\n%s", err, out)
			}
		}
	}
	if r := nimbusIn(t, userEnv(), "", "completion", "tcsh"); r.code == 0 {
		t.Errorf("completion tcsh succeeded")
	}

	s := startServer(t, "")
	var env map[string]string
	parseJSON(t, "env --output json", s.must("env", "--output", "json").stdout, &env)
	if env["AWS_ENDPOINT_URL"] != s.endpoint || env["AWS_ACCESS_KEY_ID"] != s.key.AccessKeyID || env["AWS_SECRET_ACCESS_KEY"] != s.key.SecretAccessKey {
		t.Errorf("env --output json = %v", env)
	}
	// The exports work for nimbus itself, from any directory, with no data dir.
	exports := s.must("env").stdout
	if !strings.HasPrefix(exports, "unset AWS_SESSION_TOKEN AWS_PROFILE\n") {
		t.Errorf("env does not start by unsetting a stale session token and profile:\n%s", exports)
	}
	script := exports + fmt.Sprintf("export NIMBUS_DATA_DIR=%s\n%s ls --output json\n", t.TempDir(), nimbusBin)
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = userEnv("AWS_SESSION_TOKEN=stale", "AWS_PROFILE=missing")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "[]" {
		t.Errorf("nimbus ls after eval $(nimbus env) = %v, %s", err, out)
	}
}

// TestCLIDeployZipThenChangeLanguage deploys a zip, then a directory of another language under
// the same name: the runtime and handler follow the code.
func TestCLIDeployZipThenChangeLanguage(t *testing.T) {
	pythonRuntime(t)
	nodeRuntime(t)
	s := startServer(t, "")
	zipPath := filepath.Join(t.TempDir(), "hello.zip")
	if err := os.WriteFile(zipPath, zipOf(t, map[string]string{"lambda_function.py": pythonHello}), 0o644); err != nil {
		t.Fatal(err)
	}
	var fn deployed
	parseJSON(t, "deploy zip", s.must("deploy", zipPath, "--output", "json", "--description", "from a zip").stdout, &fn)
	if fn.FunctionName != "hello" || !strings.HasPrefix(fn.Runtime, "python3.") || fn.Handler != "lambda_function.handler" || fn.Action != "created" {
		t.Errorf("deploy hello.zip = %+v; want hello, python3.x, lambda_function.handler, created", fn)
	}

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.mjs"), []byte("export const handler = async (e) => e;\n"), 0o644)
	r := s.must("deploy", dir, "--name", "hello", "--output", "json")
	parseJSON(t, "deploy node dir", r.stdout, &fn)
	if !strings.HasPrefix(fn.Runtime, "nodejs") || fn.Handler != "index.handler" || fn.Action != "updated" {
		t.Errorf("deploy of Node code over a Python function = %+v; want nodejs, index.handler, updated", fn)
	}
	if !strings.Contains(r.stderr, "found index.mjs: runtime nodejs") {
		t.Errorf("deploy did not say what it inferred: %q", r.stderr)
	}
	// An explicit handler is kept on the next deploy of the same code.
	os.WriteFile(filepath.Join(dir, "other.mjs"), []byte("export const run = async (e) => e;\n"), 0o644)
	parseJSON(t, "deploy --handler", s.must("deploy", dir, "--name", "hello", "--handler", "other.run", "--output", "json").stdout, &fn)
	parseJSON(t, "redeploy", s.must("deploy", dir, "--name", "hello", "--output", "json").stdout, &fn)
	if fn.Handler != "other.run" || fn.Action != "unchanged" {
		t.Errorf("redeploy after --handler other.run = handler %s, %s; want other.run, unchanged", fn.Handler, fn.Action)
	}
}
