package linux

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbusfaas/nimbus/internal/sandbox/sandboxtest"
)

// BenchmarkCreateToFirstByte measures cold starts one at a time with the init pool full
// (Idle), and back to back while the pool refills on the other core (BackToBack).
func BenchmarkCreateToFirstByte(b *testing.B) {
	d := newTestDriver(b)
	b.Run("Idle", func(b *testing.B) {
		sandboxtest.BenchmarkCreateToFirstByte(b, d, func() { waitPoolFull(b, d) })
	})
	b.Run("BackToBack", func(b *testing.B) {
		sandboxtest.BenchmarkCreateToFirstByte(b, d, nil)
	})
}

// waitPoolFull waits until the init pool is full and the machine has had a moment to finish
// what the last environment left to do (freeing its namespaces).
func waitPoolFull(tb testing.TB, d *Driver) {
	deadline := time.Now().Add(10 * time.Second)
	for !d.inits.full() {
		if time.Now().After(deadline) {
			tb.Fatal("init pool did not refill in 10 s")
		}
		time.Sleep(100 * time.Microsecond)
	}
	time.Sleep(2 * time.Millisecond)
}

func BenchmarkCycle(b *testing.B) {
	d := newTestDriver(b)
	for _, bc := range []struct {
		name          string
		run, parallel bool
	}{
		{"CreateDestroy", false, false},
		{"CreateDestroyParallel", false, true},
		{"RunDestroy", true, false},
		{"RunDestroyParallel", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) { sandboxtest.BenchmarkCycle(b, d, bc.run, bc.parallel) })
	}
}

// BenchmarkIdleOverhead starts b.N environments whose program sleeps and reports what each
// costs the machine beyond the program itself: kernel memory (namespaces, cgroups, mounts,
// tmpfs, pipes, sockets) and the server's heap and goroutines. The program's own memory (its
// proportional set size, page tables and kernel stacks) is reported apart. Memory of other
// processes on the machine is excluded by counting only kernel memory system-wide.
func BenchmarkIdleOverhead(b *testing.B) {
	d := newTestDriver(b)
	ctx := context.Background()
	settle := func() (kernel, server int64) {
		waitPoolFull(b, d)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		m := meminfo(b)
		return m["SUnreclaim"] + m["SReclaimable"] + m["KernelStack"] + m["PageTables"] + m["Shmem"] + m["Percpu"],
			int64(ms.HeapInuse + ms.StackInuse)
	}
	sandboxtest.CodeDir(b)
	kernel0, server0 := settle()
	var ids []string
	for b.Loop() {
		spec, stdout, _ := sandboxtest.ProbeSpec(b, "ignore-sigterm")
		if err := d.Create(ctx, spec); err != nil {
			b.Fatal(err)
		}
		if err := d.Start(ctx, spec.ID); err != nil {
			b.Fatal(err)
		}
		stdout.WaitFor(b, "ready\n")
		ids = append(ids, spec.ID)
	}
	b.StopTimer()
	var pss, own int64
	d.mu.Lock()
	for _, id := range ids {
		p := procMemory(b, d.envs[id].pid)
		pss += p["Pss"]
		own += p["VmPTE"] + p["Threads"]*16<<10 // page tables and 16 KiB kernel stacks
	}
	d.mu.Unlock()
	kernel1, server1 := settle()
	n := float64(len(ids))
	b.ReportMetric(float64(kernel1-kernel0-own)/n/1024, "kernel-KiB/env")
	b.ReportMetric(float64(server1-server0)/n/1024, "server-KiB/env")
	b.ReportMetric(float64(pss)/n/1024, "program-PSS-KiB/env")
	for _, id := range ids {
		d.Destroy(ctx, id)
	}
}

// meminfo reads /proc/meminfo in bytes.
func meminfo(tb testing.TB) map[string]int64 {
	return readKB(tb, "/proc/meminfo")
}

// procMemory reads a process's Pss (smaps_rollup) and VmPTE and Threads (status).
func procMemory(tb testing.TB, pid int) map[string]int64 {
	m := readKB(tb, fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for k, v := range readKB(tb, fmt.Sprintf("/proc/%d/status", pid)) {
		m[k] = v
	}
	m["Threads"] >>= 10 // a count, not kB
	return m
}

// readKB parses "Name: value [kB]" lines, converting kB to bytes.
func readKB(tb testing.TB, path string) map[string]int64 {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	m := map[string]int64{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 {
			if v, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				m[strings.TrimSuffix(fields[0], ":")] = v << 10
			}
		}
	}
	return m
}
