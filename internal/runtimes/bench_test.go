package runtimes

import (
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nimbusfaas/nimbus/internal/runtimeapi"
)

const (
	benchPython = "def handler(event, context):\n    return {'hello': 'world'}\n"
	benchNode   = "exports.handler = async () => ({ hello: 'world' });\n"
)

func benchFiles(f Family) (string, map[string]string) {
	if f == Python {
		return "app.handler", map[string]string{"app.py": benchPython}
	}
	return "index.handler", map[string]string{"index.js": benchNode}
}

// benchmarkColdStart measures, for a hello-world handler run as a plain host process (no
// sandbox), the time from process start to the runtime's first /next (Init done), and to the
// answer of the first invocation.
func benchmarkColdStart(b *testing.B, fam Family) {
	r := family(b, fam)
	handler, files := benchFiles(fam)
	var initD, firstD []time.Duration
	for b.Loop() {
		b.StopTimer()
		f := startFunction(b, r, fnOptions{handler: handler, files: files})
		b.StartTimer()
		if err := f.waitInit(b); err != nil {
			b.Fatal(err)
		}
		initD = append(initD, time.Since(f.started))
		if resp := f.invoke(b, "cold", `{}`); resp.FunctionError {
			b.Fatalf("invoke = %s", resp.Payload)
		}
		firstD = append(firstD, time.Since(f.started))
		b.StopTimer()
		f.stop()
		b.StartTimer()
	}
	report(b, "init", initD)
	report(b, "first-response", firstD)
}

func BenchmarkColdStartPython(b *testing.B) { benchmarkColdStart(b, Python) }
func BenchmarkColdStartNode(b *testing.B)   { benchmarkColdStart(b, Node) }

// benchmarkInterpreterStart measures the floor under a cold start: the interpreter starting
// and exiting with nothing to do, with the runtime's flags.
func benchmarkInterpreterStart(b *testing.B, fam Family) {
	r := family(b, fam)
	argv := []string{r.Interpreter, "-e", "0"}
	if fam == Python {
		argv = append(append([]string{r.Interpreter}, PythonFlags...), "-c", "pass")
	}
	var ds []time.Duration
	for b.Loop() {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = []string{}
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	report(b, "", ds)
}

func BenchmarkInterpreterStartPython(b *testing.B) { benchmarkInterpreterStart(b, Python) }
func BenchmarkInterpreterStartNode(b *testing.B)   { benchmarkInterpreterStart(b, Node) }

// benchmarkWarmInvoke measures a warm invocation round trip through the endpoint and a
// client: Invoke → /next → handler → /response → Invoke returns.
func benchmarkWarmInvoke(b *testing.B, fam Family) {
	r := family(b, fam)
	handler, files := benchFiles(fam)
	f := startFunction(b, r, fnOptions{handler: handler, files: files})
	if err := f.waitInit(b); err != nil {
		b.Fatal(err)
	}
	in := runtimeapi.Invocation{Payload: []byte(`{"op":"bench"}`), Deadline: time.Now().Add(time.Hour)}
	for i := range 200 {
		in.RequestID = "warm-" + strconv.Itoa(i)
		f.invokeWith(b, in)
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in.RequestID = "bench-" + strconv.Itoa(i)
		start := time.Now()
		if resp := f.invokeWith(b, in); resp.FunctionError {
			b.Fatalf("invoke = %s", resp.Payload)
		}
		lat = append(lat, time.Since(start))
	}
	report(b, "", lat)
}

func BenchmarkWarmInvokePython(b *testing.B) { benchmarkWarmInvoke(b, Python) }
func BenchmarkWarmInvokeNode(b *testing.B)   { benchmarkWarmInvoke(b, Node) }

// report adds p50 and p99 of ds, in the unit that suits them, as benchmark metrics.
func report(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	unit, scale := "µs", float64(time.Microsecond)
	if ds[len(ds)/2] > 5*time.Millisecond {
		unit, scale = "ms", float64(time.Millisecond)
	}
	if name != "" {
		name += "-"
	}
	b.ReportMetric(float64(ds[len(ds)/2])/scale, name+"p50-"+unit)
	b.ReportMetric(float64(ds[len(ds)*99/100])/scale, name+"p99-"+unit)
}
