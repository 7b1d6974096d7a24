package runtimeapi

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// goFunc builds testdata/gofunc, an unmodified aws-lambda-go function, once per test binary.
var goFunc struct {
	once sync.Once
	path string
	err  error
	dir  string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if goFunc.dir != "" {
		os.RemoveAll(goFunc.dir)
	}
	os.Exit(code)
}

func buildGoFunc(tb testing.TB) string {
	tb.Helper()
	goFunc.once.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			goFunc.err = err
			return
		}
		goFunc.dir, goFunc.err = os.MkdirTemp("", "runtimeapi-gofunc")
		if goFunc.err != nil {
			return
		}
		goFunc.path = filepath.Join(goFunc.dir, "bootstrap")
		cmd := exec.Command(gobin, "build", "-o", goFunc.path, "./testdata/gofunc")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			goFunc.err = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if goFunc.err != nil {
		if errors.Is(goFunc.err, exec.ErrNotFound) {
			tb.Skipf("no go toolchain to build the test function: %v", goFunc.err)
		}
		tb.Fatal(goFunc.err)
	}
	return goFunc.path
}

// startEndpoint serves a new Endpoint on a loopback port and closes it at the end of the test.
func startEndpoint(tb testing.TB, cfg Config) (*Endpoint, string) {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	e := New(cfg)
	served := make(chan error, 1)
	go func() { served <- e.Serve(l) }()
	tb.Cleanup(func() {
		e.Close()
		if err := <-served; err != nil {
			tb.Errorf("Serve = %v, want nil after Close", err)
		}
	})
	return e, l.Addr().String()
}

// process is a runtime running as a plain host process.
type process struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error // valid once exited is closed
}

// startProcess runs argv with only the given environment and AWS_LAMBDA_RUNTIME_API.
func startProcess(tb testing.TB, addr string, env []string, argv ...string) *process {
	tb.Helper()
	p := &process{out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append([]string{"AWS_LAMBDA_RUNTIME_API=" + addr}, env...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if tb.Failed() {
			tb.Logf("%s output:\n%s", filepath.Base(argv[len(argv)-1]), p.out.String())
		}
	})
	return p
}

// startGoFunc starts the aws-lambda-go test function against a new endpoint and waits for Init.
func startGoFunc(tb testing.TB, cfg Config) (*Endpoint, *process) {
	tb.Helper()
	bin := buildGoFunc(tb)
	e, addr := startEndpoint(tb, cfg)
	p := startProcess(tb, addr, []string{"AWS_LAMBDA_FUNCTION_NAME=gofunc", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128"}, bin)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.WaitInit(ctx); err != nil {
		tb.Fatalf("WaitInit = %v, want nil; output:\n%s", err, p.out.String())
	}
	return e, p
}

// waitExit waits for the process to exit, failing the test if it does not within d.
func (p *process) waitExit(tb testing.TB, d time.Duration) error {
	tb.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(d):
		tb.Fatalf("process still running after %v", d)
		return nil
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// invokeCtx is a context for one test invocation: generous, so a hang fails instead of
// blocking the run.
func invokeCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func inv(id, payload string) Invocation {
	return Invocation{RequestID: id, Payload: []byte(payload), Deadline: time.Now().Add(time.Minute)}
}
