package runtimes

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbusfaas/nimbus/internal/runtimeapi"
)

var catalog struct {
	once sync.Once
	c    *Catalog
	err  error
}

// hostCatalog detects this host's runtimes once per test binary.
func hostCatalog(tb testing.TB) *Catalog {
	tb.Helper()
	catalog.once.Do(func() {
		catalog.c, catalog.err = Detect(context.Background(), Config{})
	})
	if catalog.err != nil {
		tb.Fatal(catalog.err)
	}
	return catalog.c
}

// family returns the first runtime of the family, or skips the test.
func family(tb testing.TB, f Family) Runtime {
	tb.Helper()
	for _, r := range hostCatalog(tb).Available() {
		if r.Family == f {
			return r
		}
	}
	tb.Skipf("no %s interpreter on this host", f)
	return Runtime{}
}

// function is a runtime client running as a plain host process against its own endpoint.
type function struct {
	e      *runtimeapi.Endpoint
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error
	task   string
	// started is when the process was started; stop kills it and closes the endpoint.
	started time.Time
	stop    func()
}

type fnOptions struct {
	handler string
	files   map[string]string // task dir files
	env     []string
	config  runtimeapi.Config
	// inChroot runs the runtime in a chroot of its mounts (root only; see chrootCommand).
	inChroot bool
	// beforeStart, if set, is called with the runtime dir once it is written.
	beforeStart func(rtDir string)
}

// startFunction writes the task files and the runtime dir into temp dirs, and starts r's
// command as a host process, /var/runtime mapped onto the temp runtime dir.
func startFunction(tb testing.TB, r Runtime, o fnOptions) *function {
	tb.Helper()
	task := tb.TempDir()
	for name, content := range o.files {
		p := filepath.Join(task, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	rtDir := tb.TempDir()
	if err := hostCatalog(tb).WriteRuntimeDir(context.Background(), rtDir); err != nil {
		tb.Fatal(err)
	}
	if o.beforeStart != nil {
		o.beforeStart(rtDir)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	e := runtimeapi.New(o.config)
	served := make(chan error, 1)
	go func() { served <- e.Serve(l) }()

	f := &function{e: e, out: &syncBuffer{}, exited: make(chan struct{}), task: task}
	argv, err := r.Command(func(string) bool { return false })
	if err != nil {
		tb.Fatal(err)
	}
	for i, a := range argv {
		argv[i] = strings.Replace(a, RuntimeDir, rtDir, 1)
	}
	f.cmd = exec.Command(argv[0], argv[1:]...)
	f.cmd.Dir = task
	env := []string{
		"AWS_LAMBDA_RUNTIME_API=" + l.Addr().String(),
		"_HANDLER=" + o.handler,
		"LAMBDA_TASK_ROOT=" + task,
		"AWS_LAMBDA_FUNCTION_NAME=fn",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/fn",
		"AWS_LAMBDA_LOG_STREAM_NAME=2026/11/27/[$LATEST]abc",
		"TZ=:UTC",
	}
	for k, v := range r.Env {
		env = append(env, k+"="+v)
	}
	f.cmd.Env = append(env, o.env...)
	if o.inChroot {
		chrootCommand(tb, f.cmd, r, rtDir, task)
	}
	f.cmd.Stdout = f.out
	f.cmd.Stderr = f.out
	f.started = time.Now()
	if err := f.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		f.err = f.cmd.Wait()
		close(f.exited)
	}()
	f.stop = sync.OnceFunc(func() {
		_ = f.cmd.Process.Kill()
		<-f.exited
		e.Close()
		<-served
		if tb.Failed() {
			tb.Logf("%s output:\n%s", r.Name, f.out.String())
		}
	})
	tb.Cleanup(f.stop)
	return f
}

// waitInit waits for the end of Init, failing the test if the process exits first.
func (f *function) waitInit(tb testing.TB) error {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		select {
		case <-f.exited:
			// Let an init error posted just before the exit win.
			time.Sleep(100 * time.Millisecond)
			cancel()
		case <-ctx.Done():
		}
	}()
	err := f.e.WaitInit(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		tb.Fatalf("WaitInit = %v (process exit: %v)", err, f.err)
	}
	return err
}

func (f *function) invoke(tb testing.TB, id, payload string) runtimeapi.Response {
	tb.Helper()
	return f.invokeWith(tb, runtimeapi.Invocation{RequestID: id, Payload: []byte(payload), Deadline: time.Now().Add(time.Minute)})
}

func (f *function) invokeWith(tb testing.TB, in runtimeapi.Invocation) runtimeapi.Response {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := f.e.Invoke(ctx, in)
	if err != nil {
		tb.Fatalf("Invoke(%s) = %v", in.Payload, err)
	}
	return resp
}

// waitExit waits for the process to exit.
func (f *function) waitExit(tb testing.TB) error {
	tb.Helper()
	select {
	case <-f.exited:
		return f.err
	case <-time.After(30 * time.Second):
		tb.Fatal("process did not exit")
		return nil
	}
}

// output polls the process output until it contains want, or fails after a deadline.
func (f *function) waitOutput(tb testing.TB, want string) string {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := f.out.String()
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			tb.Fatalf("output never contained %q:\n%s", want, out)
		}
		time.Sleep(5 * time.Millisecond)
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

// invokeTimeout is a context for one wait in a test: generous, so a hang fails the test.
func invokeTimeout(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}
