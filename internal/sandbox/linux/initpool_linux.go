package linux

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nimbusfaas/nimbus/internal/sandbox"
	"github.com/nimbusfaas/nimbus/internal/sandbox/linux/nsinit"
)

// cloneFlags are the namespaces every environment gets at clone. The network namespace is
// made separately (newNetns) and joined by the init; the cgroup namespace is made by the init
// once it is in its cgroup. The user namespace is not among them: the driver runs as root
// and the program as an unprivileged uid of the host.
const cloneFlags = syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS

// initEnv is the init's own environment (the program gets Spec.Env). GOMAXPROCS stops the Go
// runtime from reading cgroup files at start-up, GOGC=off from collecting a heap it is about
// to throw away. An init waits for its plan in a raw system call, which the runtime takes for
// a goroutine running too long: asyncpreemptoff stops it from signalling the waiting thread
// every 10 ms, which woke every pooled init a hundred times a second.
var initEnv = []string{nsinit.EnvMarker + "=" + nsinit.ProtocolVersion, "GOMAXPROCS=1", "GOGC=off", "GODEBUG=asyncpreemptoff=1"}

// defaultInitPool is how many booted inits wait for environments unless Config says
// otherwise. Each costs a Go runtime's worth of memory (~2 MiB) and a few namespaces.
const defaultInitPool = 2

// proc is an init process that has booted in its own namespaces and cgroup and waits for a
// plan. It belongs to no environment yet; its cgroup has bootLimits.
type proc struct {
	pid            int
	pidfd          *os.File // non-blocking, for Go's poller
	cg             cgroup
	ctl            *control
	stdout, stderr *os.File // read ends of the output pipes
}

// bootLimits hold an init until Create gives its cgroup the environment's limits: enough
// for the init's Go runtime, and the same process limit as ever.
var bootLimits = cgroupLimits{
	memoryBytes: 256 << 20,
	cpuQuota:    sandbox.CPUPeriod,
	cpuShares:   1024,
	pids:        sandbox.PidsLimit,
}

