package main

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbusfaas/nimbus/bench/internal/benchserver"
)

// The function's event and whom its answer must say hello to, on both platforms.
var (
	helloPayload = []byte(`{"name":"bench"}`)
	helloWant    = "bench"
)

// Python and Node hello handlers for the cold starts, the same shape as the Go one.
const (
	pythonHello = `def handler(event, context):
    print("hello from python to", event.get("name"))
    return {"hello": event.get("name"), "requestId": context.aws_request_id}
`
	nodeHello = `exports.handler = async (event, context) => {
  console.log("hello from node to", event.name);
  return { hello: event.name, requestId: context.awsRequestId };
};
`
)

// bench holds what the phases share: the temporary directory, the built function, the
// emulator and the Nimbus server.
type bench struct {
	o        options
	progress io.Writer
	dir      string
	failed   bool

	bootstrapDir string
	goZip        []byte
	rieBin       string
	rieHow       string
	nimbus       *nimbusServer
}

// newBench builds and installs everything and starts the Nimbus server.
func newBench(ctx context.Context, o options, progress io.Writer) (*bench, error) {
	dir, err := os.MkdirTemp("", "nimbus-bench-")
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, progress: progress, dir: dir}
	if err := b.setup(ctx); err != nil {
		b.failed = true
		b.close()
		return nil, fmt.Errorf("%w (logs kept in %s)", err, dir)
	}
	return b, nil
}

func (b *bench) say(format string, args ...any) {
	fmt.Fprintf(b.progress, "bench: "+format+"\n", args...)
}

func (b *bench) setup(ctx context.Context) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	nimbusBin := b.o.nimbusBin
	if nimbusBin == "" {
		b.say("building nimbus")
		if nimbusBin, err = benchserver.Build(ctx, root, b.dir); err != nil {
			return err
		}
	}
	b.bootstrapDir = filepath.Join(b.dir, "function")
	if err := os.Mkdir(b.bootstrapDir, 0o755); err != nil {
		return err
	}
	b.say("building the aws-lambda-go hello function")
	bootstrap, err := buildHello(ctx, root, b.bootstrapDir)
	if err != nil {
		return err
	}
	code, err := os.ReadFile(bootstrap)
	if err != nil {
		return err
	}
	if b.goZip, err = zipOf(map[string]zipEntry{"bootstrap": {code, 0o755}}); err != nil {
		return err
	}
	b.rieBin, b.rieHow = b.o.rieBin, "given with -rie"
	if b.rieBin == "" {
		gobin := filepath.Join(b.dir, "gobin")
		if err := os.Mkdir(gobin, 0o755); err != nil {
			return err
		}
		b.say("installing the emulator with go install (%s)", b.o.rieVersion)
		if b.rieBin, b.rieHow, err = installRIE(ctx, gobin, b.o.rieVersion); err != nil {
			return err
		}
	}
	// Every forced cold start leaves the previous environment idle until it is reaped, as on
	// Lambda; a budget that holds them all keeps evictions out of the cold-start figures.
	budgetMB := b.o.coldMemoryMB*3*(b.o.coldN+1) + 128*(b.o.concurrency+16) + b.o.memoryMB*(b.o.concurrency+1)
	b.say("starting nimbus server (memory budget %d MB)", budgetMB)
	b.nimbus, err = startNimbus(ctx, b.o.pin, nimbusBin, filepath.Join(b.dir, "nimbus-data"), filepath.Join(b.dir, "nimbus.log"),
		"--memory-budget", fmt.Sprint(budgetMB))
	if err != nil {
		return err
	}
	b.say("nimbus server pid %d at %s, runtimes %s", b.nimbus.PID(), b.nimbus.Endpoint, strings.Join(b.nimbus.Runtimes, ", "))
	return nil
}

func (b *bench) close() {
	if b.nimbus != nil {
		b.nimbus.Stop()
	}
	if b.o.keep || b.failed {
		b.say("kept %s", b.dir)
		return
	}
	os.RemoveAll(b.dir)
}

