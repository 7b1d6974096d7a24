package linux

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nimbusfaas/nimbus/internal/sandbox"
	"github.com/nimbusfaas/nimbus/internal/sandbox/linux/nsinit"
)

// Config configures a Driver. The zero value is ready to use.
type Config struct {
	// RunDir is the driver's own directory: a lock that keeps two servers from sharing one
	// configuration, and the mount point every environment builds its root on (inside its
	// private mount namespace). Default "/run/nimbus/sandbox".
	RunDir string
	// CgroupParent is the cgroup, relative to the root of each hierarchy, under which every
	// environment (and every init waiting in the pool) gets its own, named env-RUN-N. Whatever is
	// left in it at New (after a crash) is killed and removed, so it must not be shared.
	// Default "nimbus".
	CgroupParent string
	// CgroupRoot is where the cgroup file systems are mounted. Default "/sys/fs/cgroup";
	// v2 is used if it is a cgroup2 mount, v1 (one directory per controller) otherwise.
	CgroupRoot string
	// InitCPUBoost is how long after Create an environment may use a whole CPU (or what its
	// memory buys, if more) before its proportional quota applies; EndInit ends the boost
	// sooner. Default 10s, Lambda's limit for the Init phase; negative disables the boost.
	InitCPUBoost time.Duration
	// InitPool is how many inits are kept booted, waiting for Create (see initPool): a burst
	// of more cold starts than this pays for starting the rest. Default 2; negative keeps
	// none.
	InitPool int
	// FreezeTimeout is how long Freeze waits for every process to stop before it gives up and
	// thaws the environment: a process in uninterruptible sleep may never stop. Default 1s:
	// each process must run to stop, and one whose CPU quota is spent waits for the next CPU
	// period (100 ms); on a loaded 2-CPU host an idle runtime's freeze took up to 48 ms, and
	// 2 of about 15,000 took over 100 ms.
	FreezeTimeout time.Duration
	// Logger receives what the driver cleans up and what goes wrong in the background.
	// Default: discard.
	Logger *slog.Logger
}

// Timeouts of teardown steps that should take microseconds; they bound a kernel that is slow
// to free a dying process's memory.
const (
	exitTimeout  = 10 * time.Second
	emptyTimeout = 5 * time.Second
)

// killEscalation is how long remove waits for a killed environment's pid 1 to die, which it
// does within a millisecond unless its processes crowd it out, before killing the cgroup.
const killEscalation = 10 * time.Millisecond

// Driver is the linux sandbox driver.
type Driver struct {
	cfg     Config
	log     *slog.Logger
	cgroups cgroupParent
	seccomp []byte
	// overlay says that the kernel has overlayfs, which hides the host paths of mounts.
	overlay bool
	rootDir string
	lock    *os.File
	devNull *os.File
	inits   *initPool
	anchor  *freezeAnchor // nil on cgroup v2, or if it could not be made

	seq atomic.Uint64 // names cgroups

	mu     sync.Mutex
	envs   map[string]*env
	closed bool
	// removing counts destroyed environments whose processes and cgroup are still being
	// removed; Close waits for them.
	removing sync.WaitGroup

	// dying counts the environments being killed, for prioritize.
	dyingMu sync.Mutex
	dying   int
}

// Interface guards.
var (
	_ sandbox.Driver      = (*Driver)(nil)
	_ sandbox.Freezer     = (*Driver)(nil)
	_ sandbox.Listener    = (*Driver)(nil)
	_ sandbox.InitBooster = (*Driver)(nil)
)

