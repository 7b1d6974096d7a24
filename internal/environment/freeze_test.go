package environment

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/logs"
	"github.com/nimbusfaas/nimbus/internal/natsd"
	"github.com/nimbusfaas/nimbus/internal/runtimes"
	"github.com/nimbusfaas/nimbus/internal/sandbox"
	"github.com/nimbusfaas/nimbus/internal/sandbox/linux"
	"github.com/nimbusfaas/nimbus/internal/sandbox/sandboxtest"
)

// These tests run real environments: the linux driver, the host's Python runtime, the Runtime
// API and a log stream on an embedded JetStream. They need root, as the driver does.

// spinner answers "hello", or starts busy background processes that outlive the invocation.
const spinner = `import os

def handler(event, context):
    if event.get("action") == "spin":
        for _ in range(event["n"]):
            if os.fork() == 0:
                while True:
                    pass
    return {"hello": "world"}
`

// codeDir is a CodeSource with one function's code, whatever the digest.
type codeDir string

func (d codeDir) Acquire(ctx context.Context, sha256hex string) (string, func(), error) {
	return string(d), func() {}, nil
}

// testLauncher is a Launcher on a driver of its own, whose cgroup parent names only this
// test's environments (the driver keeps no inits waiting, so only environments run there).
type testLauncher struct {
	*Launcher
	cgroupParent string
	runtime      string
}

var envSeq atomic.Int64

