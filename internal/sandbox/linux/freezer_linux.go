package linux

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"

	"github.com/nimbusfaas/nimbus/internal/sandbox"
)

// Freezing an idle environment and thawing it for its next invocation. The thaw is on the
// invocation's path, so it is a single write to a descriptor kept open: the library's
// Freeze and Thaw open, truncate and read back the control file on every call, which took
// 94-123 µs per thaw on a loaded 2-CPU VM, against about 15 µs for the write alone.
//
// Freezing is not instant: the kernel stops each process at its next return to user space
// or interruptible sleep, and one in uninterruptible sleep (waiting for a disk, a FUSE
// server, or the memory cgroup's OOM handling) does not stop until it wakes, which may be
// never. So Freeze waits a bounded time without holding the environment's lock, and gives up
// leaving the environment as it was.

// Poll intervals of Freeze's wait for the processes to stop: most environments stop within
// a millisecond.
const (
	freezePoll    = 100 * time.Microsecond
	maxFreezePoll = time.Millisecond
)

// Freeze stops every process of the environment until Thaw. It returns once all of them
// have stopped. If they have not within Config.FreezeTimeout, or ctx ends first, it thaws
// the environment and returns an error: the environment then runs as before. Neither Thaw,
// Stats nor Destroy waits for a Freeze under way; a Thaw or Destroy meanwhile ends it with an
// error.
func (d *Driver) Freeze(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("freeze %s: %w", id, err)
	}
	e, err := d.get(id)
	if err != nil {
		return err
	}
	thaws, err := e.beginFreeze()
	if err != nil {
		return fmt.Errorf("freeze %s: %w", id, err)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, d.cfg.FreezeTimeout,
		fmt.Errorf("not every process stopped within %v (one may be in uninterruptible sleep)", d.cfg.FreezeTimeout))
	defer cancel()
	timer := time.NewTimer(freezePoll)
	defer timer.Stop()
	for delay := freezePoll; ; delay = min(2*delay, maxFreezePoll) {
		frozen, err := e.cg.frozen()
		if err == nil && frozen {
			// A cgroup emptied by a Destroy meanwhile reads FROZEN too.
			if e.interrupted(thaws) {
				return fmt.Errorf("freeze %s: %w", id, errThawed)
			}
			return nil
		}
		if err == nil {
			timer.Reset(delay)
			select {
			case <-timer.C:
				err = e.refreeze(thaws)
			case <-ctx.Done():
				err = context.Cause(ctx)
			}
		}
		if err != nil {
			if interrupted, terr := e.abandonFreeze(thaws); interrupted {
				err = errThawed // what failed is moot: the cgroup may be gone
			} else if terr != nil {
				err = errors.Join(err, terr)
			}
			return fmt.Errorf("freeze %s: %w", id, err)
		}
	}
}

