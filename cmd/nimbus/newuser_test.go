package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// These tests cover what a new user tripped on in their first hour (issue 10).

// oneDocument checks that s is exactly one JSON document and decodes it into v.
func oneDocument(t *testing.T, what, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: output is not JSON (%v):\n%s", what, err, s)
	}
	var more json.RawMessage
	if err := dec.Decode(&more); err != io.EOF {
		t.Errorf("%s: output is more than one JSON document:\n%s", what, s)
	}
}

// Every command answers -h with its usage and status 0, and the README lists every server flag.
func TestHelp(t *testing.T) {
	for _, c := range commands {
		if c.Name == "help" {
			continue
		}
		r := nimbusIn(t, userEnv(), "", c.Name, "-h")
		if r.code != 0 || !strings.Contains(r.stderr, "Usage: nimbus "+c.Name) {
			t.Errorf("nimbus %s -h = exit %d, stderr %q; want 0 and its usage", c.Name, r.code, r.stderr)
		}
	}
	if r := nimbusIn(t, userEnv(), "", "deploy", "-h"); !strings.Contains(r.stderr, IgnoreFileName) || !strings.Contains(r.stderr, "--no-deps") {
		t.Errorf("deploy -h does not document %s and --no-deps:\n%s", IgnoreFileName, r.stderr)
	}
	if r := nimbusIn(t, userEnv(), "", "invoke", "-h"); strings.Contains(r.stderr, "version or alias to invoke\n") {
		t.Errorf("invoke -h offers aliases, which do not exist yet:\n%s", r.stderr)
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands {
		if c.Name != "server" {
			continue
		}
		for _, f := range c.Flags {
			dash := "--"
			if len(f) == 1 {
				dash = "-"
			}
			if !regexp.MustCompile(`\[?` + regexp.QuoteMeta(dash+f) + `[\] =]`).Match(readme) {
				t.Errorf("README.md's server flags do not mention %s%s", dash, f)
			}
		}
	}
}

// IgnoreFileName is what deploy -h must document.
const IgnoreFileName = ".nimbusignore"

// A second server on a data dir in use fails at once, saying who holds it, and without the
// store's recovery warnings.
func TestSecondServerOnSameDataDir(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	if _, err := c.CreateFunction(context.Background(), &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String("keep"), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Role: aws.String("arn:aws:iam::000000000000:role/r"), Code: codeOf(zipOf(t, map[string]string{"bootstrap*": "#!/bin/sh\n"})),
	}); err != nil {
		t.Fatal(err)
	}
	r := nimbusIn(t, userEnv(), "", "server", "--listen", "127.0.0.1:0", "--data-dir", s.dataDir)
	if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("another Nimbus server (pid %d) is using the data dir %s", s.cmd.Process.Pid, s.dataDir)) {
		t.Errorf("second server = exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if n := strings.Count(r.stderr, "level=WARN"); n > 0 || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("second server said more than the one line (%d warnings):\n%s", n, r.stderr)
	}
	// The first one still serves its function.
	if _, err := c.GetFunction(context.Background(), &lambdasdk.GetFunctionInput{FunctionName: aws.String("keep")}); err != nil {
		t.Errorf("first server after the second failed: GetFunction = %v", err)
	}
}

