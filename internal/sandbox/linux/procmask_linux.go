package linux

import (
	"crypto/rand"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nimbusfaas/nimbus/internal/sandbox/linux/nsinit"
)

// What an environment's /proc hides of the host. A fresh proc mount shows only the pid
// namespace's processes, but much of it is the kernel's view of the whole machine.
var (
	// maskedProcFiles are bound over with /dev/null, as runc and Docker do: kernel memory,
	// keyrings, timers and the scheduler's internals, and per-CPU interrupt counts, which
	// reveal the host's hardware and what its other tenants are doing.
	maskedProcFiles = []string{"interrupts", "kcore", "keys", "latency_stats", "sched_debug", "timer_list", "timer_stats"}
	// maskedProcDirs are covered by an empty read-only tmpfs: the host's devices, drivers,
	// file systems and interrupt routing, and its pressure stall figures. Docker masks acpi,
	// asound and scsi and makes bus, fs and irq read-only; here none of them is readable.
	maskedProcDirs = []string{"acpi", "asound", "bus", "driver", "fs", "irq", "pressure", "scsi"}
)

// procView is what an environment sees in place of the host's figures in /proc, in the way
// LXCFS shows a container its own: /proc/loadavg and /proc/stat are neutral (an idle machine
// with the CPUs the environment may run on, booted when the driver started), and each
// environment has its own boot_id. Runtimes that count CPUs in /proc/stat (glibc without
// /sys, libuv's os.cpus()) still count right.
type procView struct {
	files, dirs []string // those of maskedProcFiles and maskedProcDirs the kernel has
	loadavg     string
	stat        string
}

// newProcView looks at the host's /proc (under procRoot) to see what the kernel has.
func newProcView(procRoot string, start time.Time) (procView, error) {
	var v procView
	for _, f := range maskedProcFiles {
		if _, err := os.Lstat(procRoot + "/" + f); err == nil {
			v.files = append(v.files, f)
		}
	}
	for _, d := range maskedProcDirs {
		if fi, err := os.Lstat(procRoot + "/" + d); err == nil && fi.IsDir() {
			v.dirs = append(v.dirs, d)
		}
	}
	var cpus unix.CPUSet
	if err := unix.SchedGetaffinity(0, &cpus); err != nil {
		return v, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var stat strings.Builder
	idle := " 0 0 0 0 0 0 0 0 0 0\n"
	stat.WriteString("cpu " + idle)
	for i := range len(cpus) * 64 {
		if cpus.IsSet(i) {
			stat.WriteString("cpu" + strconv.Itoa(i) + idle)
		}
	}
	stat.WriteString("intr 0\nctxt 0\nbtime " + strconv.FormatInt(start.Unix(), 10) +
		"\nprocesses 1\nprocs_running 1\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n")
	v.stat = stat.String()
	v.loadavg = "0.00 0.00 0.00 1/1 1\n"
	return v, nil
}

// stageDir is where the init stages what it mounts from the root tmpfs: the directory under
// /tmp, which the environment's own /tmp covers afterwards.
const stageDir = "/tmp"

// emptyLower is the empty directory, in stageDir, that every hiding overlay (see hide) has
// as its second lower layer: a read-only overlay needs two.
const emptyLower = "empty"

// maskProc plans the masks over the freshly mounted /proc. The replacement files are written
// to a small tmpfs of their own, made read-only, bound into /proc and detached again, so that
// /proc/self/mountinfo shows them as "/stat" of a tmpfs rather than as a path of the root.
func (p *planner) maskProc(v *procView) {
	stage := p.host(stageDir)
	p.op(nsinit.Op{Kind: nsinit.OpMount, Source: "tmpfs", Path: stage, FSType: "tmpfs",
		Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, Data: "size=64k,nr_inodes=16,mode=755"})
	files := map[string]string{
		"/proc/loadavg":                   v.loadavg,
		"/proc/stat":                      v.stat,
		"/proc/sys/kernel/random/boot_id": newBootID(),
	}
	for _, name := range sortedKeys(files) {
		base := name[strings.LastIndexByte(name, '/'):]
		p.op(nsinit.Op{Kind: nsinit.OpWriteFile, Path: stage + base, Mode: 0o444, Data: files[name]})
	}
	p.op(nsinit.Op{Kind: nsinit.OpMount, Path: stage,
		Flags: unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC})
	for _, name := range sortedKeys(files) {
		base := name[strings.LastIndexByte(name, '/'):]
		p.op(nsinit.Op{Kind: nsinit.OpMount, Source: stage + base, Path: p.host(name), Flags: unix.MS_BIND})
	}
	p.op(nsinit.Op{Kind: nsinit.OpUnmount, Path: stage})
	for _, f := range v.files {
		p.op(nsinit.Op{Kind: nsinit.OpMount, Source: p.host("/dev/null"), Path: p.host("/proc/" + f), Flags: unix.MS_BIND})
	}
	for _, d := range v.dirs {
		p.op(nsinit.Op{Kind: nsinit.OpMount, Source: "tmpfs", Path: p.host("/proc/" + d), FSType: "tmpfs",
			Flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, Data: "size=4k,nr_inodes=2,mode=555"})
	}
}

// hide plans a read-only mount of host directory real at at (inside the root) that does not
// show real in /proc/self/mountinfo, which a bind mount would: a bind mount's root is the
// path of its directory within its file system, whatever it was bound from, so binding from
// a neutrally named place shows the same host path. An overlay's root is its own, and it
// shows its lower directories as they were given: name, a symlink to real in stageDir
// (covered by /tmp later), resolved relative to stageDir, the working directory. It costs
// ~0.1-0.2 ms more than a bind mount; xino=off skips a look at the lower file system's inode
// numbers that a read-only overlay does not need.
func (p *planner) hide(real, at, name string) {
	if !p.chdirDone {
		p.op(nsinit.Op{Kind: nsinit.OpChdir, Path: p.host(stageDir)})
		p.chdirDone = true
	}
	p.op(nsinit.Op{Kind: nsinit.OpSymlink, Path: p.host(stageDir + "/" + name), Source: real})
	p.op(nsinit.Op{Kind: nsinit.OpMount, Source: "none", Path: p.host(at), FSType: "overlay",
		Flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV, Data: "lowerdir=" + name + ":" + emptyLower + ",xino=off"})
}

// newBootID is a random version 4 UUID, as the kernel makes boot_id.
func newBootID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x\n", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
