// Package sandbox defines execution environments: isolated process trees that run one
// function's runtime with only the memory, CPU, processes, files and network its configuration
// grants, that see only their own code and can reach nothing but their own Runtime API.
//
// A Driver builds and removes environments. Like containerd's sandbox controller it is
// ID-addressed with ctx first and two-phase: Create builds the environment without running
// user code, Start runs the program, Wait reports how it ended, Stop asks it to end and then
// forces it, Destroy removes every trace. Optional features are small separate interfaces
// (Freezer, Listener) found by type assertion, so that a microVM or gVisor driver can offer
// what it can. The linux subpackage is the default driver; sandboxtest is the conformance
// suite each driver's tests run.
//
// Contexts bound a call, never an environment's lifetime: an environment lives until Destroy.
package sandbox

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"
)

// Driver creates and controls execution environments. Its methods are safe for concurrent use.
type Driver interface {
	// Create builds environment spec.ID: limits, namespaces and root file system, with the
	// program not yet running. The caller must Destroy it, even if Start fails.
	Create(ctx context.Context, spec Spec) error
	// Start runs the program. It returns once the program has been exec'd; an *ExecError
	// says it could not be (missing or not executable), and the environment then exits with
	// status 127 or 126.
	Start(ctx context.Context, id string) error
	// Wait blocks until the environment's program has exited and all of its output has been
	// written to Spec.Stdout and Spec.Stderr, and returns how it ended. It may be called any
	// number of times, before or after Start, until Destroy.
	Wait(ctx context.Context, id string) (ExitStatus, error)
	// Stop sends SIGTERM to every process of the environment, waits up to grace for the
	// program to exit, then kills them all. It returns when the program has exited. The
	// environment cannot be started again; Destroy is still needed.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Destroy kills every process of the environment and removes everything it made. It
	// returns as soon as the killing is under way, in constant time whatever the program
	// does (the answer to an invocation that timed out waits for it): the ID is then free,
	// and nothing more is written to Spec.Stdout and Spec.Stderr. The processes' deaths and
	// the removal finish in the background, normally within milliseconds. It is idempotent:
	// destroying an unknown or already destroyed environment returns nil.
	Destroy(ctx context.Context, id string) error
	// Stats reports the environment's memory use. It works until Destroy, also after the
	// program has exited.
	Stats(ctx context.Context, id string) (Stats, error)
}

// Freezer is implemented by drivers that can suspend an idle environment so that it uses no
// CPU, and resume it. Freeze returns once every process has stopped; if they have not within
// a time the driver sets (a process in uninterruptible sleep may never stop), or ctx ends
// first, it leaves the environment running and returns an error. Thaw is on a warm
// invocation's path and must be quick. Destroy kills a frozen environment like any other.
type Freezer interface {
	Freeze(ctx context.Context, id string) error
	Thaw(ctx context.Context, id string) error
}

// Listener is implemented by drivers whose environments have their own network: Listen opens
// a TCP listener on addr (such as "127.0.0.1:9001") inside the environment, served by the
// caller's process, so that the program can reach exactly that and nothing of the host. It
// must be called after Create and before Start. Destroy closes the listener if the caller has
// not.
type Listener interface {
	Listen(ctx context.Context, id, addr string) (net.Listener, error)
}

// InitBooster is implemented by drivers that let an environment use more CPU than its memory
// buys while its runtime initialises, as Lambda does in its Init phase: a 128 MB function
// would otherwise start its runtime on 7% of a CPU. The boost begins at Create and ends at
// EndInit, which the caller calls when the runtime is ready (its first request for work), or
// after a driver-defined limit.
type InitBooster interface {
	EndInit(ctx context.Context, id string) error
}

// Mount makes a host file or directory visible, read-only, inside the environment.
type Mount struct {
	// Source is an absolute host path.
	Source string
	// Target is the absolute path inside the environment. If empty it is Source, and the
	// driver reproduces the host's symlinks along the path (so that mounting /lib64 on a
	// merged-/usr host yields the same /lib64 -> usr/lib64 link inside).
	Target string
}

