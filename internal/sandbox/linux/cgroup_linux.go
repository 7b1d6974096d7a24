package linux

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nimbusfaas/nimbus/internal/sandbox"
)

// cgroupParent owns the parent cgroup under which every environment gets its own. The two
// implementations put github.com/containerd/cgroups/v3 behind the few operations the driver
// needs, so that the cgroup v2 path this machine cannot exercise is the library's tested code.
type cgroupParent interface {
	create(id string, limits cgroupLimits) (cgroup, error)
	children() ([]string, error)
	load(id string) (cgroup, error)
	// remove deletes the parent itself; it fails if environments remain.
	remove() error
	// prioritize gives the parent the CPU weight of a great many host processes (on), or
	// the default weight of one back (off). See Driver.prioritize.
	prioritize(on bool) error
}

// cgroup is one environment's cgroup (one per controller on v1).
type cgroup interface {
	// rel is the cgroup's path relative to the hierarchy's root, as /proc/PID/cgroup shows it.
	rel() string
	add(pid int) error
	update(cgroupLimits) error
	// updateCPU changes the CPU quota alone (ending the init's boost), a file write rather
	// than update's dozen.
	updateCPU(quota time.Duration) error
	// resetPeak starts peak memory over from the current use, where the kernel allows it
	// (cgroup v1; v2's memory.peak can only be reset per open file).
	resetPeak() error
	// freeze asks the kernel to stop every process, and returns without waiting for them
	// to stop; frozen reports whether all have. thaw resumes them at once. (See
	// freezer_linux.go.)
	freeze() error
	frozen() (bool, error)
	thaw() error
	// unthrottle lifts the CPU quota. A process with SIGKILL pending must run to die, and a
	// throttled one waits for its next share: a fork bomb's hundreds of processes sharing
	// a 128 MB function's 7 ms per 100 ms took minutes to die of a SIGKILL.
	unthrottle() error
	// kill sends SIGKILL to every process in the cgroup and returns without waiting for
	// them to die. Frozen processes die too.
	kill() error
	procs() ([]int, error)
	memory() (memoryStats, error)
	// memoryUsage is the cheap part of memory, read after every invocation for its REPORT
	// line: current and peak use only, from files kept open.
	memoryUsage() (usage, peak uint64, err error)
	delete() error
}

type cgroupLimits struct {
	// noSwap limits memory+swap to memoryBytes. Boot limits leave it out: on v1 the sum may
	// never be below the memory limit, so a later, higher memory limit would be refused.
	noSwap      bool
	memoryBytes int64
	cpuQuota    time.Duration
	cpuShares   uint64
	pids        int64
}

type memoryStats struct {
	usage, peak uint64
	// oomKills counts processes the OOM killer killed; limitHits counts allocations that hit
	// the limit (older kernels only report the latter).
	oomKills, limitHits uint64
}

func limitsFor(s sandbox.Spec) cgroupLimits {
	return cgroupLimits{
		noSwap:      true,
		memoryBytes: int64(s.MemoryMB) << 20,
		cpuQuota:    sandbox.CPUQuota(s.MemoryMB),
		cpuShares:   sandbox.CPUShares(s.MemoryMB),
		pids:        sandbox.PidsLimit,
	}
}

func (l cgroupLimits) oci(swap bool) *specs.LinuxResources {
	period := uint64(sandbox.CPUPeriod / time.Microsecond)
	quota := int64(l.cpuQuota / time.Microsecond)
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &l.memoryBytes},
		CPU:    &specs.LinuxCPU{Shares: &l.cpuShares, Quota: &quota, Period: &period},
		Pids:   &specs.LinuxPids{Limit: &l.pids},
	}
	if swap && l.noSwap {
		// memory+swap equal to memory: no swap at all.
		r.Memory.Swap = &l.memoryBytes
	}
	return r
}

// cpuQuotaResources sets the CPU quota (and its period, which cgroup v2 writes with it) and
// nothing else.
func cpuQuotaResources(quota time.Duration) *specs.LinuxResources {
	period := uint64(sandbox.CPUPeriod / time.Microsecond)
	q := int64(quota / time.Microsecond)
	return &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &q, Period: &period}}
}