// results are the figures of one run.
type results struct {
	when    time.Time
	machine string
	cpus    int
	pinned  bool // -pin: each platform on platformCPU, the load generator on loadCPU
	rieHow  string
	// nimbus and nimbusSmall are the -memory function and a 128 MB one, called through the
	// emulator's HTTP client (signed); nimbusSDK is the -memory one through the AWS SDK.
	nimbus, nimbusSmall  *platform
	nimbusSDK            *platform
	rie                  *platform
	sdkFloor, httpFloor  durations // the clients alone, against a server that answers at once
	rieParallelCrash     string    // why the emulator died at concurrency > 1, if it did
	concurrency          int
	cold                 []coldResult
	rieCold              durations
	rieColdFailed        int // emulator starts that failed by themselves and were retried
	rounds, coldN, warmN int
	// busyBefore and busyAfter are the share of the machine's CPU in use while the benchmark
	// was idle for a second before and after the run: other work skews the figures.
	busyBefore, busyAfter float64
}

// platform is one warm configuration under test and its figures.
type platform struct {
	name   string
	invoke invokeFunc
	pid    int // the server process, for its CPU time
	warm   durations
	tput   map[int]load // by concurrency
}

// coldResult is the cold starts of one runtime on Nimbus.
type coldResult struct {
	runtime      string
	memoryMB     int
	client, init durations
	warm         durations // the invocation right after each cold start
}

func (b *bench) run(ctx context.Context) (*results, error) {
	res := &results{when: time.Now(), machine: machine(), cpus: runtime.NumCPU(), pinned: b.o.pin, rieHow: b.rieHow, concurrency: b.o.concurrency,
		rounds: b.o.rounds, coldN: b.o.coldN, warmN: b.o.warmN}
	// Other work on the machine skews every figure: wait for it to end if asked to, and say
	// how much there was around the run.
	if b.o.waitQuiet > 0 {
		b.say("waiting up to %v for the machine to be idle", b.o.waitQuiet)
		deadline, quiet := time.Now().Add(b.o.waitQuiet), 0
		for quiet < 3 && time.Now().Before(deadline) && ctx.Err() == nil {
			if machineBusy(ctx, time.Second) < 0.05 {
				quiet++
			} else {
				quiet = 0
			}
		}
	}
	res.busyBefore = machineBusy(ctx, time.Second)
	err := b.runPhases(ctx, res)
	if err != nil {
		b.failed = true
		return res, err
	}
	res.busyAfter = machineBusy(ctx, time.Second)
	return res, nil
}

func (b *bench) runPhases(ctx context.Context, res *results) error {
	if b.o.phases["warm"] || b.o.phases["throughput"] {
		if err := b.warmPhases(ctx, res); err != nil {
			return err
		}
	}
	if b.o.phases["cold"] {
		if err := b.coldPhase(ctx, res); err != nil {
			return err
		}
		if err := b.rieColdPhase(ctx, res); err != nil {
			return err
		}
	}
	return nil
}