// New prepares the driver: it takes the run directory's lock, creates the parent cgroup and
// removes every environment a previous server left behind.
func New(cfg Config) (*Driver, error) {
	if cfg.RunDir == "" {
		cfg.RunDir = "/run/nimbus/sandbox"
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = "nimbus"
	}
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = "/sys/fs/cgroup"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.InitCPUBoost == 0 {
		cfg.InitCPUBoost = 10 * time.Second
	}
	if cfg.InitPool == 0 {
		cfg.InitPool = defaultInitPool
	}
	if cfg.FreezeTimeout == 0 {
		cfg.FreezeTimeout = time.Second
	}
	if os.Geteuid() != 0 {
		// Without root this would need a user namespace and delegated cgroups.
		return nil, fmt.Errorf("%w: the linux sandbox driver must run as root", sandbox.ErrUnsupported)
	}
	d := &Driver{cfg: cfg, log: cfg.Logger, envs: map[string]*env{}, rootDir: filepath.Join(cfg.RunDir, "root")}
	ok := false
	defer func() {
		if !ok {
			d.release()
		}
	}()
	if err := os.MkdirAll(d.rootDir, 0o700); err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(cfg.RunDir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open run directory lock: %w", err)
	}
	d.lock = lock
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil, fmt.Errorf("lock %s (is another server using it?): %w", cfg.RunDir, err)
	}
	if d.seccomp, err = seccompProgram(); err != nil {
		return nil, err
	}
	if d.cgroups, err = newCgroupParent(cfg.CgroupRoot, cfg.CgroupParent); err != nil {
		return nil, err
	}
	if err := d.removeLeftovers(); err != nil {
		return nil, err
	}
	if d.devNull, err = os.Open(os.DevNull); err != nil {
		return nil, err
	}
	view, err := newProcView("/proc", time.Now())
	if err != nil {
		return nil, err
	}
	d.overlay = hasFilesystem("overlay")
	// Cgroup names differ from those of any earlier driver, to keep logs of a restart clear.
	var run [4]byte
	rand.Read(run[:])
	d.inits = newInitPool(max(cfg.InitPool, 0), func() (*proc, error) {
		// Each init gets a plan of its own: its environment's boot_id is in it.
		boot := bootPlan(d.rootDir, &view).Encode(nil)
		return spawnProc(d.devNull, d.cgroups, fmt.Sprintf("env-%x-%d", run, d.seq.Add(1)), boot)
	})
	if d.anchor, err = newFreezeAnchor(d.cgroups); err != nil {
		// Only thawing is slower without it.
		d.log.Warn("no freeze anchor", "err", err)
	}
	ok = true
	return d, nil
}

// hasFilesystem reports whether the kernel has file system type name (built in or loaded).
func hasFilesystem(name string) bool {
	b, err := os.ReadFile("/proc/filesystems")
	return err == nil && strings.Contains(string(b), "\t"+name+"\n")
}

// removeLeftovers kills and removes the environments of a server that did not shut down.
func (d *Driver) removeLeftovers() error {
	names, err := d.cgroups.children()
	if err != nil {
		return fmt.Errorf("list leftover environments: %w", err)
	}
	for _, id := range names {
		cg, err := d.cgroups.load(id)
		if err != nil {
			continue // deleted meanwhile
		}
		if err := killAll(cg); err != nil {
			return fmt.Errorf("kill leftover environment %s: %w", id, err)
		}
		if err := cg.delete(); err != nil {
			return fmt.Errorf("remove leftover environment %s: %w", id, err)
		}
		d.log.Info("removed leftover execution environment", "id", id)
	}
	return nil
}

// Close destroys every environment, waits until they are removed, and releases the run
// directory. The parent cgroup is removed too; a later New recreates it.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	envs := make([]*env, 0, len(d.envs))
	for _, e := range d.envs {
		envs = append(envs, e)
	}
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range envs {
		wg.Go(func() { d.Destroy(context.Background(), e.id) })
	}
	wg.Wait()
	d.removing.Wait()
	d.inits.close()
	d.inits = nil
	err := errors.Join(d.anchor.remove(), d.cgroups.remove())
	// Leave nothing in the run directory: the root mount point is empty once every
	// environment is gone, and the lock file goes while it is still held.
	os.Remove(d.rootDir)
	os.Remove(filepath.Join(d.cfg.RunDir, "lock"))
	d.release()
	os.Remove(d.cfg.RunDir) // only if nothing else is in it
	return err
}

