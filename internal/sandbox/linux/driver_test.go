package linux

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"

	"github.com/nimbusfaas/nimbus/internal/sandbox/sandboxtest"
)

// newTestDriver returns a driver with its own run directory and cgroup parent, so that tests
// of several packages (and several test binaries) on one machine do not clean up each
// other's environments.
func newTestDriver(tb testing.TB) *Driver {
	return newTestDriverWith(tb, Config{})
}

func newTestDriverWith(tb testing.TB, cfg Config) *Driver {
	tb.Helper()
	sandboxtest.RequireRoot(tb)
	cfg.RunDir = tb.TempDir()
	cfg.CgroupParent = fmt.Sprintf("nimbus-test-%d-%s", os.Getpid(), sandboxtest.NewID(tb))
	d, err := New(cfg)
	if err != nil {
		tb.Fatalf("New = %v", err)
	}
	tb.Cleanup(func() {
		if err := d.Close(); err != nil {
			tb.Errorf("Close = %v", err)
		}
	})
	return d
}

func TestConformance(t *testing.T) {
	sandboxtest.TestDriver(t, newTestDriver(t))
}

// TestConformanceWithoutPool runs the suite with every init started by Create itself.
func TestConformanceWithoutPool(t *testing.T) {
	d := newTestDriverWith(t, Config{InitPool: -1})
	t.Cleanup(func() { // after the parallel subtests and their Destroys
		d.removing.Wait() // Destroy leaves the cgroups' removal to the background
		if n, err := d.cgroups.children(); err != nil || len(n) != 0 {
			t.Errorf("cgroups left without a pool: %v, %v", n, err)
		}
	})
	sandboxtest.TestDriver(t, d)
}

// cpuQuota reads an environment's CPU quota in microseconds from its cgroup.
func cpuQuota(t *testing.T, d *Driver, id string) int {
	t.Helper()
	d.mu.Lock()
	e := d.envs[id]
	d.mu.Unlock()
	var file string
	switch g := e.cg.(type) {
	case *cgroup1Group:
		p, err := g.path(cgroup1.Cpu)
		if err != nil {
			t.Fatal(err)
		}
		file = filepath.Join(d.cfg.CgroupRoot, "cpu", p, "cpu.cfs_quota_us")
	case *cgroup2Group:
		file = filepath.Join(g.path, "cpu.max")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	q, err := strconv.Atoi(strings.Fields(string(b))[0])
	if err != nil {
		t.Fatalf("%s: %q", file, b)
	}
	return q
}

func TestInitCPUBoost(t *testing.T) {
	d := newTestDriver(t)
	spec, _, _ := sandboxtest.ProbeSpec(t, "sleep")
	spec.MemoryMB = 128
	sandboxtest.Start(t, d, spec)
	if got := cpuQuota(t, d, spec.ID); got != 100000 {
		t.Errorf("quota during Init = %d µs, want a whole CPU (100000)", got)
	}
	if err := d.EndInit(context.Background(), spec.ID); err != nil {
		t.Fatal(err)
	}
	if got := cpuQuota(t, d, spec.ID); got != 7235 {
		t.Errorf("quota after EndInit = %d µs, want 128/1769 of a CPU (7235)", got)
	}

	// Without EndInit the boost ends by itself.
	d.cfg.InitCPUBoost = time.Millisecond
	spec, _, _ = sandboxtest.ProbeSpec(t, "sleep")
	spec.MemoryMB = 256
	sandboxtest.Start(t, d, spec)
	deadline := time.Now().Add(10 * time.Second)
	for cpuQuota(t, d, spec.ID) != 14471 {
		if time.Now().After(deadline) {
			t.Fatalf("quota = %d µs 10 s after a 1 ms boost, want 14471", cpuQuota(t, d, spec.ID))
		}
		time.Sleep(time.Millisecond)
	}
}