func newTestLauncher(tb testing.TB, freezeDelay time.Duration) *testLauncher {
	tb.Helper()
	sandboxtest.RequireRoot(tb)
	ctx := context.Background()
	parent := fmt.Sprintf("nimbus-envtest-%d-%s", os.Getpid(), sandboxtest.NewID(tb))
	d, err := linux.New(linux.Config{RunDir: tb.TempDir(), CgroupParent: parent, InitPool: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	catalog, err := runtimes.Detect(ctx, runtimes.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	var python string
	for _, rt := range catalog.Available() {
		if rt.Family == runtimes.Python {
			python = rt.Name
			break
		}
	}
	if python == "" {
		tb.Skip("no Python runtime on this host")
	}
	runtimeDir := tb.TempDir()
	if err := catalog.WriteRuntimeDir(ctx, runtimeDir); err != nil {
		tb.Fatal(err)
	}
	nc, err := natsd.Start(ctx, natsd.Config{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	logSvc, err := logs.New(ctx, logs.Config{JetStream: nc.JetStream()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { logSvc.Close(context.Background()) })
	code := tb.TempDir()
	if err := os.WriteFile(filepath.Join(code, "lambda_function.py"), []byte(spinner), 0o644); err != nil {
		tb.Fatal(err)
	}
	l := New(Config{Driver: d, Runtimes: catalog, RuntimeDir: runtimeDir, Code: codeDir(code), Logs: logSvc,
		Location: lambda.Location{Region: "us-east-1", AccountID: "000000000000"}, FreezeDelay: freezeDelay})
	return &testLauncher{Launcher: l, cgroupParent: parent, runtime: python}
}

func (l *testLauncher) invocation(payload string) *lambda.Invocation {
	return &lambda.Invocation{
		Function: &lambda.Function{Name: "spinner", Runtime: l.runtime, Handler: "lambda_function.handler",
			MemorySize: 1769, Timeout: 10, EphemeralMB: 512, CodeSHA256: "x"},
		Version:   lambda.VersionLatest,
		RequestID: fmt.Sprintf("req-%d", envSeq.Add(1)),
		Payload:   []byte(payload),
	}
}

// launch starts an environment of the spinner function.
func (l *testLauncher) launch(tb testing.TB) *Environment {
	tb.Helper()
	env, failure, err := l.Launch(context.Background(), l.invocation(`{}`))
	if err != nil || failure != nil {
		tb.Fatalf("Launch = %v, %+v", err, failure)
	}
	tb.Cleanup(env.Destroy)
	return env.(*Environment)
}

func (l *testLauncher) invoke(tb testing.TB, e *Environment, payload string) {
	tb.Helper()
	res, reusable, err := e.Invoke(context.Background(), l.invocation(payload))
	if err != nil || !reusable || res.FunctionError != "" || !strings.Contains(string(res.Payload), "world") {
		tb.Fatalf("Invoke(%s) = %+v (%s), reusable %v, %v", payload, res, res.Payload, reusable, err)
	}
}

// ownProcesses lists the host processes in the launcher's cgroups.
func (l *testLauncher) ownProcesses(tb testing.TB) []int {
	tb.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		tb.Fatal(err)
	}
	var pids []int
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + ent.Name() + "/cgroup")
		if err == nil && strings.Contains(string(b), "/"+l.cgroupParent+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

func (e *Environment) isFrozen() bool {
	e.freezer.mu.Lock()
	defer e.freezer.mu.Unlock()
	return e.freezer.frozen
}

func waitFrozen(tb testing.TB, e *Environment) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !e.isFrozen() {
		if time.Now().After(deadline) {
			tb.Fatal("the idle environment was not frozen in 10 s")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// cpuTicks is the CPU time (utime + stime, in clock ticks) of the given processes.
func cpuTicks(tb testing.TB, pids []int) int {
	tb.Helper()
	total := 0
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			tb.Fatalf("process %d of the environment is gone: %v", pid, err)
		}
		_, rest, _ := strings.Cut(string(b), ") ")
		fields := strings.Fields(rest)
		utime, _ := strconv.Atoi(fields[11])
		stime, _ := strconv.Atoi(fields[12])
		total += utime + stime
	}
	return total
}

// TestFrozenEnvironment freezes an environment whose function left two busy processes: while
// it is idle they use no CPU, the next invocation thaws it and finds its runtime still
// connected to its Runtime API, and Destroy leaves no process behind.
func TestFrozenEnvironment(t *testing.T) {
	l := newTestLauncher(t, 0)
	e := l.launch(t)
	l.invoke(t, e, `{"action":"spin","n":2}`)
	waitFrozen(t, e)
	pids := l.ownProcesses(t)
	if len(pids) < 3 {
		t.Fatalf("the environment runs %d processes, want the runtime and its two spinners", len(pids))
	}
	before := cpuTicks(t, pids)
	const idle = time.Second // the idle period measured; nothing is awaited
	time.Sleep(idle)
	if grown := cpuTicks(t, pids) - before; grown > 1 {
		t.Errorf("the frozen environment's processes used %d clock ticks in %v, want none", grown, idle)
	}

	for range 3 {
		l.invoke(t, e, `{}`)
		waitFrozen(t, e)
	}

	// Destroy returns once the killing is under way; the processes die in the background.
	e.Destroy()
	deadline := time.Now().Add(10 * time.Second)
	for left := l.ownProcesses(t); len(left) != 0; left = l.ownProcesses(t) {
		if time.Now().After(deadline) {
			t.Fatalf("processes %v of the destroyed frozen environment are left 10 s after Destroy", left)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkWarmInvoke measures what freezing adds to a warm invocation: each iteration
// invokes an environment that freezes when idle and one that does not, in turn, so that the
// machine's noise weighs on both alike; added-p50-ns is the difference of their p50s, and
// thaw-p50-ns the thaw alone (0 when the environment was not frozen).
//
// Spaced invocations come 5 ms apart (not timed), so that each finds its environment frozen.
// BackToBack invocations come as fast as they can: the freeze scheduled after each is
// cancelled by the next. OthersFrozen keeps another environment frozen meanwhile, as idle
// environments of other functions are on a busy node; on cgroup v1 that matters, because
// the kernel patches its code when the first cgroup freezes and the last thaws (its
// freezer_active static key), which costs a lone environment about 100 µs per thaw on
// this VM.
//
//	go test -run '^$' -bench WarmInvoke -benchtime 1000x ./internal/environment/
func BenchmarkWarmInvoke(b *testing.B) {
	for _, bc := range []struct {
		name                 string
		spaced, othersFrozen bool
	}{
		{"Spaced", true, false},
		{"Spaced/OthersFrozen", true, true},
		{"BackToBack", false, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			frozen := newTestLauncher(b, 0)
			running := newTestLauncher(b, -1)
			fe, re := frozen.launch(b), running.launch(b)
			frozen.invoke(b, fe, `{}`)
			running.invoke(b, re, `{}`)
			if bc.othersFrozen {
				other := frozen.launch(b)
				frozen.invoke(b, other, `{}`)
				waitFrozen(b, other)
			}
			var withFreeze, without, thawed []time.Duration
			timed := func(l *testLauncher, e *Environment, thaw bool) time.Duration {
				start := time.Now()
				if thaw {
					// The thaw Invoke does first, timed on its own.
					if err := e.freezer.busy(); err != nil {
						b.Fatal(err)
					}
					thawed = append(thawed, time.Since(start))
				}
				l.invoke(b, e, `{}`)
				return time.Since(start)
			}
			i := 0
			for b.Loop() {
				if bc.spaced {
					b.StopTimer()
					time.Sleep(5 * time.Millisecond)
					waitFrozen(b, fe)
					b.StartTimer()
				}
				if i++; i%2 == 0 {
					withFreeze = append(withFreeze, timed(frozen, fe, true))
					without = append(without, timed(running, re, false))
				} else {
					without = append(without, timed(running, re, false))
					withFreeze = append(withFreeze, timed(frozen, fe, true))
				}
			}
			b.StopTimer()
			p50f, p50n := percentile(withFreeze, 50), percentile(without, 50)
			b.ReportMetric(float64(p50f.Nanoseconds()), "freeze-p50-ns")
			b.ReportMetric(float64(p50n.Nanoseconds()), "nofreeze-p50-ns")
			b.ReportMetric(float64((p50f - p50n).Nanoseconds()), "added-p50-ns")
			b.ReportMetric(float64(percentile(thawed, 50).Nanoseconds()), "thaw-p50-ns")
		})
	}
}

// BenchmarkFreezeThaw measures the driver's Freeze and Thaw of an idle environment, the
// runtime waiting for its next invocation, alone and with another environment frozen
// meanwhile (see BenchmarkWarmInvoke). Freeze runs off the invocation path.
//
//	go test -run '^$' -bench FreezeThaw -benchtime 1000x ./internal/environment/
func BenchmarkFreezeThaw(b *testing.B) {
	for _, othersFrozen := range []bool{false, true} {
		name := "Alone"
		if othersFrozen {
			name = "OthersFrozen"
		}
		b.Run(name, func(b *testing.B) {
			l := newTestLauncher(b, -1)
			e := l.launch(b)
			l.invoke(b, e, `{}`)
			fr := l.cfg.Driver.(sandbox.Freezer)
			if othersFrozen {
				other := l.launch(b)
				l.invoke(b, other, `{}`)
				if err := fr.Freeze(context.Background(), other.id); err != nil {
					b.Fatal(err)
				}
			}
			var froze, thawed []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if err := fr.Freeze(context.Background(), e.id); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := fr.Thaw(context.Background(), e.id); err != nil {
					b.Fatal(err)
				}
				froze, thawed = append(froze, t1.Sub(t0)), append(thawed, time.Since(t1))
			}
			b.ReportMetric(float64(percentile(froze, 50).Nanoseconds()), "freeze-p50-ns")
			b.ReportMetric(float64(percentile(thawed, 50).Nanoseconds()), "thaw-p50-ns")
		})
	}
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

// stuckFreezer is a driver whose Freeze never completes by itself, as when a process of the
// environment is in uninterruptible sleep: it returns only when its context ends.
type stuckFreezer struct {
	freezing chan struct{} // receives when a Freeze begins
	thaws    atomic.Int64
}

func (s *stuckFreezer) Freeze(ctx context.Context, id string) error {
	s.freezing <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

func (s *stuckFreezer) Thaw(ctx context.Context, id string) error {
	s.thaws.Add(1)
	return nil
}

// TestInvokeDuringFreeze checks that an invocation beginning while a freeze is under way
// cancels it instead of waiting for it to finish (a freeze of an environment that cannot stop
// takes the driver's whole freeze timeout), and that Destroy does not wait for it either.
func TestInvokeDuringFreeze(t *testing.T) {
	drv := &stuckFreezer{freezing: make(chan struct{}, 1)}
	f := &idleFreezer{driver: drv, id: "stuck"}
	wait := func(what string, fn func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { fn(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s waited for the freeze under way", what)
		}
	}

	f.idle()
	<-drv.freezing
	wait("busy", func() {
		if err := f.busy(); err != nil {
			t.Errorf("busy = %v", err)
		}
	})
	if f.isFrozen() || drv.thaws.Load() != 0 {
		t.Errorf("after a cancelled freeze: frozen %v, %d thaws; want not frozen, no thaw", f.frozen, drv.thaws.Load())
	}

	f.idle()
	<-drv.freezing
	wait("close", f.close)
}

func (f *idleFreezer) isFrozen() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frozen
}
