package linux

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"

	"github.com/nimbusfaas/nimbus/internal/sandbox"
	"github.com/nimbusfaas/nimbus/internal/sandbox/sandboxtest"
)

// envOf returns the driver's environment id.
func envOf(t *testing.T, d *Driver, id string) *env {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.envs[id]
	if e == nil {
		t.Fatalf("no environment %s", id)
	}
	return e
}

// cgroup1File is the path of a control file of e's cgroup in the v1 hierarchy of controller
// name; tests of what only v1 offers skip on v2.
func cgroup1File(t *testing.T, e *env, name cgroup1.Name, file string) string {
	t.Helper()
	g, ok := e.cg.(*cgroup1Group)
	if !ok {
		t.Skip("needs cgroup v1")
	}
	dir, err := g.dir(name)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, file)
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// pollUntil calls cond until it is true, failing the test after 10 s.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFreezeUninterruptible freezes an environment one of whose threads is in uninterruptible
// sleep, which the kernel cannot freeze: it waits for the memory cgroup's OOM handling, which
// this test turns off (cgroup v1's memory.oom_control). Freeze must give up when its context
// ends or after FreezeTimeout, leaving the environment running (THAWED), and while it waits
// Stats and Destroy must not wait for it. Before, Freeze ignored its context, retried every
// millisecond forever and held the environment's lock meanwhile.
func TestFreezeUninterruptible(t *testing.T) {
	d := newTestDriver(t)
	spec, stdout, _ := sandboxtest.ProbeSpec(t, "alloc", "256")
	spec.MemoryMB = 128
	sandboxtest.Create(t, d, spec)
	e := envOf(t, d, spec.ID)
	oomControl := cgroup1File(t, e, cgroup1.Memory, "memory.oom_control")
	freezerState := cgroup1File(t, e, cgroup1.Freezer, "freezer.state")
	if err := writeControl(oomControl, "1"); err != nil {
		t.Fatalf("disable the OOM killer: %v", err)
	}
	ctx := context.Background()
	if err := d.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the program waits for memory (under_oom 1)", func() bool {
		return strings.Contains(readTrimmed(t, oomControl), "under_oom 1")
	})

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := d.Freeze(short, spec.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Freeze with a context that expires = %v, want %v", err, context.DeadlineExceeded)
	}
	if got := readTrimmed(t, freezerState); got != "THAWED" {
		t.Errorf("freezer.state after the Freeze gave up = %s, want THAWED", got)
	}
	if err := d.Freeze(ctx, spec.ID); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Freeze = %v, want the driver's own time limit", err)
	}
	if got := readTrimmed(t, freezerState); got != "THAWED" {
		t.Errorf("freezer.state after the Freeze timed out = %s, want THAWED", got)
	}

	// A Freeze that waits (for an hour here) holds up nothing else, and Destroy ends it.
	d.cfg.FreezeTimeout = time.Hour
	froze := make(chan error, 1)
	go func() { froze <- d.Freeze(ctx, spec.ID) }()
	pollUntil(t, "freezing begins", func() bool { return readTrimmed(t, freezerState) == "FREEZING" })
	done := make(chan error, 1)
	go func() {
		_, err := d.Stats(ctx, spec.ID)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Stats during a Freeze = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stats waited for a Freeze under way")
	}
	go func() { done <- d.Destroy(ctx, spec.ID) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Destroy during a Freeze = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Destroy waited for a Freeze under way")
	}
	select {
	case err := <-froze:
		if !errors.Is(err, sandbox.ErrState) {
			t.Errorf("Freeze ended by Destroy = %v, want %v", err, sandbox.ErrState)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Freeze still waiting 10 s after Destroy")
	}
	select {
	case <-e.removed:
	case <-time.After(30 * time.Second):
		t.Fatalf("environment not removed 30 s after Destroy (output %q)", stdout)
	}
}

