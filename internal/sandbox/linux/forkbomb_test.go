package linux

import (
	"context"
	"flag"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nimbusfaas/nimbus/internal/sandbox/sandboxtest"
)

var forkBombs = flag.Int("forkbombs", 0, "run TestForkBombSoak with this many fork bombs (100 for the figures in the README)")

// bombed is one fork bomb killed by Destroy, with what it took.
type bombed struct {
	// answer is how long after the invocation's deadline its timeout could be answered: what
	// the environment does then (read the peak memory, destroy the environment).
	answer time.Duration
	// clean is how long after Destroy was called the processes and the cgroup were gone.
	clean time.Duration
}

// destroyForkBomb starts a fork bomb at 128 MB in an environment of d, destroys it the way an
// invocation that timed out does, and checks that it leaves no cgroup and no process behind.
func destroyForkBomb(tb testing.TB, d *Driver) bombed {
	tb.Helper()
	spec, _, _ := sandboxtest.ProbeSpec(tb, "bomb")
	spec.MemoryMB = 128
	spec.Stdout, spec.Stderr = nil, nil
	sandboxtest.StartForkBomb(tb, d, spec)
	d.mu.Lock()
	e := d.envs[spec.ID]
	d.mu.Unlock()
	dirs := cgroupDirs(tb, d, e.cg)
	ctx := context.Background()

	deadline := time.Now()
	if _, err := d.Stats(ctx, spec.ID); err != nil {
		tb.Fatalf("Stats = %v", err)
	}
	if err := d.Destroy(ctx, spec.ID); err != nil {
		tb.Fatalf("Destroy of a fork bomb = %v", err)
	}
	var b bombed
	b.answer = time.Since(deadline)
	select {
	case <-e.removed:
		b.clean = time.Since(deadline)
	case <-time.After(30 * time.Second):
		tb.Fatalf("fork bomb %s not removed 30 s after Destroy", spec.ID)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			tb.Errorf("cgroup %s left after Destroy: %v", dir, err)
		}
	}
	if pids := processesIn(tb, e.cg.rel()); len(pids) > 0 {
		tb.Errorf("processes %v of the fork bomb left after Destroy", pids)
	}
	return b
}

// TestForkBombRemoved checks what the conformance suite cannot see: a fork bomb's cgroup is
// gone after Destroy, in every hierarchy, and no process is left in it.
func TestForkBombRemoved(t *testing.T) {
	d := newTestDriver(t)
	for range 2 {
		destroyForkBomb(t, d)
	}
}

// TestForkBombSoak destroys -forkbombs fork bombs one after another and prints how long their
// timeouts took to answer and their environments to be removed:
//
//	go test -count=1 -run TestForkBombSoak -forkbombs 100 -v ./internal/sandbox/linux
func TestForkBombSoak(t *testing.T) {
	if *forkBombs == 0 {
		t.Skip("a soak: give -forkbombs N to run it")
	}
	d := newTestDriver(t)
	var answers, cleans []time.Duration
	for range *forkBombs {
		b := destroyForkBomb(t, d)
		answers = append(answers, b.answer)
		cleans = append(cleans, b.clean)
	}
	if names, err := d.cgroups.children(); err != nil || len(names) > d.cfg.InitPool {
		t.Errorf("cgroups left: %v, %v; want only the init pool's", names, err)
	}
	t.Logf("%d fork bombs at 128 MB   p50        p99        max", len(answers))
	t.Logf("answer after deadline     %-10v %-10v %v", pct(answers, 0.5), pct(answers, 0.99), slices.Max(answers))
	t.Logf("removed after deadline    %-10v %-10v %v", pct(cleans, 0.5), pct(cleans, 0.99), slices.Max(cleans))
}

func pct(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))].Round(10 * time.Microsecond)
}

// cgroupDirs lists the directories of cg, one per controller on cgroup v1.
func cgroupDirs(tb testing.TB, d *Driver, cg cgroup) []string {
	tb.Helper()
	switch g := cg.(type) {
	case *cgroup1Group:
		var dirs []string
		for _, s := range g.cg.Subsystems() {
			dir, err := g.dir(s.Name())
			if err != nil {
				tb.Fatal(err)
			}
			dirs = append(dirs, dir)
		}
		return dirs
	case *cgroup2Group:
		return []string{g.path}
	}
	tb.Fatalf("unknown cgroup %T", cg)
	return nil
}

// processesIn lists the host's processes in cgroup rel or below.
func processesIn(tb testing.TB, rel string) []int {
	tb.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		tb.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && inCgroup(pid, rel) {
			pids = append(pids, pid)
		}
	}
	return pids
}