func (d *Driver) release() {
	if d.inits != nil {
		d.inits.close()
	}
	if d.devNull != nil {
		d.devNull.Close()
	}
	if d.lock != nil {
		d.lock.Close() // releases the flock
	}
}

func (d *Driver) get(id string) (*env, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.envs[id]
	if e == nil {
		return nil, fmt.Errorf("%w: %s", sandbox.ErrNotFound, id)
	}
	return e, nil
}

// Create builds the environment and leaves its init waiting for Start.
func (d *Driver) Create(ctx context.Context, spec sandbox.Spec) (err error) {
	spec = spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return err
	}
	plan, err := buildPlan(spec, d.rootDir, d.seccomp, d.overlay)
	if err != nil {
		return err
	}
	direct := directOutput(plan, spec)
	msg := plan.Encode(nil)
	if len(msg) > nsinit.MaxPlanSize {
		return fmt.Errorf("%w: %s: arguments, environment and mounts take %d bytes, more than %d",
			sandbox.ErrInvalidSpec, spec.ID, len(msg), nsinit.MaxPlanSize)
	}

	e := newEnv(spec)
	e.mu.Lock()
	defer e.mu.Unlock()
	d.mu.Lock()
	switch {
	case d.closed:
		d.mu.Unlock()
		return fmt.Errorf("create %s: driver closed", spec.ID)
	case d.envs[spec.ID] != nil:
		d.mu.Unlock()
		return fmt.Errorf("%w: %s", sandbox.ErrExists, spec.ID)
	}
	d.envs[spec.ID] = e
	d.mu.Unlock()
	defer func() {
		if err != nil {
			e.mu.Unlock()
			e.destroyOnce.Do(func() { d.destroy(e) })
			e.mu.Lock()
		}
	}()

	pr, err := d.inits.get()
	if err != nil {
		return fmt.Errorf("create %s: %w", spec.ID, err)
	}
	e.adopt(pr, plan.Stdout != 0, plan.Stderr != 0)
	e.reaping = true
	go e.reap()
	// The init builds the root on the other core while this one sets the limits; until
	// then it runs under bootLimits.
	if err := sendWithFiles(ctx, e.ctl, msg, direct); err != nil {
		return fmt.Errorf("create %s: send plan: %w", spec.ID, err)
	}
	limits := limitsFor(spec)
	if d.cfg.InitCPUBoost > 0 {
		limits.cpuQuota = max(limits.cpuQuota, sandbox.CPUPeriod)
		e.boost = time.AfterFunc(d.cfg.InitCPUBoost, func() { d.endInit(e) })
	}
	if err := e.cg.update(limits); err != nil {
		return fmt.Errorf("create %s: set limits: %w", spec.ID, err)
	}
	reply, _, err := e.ctl.recv(ctx)
	if err != nil {
		return fmt.Errorf("create %s: %w", spec.ID, err)
	}
	switch {
	case len(reply) == 1 && reply[0] == nsinit.MsgReady:
		// Peak memory counts from here: the init's own start-up is not the function's.
		if err := e.cg.resetPeak(); err != nil {
			return fmt.Errorf("create %s: %w", spec.ID, err)
		}
		return nil
	case len(reply) > 0 && reply[0] == nsinit.MsgSetupError:
		return fmt.Errorf("create %s: %s", spec.ID, reply[1:])
	}
	return fmt.Errorf("create %s: unexpected reply %q from init", spec.ID, reply)
}

// directOutput sets which of the spec's writers the program gets as descriptors, and returns
// them in the order the plan refers to them.
func directOutput(plan *nsinit.Plan, spec sandbox.Spec) []*os.File {
	var files []*os.File
	index := func(w io.Writer) uint8 {
		f, ok := w.(*os.File)
		if !ok || f == nil {
			return 0
		}
		for i, g := range files {
			if g == f {
				return uint8(i + 1)
			}
		}
		files = append(files, f)
		return uint8(len(files))
	}
	plan.Stdout = index(spec.Stdout)
	plan.Stderr = index(spec.Stderr)
	return files
}

