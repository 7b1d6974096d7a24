package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nimbusfaas/nimbus/bench/internal/benchserver"
)

// invokeFunc runs one invocation of the hello function and checks its answer.
type invokeFunc func(ctx context.Context) error

// durations is a set of samples.
type durations []time.Duration

// percentile is the nearest-rank percentile p (0–100) of d; 0 when d is empty. With 30
// samples p99 is the largest: say so when reporting it.
func (d durations) percentile(p float64) time.Duration { return benchserver.Percentile(d, p) }

// mean is the average of d; 0 when d is empty.
func (d durations) mean() time.Duration {
	if len(d) == 0 {
		return 0
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(len(d))
}

// latencies runs n invocations one after the other and returns how long each took.
func latencies(ctx context.Context, invoke invokeFunc, n int) (durations, error) {
	d := make(durations, 0, n)
	for range n {
		start := time.Now()
		if err := invoke(ctx); err != nil {
			return d, err
		}
		d = append(d, time.Since(start))
	}
	return d, nil
}

// load is what a throughput run did.
type load struct {
	ok, failed int64
	elapsed    time.Duration
	firstErr   error
	cpu        cpuUse
}

func (l load) perSecond() float64 { return float64(l.ok) / l.elapsed.Seconds() }

// add merges another run of the same configuration into l.
func (l load) add(o load) load {
	l.ok += o.ok
	l.failed += o.failed
	l.elapsed += o.elapsed
	if l.firstErr == nil {
		l.firstErr = o.firstErr
	}
	l.cpu = l.cpu.add(o.cpu)
	return l
}

// throughput keeps `workers` invocations in flight for d, or until ctx ends, and counts those
// that succeeded. serverPID is the process whose CPU time is reported apart from the client's.
func throughput(ctx context.Context, invoke invokeFunc, workers int, d time.Duration, serverPID int) load {
	var ok, failed atomic.Int64
	var errOnce sync.Once
	var firstErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	before := sampleCPU(serverPID)
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(stop) && ctx.Err() == nil {
				if err := invoke(ctx); err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	return load{ok: ok.Load(), failed: failed.Load(), elapsed: elapsed, firstErr: firstErr,
		cpu: sampleCPU(serverPID).since(before)}
}

// cpuUse is CPU time spent, split by who spent it.
type cpuUse struct {
	total     time.Duration // every process on the machine (from /proc/stat)
	client    time.Duration // this process: the load generator and its SDK or HTTP client
	server    time.Duration // the platform's server process (not its children)
	functions time.Duration // the server's descendants: the function processes (and on Nimbus their sandbox inits)
}

func (c cpuUse) add(o cpuUse) cpuUse {
	return cpuUse{c.total + o.total, c.client + o.client, c.server + o.server, c.functions + o.functions}
}

// rest is the CPU time nobody above accounts for: the kernel's own work and other processes.
func (c cpuUse) rest() time.Duration { return c.total - c.client - c.server - c.functions }

// clockTick is USER_HZ, which /proc reports CPU times in; it is 100 on every Linux we run on.
const clockTick = 100

func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / clockTick }

// cpuSample is the CPU times used up to a moment.
type cpuSample struct {
	at                        time.Time
	idle                      time.Duration // every CPU's idle and iowait time (from /proc/stat)
	client, server, functions time.Duration
}

// since is the CPU time used between before and s. The machine's share is the time its CPUs
// were not idle: /proc/stat's idle time is exact, while its user and system times are sampled
// at ticks and miss short bursts of work between idle periods, which is what a latency
// benchmark consists of.
func (s cpuSample) since(before cpuSample) cpuUse {
	return cpuUse{
		total:     time.Duration(runtime.NumCPU())*s.at.Sub(before.at) - (s.idle - before.idle),
		client:    s.client - before.client,
		server:    s.server - before.server,
		functions: s.functions - before.functions,
	}
}

// sampleCPU reads the CPU times used so far. A field it cannot read stays zero: the figures
// it feeds are diagnostics beside the measurement, not the measurement.
func sampleCPU(serverPID int) cpuSample {
	c := cpuSample{at: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		// cpu user nice system idle iowait ...
		if f := strings.Fields(line); len(f) > 5 {
			idle, _ := strconv.ParseInt(f[4], 10, 64)
			iowait, _ := strconv.ParseInt(f[5], 10, 64)
			c.idle = ticks(idle + iowait)
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.client = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if serverPID > 0 {
		procs := readProcs()
		if p, ok := procs[serverPID]; ok {
			c.server = p.own
			c.functions = descendantsCPU(procs, serverPID)
		}
	}
	return c
}

// procTimes is what /proc/PID/stat says of one process.
type procTimes struct {
	ppid     int
	own      time.Duration // utime + stime
	children time.Duration // cutime + cstime: its children that it has waited for
}

// readProcs reads the CPU times of every process.
func readProcs() map[int]procTimes {
	procs := map[int]procTimes{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone already
		}
		// The fields after the command name (which may hold spaces) start at state, field 3:
		// ppid is field 4, utime, stime, cutime and cstime fields 14 to 17.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b)[i+1:])
		if len(f) < 15 {
			continue
		}
		n := func(k int) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
		procs[pid] = procTimes{ppid: int(n(1)), own: ticks(n(11) + n(12)), children: ticks(n(13) + n(14))}
	}
	return procs
}

// descendantsCPU is the CPU time of pid's descendants: those alive, and those already waited
// for, which the kernel has added to their parents' children times.
func descendantsCPU(procs map[int]procTimes, pid int) time.Duration {
	children := map[int][]int{}
	for p, t := range procs {
		children[t.ppid] = append(children[t.ppid], p)
	}
	total := procs[pid].children
	queue := children[pid]
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		total += procs[p].own + procs[p].children
		queue = append(queue, children[p]...)
	}
	return total
}

var initDurationRE = regexp.MustCompile(`Init Duration: ([0-9.]+) ms`)

// initDuration is the Init Duration of the REPORT line in a log tail; ok is false when the
// line has none, which means the invocation was not a cold start.
func initDuration(logTail string) (d time.Duration, ok bool) {
	for _, line := range strings.Split(logTail, "\n") {
		if !strings.HasPrefix(line, "REPORT RequestId: ") {
			continue
		}
		m := initDurationRE.FindStringSubmatch(line)
		if m == nil {
			return 0, false
		}
		ms, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, false
		}
		return time.Duration(ms * float64(time.Millisecond)), true
	}
	return 0, false
}

// machineBusy is the share of the machine's CPU time spent over d, by anyone.
func machineBusy(ctx context.Context, d time.Duration) float64 {
	before := sampleCPU(0)
	start := time.Now()
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	busy := sampleCPU(0).since(before).total
	return float64(busy) / float64(time.Since(start)*time.Duration(runtime.NumCPU()))
}
