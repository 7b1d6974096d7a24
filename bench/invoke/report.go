package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// phaseSet is the -phases flag.
type phaseSet map[string]bool

func (p phaseSet) String() string {
	var names []string
	for n, on := range p {
		if on {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

func (p phaseSet) Set(v string) error {
	clear(p)
	for _, n := range strings.Split(v, ",") {
		switch n = strings.TrimSpace(n); n {
		case "warm", "throughput", "cold":
			p[n] = true
		default:
			return fmt.Errorf("unknown phase %q (want warm, throughput or cold)", n)
		}
	}
	return nil
}

// coldTargets are issue 4's cold-start targets (p50) by runtime family.
var coldTargets = []struct {
	prefix string
	target time.Duration
}{
	{"provided", 10 * time.Millisecond},
	{"python", 30 * time.Millisecond},
	{"nodejs", 60 * time.Millisecond},
}

// ms renders a duration in milliseconds with sensible precision.
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f < 10:
		return fmt.Sprintf("%.2f ms", f)
	case f < 100:
		return fmt.Sprintf("%.1f ms", f)
	}
	return fmt.Sprintf("%.0f ms", f)
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// write prints the figures as tables.
func (r *results) write(w io.Writer) {
	fmt.Fprintf(w, "\nNimbus vs the AWS Lambda Runtime Interface Emulator (RIE), %s\n", r.when.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "machine:  %s\n", r.machine)
	fmt.Fprintf(w, "emulator: %s\n", r.rieHow)
	fmt.Fprintf(w, "machine busy with other work: %.0f%% before the run, %.0f%% after", 100*r.busyBefore, 100*r.busyAfter)
	if max(r.busyBefore, r.busyAfter) > 0.05 {
		fmt.Fprint(w, " (NOT QUIET: the figures below are skewed)")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "function: aws-lambda-go hello built with CGO_ENABLED=0 -tags lambda.norpc\n")
	if r.pinned {
		fmt.Fprintf(w, "pinned:   each platform (server and functions) on CPU %d, the load generator on CPU %d\n", platformCPU, loadCPU)
	}
	fmt.Fprintf(w, "client:   both platforms through the same net/http client, Nimbus's requests SigV4-signed by the AWS SDK's signer; one row through the whole AWS SDK for Go v2 client\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t") }

	var platforms []*platform
	if r.nimbus != nil {
		platforms = []*platform{r.nimbus, r.nimbusSDK, r.nimbusSmall, r.rie}
	}
	if len(r.sdkFloor) > 0 {
		fmt.Fprintf(w, "\nWarm invoke latency, concurrency 1 (%d invocations each, %d alternating rounds)\n", len(r.nimbus.warm), r.rounds)
		row("", "p50", "p90", "p99", "mean")
		for _, p := range platforms {
			row(p.name, ms(p.warm.percentile(50)), ms(p.warm.percentile(90)), ms(p.warm.percentile(99)), ms(p.warm.mean()))
		}
		for _, f := range []struct {
			name string
			d    durations
		}{{"HTTP client alone (no-op server in process)", r.httpFloor}, {"SDK client alone (no-op server in process)", r.sdkFloor}} {
			row(f.name, ms(f.d.percentile(50)), ms(f.d.percentile(90)), ms(f.d.percentile(99)), ms(f.d.mean()))
		}
		tw.Flush()
	}

	if len(platforms) > 0 && len(r.rie.tput) > 0 {
		fmt.Fprintf(w, "\nThroughput (successful invocations/s) and CPU time per invocation: whole machine, load generator, server process, function processes (with Nimbus's sandbox inits), rest (kernel, others)\n")
		row("", "concurrency", "inv/s", "failed/s", "CPU machine", "client", "server", "functions", "rest")
		for _, p := range platforms {
			for _, c := range []int{1, r.concurrency} {
				l := p.tput[c]
				if l.ok == 0 || l.cpu.total == 0 {
					row(p.name, fmt.Sprint(c), fmt.Sprintf("%.0f", l.perSecond()), fmt.Sprintf("%.0f", float64(l.failed)/l.elapsed.Seconds()), "—", "—", "—", "—", "—")
					continue
				}
				n := time.Duration(l.ok)
				row(p.name, fmt.Sprint(c), fmt.Sprintf("%.0f", l.perSecond()), fmt.Sprintf("%.0f", float64(l.failed)/l.elapsed.Seconds()),
					us(l.cpu.total/n), us(l.cpu.client/n), us(l.cpu.server/n), us(l.cpu.functions/n), us(l.cpu.rest()/n))
			}
		}
		tw.Flush()
		if base := r.rie.tput[1]; base.ok > 0 && base.cpu.total > 0 {
			// What no server can take away: the function's, the client's and the kernel's CPU
			// time per invocation, as the emulator's run measured them. It bounds any
			// platform's throughput on this machine, whatever its server costs.
			n := time.Duration(base.ok)
			ceiling := func(perInvocation time.Duration, cpus int) string {
				perSecond := float64(cpus) * float64(time.Second) / float64(perInvocation)
				return fmt.Sprintf("%s per invocation, so at most %.0f/s on %d CPUs, %.1f× the RIE at concurrency 1", us(perInvocation), perSecond, cpus, perSecond/base.perSecond())
			}
			if r.pinned {
				// The platform has one CPU; the client's is apart.
				fmt.Fprintf(w, "(bound for any server, from the RIE row at concurrency 1: the function process alone uses %s)\n", ceiling(base.cpu.functions/n, 1))
			} else {
				fmt.Fprintf(w, "(bounds for any server, from the RIE row at concurrency 1: the function process alone uses %s; with the client and the kernel, %s)\n",
					ceiling(base.cpu.functions/n, r.cpus), ceiling((base.cpu.total-base.cpu.server)/n, r.cpus))
			}
		}
		if l := r.rie.tput[r.concurrency]; l.failed > 0 || r.rieParallelCrash != "" {
			fmt.Fprintf(w, "(the RIE serves one invocation at a time: at concurrency %d, on an instance of its own, the first failure was: %v", r.concurrency, l.firstErr)
			if r.rieParallelCrash != "" {
				fmt.Fprintf(w, "; the emulator process died: %s", r.rieParallelCrash)
			}
			fmt.Fprintln(w, ")")
		}
	}

	if len(r.cold) > 0 {
		fmt.Fprintf(w, "\nCold starts on Nimbus (%d MB, %d each, forced by UpdateFunctionConfiguration; with %d samples p99 is the slowest)\n", r.cold[0].memoryMB, r.coldN, r.coldN)
		row("runtime", "client p50", "client p99", "Init Duration p50", "Init Duration p99", "next warm invoke p50")
		for _, c := range r.cold {
			row(c.runtime, ms(c.client.percentile(50)), ms(c.client.percentile(99)), ms(c.init.percentile(50)), ms(c.init.percentile(99)), ms(c.warm.percentile(50)))
		}
		if len(r.rieCold) > 0 {
			row("RIE provided (first invoke after start)", ms(r.rieCold.percentile(50)), ms(r.rieCold.percentile(99)), "", "", "")
		}
		tw.Flush()
		if r.rieColdFailed > 0 {
			fmt.Fprintf(w, "(%d emulator starts failed by themselves, the bootstrap finding no Runtime API yet, and were tried again)\n", r.rieColdFailed)
		}
	}

	fmt.Fprintf(w, "\nTargets of issue 4\n")
	row("measure", "value", "target", "met")
	// The targets compare like with like: the same HTTP client on both sides.
	var targeted []*platform
	if r.nimbus != nil {
		targeted = []*platform{r.nimbus, r.nimbusSmall}
	}
	for _, p := range targeted {
		if len(p.warm) > 0 {
			ratio := float64(p.warm.percentile(50)) / float64(r.rie.warm.percentile(50))
			row("warm p50 "+p.name+" / RIE", fmt.Sprintf("%.2f", ratio), "≤ 0.5", yesNo(ratio <= 0.5))
		}
	}
	for _, p := range targeted {
		if base := r.rie.tput[1]; base.ok > 0 {
			ratio := p.tput[r.concurrency].perSecond() / base.perSecond()
			row(fmt.Sprintf("throughput %s c=%d / RIE c=1", p.name, r.concurrency), fmt.Sprintf("%.2f×", ratio), "≥ 5×", yesNo(ratio >= 5))
		}
	}
	for _, c := range r.cold {
		for _, t := range coldTargets {
			if strings.HasPrefix(c.runtime, t.prefix) {
				p50 := c.client.percentile(50)
				row("cold start p50 "+c.runtime+" (client-measured)", ms(p50), "≤ "+ms(t.target), yesNo(p50 <= t.target))
				p50 = c.init.percentile(50)
				row("cold start p50 "+c.runtime+" (Init Duration)", ms(p50), "≤ "+ms(t.target), yesNo(p50 <= t.target))
			}
		}
	}
	tw.Flush()
}
