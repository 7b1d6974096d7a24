package environment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nimbusfaas/nimbus/internal/invoker"
	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/logs"
	"github.com/nimbusfaas/nimbus/internal/runtimeapi"
	"github.com/nimbusfaas/nimbus/internal/runtimes"
	"github.com/nimbusfaas/nimbus/internal/sandbox"
)

// Driver is a sandbox driver whose environments have their own network, so that the Runtime
// API can listen inside them.
type Driver interface {
	sandbox.Driver
	sandbox.Listener
}

// CodeSource finds a function's extracted code on this node and keeps it there until release
// is called: the environment runs on it until it is destroyed.
type CodeSource interface {
	Acquire(ctx context.Context, sha256hex string) (dir string, release func(), err error)
}

// Config configures a Launcher. Zero values take the documented defaults.
type Config struct {
	Driver   Driver
	Runtimes *runtimes.Catalog
	// RuntimeDir is the host directory holding the runtime clients (runtimes.WriteRuntimeDir),
	// mounted at /var/runtime.
	RuntimeDir string
	Code       CodeSource
	Logs       *logs.Service
	Location   lambda.Location
	// InitTimeout bounds the Init phase. Default 10 s, as Lambda.
	InitTimeout time.Duration
	// FreezeDelay is how long an environment stays runnable after an invocation before it
	// is frozen until the next one (if the driver is a sandbox.Freezer). Zero means
	// DefaultFreezeDelay; negative never freezes.
	FreezeDelay time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Launcher starts execution environments.
type Launcher struct {
	cfg Config
	log *slog.Logger
}

// Interface guards.
var (
	_ invoker.Launcher    = (*Launcher)(nil)
	_ invoker.Environment = (*Environment)(nil)
)

// New returns a Launcher.
func New(cfg Config) *Launcher {
	if cfg.InitTimeout == 0 {
		cfg.InitTimeout = 10 * time.Second
	}
	if cfg.FreezeDelay == 0 {
		cfg.FreezeDelay = DefaultFreezeDelay
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Launcher{cfg: cfg, log: cfg.Logger}
}

// runtimeAPIAddr is where every environment finds its Runtime API, inside its own network
// namespace.
const runtimeAPIAddr = "127.0.0.1:9001"

// Launch starts an environment for inv's function and runs its Init phase. A failed Init
// (no bootstrap, an import error, a crash or a timeout) is returned as the invocation's
// result, as Lambda does, and logged as Lambda logs it (initfail.go); only a fault of the
// platform is an error.
func (l *Launcher) Launch(ctx context.Context, inv *lambda.Invocation) (invoker.Environment, *lambda.InvokeResult, error) {
	fn := inv.Function
	started := time.Now()
	rt, ok := l.cfg.Runtimes.Lookup(fn.Runtime)
	if !ok {
		return nil, nil, fmt.Errorf("runtime %s is not available on this node", fn.Runtime)
	}
	codeDir, releaseCode, err := l.cfg.Code.Acquire(ctx, fn.CodeSHA256)
	if err != nil {
		return nil, nil, fmt.Errorf("code of %s: %w", fn.Name, err)
	}
	id := newEnvironmentID()
	e := &Environment{
		id: id, fn: fn, version: inv.Version, driver: l.cfg.Driver, log: l.log,
		stream:      l.cfg.Logs.NewStream(fn.Name, inv.Version, id),
		exited:      make(chan struct{}),
		releaseCode: releaseCode,
	}
	e.life, e.endLife = context.WithCancel(context.Background())
	e.endpoint = runtimeapi.New(runtimeapi.Config{
		FunctionARN:     l.cfg.Location.FunctionARN(fn.Name),
		FunctionName:    fn.Name,
		FunctionVersion: inv.Version,
		Handler:         fn.Handler,
		Logger:          l.log,
	})
	argv, err := rt.Command(func(p string) bool { return existsIn(codeDir, p) })
	var fail *initFailure
	switch {
	case errors.Is(err, runtimes.ErrNoBootstrap):
		fail, err = failed("Runtime.InvalidEntrypoint", runtimes.InvalidEntrypointMessage), nil
	case err != nil:
		e.Destroy()
		return nil, nil, err
	default:
		fail, err = l.start(ctx, e, rt, argv, codeDir, inv.RequestID)
	}
	if err != nil || fail != nil {
		var res *lambda.InvokeResult
		if fail != nil {
			res = e.logInitFailure(inv, fail, time.Since(started))
		}
		e.Destroy()
		return nil, res, err
	}
	e.initDuration = time.Since(started)
	e.freezer = newIdleFreezer(l.cfg.Driver, id, l.cfg.FreezeDelay)
	return e, nil, nil
}

// start creates the sandbox, serves the Runtime API inside it, runs the runtime and waits for
// the end of Init.
func (l *Launcher) start(ctx context.Context, e *Environment, rt runtimes.Runtime, argv []string, codeDir, requestID string) (*initFailure, error) {
	out, err := e.stream.Pipe()
	if err != nil {
		return nil, err
	}
	e.output = out
	spec := sandbox.Spec{
		ID:                 e.id,
		Args:               argv,
		Env:                l.environ(e, rt),
		Dir:                runtimes.TaskDir,
		CodeDir:            codeDir,
		RuntimeDir:         l.cfg.RuntimeDir,
		MemoryMB:           e.fn.MemorySize,
		EphemeralStorageMB: e.fn.EphemeralMB,
		Stdout:             out,
		Stderr:             out,
	}
	for _, m := range rt.Mounts {
		spec.Mounts = append(spec.Mounts, sandbox.Mount{Source: m.Source, Target: m.Target})
	}
	// The environment outlives the request that started it.
	life := context.WithoutCancel(ctx)
	if err := l.cfg.Driver.Create(life, spec); err != nil {
		return nil, fmt.Errorf("creating environment: %w", err)
	}
	e.created = true
	lis, err := l.cfg.Driver.Listen(life, e.id, runtimeAPIAddr)
	if err != nil {
		return nil, fmt.Errorf("runtime api listener: %w", err)
	}
	go e.endpoint.Serve(lis)
	if err := l.cfg.Driver.Start(life, e.id); err != nil {
		var ee *sandbox.ExecError
		if errors.As(err, &ee) {
			return failed("Runtime.InvalidEntrypoint", ee.Error()), nil
		}
		return nil, fmt.Errorf("starting runtime: %w", err)
	}
	go e.watch()

	initCtx, cancel := context.WithTimeout(e.life, l.cfg.InitTimeout)
	defer cancel()
	err = e.endpoint.WaitInit(initCtx)
	var ie *runtimeapi.InitError
	switch {
	case err == nil:
		// Init is over: from now on the environment gets the CPU its memory buys.
		if b, ok := l.cfg.Driver.(sandbox.InitBooster); ok {
			if err := b.EndInit(life, e.id); err != nil {
				return nil, fmt.Errorf("ending init boost: %w", err)
			}
		}
		return nil, nil
	case errors.As(err, &ie):
		// The runtime printed its own account of the error; Lambda adds nothing to it.
		return &initFailure{
			res:    &lambda.InvokeResult{Payload: ie.Body, FunctionError: lambda.FunctionErrorUnhandled},
			status: logs.StatusError, errorType: ie.ErrorType,
		}, nil
	case e.hasExited():
		<-e.exited
		return failed(e.exitError(requestID)), nil
	case errors.Is(err, context.DeadlineExceeded):
		return &initFailure{
			res:    platformError("Sandbox.Timedout", fmt.Sprintf("RequestId: %s Error: Init phase timed out after %.2f seconds", requestID, l.cfg.InitTimeout.Seconds())),
			status: logs.StatusTimeout,
		}, nil
	}
	return nil, fmt.Errorf("waiting for init: %w", err)
}

// environ is the runtime's environment: the runtime's own variables, the function's, then
// Lambda's reserved ones, which the function cannot override.
func (l *Launcher) environ(e *Environment, rt runtimes.Runtime) []string {
	vars := map[string]string{"LANG": "en_US.UTF-8"}
	maps.Copy(vars, rt.Env)
	maps.Copy(vars, e.fn.Environment)
	maps.Copy(vars, map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          runtimeAPIAddr,
		"_HANDLER":                        e.fn.Handler,
		"AWS_LAMBDA_FUNCTION_NAME":        e.fn.Name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(e.fn.MemorySize),
		"AWS_LAMBDA_FUNCTION_VERSION":     e.version,
		"AWS_LAMBDA_LOG_GROUP_NAME":       e.stream.Group(),
		"AWS_LAMBDA_LOG_STREAM_NAME":      e.stream.Name(),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_REGION":                      l.cfg.Location.Region,
		"AWS_DEFAULT_REGION":              l.cfg.Location.Region,
		"LAMBDA_TASK_ROOT":                runtimes.TaskDir,
		"LAMBDA_RUNTIME_DIR":              runtimes.RuntimeDir,
		"TZ":                              ":UTC",
	})
	env := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// existsIn reports whether the path p inside an environment exists in the code dir mounted at
// /var/task (there are no layers yet, so nothing else is looked in).
func existsIn(codeDir, p string) bool {
	rel, ok := strings.CutPrefix(path.Clean(p), runtimes.TaskDir+"/")
	if !ok {
		return false
	}
	_, err := os.Stat(filepath.Join(codeDir, filepath.FromSlash(rel)))
	return err == nil
}

func newEnvironmentID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// platformError is Lambda's answer to an invocation the platform ended: a failed Init, a
// timeout, a runtime that exited.
func platformError(errorType, message string) *lambda.InvokeResult {
	return &lambda.InvokeResult{Payload: errorDocument(errorType, message), FunctionError: lambda.FunctionErrorUnhandled}
}
