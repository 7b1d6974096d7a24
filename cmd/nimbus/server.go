package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/nimbusfaas/nimbus/internal/api"
	"github.com/nimbusfaas/nimbus/internal/async"
	"github.com/nimbusfaas/nimbus/internal/auth"
	"github.com/nimbusfaas/nimbus/internal/edge"
	"github.com/nimbusfaas/nimbus/internal/environment"
	"github.com/nimbusfaas/nimbus/internal/httplimit"
	"github.com/nimbusfaas/nimbus/internal/invoker"
	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/logs"
	"github.com/nimbusfaas/nimbus/internal/logsapi"
	"github.com/nimbusfaas/nimbus/internal/natsd"
	"github.com/nimbusfaas/nimbus/internal/runtimes"
	"github.com/nimbusfaas/nimbus/internal/sandbox"
	"github.com/nimbusfaas/nimbus/internal/sandbox/linux"
	"github.com/nimbusfaas/nimbus/internal/store"
)

// servingMsg is the log message that says the server is ready, with its endpoint and
// runtimes; tests and the benchmark wait for it.
const servingMsg = "serving the Lambda API"

// defaultListen is loopback only: the API gives full control of the machine's functions.
const defaultListen = "127.0.0.1:9320"

type serverFlags struct {
	listen, dataDir, region, accountID, natsURL, natsListen string
	memoryBudgetMB, logMaxMB, logRateKB                     int
	keepWarm, logRetention                                  time.Duration
	verbose, accessLog                                      bool
	maxConnections                                          int
	idleTimeout, bodyTimeout                                time.Duration
	async                                                   asyncFlags
}

// asyncFlags configure the asynchronous invocation queue.
type asyncFlags struct {
	concurrency, perFunction int
	timeScale                float64
}

func parseServerFlags(args []string, stderr io.Writer) (serverFlags, error) {
	var f serverFlags
	fs := newFlagSet("server", "[flags]", stderr, func() string { return "" })
	fs.StringVar(&f.listen, "listen", defaultListen, "address of the Lambda API (host:port; port 0 picks one)")
	fs.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "where functions, code, logs and keys are kept")
	fs.StringVar(&f.region, "region", "us-east-1", "the region this server answers as")
	fs.StringVar(&f.accountID, "account-id", "000000000000", "the 12-digit account id in ARNs")
	fs.StringVar(&f.natsURL, "nats-url", "", "use this NATS JetStream cluster instead of the embedded server")
	fs.StringVar(&f.natsListen, "nats-listen", "", "also let NATS clients reach the embedded server at host:port")
	fs.IntVar(&f.memoryBudgetMB, "memory-budget", 0, "memory (MB) environments may use in total (default: half the machine's memory)")
	fs.DurationVar(&f.keepWarm, "keep-warm", 10*time.Minute, "how long an idle environment is kept for reuse")
	fs.DurationVar(&f.logRetention, "log-retention", 7*24*time.Hour, "how long function logs are kept")
	fs.IntVar(&f.logMaxMB, "log-max-mb", 2048, "the most disk (MB) function logs may take; the oldest go first")
	fs.IntVar(&f.logRateKB, "log-rate-kb", logs.DefaultRateBytes>>10, "the log rate (KB a second, bursts of 4x) of one execution environment; output beyond it is dropped with a marker")
	fs.BoolVar(&f.verbose, "v", false, "log debug details")
	fs.BoolVar(&f.accessLog, "access-log", true, "log every request at INFO (method, path, status, time, error type)")
	fs.IntVar(&f.async.concurrency, "async-concurrency", 64, "asynchronous invocations this node runs at once")
	fs.IntVar(&f.async.perFunction, "async-per-function", 0, "asynchronous invocations of one function this node runs at once (default: half of --async-concurrency)")
	fs.Float64Var(&f.async.timeScale, "async-time-scale", 1, "multiply the async retry delays (1 and 2 min), throttle backoff and MaximumEventAgeInSeconds by this (tests use 0.01)")
	fs.IntVar(&f.maxConnections, "max-connections", 0, "connections the API holds at once (default: what the descriptor limit leaves, at most 4096)")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", defaultIdleTimeout, "how long an idle keep-alive connection is kept")
	fs.DurationVar(&f.bodyTimeout, "body-timeout", defaultBodyTimeout, "how long a request body may take to arrive, plus 1 s per 256 KB")
	if err := parseFlags(fs, args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return f, exitError(2)
	}
	if f.logRateKB < 1 {
		return f, fmt.Errorf("--log-rate-kb must be at least 1, not %d", f.logRateKB)
	}
	if f.logMaxMB < 1 {
		return f, fmt.Errorf("--log-max-mb must be at least 1, not %d", f.logMaxMB)
	}
	if len(f.accountID) != 12 || strings.Trim(f.accountID, "0123456789") != "" {
		return f, fmt.Errorf("--account-id must be 12 digits, not %q", f.accountID)
	}
	return f, nil
}