// sendWithFiles sends msg with duplicates of files' descriptors attached. It duplicates them
// through SyscallConn, because File.Fd would switch a non-blocking file to blocking.
func sendWithFiles(ctx context.Context, c *control, msg []byte, files []*os.File) error {
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, f := range files {
		rc, err := f.SyscallConn()
		if err != nil {
			return err
		}
		var derr error
		if err := rc.Control(func(fd uintptr) {
			var nfd int
			nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
			if derr == nil {
				fds = append(fds, nfd)
			}
		}); err != nil {
			return err
		}
		if derr != nil {
			return derr
		}
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	return c.send(ctx, msg, oob)
}

// Start execs the program.
func (d *Driver) Start(ctx context.Context, id string) error {
	e, err := d.get(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != created {
		return fmt.Errorf("%w: start %s: %s", sandbox.ErrState, id, e.state)
	}
	e.state = started
	// A frozen init could not answer.
	if err := e.thawLocked(); err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	if err := e.ctl.send(ctx, []byte{nsinit.MsgStart}, nil); err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	reply, _, err := e.ctl.recv(ctx)
	e.ctl.close()
	switch {
	case errors.Is(err, io.EOF):
		return nil // the control socket is close-on-exec: the exec succeeded
	case err != nil:
		return fmt.Errorf("start %s: %w", id, err)
	case len(reply) >= 5 && reply[0] == nsinit.MsgExecError:
		errno := syscall.Errno(uint32(reply[1]) | uint32(reply[2])<<8 | uint32(reply[3])<<16 | uint32(reply[4])<<24)
		return &sandbox.ExecError{Path: e.spec.Args[0], Err: execErr{errno: errno, text: string(reply[5:])}}
	}
	return fmt.Errorf("start %s: unexpected reply %q from init", id, reply)
}

// execErr is the init's report of a failed exec: the errno for errors.Is, the step for people.
type execErr struct {
	errno syscall.Errno
	text  string
}

func (e execErr) Error() string { return e.text }
func (e execErr) Unwrap() error { return e.errno }

// Wait returns how the program ended, once all of its output is delivered.
func (d *Driver) Wait(ctx context.Context, id string) (sandbox.ExitStatus, error) {
	e, err := d.get(id)
	if err != nil {
		return sandbox.ExitStatus{}, err
	}
	select {
	case <-e.done:
		return e.status, nil
	case <-ctx.Done():
		return sandbox.ExitStatus{}, fmt.Errorf("wait %s: %w", id, ctx.Err())
	}
}

// Stop sends SIGTERM to every process, then SIGKILL after grace.
func (d *Driver) Stop(ctx context.Context, id string, grace time.Duration) error {
	e, err := d.get(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.state == created {
		// Nothing of the function runs yet: there is nobody to ask politely.
		e.state = stopped
		grace = 0
	} else if grace > 0 && !e.hasExited() {
		e.thawLocked()
		if err := signalAll(e.cg, syscall.SIGTERM); err != nil {
			d.log.Warn("signal execution environment", "id", id, "err", err)
		}
	}
	e.mu.Unlock()

	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-e.exited:
		return nil
	case <-timer.C:
	case <-ctx.Done():
		return fmt.Errorf("stop %s: %w", id, ctx.Err())
	}
	e.mu.Lock()
	err = e.killLocked()
	if kerr := e.cg.kill(); err == nil {
		err = kerr
	}
	e.mu.Unlock()
	if err != nil {
		d.log.Warn("kill execution environment", "id", id, "err", err)
	}
	select {
	case <-e.exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop %s: %w", id, ctx.Err())
	}
}

// Destroy ends the environment at once and removes what is left of it in the background.
// Unknown IDs are not an error.
//
// The answer to an invocation that timed out waits for Destroy, so it must not wait for a
// hostile program to die: a fork bomb's processes take milliseconds to exit even with
// nothing holding them back, and the cgroup can only go once they have. Destroy returns once
// pid 1 has been killed with nothing holding it back (killLocked), the output is cut off and
// the ID is free; remove does the rest.
func (d *Driver) Destroy(ctx context.Context, id string) error {
	d.mu.Lock()
	e := d.envs[id]
	d.mu.Unlock()
	if e == nil {
		return nil
	}
	e.destroyOnce.Do(func() { d.destroy(e) })
	return e.destroyErr
}

// destroy is Destroy's part that the caller waits for; Create calls it when it fails.
func (d *Driver) destroy(e *env) {
	e.mu.Lock()
	e.state = destroyed
	if e.procStatm != nil {
		e.procStatm.Close()
	}
	for _, l := range e.listeners {
		l.Close()
	}
	var err error
	if e.pidfd != nil {
		err = e.killLocked()
		if !e.reaping {
			// Create failed before it started the reaper.
			e.reaping = true
			go e.reap()
		}
	}
	e.mu.Unlock()
	e.output.close()
	d.mu.Lock()
	delete(d.envs, e.id)
	d.removing.Add(1)
	d.mu.Unlock()
	go d.remove(e)
	if err != nil {
		e.destroyErr = fmt.Errorf("destroy %s: %w", e.id, err)
	}
}

// remove waits for a destroyed environment's processes to be gone and removes its cgroup.
func (d *Driver) remove(e *env) {
	defer d.removing.Done()
	defer close(e.removed)
	var errs []error
	if e.pidfd != nil {
		// pid 1 is reaped only after every other process of its namespace, and normally that
		// is at once. But every process of a fork bomb spins, and pid 1 gets its share of the
		// CPU among hundreds: waiting for it to die and take the others with it can take
		// seconds under load. Then every process is killed directly (each needs one turn on
		// the CPU to die), with the CPU given to the dying first.
		select {
		case <-e.exited:
		case <-time.After(killEscalation):
			d.prioritize(+1)
			if err := e.cg.kill(); err != nil {
				errs = append(errs, err)
			}
			select {
			case <-e.exited:
			case <-time.After(exitTimeout):
				errs = append(errs, fmt.Errorf("pid %d did not exit after SIGKILL", e.pid))
			}
			d.prioritize(-1)
		}
	}
	if e.cg != nil {
		if err := removeCgroup(e.cg); err != nil {
			errs = append(errs, err)
		}
	}
	if e.pidfd != nil {
		<-e.done // output is drained once the last writer is gone
		e.pidfd.Close()
	}
	e.ctl.close()
	if err := errors.Join(errs...); err != nil {
		d.log.Error("remove execution environment", "id", e.id, "err", err)
	}
}

// prioritize counts an environment in (+1) or out (-1) of those being killed. A killed
// process needs a turn on the CPU to die, and all environments share the weight of the
// parent cgroup, which is that of one process of the host: on a loaded host the hundreds of
// processes of a fork bomb took seconds to get their turns. While any environment is being
// killed, the parent outweighs the host's processes; the other environments in it stay
// within their own quotas.
func (d *Driver) prioritize(delta int) {
	d.dyingMu.Lock()
	defer d.dyingMu.Unlock()
	d.dying += delta
	if (delta > 0 && d.dying == 1) || d.dying == 0 {
		if err := d.cgroups.prioritize(d.dying > 0); err != nil {
			d.log.Warn("set the CPU weight of the environments' cgroup", "err", err)
		}
	}
}

// removeCgroup removes an environment's cgroup once its pid 1 is gone. Normally the cgroup
// is empty by then and one rmdir per controller is all there is to do. If it is not,
// something outlived pid 1 and is killed the slow way; rmdir is retried for a while, as the
// kernel may count a process a moment after it has been reaped.
func removeCgroup(cg cgroup) error {
	if cg.delete() == nil {
		return nil
	}
	if err := killAll(cg); err != nil {
		return err
	}
	deadline := time.Now().Add(emptyTimeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		err := cg.delete()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(delay)
	}
}

// EndInit ends the environment's CPU boost: from now on it gets what its memory buys.
func (d *Driver) EndInit(ctx context.Context, id string) error {
	e, err := d.get(id)
	if err != nil {
		return err
	}
	return d.endInit(e)
}

func (d *Driver) endInit(e *env) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.boost == nil || e.state == destroyed {
		return nil
	}
	e.boost.Stop()
	e.boost = nil
	if err := e.cg.updateCPU(limitsFor(e.spec).cpuQuota); err != nil {
		return fmt.Errorf("end init of %s: %w", e.id, err)
	}
	return nil
}

// Stats reports the environment's current and peak memory.
func (d *Driver) Stats(ctx context.Context, id string) (sandbox.Stats, error) {
	e, err := d.get(id)
	if err != nil {
		return sandbox.Stats{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cg == nil || e.state == destroyed {
		return sandbox.Stats{}, fmt.Errorf("%w: stats %s: %s", sandbox.ErrState, id, e.state)
	}
	usage, peak, err := e.cg.memoryUsage()
	if err != nil {
		return sandbox.Stats{}, fmt.Errorf("stats %s: %w", id, err)
	}
	return sandbox.Stats{MemoryBytes: usage, PeakMemoryBytes: max(peak, usage, e.peakRSSLocked())}, nil
}

// peakRSSLocked is the largest resident set the program has shown to Stats, or 0 before
// Start or when it cannot be read. It reads /proc/PID/statm (about 1.5 µs, a fifth of what
// status with its VmHWM costs); spikes within an invocation show in the cgroup's peak anyway.
func (e *env) peakRSSLocked() uint64 {
	if e.state != started {
		return e.peakRSS
	}
	if e.procStatm == nil {
		f, err := os.Open("/proc/" + strconv.Itoa(e.pid) + "/statm")
		if err != nil {
			return e.peakRSS
		}
		e.procStatm = f
	}
	var buf [128]byte
	n, _ := e.procStatm.ReadAt(buf[:], 0)
	// size resident shared text lib data dt, in pages
	fields := strings.Fields(string(buf[:n]))
	if len(fields) < 2 {
		return e.peakRSS
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err == nil {
		e.peakRSS = max(e.peakRSS, pages*uint64(os.Getpagesize()))
	}
	return e.peakRSS
}

// killAll kills every process in cg and waits until none is left: the sweep for processes
// that outlived their namespace's pid 1 (none should) and for what a crashed server left.
func killAll(cg cgroup) error {
	if err := cg.unthrottle(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	deadline := time.Now().Add(emptyTimeout)
	for {
		pids, err := cg.procs()
		if err != nil || len(pids) == 0 {
			return err
		}
		if err := cg.kill(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v survive SIGKILL", pids)
		}
		time.Sleep(time.Millisecond)
	}
}

// signalAll sends sig to every process in cg. Each pid is pinned with a pidfd and then checked
// to be in cg still, so that a pid recycled since the list was read is never signalled.
// (Freezing the cgroup around the list would do the same, but a freeze can wait without end
// for a task in uninterruptible sleep.)
func signalAll(cg cgroup, sig syscall.Signal) error {
	pids, err := cg.procs()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // gone already
		}
		if inCgroup(pid, cg.rel()) {
			if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && err != unix.ESRCH {
				unix.Close(fd)
				return fmt.Errorf("signal %d: %w", pid, err)
			}
		}
		unix.Close(fd)
	}
	return nil
}

// inCgroup reports whether process pid is in cgroup rel (or below it) in any hierarchy.
func inCgroup(pid int, rel string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && (parts[2] == rel || strings.HasPrefix(parts[2], rel+"/")) {
			return true
		}
	}
	return false
}