// warmPhases measures warm latency and throughput, alternating between the platforms round
// by round so that all see the same machine.
//
// Nimbus gives a function the CPU its memory buys, as Lambda does (1769 MB is one vCPU; 128 MB
// gets 7.2 ms per 100 ms), while the emulator limits nothing. The headline function has
// -memory (default 1769 MB, one whole CPU, so that both platforms' functions may use as much
// CPU as they need); a 128 MB one shows what the quota does.
func (b *bench) warmPhases(ctx context.Context, res *results) error {
	res.nimbus = &platform{name: fmt.Sprintf("Nimbus, %d MB", b.o.memoryMB)}
	res.nimbusSDK = &platform{name: fmt.Sprintf("Nimbus, %d MB, AWS SDK client", b.o.memoryMB)}
	res.nimbusSmall = &platform{name: "Nimbus, 128 MB"}
	for _, fn := range []struct {
		name   string
		memory int
	}{{"bench-hello", b.o.memoryMB}, {"bench-hello-128", 128}} {
		if err := b.nimbus.create(ctx, fn.name, "provided.al2023", "bootstrap", b.goZip, fn.memory); err != nil {
			return err
		}
	}
	res.nimbus.invoke = b.nimbus.httpInvoker("bench-hello", helloPayload, helloWant)
	res.nimbusSDK.invoke = b.nimbus.invoker("bench-hello", helloPayload, helloWant)
	res.nimbusSmall.invoke = b.nimbus.httpInvoker("bench-hello-128", helloPayload, helloWant)
	for _, p := range []*platform{res.nimbus, res.nimbusSDK, res.nimbusSmall} {
		p.pid, p.tput = b.nimbus.PID(), map[int]load{}
	}
	r, err := startRIE(ctx, b.o.pin, b.rieBin, b.bootstrapDir, filepath.Join(b.dir, "rie.log"), b.o.memoryMB)
	if err != nil {
		return err
	}
	defer r.stop()
	res.rie = &platform{name: "RIE", invoke: r.invoker(helloPayload, helloWant), pid: r.pid(), tput: map[int]load{}}
	all := []*platform{res.rie, res.nimbus, res.nimbusSDK, res.nimbusSmall}

	b.say("warming up")
	for _, p := range all {
		if _, err := latencies(ctx, p.invoke, 200); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	if b.o.phases["warm"] {
		sdk, plain, err := clientFloors(ctx, b.o.warmN)
		if err != nil {
			return err
		}
		res.sdkFloor, res.httpFloor = sdk, plain
		per := b.o.warmN / b.o.rounds
		for round := range b.o.rounds {
			b.say("warm latency, round %d of %d (%d invocations each)", round+1, b.o.rounds, per)
			for _, p := range all {
				d, err := latencies(ctx, p.invoke, per)
				if err != nil {
					return fmt.Errorf("%s: %w", p.name, err)
				}
				p.warm = append(p.warm, d...)
			}
		}
	}
	if b.o.phases["throughput"] {
		// Let Nimbus start its parallel environments before anything is counted.
		for _, p := range all[1:] {
			if l := throughput(ctx, p.invoke, b.o.concurrency, time.Second, 0); l.failed > 0 {
				return fmt.Errorf("%s at concurrency %d: %w", p.name, b.o.concurrency, l.firstErr)
			}
		}
		per := b.o.duration / time.Duration(b.o.rounds)
		for round := range b.o.rounds {
			b.say("throughput, round %d of %d (%v per configuration)", round+1, b.o.rounds, per)
			for _, p := range all {
				cs := []int{1, b.o.concurrency}
				if p == res.rie {
					cs = cs[:1] // below, on an instance of its own
				}
				for _, c := range cs {
					p.tput[c] = p.tput[c].add(throughput(ctx, p.invoke, c, per, p.pid))
				}
			}
		}
		for _, p := range all {
			for c, l := range p.tput {
				if l.failed > 0 {
					return fmt.Errorf("%s at concurrency %d: %d invocations failed, the first with: %w", p.name, c, l.failed, l.firstErr)
				}
			}
		}
		if err := b.rieParallel(ctx, res, b.o.duration); err != nil {
			return err
		}
	}
	return nil
}

// rieParallel runs the emulator at the parallel concurrency on an instance of its own: it
// serves one invocation at a time and may not survive being asked for more.
func (b *bench) rieParallel(ctx context.Context, res *results, d time.Duration) error {
	b.say("emulator at concurrency %d (%v)", b.o.concurrency, d)
	r, err := startRIE(ctx, b.o.pin, b.rieBin, b.bootstrapDir, filepath.Join(b.dir, "rie-parallel.log"), b.o.memoryMB)
	if err != nil {
		return err
	}
	defer r.stop()
	if _, err := latencies(ctx, r.invoker(helloPayload, helloWant), 50); err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	// Stop asking once it has died.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-r.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	res.rie.tput[b.o.concurrency] = throughput(ctx, r.invoker(helloPayload, helloWant), b.o.concurrency, d, r.pid())
	if crashed, why := r.crashed(); crashed {
		res.rieParallelCrash = why
		// A dead process has no CPU time to read.
		l := res.rie.tput[b.o.concurrency]
		l.cpu = cpuUse{}
		res.rie.tput[b.o.concurrency] = l
	}
	return nil
}

// coldPhase forces cold starts of a provided, a Python and a Node function on Nimbus, taking
// the runtimes in turn so that they share the machine's moods.
func (b *bench) coldPhase(ctx context.Context, res *results) error {
	type subject struct {
		name, runtime, handler string
		zip                    []byte
	}
	var subjects []subject
	subjects = append(subjects, subject{"cold-provided", "provided.al2023", "bootstrap", b.goZip})
	if rt, ok := b.nimbus.Runtime("python3"); ok {
		z, err := zipOf(map[string]zipEntry{"lambda_function.py": {[]byte(pythonHello), 0o644}})
		if err != nil {
			return err
		}
		subjects = append(subjects, subject{"cold-python", rt, "lambda_function.handler", z})
	} else {
		b.say("this server offers no Python runtime; skipping Python cold starts")
	}
	if rt, ok := b.nimbus.Runtime("nodejs"); ok {
		z, err := zipOf(map[string]zipEntry{"index.js": {[]byte(nodeHello), 0o644}})
		if err != nil {
			return err
		}
		subjects = append(subjects, subject{"cold-node", rt, "index.handler", z})
	} else {
		b.say("this server offers no Node runtime; skipping Node cold starts")
	}
	for _, s := range subjects {
		if err := b.nimbus.create(ctx, s.name, s.runtime, s.handler, s.zip, b.o.coldMemoryMB); err != nil {
			return err
		}
		res.cold = append(res.cold, coldResult{runtime: s.runtime, memoryMB: b.o.coldMemoryMB})
	}
	b.say("%d cold starts of each of %d runtimes", b.o.coldN, len(subjects))
	for round := range b.o.coldN {
		for i, s := range subjects {
			// A fresh function is cold already; afterwards a configuration change makes it so.
			if round > 0 {
				if err := b.nimbus.forceCold(ctx, s.name, round); err != nil {
					return err
				}
			}
			client, init, err := b.nimbus.coldInvoke(ctx, s.name, helloPayload, helloWant)
			if err != nil {
				return fmt.Errorf("%s cold start %d: %w", s.runtime, round+1, err)
			}
			warm, err := latencies(ctx, b.nimbus.invoker(s.name, helloPayload, helloWant), 1)
			if err != nil {
				return fmt.Errorf("%s after cold start %d: %w", s.runtime, round+1, err)
			}
			c := &res.cold[i]
			c.client, c.init, c.warm = append(c.client, client), append(c.init, init), append(c.warm, warm...)
		}
	}
	return nil
}

// rieColdPhase measures the emulator's first invocation after it starts listening: it starts
// the bootstrap then, so this is its cold start. The emulator sometimes starts the bootstrap
// before its own Runtime API listens, and then answers 502; such a start is counted and tried
// again, up to three times in a row.
func (b *bench) rieColdPhase(ctx context.Context, res *results) error {
	b.say("%d emulator cold starts", b.o.coldN)
	for range b.o.coldN {
		for attempt := 1; ; attempt++ {
			r, err := startRIE(ctx, b.o.pin, b.rieBin, b.bootstrapDir, filepath.Join(b.dir, "rie-cold.log"), b.o.coldMemoryMB)
			if err != nil {
				return err
			}
			d, err := latencies(ctx, r.invoker(helloPayload, helloWant), 1)
			r.stop()
			if err == nil {
				res.rieCold = append(res.rieCold, d...)
				break
			}
			if attempt == 3 {
				return fmt.Errorf("emulator cold start, %d attempts: %w", attempt, err)
			}
			res.rieColdFailed++
		}
	}
	return nil
}

// clientFloors are the clients' own shares of a Nimbus invocation: the same signed Invoke
// calls, through the SDK and through the signed HTTP client, against an in-process server
// that answers at once.
func clientFloors(ctx context.Context, n int) (sdk, plain durations, err error) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"hello":"bench","requestId":"00000000-0000-0000-0000-000000000000"}`))
	}))
	defer srv.Close()
	creds := aws.Credentials{AccessKeyID: "AKIDBENCH", SecretAccessKey: "bench"}
	c := lambdasdk.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.StaticCredentialsProvider{Value: creds}},
		func(o *lambdasdk.Options) { o.BaseEndpoint = aws.String(srv.URL); o.RetryMaxAttempts = 1 })
	s := &nimbusServer{Server: &benchserver.Server{Endpoint: srv.URL, Creds: creds}, client: c, http: srv.Client()}
	if sdk, err = latencies(ctx, s.invoker("floor", helloPayload, helloWant), n); err != nil {
		return nil, nil, err
	}
	if plain, err = latencies(ctx, s.httpInvoker("floor", helloPayload, helloWant), n); err != nil {
		return nil, nil, err
	}
	return sdk, plain, nil
}

type zipEntry struct {
	content []byte
	mode    os.FileMode
}

// zipOf is a zip archive of files.
func zipOf(files map[string]zipEntry) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(files[name].mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(files[name].content); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// machine describes where the figures come from.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel := "unknown kernel"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d CPUs (%s), Linux %s, %s", runtime.NumCPU(), cpu, kernel, runtime.Version())
}