// runServer starts every part of the platform, serves until ctx ends, then stops them in
// reverse order. Everything it has to say goes to one structured log on stderr (logfmt),
// including why it could not start.
func runServer(ctx context.Context, args []string, stderr io.Writer) error {
	f, err := parseServerFlags(args, stderr)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := serve(ctx, f, log); err != nil {
		log.Error("cannot serve", "err", err)
		return exitError(1)
	}
	return nil
}

func serve(ctx context.Context, f serverFlags, log *slog.Logger) (err error) {
	shareSmallMachine()
	if f.dataDir, err = filepath.Abs(f.dataDir); err != nil {
		return err
	}
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return fmt.Errorf("creating the data dir: %w", err)
	}
	loc := lambda.Location{Region: f.region, AccountID: f.accountID}

	nc, err := natsd.Start(ctx, natsd.Config{DataDir: f.dataDir, URL: f.natsURL, Listen: f.natsListen, Logger: log})
	if errors.Is(err, natsd.ErrDataDirInUse) {
		return err // says it all
	}
	if err != nil {
		return fmt.Errorf("starting NATS: %w", err)
	}
	defer nc.Close()
	st, err := store.Open(ctx, nc.JetStream(), store.Config{Logger: log})
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer st.Close()
	code, err := store.NewCodeCache(store.CodeCacheConfig{Dir: filepath.Join(f.dataDir, "code"), Fetch: st.GetCode})
	if err != nil {
		return err
	}
	// Function logs get a NATS connection of their own: a flood of them, or a large read,
	// then queues there and never in front of the catalog's and the invoker's requests.
	logsNC, logsJS, err := nc.Connect("nimbus-logs")
	if err != nil {
		return err
	}
	defer logsNC.Close() // after logSvc.Close, which stores what is queued
	logSvc, err := logs.New(ctx, logs.Config{JetStream: logsJS, MaxAge: f.logRetention,
		MaxBytes: int64(f.logMaxMB) << 20, RateBytes: int64(f.logRateKB) << 10, BurstBytes: 4 * int64(f.logRateKB) << 10,
		Logger: log})
	if err != nil {
		return fmt.Errorf("opening the log store: %w", err)
	}
	defer logSvc.Close(context.Background())

	catalog, err := runtimes.Detect(ctx, runtimes.Config{SearchPath: interpreterSearchPath(), Logger: log})
	if err != nil {
		return fmt.Errorf("detecting runtimes: %w", err)
	}
	runtimeDir := filepath.Join(f.dataDir, "runtime")
	if err := os.MkdirAll(runtimeDir, 0o755); err != nil {
		return err
	}
	if err := catalog.WriteRuntimeDir(ctx, runtimeDir); err != nil {
		return err
	}

	// Each data dir gets its own sandbox namespace, so that two servers on one machine (or a
	// test suite) never clean up each other's environments.
	instance := instanceName(f.dataDir)
	budget := f.memoryBudgetMB
	if budget == 0 {
		budget = defaultMemoryBudgetMB()
	}
	var inv *invoker.Invoker
	driver, err := linux.New(linux.Config{
		RunDir:       filepath.Join("/run/nimbus", instance),
		CgroupParent: "nimbus-" + instance,
		Logger:       log,
	})
	switch {
	case errors.Is(err, sandbox.ErrUnsupported):
		// The API still serves; invocations say why they cannot run.
		log.Warn("functions cannot run on this server", "err", err)
	case err != nil:
		return fmt.Errorf("starting the sandbox driver: %w", err)
	default:
		defer driver.Close()
		launcher := environment.New(environment.Config{
			Driver: driver, Runtimes: catalog, RuntimeDir: runtimeDir, Code: code, Logs: logSvc,
			Location: loc, Logger: log,
		})
		inv = invoker.New(invoker.Config{Launcher: launcher, MemoryBudgetMB: budget, KeepWarm: f.keepWarm,
			Reserved: st.Catalog().ReservedConcurrency, Logger: log})
		defer inv.Close()
		go inv.Run(ctx, max(f.keepWarm/10, time.Second))
		// Environments of an updated or deleted function go at once, on every node.
		defer st.Catalog().Subscribe(func(ev store.Event) { inv.Retire(ev.Name, ev.Function) })()
	}
	go sweepCode(ctx, st, code, log)

	queue, err := startAsync(ctx, f, nc, st, inv, loc, log)
	if err != nil {
		return err
	}
	defer queue.Close()

	key, err := auth.LoadOrCreateAdmin(f.dataDir)
	if err != nil {
		return fmt.Errorf("loading the admin key: %w", err)
	}
	// Each API accepts only signatures scoped to this server's region and to its own service.
	verifier, err := auth.NewVerifier(auth.Config{Credentials: auth.NewCredentials(key), Region: f.region})
	if err != nil {
		return err
	}
	apiServer := api.New(api.Config{
		Catalog:   st,
		Functions: st.Catalog(),
		Runtimes:  catalog,
		PrepareCode: func(ctx context.Context, zip []byte) error {
			_, err := code.Put(ctx, zip)
			return err
		},
		Auth:     verifier.ForService("lambda"),
		CodeKey:  key,
		Location: loc,
		Invoker:  invokerOrNil(inv),
		Async:    queue,
		Logger:   log,
	})
	apiServer.ActivatePending()

	lis, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", f.listen, err)
	}
	if f.maxConnections <= 0 {
		f.maxConnections = apiConnectionLimit(raiseFileLimit(), maxEnvironments(budget), log)
	}
	lis = httplimit.Listener(lis, f.maxConnections)
	endpoint := "http://" + lis.Addr().String()
	if err := writeServerInfo(f.dataDir, serverInfo{Endpoint: endpoint, Region: f.region, AccountID: f.accountID, PID: os.Getpid()}); err != nil {
		return err
	}
	logsAPI := logsapi.New(logsapi.Config{Logs: logSvc, Auth: verifier.ForService(logsapi.SigningName), Region: f.region, AccountID: f.accountID,
		RetentionDays: int(f.logRetention / (24 * time.Hour)), Logger: log})
	// Each new service registers here: a front door by Host and path, or an AWS API by its
	// signing name.
	handler := edge.New(edge.Config{
		Services: []edge.Service{
			{SigningName: logsapi.SigningName, TargetPrefix: logsapi.TargetPrefix, Handler: logsAPI},
			{SigningName: "lambda", Path: edge.LambdaPath, Handler: apiServer},
		},
		Default: apiServer,
	})
	if f.accessLog {
		handler = accessLog(log, handler)
	}
	srv := newHTTPServer(handler, f.idleTimeout, f.bodyTimeout)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	log.Info(servingMsg, "endpoint", endpoint, "runtimes", strings.Join(catalog.Names(), ","), "data_dir", f.dataDir)
	log.Info(fmt.Sprintf(`point the aws CLI and SDKs at it with: eval "$(nimbus env --data-dir %s)"`, f.dataDir))

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// startAsync opens the asynchronous invocation queue and, when this node runs functions,
// starts its workers.
func startAsync(ctx context.Context, f serverFlags, nc *natsd.Server, st *store.Store, inv *invoker.Invoker, loc lambda.Location, log *slog.Logger) (*async.Queue, error) {
	if f.async.timeScale <= 0 {
		return nil, fmt.Errorf("--async-time-scale must be above 0, not %g", f.async.timeScale)
	}
	cfg := async.Config{
		JetStream: nc.JetStream(), Conn: nc.Conn(), Functions: st.Catalog(), Location: loc,
		Concurrency: f.async.concurrency, PerFunction: f.async.perFunction, TimeScale: f.async.timeScale,
		Logger: log,
	}
	if f.async.timeScale < 1 {
		// Scaled-down tests also want a crashed node's events back sooner.
		cfg.AckWait = max(2*time.Second, time.Duration(float64(30*time.Second)*f.async.timeScale))
		cfg.ScanInterval = time.Second
	}
	if inv != nil {
		cfg.Invoker = inv
	}
	q, err := async.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the async queue: %w", err)
	}
	if err := q.Start(); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

