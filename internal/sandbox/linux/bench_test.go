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

	"github.com/nimbusfaas/nimbus/internal/sandbox/sandboxtest"
)

func BenchmarkCreateToFirstByte(b *testing.B) {
	sandboxtest.BenchmarkCreateToFirstByte(b, newTestDriver(b))
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

// BenchmarkIdleOverhead starts idleEnvs environments whose program sleeps and reports, per
// environment, the memory the machine lost beyond the programs' own (their proportional set
// size): kernel objects (namespaces, cgroups, mounts, pipes) and the server's goroutines.
func BenchmarkIdleOverhead(b *testing.B) {
	const idleEnvs = 50
	d := newTestDriver(b)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		before := usedMemory(b)
		var ids []string
		var pss int64
		for range idleEnvs {
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
		d.mu.Lock()
		for _, id := range ids {
			pss += procPss(b, d.envs[id].pid)
		}
		d.mu.Unlock()
		runtime.GC()
		after := usedMemory(b)
		for _, id := range ids {
			d.Destroy(ctx, id)
		}
		b.ReportMetric(float64(after-before-pss)/idleEnvs/1024, "overhead-KiB/env")
		b.ReportMetric(float64(pss)/idleEnvs/1024, "program-PSS-KiB/env")
		b.StartTimer()
	}
}

// usedMemory is the machine's memory in use that the kernel cannot simply drop (page cache
// is excluded, tmpfs and slab are not), in bytes.
func usedMemory(tb testing.TB) int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	m := map[string]int64{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 {
			v, _ := strconv.ParseInt(fields[1], 10, 64)
			m[strings.TrimSuffix(fields[0], ":")] = v << 10
		}
	}
	return m["MemTotal"] - m["MemFree"] - m["Buffers"] - m["Cached"] - m["SReclaimable"] + m["Shmem"]
}

func procPss(tb testing.TB, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v << 10
		}
	}
	tb.Fatalf("no Pss in smaps_rollup of %d", pid)
	return 0
}