// The messages of deploy and invoke for the mistakes a new user makes, the runtimes a host
// lacks, CreateFunction's LoggingConfig and the access log.
func TestCLIDeployMessages(t *testing.T) {
	pythonRuntime(t)
	s := startServer(t, "")

	// An empty folder.
	empty := t.TempDir()
	if msg := oneLine(t, "deploy of an empty folder", s.nimbus("deploy", empty)); !strings.Contains(msg, empty+" is empty: put the function's code in it") {
		t.Errorf("deploy of an empty folder = %q", msg)
	}
	// A folder name a function name cannot hold.
	dotted := filepath.Join(t.TempDir(), "hello.world")
	os.Mkdir(dotted, 0o755)
	os.WriteFile(filepath.Join(dotted, "lambda_function.py"), []byte(pythonHello), 0o644)
	if r := s.must("deploy", dotted); !strings.HasPrefix(r.stdout, "Created hello-world\n") ||
		!strings.Contains(r.stderr, "deployed hello.world as hello-world: a function name holds only letters, digits, - and _") {
		t.Errorf("deploy hello.world = %q, stderr %q", r.stdout, r.stderr)
	}
	// A handler whose file is not there.
	r := s.nimbus("deploy", "examples/python-http", "--handler", "app.lambda_handler")
	if msg := oneLine(t, "deploy --handler app.lambda_handler", r); !strings.Contains(msg, "examples/python-http has no app.py or app/__init__.py") ||
		!strings.Contains(msg, "did you mean --handler lambda_function.lambda_handler?") {
		t.Errorf("deploy --handler app.lambda_handler = %q", msg)
	}
	if r := s.must("ls", "-q"); r.stdout != "hello-world\n" {
		t.Errorf("functions after the refused deploy: %q", r.stdout)
	}
	// What .nimbusignore left out, in the summary and in JSON.
	r = s.must("deploy", "examples/python-http")
	if !regexp.MustCompile(`(?m)^  Left out +README\.md, events/  \(by \.nimbusignore\)$`).MatchString(r.stdout) {
		t.Errorf("deploy summary does not say what was left out:\n%s", r.stdout)
	}
	var fn struct {
		Action  string
		LeftOut []string
	}
	oneDocument(t, "deploy --output json", s.must("deploy", "examples/python-http", "--output", "json").stdout, &fn)
	if fn.Action != "unchanged" || strings.Join(fn.LeftOut, " ") != "README.md events/" {
		t.Errorf("redeploy --output json = %+v", fn)
	}
	// A payload file that is not there.
	if msg := oneLine(t, "invoke --payload @nope.json", s.nimbus("invoke", "python-http", "--payload", "@nope.json")); !strings.Contains(msg, "cannot read the payload file nope.json") {
		t.Errorf("invoke --payload @nope.json = %q", msg)
	}

	// A Lambda runtime this host lacks, through the API and through deploy.
	var lacking string
	for minor := 8; minor <= 15 && lacking == ""; minor++ {
		name := fmt.Sprintf("python3.%d", minor)
		if _, ok := hostRuntimes.Lookup(name); !ok {
			lacking = name
		}
	}
	c := s.client()
	_, err := c.CreateFunction(context.Background(), &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String("lacking"), Runtime: types.Runtime(lacking), Handler: aws.String("lambda_function.handler"),
		Role: aws.String("arn:aws:iam::000000000000:role/r"), Code: codeOf(zipOf(t, map[string]string{"lambda_function.py": pythonHello})),
	})
	var ae smithy.APIError
	if !asAPIError(err, &ae) || ae.ErrorCode() != "InvalidParameterValueException" ||
		!strings.HasPrefix(ae.ErrorMessage(), "The runtime "+lacking+" is not installed on this Nimbus server, which runs: [provided.al2023, ") {
		t.Errorf("CreateFunction(%s) = %v", lacking, err)
	}
	r = s.nimbus("deploy", "examples/python-http", "--name", "lacking", "--runtime", lacking)
	if msg := oneLine(t, "deploy --runtime "+lacking, r); !strings.HasPrefix(msg, "nimbus: runtime "+lacking+" is not installed on this server: install its interpreter") {
		t.Errorf("deploy --runtime %s = %q", lacking, msg)
	}
	_, err = c.CreateFunction(context.Background(), &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String("lacking"), Runtime: types.RuntimeJava21, Handler: aws.String("a.B::handle"),
		Role: aws.String("arn:aws:iam::000000000000:role/r"), Code: codeOf(zipOf(t, map[string]string{"a.txt": "x"})),
	})
	if !asAPIError(err, &ae) || !strings.HasPrefix(ae.ErrorMessage(), "The runtime java21 is not supported by Nimbus, which runs: [") {
		t.Errorf("CreateFunction(java21) = %v", err)
	}

	// CreateFunction answers with the LoggingConfig that GetFunction shows.
	out, err := c.CreateFunction(context.Background(), &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String("logging"), Runtime: pythonRuntime(t), Handler: aws.String("lambda_function.handler"),
		Role: aws.String("arn:aws:iam::000000000000:role/r"), Code: codeOf(zipOf(t, map[string]string{"lambda_function.py": pythonHello})),
	})
	if err != nil || out.LoggingConfig == nil || aws.ToString(out.LoggingConfig.LogGroup) != "/aws/lambda/logging" || out.LoggingConfig.LogFormat != types.LogFormatText {
		t.Errorf("CreateFunction(logging) LoggingConfig = %+v, %v; want Text, /aws/lambda/logging", out, err)
	}

	// The access log has a line for each request, with Lambda's error type when refused.
	s.nimbus("get", "nosuch")
	deadline := time.Now().Add(10 * time.Second)
	want := regexp.MustCompile(`level=INFO msg=request method=GET path=/2015-03-31/functions/nosuch status=404 duration=\S+ error=ResourceNotFoundException request_id=\S+`)
	for !want.MatchString(s.output.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("the server logged no access line for GetFunction(nosuch); its log:\n%s", s.output)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func asAPIError(err error, ae *smithy.APIError) bool {
	return err != nil && errors.As(err, ae)
}

// --output json prints one JSON document whatever the command: an object for one thing, an
// array for several; invoke --logs puts the tail in LogResult only.
func TestCLIJSONOutput(t *testing.T) {
	requireRoot(t)
	pythonRuntime(t)
	s := startServer(t, "")
	var fn map[string]any
	oneDocument(t, "deploy", s.must("deploy", "examples/python-http", "--output", "json").stdout, &fn)
	oneDocument(t, "get", s.must("get", "python-http", "--output", "json").stdout, &fn)
	var fns []map[string]any
	oneDocument(t, "ls", s.must("ls", "--output", "json").stdout, &fns)

	var inv struct {
		StatusCode    int
		FunctionError string
		LogResult     string
	}
	r := s.must("invoke", "python-http", "--output", "json", "--logs", "--payload", `{"name": "Ada"}`)
	oneDocument(t, "invoke --logs", r.stdout, &inv)
	if inv.StatusCode != 200 || !strings.Contains(inv.LogResult, "REPORT RequestId: ") || strings.Contains(r.stderr, "START RequestId") {
		t.Errorf("invoke --output json --logs = %+v, stderr %q; want the tail once, in LogResult", inv, r.stderr)
	}
	// A function error is an object too, and the access log says which invocation failed.
	failing := t.TempDir()
	os.WriteFile(filepath.Join(failing, "lambda_function.py"), []byte("def lambda_handler(e, c):\n    raise ValueError('no')\n"), 0o644)
	s.must("deploy", failing, "--name", "failing")
	r = s.nimbus("invoke", "failing", "--output", "json")
	oneDocument(t, "invoke of a failure", r.stdout, &inv)
	if r.code != 1 || inv.FunctionError != "Unhandled" {
		t.Errorf("invoke failing --output json = exit %d, %+v", r.code, inv)
	}
	want := regexp.MustCompile(`level=INFO msg=request method=POST path=/2015-03-31/functions/failing/invocations status=200 duration=\S+ function_error=Unhandled`)
	for deadline := time.Now().Add(10 * time.Second); !want.MatchString(s.output.String()); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server logged no access line with the function error; its log:\n%s", s.output)
		}
	}
	waitForLog(t, s, "python-http", "REPORT")
	var evs []map[string]any
	oneDocument(t, "logs", s.must("logs", "python-http", "--output", "json", "--since", "0").stdout, &evs)
	if len(evs) < 3 {
		t.Errorf("logs --output json: %d events, want at least START, END and REPORT", len(evs))
	}
	var env map[string]string
	oneDocument(t, "env", s.must("env", "--output", "json").stdout, &env)

	// rm of two names, one missing: one array, a result for each, exit 1.
	r = s.nimbus("rm", "python-http", "nosuch", "--output", "json")
	var removed []struct {
		FunctionName, Error string
		Deleted             bool
	}
	oneDocument(t, "rm a b", r.stdout, &removed)
	if r.code != 1 || len(removed) != 2 || !removed[0].Deleted || removed[1].Deleted || !strings.Contains(removed[1].Error, "function nosuch does not exist") ||
		!strings.Contains(r.stderr, "nimbus: function nosuch does not exist") {
		t.Errorf("rm python-http nosuch --output json = exit %d, %+v, stderr %q", r.code, removed, r.stderr)
	}
}