// shareSmallMachine leaves one of a two-CPU machine's CPUs to the functions, unless
// GOMAXPROCS says otherwise. On such a machine the server, its functions and their callers
// take turns on both CPUs, and with two Ps the Go scheduler wakes its idle P's thread on the
// other CPU for every goroutine it readies. Measured on a 2-vCPU VM (bench/invoke), one P
// cut the server's CPU per invocation by about 20 % (428 → 355 µs alone, 286 → 226 µs with 8
// callers) with the same throughput and latency. The cost is that CPU-bound work, such as
// unpacking a large deploy, shares one thread with invocations (Go switches every 10 ms).
func shareSmallMachine() {
	if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) == 2 {
		runtime.GOMAXPROCS(1)
	}
}

// instanceName is a short stable name for a data dir.
func instanceName(dataDir string) string {
	sum := sha256.Sum256([]byte(dataDir))
	return hex.EncodeToString(sum[:4])
}

// interpreterSearchPath is where runtimes look for Python and Node: the standard places, then
// the directory of the `node` on PATH (nvm and tarball installs live elsewhere). Shims such as
// pyenv's are skipped by the runtimes package itself.
func interpreterSearchPath() []string {
	dirs := append([]string{}, runtimes.DefaultSearchPath...)
	if p, err := exec.LookPath("node"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
	}
	return dirs
}

// defaultMemoryBudgetMB is half of the machine's memory.
func defaultMemoryBudgetMB() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 4096
	}
	var kb int
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
		}
	}
	if kb == 0 {
		return 4096
	}
	return kb / 1024 / 2
}

// sweepCode deletes code that no function uses any more, every few minutes: the zips in the
// store, and this node's extracted trees that no environment runs on.
func sweepCode(ctx context.Context, st *store.Store, cache *store.CodeCache, log *slog.Logger) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := st.SweepCode(ctx, store.DefaultCodeMinAge); err != nil {
				log.Warn("sweeping unused code", "err", err)
			}
			if _, err := cache.Reclaim(store.DefaultCodeMinAge, st.Catalog().CodeRefs); err != nil {
				log.Warn("reclaiming unused code trees", "err", err)
			}
		}
	}
}

// The invoker is what the API invokes through.
var _ api.Invoker = (*invoker.Invoker)(nil)

// invokerOrNil keeps a nil *Invoker from becoming a non-nil api.Invoker.
func invokerOrNil(inv *invoker.Invoker) api.Invoker {
	if inv == nil {
		return nil
	}
	return inv
}