// Spec describes one execution environment.
type Spec struct {
	// ID names the environment: 1 to 64 characters from [A-Za-z0-9_-].
	ID string
	// Args is the program's argv. Args[0] is the program's path as seen inside the
	// environment, absolute or relative to Dir; there is no $PATH search.
	Args []string
	// Env is the program's complete environment; nothing is inherited from the server.
	Env []string
	// Dir is the program's working directory inside the environment. Default "/var/task".
	Dir string

	// CodeDir is the host directory with the function's code, mounted read-only at /var/task.
	CodeDir string
	// RuntimeDir, if set, is the host directory with the runtime client, read-only at
	// /var/runtime.
	RuntimeDir string
	// LayerDir, if set, is the host directory with the function's layers, read-only at /opt.
	LayerDir string
	// Mounts are further read-only files and directories: the runtime's interpreter and the
	// libraries it needs.
	Mounts []Mount

	// MemoryMB is the memory limit, swap included (there is none). Default 128. CPU is
	// granted in proportion: see CPUQuota.
	MemoryMB int
	// EphemeralStorageMB is the size of /tmp. Default 512. /tmp is memory-backed, so what is
	// stored there also counts against MemoryMB.
	EphemeralStorageMB int

	// UID and GID the program runs as. Zero means DefaultUID and DefaultGID: a program never
	// runs as root.
	UID, GID int

	// Stdout and Stderr receive the program's output (and that of every process it starts).
	// Nil discards it. An *os.File (normally the write end of a pipe) is given to the program
	// as the descriptor itself, so what the program wrote is in it as soon as its write
	// returns; pass nothing the program may not hold (such as a file opened for reading too).
	// Any other writer is fed from a pipe by a goroutine of the driver, one per stream, never
	// concurrently for one stream; a writer that blocks stalls the program once the pipe
	// buffer is full. The same value may be given for both.
	Stdout, Stderr io.Writer
}

// ExitStatus tells how an environment's program ended.
type ExitStatus struct {
	// Code is the exit code when the program exited, or -1 when a signal killed it.
	Code int
	// Signal is the signal that killed the program, or 0.
	Signal syscall.Signal
	// CoreDumped reports that the killing signal produced a core dump.
	CoreDumped bool
	// OOMKilled reports that the environment ran out of memory: the kernel's OOM killer
	// killed one of its processes. Code or Signal still say how the program itself ended
	// (normally Signal is SIGKILL).
	OOMKilled bool
}

// Exited reports whether the program ended by calling exit rather than by a signal.
func (s ExitStatus) Exited() bool { return s.Signal == 0 }

// String describes the status the way Go's os.ProcessState does, which is also what Lambda
// puts after "Runtime exited with error: ": "exit status 1", "signal: killed".
func (s ExitStatus) String() string {
	if s.Signal == 0 {
		return "exit status " + strconv.Itoa(s.Code)
	}
	str := "signal: " + s.Signal.String()
	if s.CoreDumped {
		str += " (core dumped)"
	}
	return str
}

// Stats is an environment's memory use.
type Stats struct {
	// MemoryBytes is the memory charged to the environment now (page cache and /tmp included).
	MemoryBytes uint64
	// PeakMemoryBytes is Lambda's "Max Memory Used": the most the environment has been
	// charged since Create, or its program's resident set if that has been larger. The
	// resident set counts the shared files it maps (an interpreter and its libraries), which
	// the charge leaves to whichever environment read them first, so the figure does not
	// depend on that.
	PeakMemoryBytes uint64
}

// ExecError says that the program could not be exec'd.
type ExecError struct {
	Path string
	Err  error
}

func (e *ExecError) Error() string { return "exec " + e.Path + ": " + e.Err.Error() }

func (e *ExecError) Unwrap() error { return e.Err }

// Errors that drivers wrap.
var (
	// ErrNotFound: no environment has that ID.
	ErrNotFound = errors.New("sandbox: no such environment")
	// ErrExists: an environment with that ID already exists.
	ErrExists = errors.New("sandbox: environment already exists")
	// ErrInvalidSpec: the Spec cannot be built.
	ErrInvalidSpec = errors.New("sandbox: invalid spec")
	// ErrState: the call does not fit the environment's state, such as Start twice or
	// Listen after Start.
	ErrState = errors.New("sandbox: wrong state")
	// ErrUnsupported: the driver cannot run on this host.
	ErrUnsupported = errors.New("sandbox: unsupported on this host")
)