// newCgroupParent detects the host's cgroup version and creates (or adopts) the parent.
func newCgroupParent(root, name string) (cgroupParent, error) {
	if isCgroup2(root) {
		return newCgroup2Parent(root, name)
	}
	return newCgroup1Parent(root, name)
}

// isCgroup2 tells a unified hierarchy (v2) from a directory of v1 hierarchies, as the library's
// cgroups.Mode does for the default mount point.
func isCgroup2(root string) bool {
	var st unix.Statfs_t
	return unix.Statfs(root, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// cgroup v1: memory, cpu, pids and freezer hierarchies, each mounted at root/<name>.

type cgroup1Parent struct {
	path      string
	hierarchy cgroup1.Hierarchy
	// stats reads memory statistics without the swap and kernel files it does not need.
	stats cgroup1.Hierarchy
	swap  bool
}

type pather interface{ Path(string) string }

func newCgroup1Parent(root, name string) (*cgroup1Parent, error) {
	subsystems := []cgroup1.Subsystem{
		cgroup1.NewMemory(root), cgroup1.NewCpu(root), cgroup1.NewPids(root), cgroup1.NewFreezer(root),
	}
	for _, s := range subsystems {
		if _, err := os.Lstat(s.(pather).Path("/")); err != nil {
			return nil, fmt.Errorf("%w: cgroup v1 controller %s: %w", sandbox.ErrUnsupported, s.Name(), err)
		}
	}
	stats := []cgroup1.Subsystem{cgroup1.NewMemory(root, cgroup1.IgnoreModules("memsw", "kmem", "kmem.tcp"))}
	p := &cgroup1Parent{
		path:      "/" + name,
		hierarchy: func() ([]cgroup1.Subsystem, error) { return subsystems, nil },
		stats:     func() ([]cgroup1.Subsystem, error) { return stats, nil },
	}
	_, err := os.Stat(filepath.Join(root, "memory", "memory.memsw.limit_in_bytes"))
	p.swap = err == nil
	if _, err := cgroup1.New(cgroup1.StaticPath(p.path), &specs.LinuxResources{}, cgroup1.WithHierarchy(p.hierarchy)); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", p.path, err)
	}
	return p, nil
}

func (p *cgroup1Parent) create(id string, l cgroupLimits) (cgroup, error) {
	path := cgroup1.StaticPath(p.path + "/" + id)
	cg, err := cgroup1.New(path, l.oci(p.swap), cgroup1.WithHierarchy(p.hierarchy))
	if err != nil {
		// New stops at the first controller that fails; remove what it made.
		if old, lerr := cgroup1.Load(path, cgroup1.WithHierarchy(p.hierarchy)); lerr == nil {
			old.Delete()
		}
		return nil, fmt.Errorf("create cgroup %s/%s: %w", p.path, id, err)
	}
	return &cgroup1Group{cg: cg, path: path, relPath: p.path + "/" + id, stats: p.stats, swap: p.swap}, nil
}

func (p *cgroup1Parent) load(id string) (cgroup, error) {
	path := cgroup1.StaticPath(p.path + "/" + id)
	cg, err := cgroup1.Load(path, cgroup1.WithHierarchy(p.hierarchy))
	if err != nil {
		return nil, err
	}
	return &cgroup1Group{cg: cg, path: path, relPath: p.path + "/" + id, stats: p.stats, swap: p.swap}, nil
}

func (p *cgroup1Parent) children() ([]string, error) {
	subsystems, _ := p.hierarchy()
	seen := map[string]bool{}
	var names []string
	for _, s := range subsystems {
		entries, err := os.ReadDir(s.(pather).Path(p.path))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() && !seen[e.Name()] && e.Name() != anchorName {
				seen[e.Name()] = true
				names = append(names, e.Name())
			}
		}
	}
	return names, nil
}

func (p *cgroup1Parent) remove() error {
	cg, err := cgroup1.Load(cgroup1.StaticPath(p.path), cgroup1.WithHierarchy(p.hierarchy))
	if errors.Is(err, cgroup1.ErrCgroupDeleted) {
		return nil
	}
	if err != nil {
		return err
	}
	return cg.Delete()
}