// initPool keeps inits booted ahead of time. Cloning four namespaces, making a network
// namespace (~0.7 ms alone), making a cgroup and moving a process into it (~0.5 ms, with
// spikes of several ms: the move waits for an RCU grace period) and starting the init's Go
// runtime (~1 ms) are most of what an environment costs to create; done here, on the other
// core while the server is idle, they leave Create only the limits and the plan. An init is
// never reused: each serves one environment or is killed.
type initPool struct {
	spawn func() (*proc, error)
	ready chan *proc
	// free holds a token for each init the pool may still make, so that no more than
	// cap(ready) exist, counting the one being made.
	free chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

func newInitPool(size int, spawn func() (*proc, error)) *initPool {
	p := &initPool{
		spawn: spawn,
		ready: make(chan *proc, size),
		free:  make(chan struct{}, size),
		stop:  make(chan struct{}),
	}
	for range size {
		p.free <- struct{}{}
	}
	if size > 0 {
		p.wg.Go(p.fill)
	}
	return p
}

// get returns a booted init, or starts one now if none is ready.
func (p *initPool) get() (*proc, error) {
	select {
	case pr := <-p.ready:
		p.free <- struct{}{}
		return pr, nil
	default:
		return p.spawn()
	}
}

// full reports whether every init the pool keeps is ready.
func (p *initPool) full() bool { return len(p.ready) == cap(p.ready) }

func (p *initPool) fill() {
	for {
		select {
		case <-p.free:
		case <-p.stop:
			return
		}
		pr, err := p.spawn()
		if err != nil {
			// get starts its own and reports the error; the pool tries again later.
			p.free <- struct{}{}
			select {
			case <-time.After(time.Second):
			case <-p.stop:
				return
			}
			continue
		}
		p.ready <- pr // never blocks: a token was taken
	}
}

func (p *initPool) close() {
	close(p.stop)
	p.wg.Wait()
	for {
		select {
		case pr := <-p.ready:
			pr.discard()
		default:
			return
		}
	}
}

// bootTimeout bounds an init's start-up, which takes a few milliseconds.
const bootTimeout = 30 * time.Second

// spawnProc starts an init in fresh namespaces and cgroup name, with the control socket as
// fd 3, the network namespace as fd 4 and pipes for its output, and has it run bootPlan.
func spawnProc(devNull *os.File, cgroups cgroupParent, name string, bootPlan []byte) (_ *proc, err error) {
	cgDone := make(chan error, 1)
	var cg cgroup
	go func() {
		var err error
		cg, err = cgroups.create(name, bootLimits)
		cgDone <- err
	}()
	defer func() {
		if cgErr := <-cgDone; err != nil && cgErr == nil {
			cg.delete()
		}
	}()
	netns, err := newNetns()
	if err != nil {
		return nil, err
	}
	defer netns.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	child := os.NewFile(uintptr(fds[1]), "control")
	defer child.Close()
	pr := &proc{ctl: &control{}}
	if err := pr.ctl.open(fds[0]); err != nil {
		return nil, err
	}
	var pipes [2][2]*os.File
	defer func() {
		for _, p := range pipes {
			if p[1] != nil {
				p[1].Close() // the child has its copy
			}
			if err != nil && p[0] != nil {
				p[0].Close()
			}
		}
		if err != nil {
			pr.ctl.close()
		}
	}()
	for i := range pipes {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("output pipe: %w", err)
		}
		pipes[i] = [2]*os.File{r, w}
	}
	pidfd := -1
	attr := &syscall.ProcAttr{
		Env:   initEnv,
		Files: []uintptr{devNull.Fd(), pipes[0][1].Fd(), pipes[1][1].Fd(), child.Fd(), netns.Fd()},
		Sys: &syscall.SysProcAttr{
			Cloneflags: cloneFlags,
			Setsid:     true,
			Pdeathsig:  syscall.SIGKILL,
			PidFD:      &pidfd,
		},
	}
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"nimbus-sandbox-init"}, attr)
	if err != nil {
		return nil, fmt.Errorf("start init: %w", err)
	}
	pr.pid = pid
	if pidfd < 0 {
		// Kernels before 5.3 have no pidfds; they are too old for this driver anyway.
		syscall.Kill(pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
		return nil, fmt.Errorf("%w: kernel without pidfd", sandbox.ErrUnsupported)
	}
	if err := unix.SetNonblock(pidfd, true); err != nil {
		unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
		unix.Close(pidfd)
		return nil, err
	}
	pr.pidfd = os.NewFile(uintptr(pidfd), "pidfd")
	pr.stdout, pr.stderr = pipes[0][0], pipes[1][0]
	if err := <-cgDone; err != nil {
		cgDone <- nil
		pr.discard()
		return nil, err
	}
	cgDone <- nil
	if err := cg.add(pid); err != nil {
		pr.discard()
		cg.delete()
		return nil, fmt.Errorf("move init into cgroup: %w", err)
	}
	pr.cg = cg
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	if err := pr.ctl.send(ctx, bootPlan, nil); err != nil {
		pr.discard()
		return nil, fmt.Errorf("send boot plan: %w", err)
	}
	reply, _, err := pr.ctl.recv(ctx)
	if err != nil || len(reply) != 1 || reply[0] != nsinit.MsgReady {
		pr.discard()
		if err == nil {
			err = fmt.Errorf("%s", bytes.TrimPrefix(reply, []byte{nsinit.MsgSetupError}))
		}
		return nil, fmt.Errorf("boot init: %w", err)
	}
	return pr, nil
}

// discard kills an init that will serve no environment.
func (pr *proc) discard() {
	if rc, err := pr.pidfd.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.PidfdSendSignal(int(fd), unix.SIGKILL, nil, 0) })
	}
	var ws syscall.WaitStatus
	syscall.Wait4(pr.pid, &ws, 0, nil)
	pr.pidfd.Close()
	pr.ctl.close()
	pr.stdout.Close()
	pr.stderr.Close()
	if pr.cg != nil {
		pr.cg.delete()
	}
}
