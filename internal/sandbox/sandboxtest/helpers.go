package sandboxtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbusfaas/nimbus/internal/sandbox"
)

// callTimeout bounds every driver call of the suite; the calls take milliseconds.
const callTimeout = 30 * time.Second

var idSeq atomic.Int64

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// NewID returns an environment ID unique in this process, readable in failure messages.
func NewID(tb testing.TB) string {
	name := unsafeID.ReplaceAllString(tb.Name(), "-")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return fmt.Sprintf("%s-%d", strings.Trim(name, "-"), idSeq.Add(1))
}

// ProbeSpec is a spec that runs the probe with args, writing to fresh buffers.
func ProbeSpec(tb testing.TB, args ...string) (sandbox.Spec, *Buffer, *Buffer) {
	stdout, stderr := &Buffer{}, &Buffer{}
	return sandbox.Spec{
		ID:      NewID(tb),
		Args:    append([]string{"/var/task/probe"}, args...),
		Env:     []string{"PATH=/usr/bin:/bin", "NIMBUS_PROBE=1"},
		CodeDir: CodeDir(tb),
		Stdout:  stdout,
		Stderr:  stderr,
	}, stdout, stderr
}

func ctx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), callTimeout)
	tb.Cleanup(cancel)
	return c
}

// Create creates the environment and destroys it when the test ends.
func Create(tb testing.TB, d sandbox.Driver, spec sandbox.Spec) {
	tb.Helper()
	if err := d.Create(ctx(tb), spec); err != nil {
		tb.Fatalf("Create(%s) = %v", spec.ID, err)
	}
	tb.Cleanup(func() {
		if err := d.Destroy(context.Background(), spec.ID); err != nil {
			tb.Errorf("Destroy(%s) = %v", spec.ID, err)
		}
	})
}

// Start creates and starts the environment.
func Start(tb testing.TB, d sandbox.Driver, spec sandbox.Spec) {
	tb.Helper()
	Create(tb, d, spec)
	if err := d.Start(ctx(tb), spec.ID); err != nil {
		tb.Fatalf("Start(%s) = %v", spec.ID, err)
	}
}

// RunToExit creates and starts the environment and waits for its program to end.
func RunToExit(tb testing.TB, d sandbox.Driver, spec sandbox.Spec) sandbox.ExitStatus {
	tb.Helper()
	Start(tb, d, spec)
	st, err := d.Wait(ctx(tb), spec.ID)
	if err != nil {
		tb.Fatalf("Wait(%s) = %v", spec.ID, err)
	}
	return st
}

// RunJSON runs the probe and decodes the JSON it prints into v.
func RunJSON(tb testing.TB, d sandbox.Driver, v any, args ...string) {
	tb.Helper()
	spec, stdout, stderr := ProbeSpec(tb, args...)
	st := RunToExit(tb, d, spec)
	if st.String() != "exit status 0" {
		tb.Fatalf("probe %v: %v; stderr:\n%s", args, st, stderr)
	}
	if err := jsonDecode(stdout.Bytes(), v); err != nil {
		tb.Fatalf("probe %v printed %q: %v", args, stdout, err)
	}
}

// jsonDecode decodes the first JSON value of b.
func jsonDecode(b []byte, v any) error {
	return json.NewDecoder(bytes.NewReader(b)).Decode(v)
}

// Buffer collects output written from driver goroutines and lets a test wait for some of it.
type Buffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	wake chan struct{}
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
	return b.buf.Write(p)
}

func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (b *Buffer) String() string { return string(b.Bytes()) }

// WaitFor waits until the output contains s, failing the test after callTimeout.
func (b *Buffer) WaitFor(tb testing.TB, s string) {
	tb.Helper()
	deadline := time.NewTimer(callTimeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		if strings.Contains(b.buf.String(), s) {
			b.mu.Unlock()
			return
		}
		if b.wake == nil {
			b.wake = make(chan struct{})
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-deadline.C:
			tb.Fatalf("output never contained %q; got %q", s, b.String())
		}
	}
}

// HostProgram describes a host interpreter and the read-only mounts it needs inside an
// environment: the program itself and the directories of the shared libraries ldd lists.
func HostProgram(path string, extraDirs ...string) (string, []sandbox.Mount, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", nil, err
	}
	out, err := exec.Command("ldd", real).Output()
	if err != nil {
		return "", nil, fmt.Errorf("ldd %s: %w", real, err)
	}
	mounts := []sandbox.Mount{{Source: real}}
	seen := map[string]bool{}
	add := func(dir string) {
		if !seen[dir] {
			seen[dir] = true
			mounts = append(mounts, sandbox.Mount{Source: dir})
		}
	}
	s := bufio.NewScanner(bytes.NewReader(out))
	for s.Scan() {
		f := strings.Fields(s.Text())
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			add(filepath.Dir(f[2]))
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			add(filepath.Dir(f[0]))
		}
	}
	for _, d := range extraDirs {
		add(d)
	}
	return real, mounts, nil
}
