package linux

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nimbusfaas/nimbus/internal/sandbox/sandboxtest"
)

// TestLeaks runs create/listen/start/wait/destroy cycles, two at a time, and checks that they
// leave no process, cgroup, mount, namespace, descriptor or goroutine behind. A namespace
// can outlive its environment only through a process, an open descriptor or a bind mount,
// so checking those three covers namespaces too.
func TestLeaks(t *testing.T) {
	cycles := 1000
	if testing.Short() {
		cycles = 100
	}
	d := newTestDriver(t)
	ctx := context.Background()
	cycle := func(i int) error {
		spec, stdout, stderr := sandboxtest.ProbeSpec(t, "hello")
		if err := d.Create(ctx, spec); err != nil {
			return err
		}
		l, err := d.Listen(ctx, spec.ID, "127.0.0.1:9001")
		if err != nil {
			return err
		}
		if i%2 == 0 {
			l.Close() // the rest are left for Destroy to close
		}
		if err := d.Start(ctx, spec.ID); err != nil {
			return err
		}
		st, err := d.Wait(ctx, spec.ID)
		if err != nil {
			return err
		}
		if st.Code != 0 || stdout.String() != "hello\n" || stderr.String() != "to stderr\n" {
			return fmt.Errorf("cycle %d: %v, stdout %q, stderr %q", i, st, stdout, stderr)
		}
		return d.Destroy(ctx, spec.ID)
	}
	// One cycle first, so that what is made once per driver (the init pool, the poller,
	// buffers) is part of the baseline.
	if err := cycle(-1); err != nil {
		t.Fatal(err)
	}
	waitPoolFull(t, d) // so that no init is being made, with its descriptors open
	before := snapshot(t, d)

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < cycles; i += 2 {
				if err := cycle(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Goroutines finish and the pool refills asynchronously: poll until the counts settle.
	var after resources
	deadline := time.Now().Add(10 * time.Second)
	for {
		waitPoolFull(t, d)
		after = snapshot(t, d)
		if after == before || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if after != before {
		t.Errorf("after %d cycles: %+v\nbefore:             %+v", cycles, after, before)
	}
	if names, err := d.cgroups.children(); err != nil || len(names) != d.cfg.InitPool {
		t.Errorf("cgroups left: %v, %v; want only the %d of the init pool", names, err, d.cfg.InitPool)
	}
}

type resources struct {
	Goroutines, FDs, Mounts, Children, Envs, PoolInits int
}

func snapshot(t *testing.T, d *Driver) resources {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	envs := len(d.envs)
	d.mu.Unlock()
	return resources{
		Goroutines: runtime.NumGoroutine(),
		FDs:        len(fds),
		Mounts:     strings.Count(string(mounts), "\n"),
		Children:   len(children(t)),
		Envs:       envs,
		PoolInits:  len(d.inits.ready),
	}
}

// children lists the processes whose parent is this test process.
func children(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := os.Open("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			if v, ok := strings.CutPrefix(s.Text(), "PPid:"); ok {
				if ppid, _ := strconv.Atoi(strings.TrimSpace(v)); ppid == self {
					pids = append(pids, pid)
				}
				break
			}
		}
		f.Close()
	}
	return pids
}

// TestRestartCleansUp checks the run directory lock and that New removes what a crashed
// server left behind: environments in the same cgroup parent, processes still running.
func TestRestartCleansUp(t *testing.T) {
	sandboxtest.RequireRoot(t)
	cfg := Config{RunDir: t.TempDir(), CgroupParent: fmt.Sprintf("nimbus-test-%d-restart", os.Getpid())}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d2, err := New(cfg); err == nil {
		d2.Close()
		t.Fatal("second New on a run directory in use succeeded")
	}
	ctx := context.Background()
	spec, stdout, _ := sandboxtest.ProbeSpec(t, "ignore-sigterm")
	if err := d.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	stdout.WaitFor(t, "ready\n")
	d.mu.Lock()
	e := d.envs[spec.ID]
	d.mu.Unlock()
	old, err := d.cgroups.children()
	if err != nil {
		t.Fatal(err)
	}

	// A crash: the driver's memory is gone, its environment and cgroups stay. (A real crash
	// also kills the environment through its parent-death signal; this is the fallback.)
	d.release()

	d2, err := New(cfg)
	if err != nil {
		t.Fatalf("New after a crash = %v", err)
	}
	defer d2.Close()
	select {
	case <-e.exited:
		if e.status.Signal != syscall.SIGKILL {
			t.Errorf("leftover environment ended with %v, want SIGKILL", e.status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("leftover environment still running after New")
	}
	names, err := d2.cgroups.children()
	for _, n := range names {
		if slices.Contains(old, n) {
			t.Errorf("cgroup %s of the crashed server survived New (%v)", n, err)
		}
	}
}