func (p *cgroup1Parent) prioritize(on bool) error {
	shares := "1024"
	if on {
		shares = "262144" // the kernel's maximum
	}
	subsystems, _ := p.hierarchy()
	for _, s := range subsystems {
		if s.Name() == cgroup1.Cpu {
			return writeControl(filepath.Join(s.(pather).Path(p.path), "cpu.shares"), shares)
		}
	}
	return errors.New("no cpu controller")
}

type cgroup1Group struct {
	cg      cgroup1.Cgroup
	path    cgroup1.Path
	relPath string
	stats   cgroup1.Hierarchy
	swap    bool
	usage   counterFiles
	freezer freezerFiles
}

func (g *cgroup1Group) rel() string { return g.relPath }

func (g *cgroup1Group) add(pid int) error { return g.cg.Add(cgroup1.Process{Pid: pid}) }

func (g *cgroup1Group) update(l cgroupLimits) error { return g.cg.Update(l.oci(g.swap)) }

func (g *cgroup1Group) updateCPU(quota time.Duration) error {
	return g.cg.Update(cpuQuotaResources(quota))
}

func (g *cgroup1Group) resetPeak() error {
	p, err := g.path(cgroup1.Memory)
	if err != nil {
		return err
	}
	for _, s := range g.cg.Subsystems() {
		if s.Name() == cgroup1.Memory {
			return os.WriteFile(filepath.Join(s.(pather).Path(p), "memory.max_usage_in_bytes"), []byte("0"), 0)
		}
	}
	return nil
}

// dir is the cgroup's directory in the hierarchy of controller name.
func (g *cgroup1Group) dir(name cgroup1.Name) (string, error) {
	p, err := g.path(name)
	if err != nil {
		return "", err
	}
	for _, s := range g.cg.Subsystems() {
		if s.Name() == name {
			return s.(pather).Path(p), nil
		}
	}
	return "", fmt.Errorf("no %s controller", name)
}

func (g *cgroup1Group) unthrottle() error {
	dir, err := g.dir(cgroup1.Cpu)
	if err != nil {
		return err
	}
	if err := writeControl(filepath.Join(dir, "cpu.cfs_quota_us"), "-1"); err != nil {
		return err
	}
	return writeControl(filepath.Join(dir, "cpu.shares"), "262144")
}

// kill freezes the cgroup so that no process forks or exits between the listing and the
// signals, signals every process, and thaws it: on v1 a frozen process dies only when thawed.
// The freeze needs every process to take a turn on the CPU, which a throttled or
// uninterruptibly sleeping one may not for a long time, so it is waited for only briefly.
// Once the cgroup is frozen no pid in it can be freed and reused, and a kill(2) per process is
// safe; otherwise signalAll pins and checks each one, which costs four times the system calls
// (too many for a server that gets 1/200 of the CPU on a loaded host). Processes not frozen
// yet are signalled all the same, and the caller lists again until none is left.
func (g *cgroup1Group) kill() error {
	dir, err := g.dir(cgroup1.Freezer)
	if err != nil {
		return err
	}
	state := filepath.Join(dir, "freezer.state")
	ferr := writeControl(state, "FROZEN")
	if ferr == nil && waitFrozen(state, freezeWait) {
		err = killFrozen(g)
	} else {
		err = signalAll(g, syscall.SIGKILL)
	}
	if terr := writeControl(state, "THAWED"); ferr == nil {
		ferr = terr
	}
	return errors.Join(err, ferr)
}

// freezeWait bounds how long kill waits for a cgroup v1 freeze.
const freezeWait = 50 * time.Millisecond

// waitFrozen reports whether the freezer state file says FROZEN within wait.
func waitFrozen(state string, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		b, err := os.ReadFile(state)
		if err != nil {
			return false
		}
		if strings.TrimSpace(string(b)) == "FROZEN" {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// killFrozen sends SIGKILL to every process of a frozen cgroup.
func killFrozen(g cgroup) error {
	pids, err := g.procs()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, unix.SIGKILL); err != nil && err != unix.ESRCH {
			return fmt.Errorf("signal %d: %w", pid, err)
		}
	}
	return nil
}
func (g *cgroup1Group) delete() error {
	g.usage.close()
	g.freezer.close()
	if g.rmdir() == nil {
		return nil
	}
	return g.cg.Delete()
}

