package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/nimbusfaas/nimbus/internal/auth"
	"github.com/nimbusfaas/nimbus/internal/runtimes"
)

// nimbusBin is the nimbus binary built once for all tests of this package: they run it as a
// user would, as a separate process.
var nimbusBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nimbus-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	nimbusBin = filepath.Join(dir, "nimbus")
	build := exec.Command("go", "build", "-o", nimbusBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building nimbus:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testServer is a nimbus server process on a port-0 listener with its own data dir.
type testServer struct {
	t        *testing.T
	dataDir  string
	endpoint string
	key      auth.Key
	cmd      *exec.Cmd
	output   *bytes.Buffer
	extra    []string
}

// startServer starts `nimbus server` on a fresh data dir (or the given one) and waits until it
// serves.
func startServer(t *testing.T, dataDir string, extraArgs ...string) *testServer {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	s := &testServer{t: t, dataDir: dataDir, extra: extraArgs}
	s.start()
	t.Cleanup(func() { s.stop(syscall.SIGTERM) })
	return s
}

func (s *testServer) start() {
	s.t.Helper()
	os.Remove(filepath.Join(s.dataDir, serverInfoFile))
	args := append([]string{"server", "--listen", "127.0.0.1:0", "--data-dir", s.dataDir}, s.extra...)
	s.cmd = exec.Command(nimbusBin, args...)
	s.output = &bytes.Buffer{}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	ready := make(chan string, 1)
	output := s.output
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			output.WriteString(line + "\n")
			if endpoint, ok := servingEndpoint(line); ok {
				ready <- endpoint
			}
		}
	}()
	select {
	case s.endpoint = <-ready:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		s.t.Fatalf("server did not start; its log:\n%s", s.output)
	}
	key, err := auth.LoadOrCreateAdmin(s.dataDir)
	if err != nil {
		s.t.Fatal(err)
	}
	s.key = key
}

// stop ends the server with sig and waits for it.
func (s *testServer) stop(sig syscall.Signal) {
	if s.cmd == nil || s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-done
		s.t.Errorf("server did not stop on %v; its log:\n%s", sig, s.output)
	}
}

// restart stops the server gracefully and starts it again on the same data dir.
func (s *testServer) restart() {
	s.stop(syscall.SIGTERM)
	s.start()
}

// client is an AWS SDK for Go v2 Lambda client pointed at the server with its admin key.
func (s *testServer) client() *lambdasdk.Client {
	return s.clientWith(s.key.AccessKeyID, s.key.SecretAccessKey)
}

func (s *testServer) clientWith(id, secret string) *lambdasdk.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
	}
	return lambdasdk.NewFromConfig(cfg, func(o *lambdasdk.Options) {
		o.BaseEndpoint = aws.String(s.endpoint)
	})
}

// env is the environment that points the aws CLI and boto3 at the server, as `nimbus env` says.
func (s *testServer) env() []string {
	out, err := exec.Command(nimbusBin, "env", "--data-dir", s.dataDir).Output()
	if err != nil {
		s.t.Fatalf("nimbus env: %v", err)
	}
	env := os.Environ()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if v, ok := strings.CutPrefix(line, "export "); ok {
			env = append(env, v)
		}
	}
	return append(env, "AWS_PAGER=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
}

// zipOf builds a zip holding files (name → content); names ending in "*" are made executable.
func zipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "*") {
			name, mode = strings.TrimSuffix(name, "*"), 0o755
		}
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, content)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const pythonHello = `
import json
def handler(event, context):
    return {"hello": event.get("name", "world"), "request_id": context.aws_request_id}
`

// createPython creates a Python function and waits until it is Active.
func createPython(t *testing.T, c *lambdasdk.Client, name string) *lambdasdk.CreateFunctionOutput {
	t.Helper()
	ctx := context.Background()
	out, err := c.CreateFunction(ctx, &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      pythonRuntime(t),
		Role:         aws.String("arn:aws:iam::000000000000:role/lambda-role"),
		Handler:      aws.String("lambda_function.handler"),
		Code:         codeOf(zipOf(t, map[string]string{"lambda_function.py": pythonHello})),
	})
	if err != nil {
		t.Fatalf("CreateFunction(%s) = %v", name, err)
	}
	waitActive(t, c, name)
	return out
}

var (
	hostRuntimesOnce sync.Once
	hostRuntimes     *runtimes.Catalog
)

// hostRuntime is the name of the first runtime of the family this host can run, as the
// server detects them.
func hostRuntime(t *testing.T, family runtimes.Family) types.Runtime {
	t.Helper()
	hostRuntimesOnce.Do(func() {
		hostRuntimes, _ = runtimes.Detect(context.Background(), runtimes.Config{SearchPath: interpreterSearchPath()})
	})
	if hostRuntimes != nil {
		for _, r := range hostRuntimes.Available() {
			if r.Family == family {
				return types.Runtime(r.Name)
			}
		}
	}
	t.Skipf("this host has no %s runtime", family)
	return ""
}

func pythonRuntime(t *testing.T) types.Runtime { return hostRuntime(t, runtimes.Python) }
func nodeRuntime(t *testing.T) types.Runtime   { return hostRuntime(t, runtimes.Node) }

// servingEndpoint reads the endpoint out of the server's log line that says it serves:
// level=INFO msg="serving the Lambda API" endpoint=http://127.0.0.1:PORT runtimes=…
func servingEndpoint(line string) (string, bool) {
	if !strings.Contains(line, ` msg="`+servingMsg+`" `) {
		return "", false
	}
	_, rest, ok := strings.Cut(line, " endpoint=")
	endpoint, _, _ := strings.Cut(rest, " ")
	return endpoint, ok
}
