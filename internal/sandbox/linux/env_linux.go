package linux

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nimbusfaas/nimbus/internal/sandbox"
	"github.com/nimbusfaas/nimbus/internal/sandbox/linux/nsinit"
)

const outputBufferSize = 8 << 10

type envState int

const (
	created envState = iota
	started
	stopped
	destroyed
)

func (s envState) String() string {
	return [...]string{"created", "started", "stopped", "destroyed"}[s]
}

// env is one execution environment.
type env struct {
	id   string
	spec sandbox.Spec

	// Set by Create, then read-only.
	pid   int
	pidfd *os.File // non-blocking, registered with Go's poller
	cg    cgroup

	// killed records that the driver sent SIGKILL, so that a SIGKILL death is not taken for
	// the OOM killer's.
	killed atomic.Bool

	// mu serialises the lifecycle calls and guards the fields below.
	mu        sync.Mutex
	state     envState
	frozen    bool   // by Freeze (perhaps still under way)
	thaws     uint64 // counts thaws, for a Freeze under way to notice one
	ctl       *control
	listeners []net.Listener
	reaping   bool
	boost     *time.Timer // ends the Init phase's CPU boost; nil once ended
	// procStatm is the program's /proc/PID/statm, opened by the first Stats after Start;
	// peakRSS is the largest resident set read from it.
	procStatm *os.File
	peakRSS   uint64

	exited  chan struct{} // closed when the program has been reaped and status is set
	status  sandbox.ExitStatus
	outputs sync.WaitGroup
	output  outputGate
	done    chan struct{} // closed after exited, once the output is drained

	destroyOnce sync.Once
	destroyErr  error         // what Destroy returns; set by destroyOnce
	removed     chan struct{} // closed when remove is done
}

func newEnv(spec sandbox.Spec) *env {
	return &env{
		id: spec.ID, spec: spec, ctl: &control{},
		exited: make(chan struct{}), done: make(chan struct{}), removed: make(chan struct{}),
	}
}

// outputGate stops the delivery of output to the Spec's writers at Destroy, which returns
// before the program's processes are gone (their output is drained and dropped): a caller
// may close its writers once Destroy has returned.
type outputGate struct {
	mu     sync.Mutex
	closed bool
}

// write writes p to w unless the gate is closed, and reports whether to go on writing.
func (g *outputGate) write(w io.Writer, p []byte) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	_, err := w.Write(p)
	return err == nil
}

