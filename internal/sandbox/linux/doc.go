// Package linux is the default sandbox driver: it builds execution environments from Linux
// primitives, the way a container runtime's jailer does, for hosts that cannot boot microVMs.
//
// Each environment is a process tree in new pid, mount, network, ipc, uts and cgroup
// namespaces, in its own cgroup (memory with no swap, CPU in proportion to memory, 1024 pids,
// freezer; cgroup v1 or v2 through github.com/containerd/cgroups/v3), rooted by pivot_root in a
// read-only tmpfs that holds a generated /etc, read-only overlays of the code (/var/task), the
// runtime client (/var/runtime) and the layers (/opt), which unlike bind mounts do not show
// their host paths in /proc/self/mountinfo (see planner.hide), and read-only bind mounts of the
// interpreter's files at their host paths, with a fresh /proc masked like runc's and showing
// the environment's own load, CPU times and boot_id rather than the host's (procView), a
// minimal /dev and a tmpfs /tmp of the configured size. The program runs as an unprivileged user
// with no capabilities, no_new_privs, a seccomp filter (which also limits sockets to the
// families a runtime needs), RLIMIT_NOFILE 1024, only the environment variables it is given and
// no inherited descriptors. Its network namespace has only loopback, where the server can open
// a listener for the Runtime API.
//
// How an environment comes to be. The driver re-executes its own binary (/proc/self/exe) with
// the namespace clone flags; package nsinit takes over that process during package
// initialisation, ~1 ms after exec (see its doc for why not at main). This happens ahead of
// time, in a small pool (initPool): the init gets its cgroup and its network namespace, boots,
// and builds everything of its root that is the same for every environment (the boot plan),
// then waits. Create takes a waiting init, gives its cgroup the environment's limits and sends
// the environment's plan — mounts, /tmp, pivot_root, user, seccomp filter, program — over a
// SOCK_SEQPACKET control socket; every decision in it is made here, in ordinary Go. Listen asks
// the init for a listening socket, passed back with SCM_RIGHTS. Start tells it to drop its
// privileges and exec the program, which then is pid 1 of its namespace: no init stays behind,
// so an idle environment costs nothing beyond its program, and when the program exits the
// kernel kills everything else in the namespace.
//
// While its runtime starts, an environment may use a whole CPU (Config.InitCPUBoost, ended by
// EndInit): CPU bandwidth control hands out runtime in 5 ms slices per CPU, so a 128 MB
// function's 7 ms per 100 ms would otherwise stall a multi-threaded runtime's start for tens
// of milliseconds.
//
// The program's stdout and stderr are pipes that driver goroutines copy into Spec.Stdout and
// Spec.Stderr; the program never holds a descriptor of the server's. The driver waits for
// exits through a pidfd in Go's poller, so an environment costs no OS thread.
//
// Being pid 1 has two consequences programs may notice: signals they do not handle are not
// delivered from inside the namespace (Stop's SIGTERM reaches a Go or Python runtime, whose
// handlers are installed, and SIGKILL always works from outside), and orphaned grandchildren
// are reaped only when the environment ends.
//
// Freezing an idle environment (Freeze, Thaw; freezer_linux.go) keeps what its function left
// running from using the CPU between invocations. Thaw, on the next invocation's path, is one
// write to a control file kept open (~10-30 µs); on cgroup v1 an empty cgroup of the driver's
// own stays frozen, because the kernel patches its code whenever the number of frozen cgroups
// goes between 0 and 1, which cost a thaw ~100 µs. Freeze waits at most
// Config.FreezeTimeout (1 s) for every process to stop (one in uninterruptible sleep may
// never), without holding anything Thaw, Stats or Destroy need, and thaws again if they do
// not; a Thaw or a cancelled context ends it at once.
//
// Killing takes milliseconds whatever the program does. A fork bomb's processes, throttled by
// their own CPU quota, could not run to take a SIGKILL for minutes: Destroy lifts the quota
// and kills pid 1 (which makes the kernel kill the rest of its pid namespace and refuse new
// processes) and returns. In the background, if pid 1 has not died within 10 ms (its
// processes crowd it out), the whole cgroup is killed (cgroup.kill on v2, freeze, signal and
// thaw on v1) while the environments' parent cgroup outweighs the host's processes, so that
// every dying process gets its turn on the CPU at once; the cgroup is removed once empty.
// Close waits for that.
//
// The driver needs root. A crashed server's environments die with it (parent-death signal);
// their cgroups are removed by the next New with the same Config.
package linux