// TestDestroyFrozen checks what the conformance suite cannot see of a frozen environment's
// destruction: its processes and cgroups are all gone, and the driver logged no trouble
// doing it.
func TestDestroyFrozen(t *testing.T) {
	var logged sandboxtest.Buffer // what the driver logs at Warn and above
	d := newTestDriverWith(t, Config{Logger: slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	ctx := context.Background()
	// One process, and hundreds (forked until the pids limit refuses).
	for _, args := range [][]string{{"sleep"}, {"forkbomb"}} {
		spec, stdout, _ := sandboxtest.ProbeSpec(t, args...)
		spec.MemoryMB = 1024 // as the conformance suite's PidsLimit: room for every process
		sandboxtest.Start(t, d, spec)
		if args[0] == "forkbomb" {
			stdout.WaitFor(t, "}\n")
		}
		e := envOf(t, d, spec.ID)
		dirs := cgroupDirs(t, d, e.cg)
		if err := d.Freeze(ctx, spec.ID); err != nil {
			t.Fatalf("Freeze = %v", err)
		}
		if err := d.Destroy(ctx, spec.ID); err != nil {
			t.Fatalf("Destroy of a frozen environment = %v", err)
		}
		select {
		case <-e.removed:
		case <-time.After(30 * time.Second):
			t.Fatalf("frozen environment %v not removed 30 s after Destroy", args)
		}
		for _, dir := range dirs {
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("cgroup %s left after Destroy: %v", dir, err)
			}
		}
		if pids := processesIn(t, e.cg.rel()); len(pids) > 0 {
			t.Errorf("processes %v of the frozen environment %v left after Destroy", pids, args)
		}
	}
	if s := logged.String(); s != "" {
		t.Errorf("the driver logged while destroying frozen environments:\n%s", s)
	}
}

// TestFreezeAnchor checks that on cgroup v1 the driver keeps a frozen empty cgroup of its own
// from New to Close, which no environment listing shows.
func TestFreezeAnchor(t *testing.T) {
	sandboxtest.RequireRoot(t)
	cfg := Config{RunDir: t.TempDir(), CgroupParent: "nimbus-test-anchor-" + sandboxtest.NewID(t)}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, ok := d.cgroups.(*cgroup1Parent); !ok {
		t.Skip("the anchor is for cgroup v1")
	}
	if d.anchor == nil {
		t.Fatal("no freeze anchor")
	}
	if got := readTrimmed(t, filepath.Join(d.anchor.dir, "freezer.state")); got != "FROZEN" {
		t.Errorf("anchor's freezer.state = %s, want FROZEN", got)
	}
	names, err := d.cgroups.children()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n == anchorName {
			t.Errorf("children() = %v, lists the anchor", names)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if _, err := os.Stat(d.anchor.dir); !os.IsNotExist(err) {
		t.Errorf("anchor %s left after Close: %v", d.anchor.dir, err)
	}
}

// TestFreezeCgroup2 runs Freeze and Thaw on a cgroup v2 group where the host has cgroup v2
// only as the unified hierarchy of a hybrid setup (without controllers, which the driver
// needs, but with the freezer, which v2 builds in): a process of the test's own in a cgroup
// there stands in for an environment.
func TestFreezeCgroup2(t *testing.T) {
	d := newTestDriver(t)
	root := "/sys/fs/cgroup/unified"
	if _, ok := d.cgroups.(*cgroup2Parent); ok {
		t.Skip("the conformance suite runs on cgroup v2 here")
	}
	if !isCgroup2(root) {
		t.Skipf("no cgroup v2 hierarchy at %s", root)
	}
	dir := filepath.Join(root, d.cfg.CgroupParent+"-v2")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &cgroup2Group{path: dir, relPath: "/" + filepath.Base(dir)}
	t.Cleanup(func() {
		g.freezer.close()
		writeControl(filepath.Join(dir, "cgroup.kill"), "1")
		cmd.Wait()
		os.Remove(dir)
	})
	if err := writeControl(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(cmd.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	e := newEnv(sandbox.Spec{ID: "v2-" + sandboxtest.NewID(t)})
	e.cg, e.state = g, started
	d.mu.Lock()
	d.envs[e.id] = e
	d.mu.Unlock()
	t.Cleanup(func() {
		d.mu.Lock()
		delete(d.envs, e.id)
		d.mu.Unlock()
	})

	ctx := context.Background()
	events := filepath.Join(dir, "cgroup.events")
	for i := range 3 {
		if err := d.Freeze(ctx, e.id); err != nil {
			t.Fatalf("Freeze #%d = %v", i+1, err)
		}
		if got := readTrimmed(t, events); !strings.Contains(got, "frozen 1") {
			t.Errorf("cgroup.events after Freeze #%d = %q, want frozen 1", i+1, got)
		}
		if err := d.Thaw(ctx, e.id); err != nil {
			t.Fatalf("Thaw #%d = %v", i+1, err)
		}
		if got := readTrimmed(t, events); !strings.Contains(got, "frozen 0") {
			t.Errorf("cgroup.events after Thaw #%d = %q, want frozen 0", i+1, got)
		}
	}
}