// rmdir removes the cgroup's directories directly. The library's Delete first walks every
// file of every controller's directory to look for processes (about a millisecond for the
// four of them); rmdir fails by itself if any remain, and then Delete does the rest.
func (g *cgroup1Group) rmdir() error {
	for _, s := range g.cg.Subsystems() {
		p, err := g.path(s.Name())
		if err != nil {
			return err
		}
		if err := os.Remove(s.(pather).Path(p)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func (g *cgroup1Group) procs() ([]int, error) {
	ps, err := g.cg.Processes(cgroup1.Pids, true)
	if err != nil {
		return nil, err
	}
	pids := make([]int, len(ps))
	for i, p := range ps {
		pids[i] = p.Pid
	}
	return pids, nil
}

func (g *cgroup1Group) memoryUsage() (usage, peak uint64, err error) {
	return g.usage.read(func() (string, string, error) {
		for _, sub := range g.cg.Subsystems() {
			if sub.Name() != cgroup1.Memory {
				continue
			}
			p, err := g.path(sub.Name())
			if err != nil {
				return "", "", err
			}
			dir := sub.(pather).Path(p)
			return filepath.Join(dir, "memory.usage_in_bytes"), filepath.Join(dir, "memory.max_usage_in_bytes"), nil
		}
		return "", "", errors.New("no memory controller")
	})
}

func (g *cgroup1Group) memory() (memoryStats, error) {
	cg, err := cgroup1.Load(g.path, cgroup1.WithHierarchy(g.stats))
	if err != nil {
		return memoryStats{}, err
	}
	m, err := cg.Stat()
	if err != nil {
		return memoryStats{}, err
	}
	s := memoryStats{usage: m.Memory.Usage.Usage, peak: m.Memory.Usage.Max, limitHits: m.Memory.Usage.Failcnt}
	if m.MemoryOomControl != nil {
		s.oomKills = m.MemoryOomControl.OomKill
	}
	return s, nil
}

// cgroup v2: one unified hierarchy at root.

type cgroup2Parent struct {
	mountpoint, group string
	m                 *cgroup2.Manager
	swap              bool
}

func newCgroup2Parent(root, name string) (*cgroup2Parent, error) {
	group := "/" + name
	// Empty resources write no limits but enable the controllers for the parent's children.
	res := &cgroup2.Resources{CPU: &cgroup2.CPU{}, Memory: &cgroup2.Memory{}, Pids: &cgroup2.Pids{}}
	m, err := cgroup2.NewManager(root, group, res)
	if err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", group, err)
	}
	// Kernels without swap accounting have no memory.swap.max, and nothing to limit.
	_, err = os.Stat(filepath.Join(root, group, "memory.swap.max"))
	return &cgroup2Parent{mountpoint: root, group: group, m: m, swap: err == nil}, nil
}

func (p *cgroup2Parent) create(id string, l cgroupLimits) (cgroup, error) {
	m, err := p.m.NewChild(id, cgroup2.ToResources(l.oci(p.swap)))
	if err != nil {
		return nil, fmt.Errorf("create cgroup %s/%s: %w", p.group, id, err)
	}
	return &cgroup2Group{m: m, path: filepath.Join(p.mountpoint, p.group, id), relPath: p.group + "/" + id, swap: p.swap}, nil
}

func (p *cgroup2Parent) load(id string) (cgroup, error) {
	m, err := cgroup2.Load(p.group+"/"+id, cgroup2.WithMountpoint(p.mountpoint))
	if err != nil {
		return nil, err
	}
	return &cgroup2Group{m: m, path: filepath.Join(p.mountpoint, p.group, id), relPath: p.group + "/" + id, swap: p.swap}, nil
}

func (p *cgroup2Parent) children() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(p.mountpoint, p.group))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func (p *cgroup2Parent) remove() error { return p.m.Delete() }

func (p *cgroup2Parent) prioritize(on bool) error {
	weight := "100"
	if on {
		weight = "10000" // the kernel's maximum
	}
	return writeControl(filepath.Join(p.mountpoint, p.group, "cpu.weight"), weight)
}

type cgroup2Group struct {
	m       *cgroup2.Manager
	path    string
	relPath string
	swap    bool
	usage   counterFiles
	freezer freezerFiles
}

func (g *cgroup2Group) rel() string { return g.relPath }

func (g *cgroup2Group) add(pid int) error { return g.m.AddProc(uint64(pid)) }

func (g *cgroup2Group) update(l cgroupLimits) error {
	return g.m.Update(cgroup2.ToResources(l.oci(g.swap)))
}

func (g *cgroup2Group) updateCPU(quota time.Duration) error {
	return g.m.Update(cgroup2.ToResources(cpuQuotaResources(quota)))
}

func (g *cgroup2Group) resetPeak() error { return nil }

func (g *cgroup2Group) unthrottle() error {
	err := writeControl(filepath.Join(g.path, "cpu.max"), "max")
	if errors.Is(err, os.ErrNotExist) {
		return nil // no cpu controller, no quota
	}
	if err != nil {
		return err
	}
	return writeControl(filepath.Join(g.path, "cpu.weight"), "10000")
}

// kill writes cgroup.kill (Linux 5.14), which kills every process of the cgroup, frozen
// ones and those forking meanwhile included, in one step. Older kernels get v1's freeze,
// signal and thaw (on v2 a frozen process dies at once, but thawing leaves no frozen cgroup
// behind).
func (g *cgroup2Group) kill() error {
	err := writeControl(filepath.Join(g.path, "cgroup.kill"), "1")
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	freeze := filepath.Join(g.path, "cgroup.freeze")
	ferr := writeControl(freeze, "1")
	err = signalAll(g, syscall.SIGKILL)
	if terr := writeControl(freeze, "0"); ferr == nil {
		ferr = terr
	}
	return errors.Join(err, ferr)
}
func (g *cgroup2Group) delete() error {
	g.usage.close()
	g.freezer.close()
	// As on v1: rmdir fails by itself while processes remain; the library walks first.
	if err := os.Remove(g.path); err == nil || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return g.m.Delete()
}

func (g *cgroup2Group) procs() ([]int, error) {
	ps, err := g.m.Procs(true)
	if err != nil {
		return nil, err
	}
	pids := make([]int, len(ps))
	for i, p := range ps {
		pids[i] = int(p)
	}
	return pids, nil
}

func (g *cgroup2Group) memoryUsage() (usage, peak uint64, err error) {
	return g.usage.read(func() (string, string, error) {
		return filepath.Join(g.path, "memory.current"), filepath.Join(g.path, "memory.peak"), nil
	})
}

func (g *cgroup2Group) memory() (memoryStats, error) {
	m, err := g.m.StatFiltered(cgroup2.StatMemory | cgroup2.StatMemoryEvents)
	if err != nil {
		return memoryStats{}, err
	}
	s := memoryStats{usage: m.Memory.Usage, peak: m.Memory.MaxUsage}
	if e := m.MemoryEvents; e != nil {
		s.oomKills, s.limitHits = e.OomKill, e.Max
	}
	return s, nil
}

// writeControl writes value to an existing cgroup control file. (os.WriteFile would try to
// create a missing one, which a cgroup file system refuses with a less telling error.)
func writeControl(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// counterFiles reads two cgroup counter files (current and peak memory) through descriptors
// opened on first use: a pread of an open file costs about a microsecond, opening and reading
// through the library about 300.
type counterFiles struct {
	mu          sync.Mutex
	usage, peak *os.File
}

func (c *counterFiles) read(paths func() (usage, peak string, err error)) (uint64, uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.usage == nil {
		up, pp, err := paths()
		if err != nil {
			return 0, 0, err
		}
		if c.usage, err = os.Open(up); err != nil {
			return 0, 0, err
		}
		if c.peak, err = os.Open(pp); err != nil {
			c.usage.Close()
			c.usage = nil
			return 0, 0, err
		}
	}
	usage, err := readCounter(c.usage)
	if err != nil {
		return 0, 0, err
	}
	peak, err := readCounter(c.peak)
	return usage, peak, err
}

func (c *counterFiles) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.usage != nil {
		c.usage.Close()
		c.peak.Close()
		c.usage, c.peak = nil, nil
	}
}

func readCounter(f *os.File) (uint64, error) {
	var buf [32]byte
	n, err := f.ReadAt(buf[:], 0)
	if n == 0 && err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(buf[:n])), 10, 64)
}