// Thaw resumes a frozen environment (or one being frozen). Thawing one that is not frozen
// does nothing.
func (d *Driver) Thaw(ctx context.Context, id string) error {
	e, err := d.get(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cg == nil || e.state == destroyed {
		return fmt.Errorf("%w: thaw %s: %s", sandbox.ErrState, id, e.state)
	}
	if err := e.thawLocked(); err != nil {
		return fmt.Errorf("thaw %s: %w", id, err)
	}
	return nil
}

// errThawed ends a Freeze whose environment was thawed or destroyed while it waited.
var errThawed = fmt.Errorf("%w: thawed or destroyed while freezing", sandbox.ErrState)

// beginFreeze asks the kernel to freeze the environment and returns how many thaws it has
// seen, for the waiting Freeze to notice a thaw meanwhile.
func (e *env) beginFreeze() (thaws uint64, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cg == nil || e.state == destroyed {
		return 0, fmt.Errorf("%w: %s", sandbox.ErrState, e.state)
	}
	if err := e.cg.freeze(); err != nil {
		return 0, err
	}
	e.frozen = true
	return e.thaws, nil
}

// refreeze asks the kernel again, as runc does: on cgroup v1 a process forked while the
// cgroup was freezing could escape the first request on older kernels. It fails if the
// environment was thawed or destroyed since the Freeze began.
func (e *env) refreeze(thaws uint64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.thaws != thaws || e.state == destroyed {
		return errThawed
	}
	return e.cg.freeze()
}

// interrupted reports whether the environment was thawed or destroyed since a Freeze began.
func (e *env) interrupted(thaws uint64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.thaws != thaws || e.state == destroyed
}

// abandonFreeze thaws an environment that did not freeze in time, unless something else
// thawed or destroyed it meanwhile (interrupted).
func (e *env) abandonFreeze(thaws uint64) (interrupted bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.thaws != thaws || e.state == destroyed {
		return true, nil
	}
	return false, e.thawLocked()
}

// thawLocked thaws the environment if it is frozen or being frozen. Every thaw goes through
// here, so that a Freeze waiting meanwhile learns of it.
func (e *env) thawLocked() error {
	if !e.frozen {
		return nil
	}
	e.thaws++
	if err := e.cg.thaw(); err != nil {
		return err
	}
	e.frozen = false
	return nil
}

// freezerFiles is a cgroup's freezer: the file written to freeze and thaw it and the file
// read to learn whether it is frozen (one and the same on cgroup v1), opened on first use and
// kept open until the cgroup is deleted.
type freezerFiles struct {
	mu             sync.Mutex
	control, state *os.File
	// closed is set when the cgroup is deleted: a Freeze still polling must not reopen.
	closed bool
}

func (f *freezerFiles) openLocked(paths func() (control, state string, err error)) error {
	switch {
	case f.closed:
		return os.ErrClosed
	case f.control != nil:
		return nil
	}
	cp, sp, err := paths()
	if err != nil {
		return err
	}
	if cp == sp {
		c, err := os.OpenFile(cp, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		f.control, f.state = c, c
		return nil
	}
	c, err := os.OpenFile(cp, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	s, err := os.Open(sp)
	if err != nil {
		c.Close()
		return err
	}
	f.control, f.state = c, s
	return nil
}

func (f *freezerFiles) write(paths func() (string, string, error), value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.openLocked(paths); err != nil {
		return err
	}
	_, err := f.control.WriteAt([]byte(value), 0)
	return err
}

// read returns the state file's contents.
func (f *freezerFiles) read(paths func() (string, string, error)) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.openLocked(paths); err != nil {
		return "", err
	}
	var buf [128]byte
	n, err := f.state.ReadAt(buf[:], 0)
	if n == 0 && err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func (f *freezerFiles) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.control == nil {
		return
	}
	f.control.Close()
	if f.state != f.control {
		f.state.Close()
	}
	f.control, f.state = nil, nil
}

// cgroup v1: freezer.state is written FROZEN or THAWED and reads FREEZING until every
// process has stopped.

func (g *cgroup1Group) freezerPaths() (string, string, error) {
	dir, err := g.dir(cgroup1.Freezer)
	if err != nil {
		return "", "", err
	}
	state := filepath.Join(dir, "freezer.state")
	return state, state, nil
}

func (g *cgroup1Group) freeze() error { return g.freezer.write(g.freezerPaths, "FROZEN") }
func (g *cgroup1Group) thaw() error   { return g.freezer.write(g.freezerPaths, "THAWED") }

func (g *cgroup1Group) frozen() (bool, error) {
	s, err := g.freezer.read(g.freezerPaths)
	return strings.TrimSpace(s) == "FROZEN", err
}

// cgroup v2: cgroup.freeze is written 1 or 0, and cgroup.events says "frozen 1" once every
// process has stopped.

func (g *cgroup2Group) freezerPaths() (string, string, error) {
	return filepath.Join(g.path, "cgroup.freeze"), filepath.Join(g.path, "cgroup.events"), nil
}

func (g *cgroup2Group) freeze() error { return g.freezer.write(g.freezerPaths, "1") }
func (g *cgroup2Group) thaw() error   { return g.freezer.write(g.freezerPaths, "0") }

func (g *cgroup2Group) frozen() (bool, error) {
	s, err := g.freezer.read(g.freezerPaths)
	for _, line := range strings.Split(s, "\n") {
		if line == "frozen 1" {
			return true, err
		}
	}
	return false, err
}

// anchorName names the freeze anchor's cgroup in the parent. Environments are named env-…,
// and cgroupParent.children leaves the anchor out.
const anchorName = "freeze-anchor"

// freezeAnchor is an empty cgroup of the driver's own, kept frozen from New to Close, on
// cgroup v1. The kernel's v1 freezer turns on a static key (freezer_active) when the first
// cgroup of the host starts freezing and off when the last thaws, and each turn patches the
// kernel's code on every CPU: a lone environment's thaw took 85-117 µs with it and about 12
// without. With the anchor frozen, the count of frozen cgroups never drops to 0. (The key
// only adds a check of the task's cgroup where tasks may freeze, which is negligible; cgroup
// v2's freezer has no such key.)
type freezeAnchor struct{ dir string }

// newFreezeAnchor creates and freezes the anchor on cgroup v1, or returns nil on v2. An
// anchor a crashed driver left behind is taken over.
func newFreezeAnchor(p cgroupParent) (*freezeAnchor, error) {
	p1, ok := p.(*cgroup1Parent)
	if !ok {
		return nil, nil
	}
	subsystems, _ := p1.hierarchy()
	for _, s := range subsystems {
		if s.Name() != cgroup1.Freezer {
			continue
		}
		a := &freezeAnchor{dir: s.(pather).Path(p1.path + "/" + anchorName)}
		if err := os.Mkdir(a.dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("create freeze anchor: %w", err)
		}
		if err := writeControl(filepath.Join(a.dir, "freezer.state"), "FROZEN"); err != nil {
			os.Remove(a.dir)
			return nil, fmt.Errorf("freeze freeze anchor: %w", err)
		}
		return a, nil
	}
	return nil, errors.New("create freeze anchor: no freezer controller")
}

// remove deletes the anchor (an empty cgroup can go frozen), before the parent is removed.
func (a *freezeAnchor) remove() error {
	if a == nil {
		return nil
	}
	if err := os.Remove(a.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove freeze anchor: %w", err)
	}
	return nil
}