// close waits for a write under way and stops the rest.
func (g *outputGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// adopt makes a booted init this environment's and starts copying its output, except for
// the streams the program will write to directly (the init replaces those pipes).
func (e *env) adopt(p *proc, directStdout, directStderr bool) {
	e.pid, e.pidfd, e.ctl, e.cg = p.pid, p.pidfd, p.ctl, p.cg
	for _, o := range []struct {
		w      io.Writer
		r      *os.File
		direct bool
	}{{e.spec.Stdout, p.stdout, directStdout}, {e.spec.Stderr, p.stderr, directStderr}} {
		if o.direct {
			o.r.Close()
			continue
		}
		e.outputs.Add(1)
		go copyOutput(o.w, o.r, &e.outputs, &e.output)
	}
}

func copyOutput(w io.Writer, r *os.File, wg *sync.WaitGroup, gate *outputGate) {
	defer wg.Done()
	defer r.Close()
	if w != nil {
		buf := make([]byte, outputBufferSize)
		for {
			n, err := r.Read(buf)
			if n > 0 && !gate.write(w, buf[:n]) {
				break // keep draining below, or the program would block on a full pipe
			}
			if err != nil {
				return
			}
		}
	}
	io.Copy(io.Discard, r)
}

// reap waits for the program (or the init) to exit without holding an OS thread: the pidfd
// becomes readable at exit, and Go's poller parks the goroutine until then.
func (e *env) reap() {
	var ws unix.WaitStatus
	rc, err := e.pidfd.SyscallConn()
	if err == nil {
		err = rc.Read(func(uintptr) bool {
			pid, err := unix.Wait4(e.pid, &ws, unix.WNOHANG, nil)
			return pid == e.pid || (err != nil && err != unix.EINTR)
		})
	}
	st := sandbox.ExitStatus{Code: -1}
	switch {
	case ws.Exited():
		st.Code = ws.ExitStatus()
	case ws.Signaled():
		st.Signal = ws.Signal()
		st.CoreDumped = ws.CoreDump()
	}
	if e.cg != nil {
		if m, err := e.cg.memory(); err == nil {
			// The OOM killer may still be counting its kill when the victim is reaped; a
			// SIGKILL nobody here sent after the limit was hit is the same event.
			st.OOMKilled = m.oomKills > 0 ||
				(st.Signal == syscall.SIGKILL && !e.killed.Load() && m.limitHits > 0)
		}
	}
	e.status = st
	close(e.exited)
	e.outputs.Wait()
	close(e.done)
}

func (e *env) hasExited() bool {
	select {
	case <-e.exited:
		return true
	default:
		return false
	}
}

// killLocked starts killing the environment, in constant time whatever its program does: it
// lifts the CPU quota (see cgroup.unthrottle) and kills pid 1, upon which the kernel refuses
// new processes in its pid namespace and kills the others (zap_pid_ns_processes). That is
// not enough for a fork bomb, whose pid 1 may take seconds to get its turn on the CPU
// among hundreds of spinning processes: the caller then kills the whole cgroup (cgroup.kill),
// which also thaws a frozen environment.
func (e *env) killLocked() error {
	if e.boost != nil {
		e.boost.Stop() // its end would throttle the dying environment again
		e.boost = nil
	}
	if e.cg == nil {
		return nil
	}
	err := e.cg.unthrottle()
	e.kill()
	// A process frozen by cgroup v1 dies only when thawed. (A thaw after the signal lets no
	// code of the function run.)
	if terr := e.thawLocked(); err == nil {
		err = terr
	}
	return err
}

// kill sends SIGKILL to the program (or the init) through the pidfd, which cannot hit a
// recycled pid.
func (e *env) kill() {
	if e.pidfd == nil || e.hasExited() {
		return
	}
	e.killed.Store(true)
	rc, err := e.pidfd.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) { unix.PidfdSendSignal(int(fd), unix.SIGKILL, nil, 0) })
}

// Listen opens a TCP listener on addr inside the environment's network namespace.
func (d *Driver) Listen(ctx context.Context, id, addr string) (net.Listener, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", id, err)
	}
	e, err := d.get(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != created || e.frozen {
		return nil, fmt.Errorf("%w: listen %s: %s", sandbox.ErrState, id, e.state)
	}
	msg := []byte{nsinit.MsgListen, 4}
	if ip := ap.Addr().Unmap(); ip.Is4() {
		msg = append(msg, ip.AsSlice()...)
	} else {
		msg[1] = 6
		msg = append(msg, ip.AsSlice()...)
	}
	msg = append(msg, byte(ap.Port()>>8), byte(ap.Port()))
	if err := e.ctl.send(ctx, msg, nil); err != nil {
		return nil, fmt.Errorf("listen %s: %w", id, err)
	}
	reply, fds, err := e.ctl.recv(ctx)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", id, err)
	}
	if len(reply) != 1 || reply[0] != nsinit.MsgListener || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		if len(reply) > 0 && reply[0] == nsinit.MsgListenError {
			return nil, fmt.Errorf("listen %s on %s: %s", id, addr, reply[1:])
		}
		return nil, fmt.Errorf("listen %s: unexpected reply %q from init", id, reply)
	}
	f := os.NewFile(uintptr(fds[0]), "listener")
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", id, err)
	}
	e.listeners = append(e.listeners, l)
	return l, nil
}