// writeWheel writes a pure-Python wheel of package name, whose greet() says greeting, into
// dir: a local package index, as this machine cannot reach PyPI.
func writeWheel(t *testing.T, dir, name, version, greeting string) {
	t.Helper()
	info := name + "-" + version + ".dist-info/"
	files := [][2]string{
		{name + "/__init__.py", fmt.Sprintf("def greet(who):\n    return %q + who\n", greeting)},
		{info + "METADATA", fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version)},
		{info + "WHEEL", "Wheel-Version: 1.0\nGenerator: nimbus-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var buf bytes.Buffer
	var record strings.Builder
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, _ := zw.Create(f[0])
		io.WriteString(w, f[1])
		sum := sha256.Sum256([]byte(f[1]))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f[0], base64.RawURLEncoding.EncodeToString(sum[:]), len(f[1]))
	}
	fmt.Fprintf(&record, "%sRECORD,,\n", info)
	w, _ := zw.Create(info + "RECORD")
	io.WriteString(w, record.String())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-"+version+"-py3-none-any.whl"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A Python folder with a requirements.txt deploys with its packages, and the function
// imports them.
func TestCLIDeployDependencies(t *testing.T) {
	requireRoot(t)
	runtime := string(pythonRuntime(t))
	if exec.Command(runtime, "-m", "pip", "--version").Run() != nil {
		t.Skipf("no %s with pip on PATH", runtime)
	}
	s := startServer(t, "")
	index := t.TempDir()
	writeWheel(t, index, "nimbusgreet", "1.0", "Hello from a wheel, ")
	dir := filepath.Join(t.TempDir(), "withdeps")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("nimbusgreet==1.0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "lambda_function.py"), []byte("import nimbusgreet\ndef lambda_handler(e, c):\n    return nimbusgreet.greet(e['name'])\n"), 0o644)
	env := userEnv("NIMBUS_DATA_DIR="+s.dataDir, "PIP_NO_INDEX=1", "PIP_FIND_LINKS="+index)
	r := nimbusIn(t, env, "", "deploy", dir)
	if r.code != 0 || !strings.Contains(r.stderr, "installed 1 packages from requirements.txt into the zip: nimbusgreet 1.0") {
		t.Fatalf("deploy with requirements.txt = exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := s.must("invoke", "withdeps", "--payload", `{"name": "Ada"}`); r.stdout != `"Hello from a wheel, Ada"` {
		t.Errorf("invoke withdeps = %q, want the wheel's greeting", r.stdout)
	}
	// Without the index, pip fails and so does the deploy, with pip's errors.
	r = nimbusIn(t, userEnv("NIMBUS_DATA_DIR="+s.dataDir, "PIP_NO_INDEX=1"), "", "deploy", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "nimbus: pip install -r requirements.txt failed in "+dir) {
		t.Errorf("deploy without the package index = exit %d\n%s", r.code, r.stderr)
	}
}

// Debian 12's aws CLI 2.9 ignores AWS_ENDPOINT_URL: after eval "$(nimbus env)", the README's
// first aws command still reaches Nimbus.
func TestEnvWithDebianAWSCLI(t *testing.T) {
	const debianAWS = "/usr/bin/aws" // apt-get install awscli; the aws first on PATH may be another
	out, err := exec.Command(debianAWS, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "aws-cli/2.9.") {
		t.Skipf("no aws CLI 2.9 at %s (apt-get install awscli on Debian 12): %v %s", debianAWS, err, out)
	}
	s := startServer(t, "")
	s.client().CreateFunction(context.Background(), &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String("seen-by-aws-2-9"), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Role: aws.String("arn:aws:iam::000000000000:role/r"), Code: codeOf(zipOf(t, map[string]string{"bootstrap*": "#!/bin/sh\n"})),
	})
	// The user's shell, with Debian's aws and python3 first on PATH.
	script := fmt.Sprintf(`eval "$(%s env --data-dir %s)" && aws lambda list-functions --output json`, nimbusBin, s.dataDir)
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(userEnv("AWS_PAGER=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"), "PATH=/usr/bin:/bin")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), `"FunctionName": "seen-by-aws-2-9"`) {
		t.Errorf("aws 2.9 lambda list-functions after eval $(nimbus env) = %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "nimbus env: aws-cli 2.9.") || !strings.Contains(stderr.String(), "ignores AWS_ENDPOINT_URL") {
		t.Errorf("nimbus env did not say that aws 2.9 ignores AWS_ENDPOINT_URL:\n%s", stderr.String())
	}
}
