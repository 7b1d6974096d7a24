package sandboxtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nimbusfaas/nimbus/internal/sandbox"
)

// TestDriver runs the conformance suite against d: what a function inside an environment
// must be able to do, and everything it must fail to do. The subtests run in parallel and
// destroy what they create.
func TestDriver(t *testing.T, d sandbox.Driver) {
	// Anything of the server's own environment must stay out of the function's.
	t.Setenv("NIMBUS_SERVER_SECRET", "hunter2")
	for _, tc := range []struct {
		name string
		f    func(*testing.T, sandbox.Driver)
	}{
		{"Output", testOutput},
		{"OutputToFile", testOutputToFile},
		{"ExitStatus", testExitStatus},
		{"Identity", testIdentity},
		{"Environment", testEnvironment},
		{"FileSystem", testFileSystem},
		{"Network", testNetwork},
		{"MemoryLimit", testMemoryLimit},
		{"PidsLimit", testPidsLimit},
		{"ForkBomb", testForkBomb},
		{"TmpSize", testTmpSize},
		{"OpenFiles", testOpenFiles},
		{"Syscalls", testSyscalls},
		{"Sockets", testSockets},
		{"HostProc", testHostProc},
		{"MountInfo", testMountInfo},
		{"BackgroundProcess", testBackgroundProcess},
		{"Stop", testStop},
		{"Freeze", testFreeze},
		{"FreezeCycles", testFreezeCycles},
		{"FreezeCanceled", testFreezeCanceled},
		{"DestroyFrozen", testDestroyFrozen},
		{"Stats", testStats},
		{"ExecError", testExecError},
		{"Lifecycle", testLifecycle},
		{"Interpreters", testInterpreters},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.f(t, d)
		})
	}
}

func testOutput(t *testing.T, d sandbox.Driver) {
	spec, stdout, stderr := ProbeSpec(t, "hello")
	st := RunToExit(t, d, spec)
	if got, want := st.String(), "exit status 0"; got != want {
		t.Errorf("Wait = %v, want %v", got, want)
	}
	if got, want := stdout.String(), "hello\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got, want := stderr.String(), "to stderr\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
}

// testOutputToFile gives the program a pipe of the test's own for both streams: what the
// program wrote must be in the pipe by the time Wait returns, in order.
func testOutputToFile(t *testing.T, d sandbox.Driver) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	spec, _, _ := ProbeSpec(t, "hello")
	spec.Stdout, spec.Stderr = w, w
	Create(t, d, spec)
	if err := d.Start(ctx(t), spec.ID); err != nil {
		t.Fatal(err)
	}
	w.Close() // the program holds the only write end now
	if st, err := d.Wait(ctx(t), spec.ID); err != nil || st.Code != 0 {
		t.Fatalf("Wait = %v, %v", st, err)
	}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "hello\nto stderr\n" {
		t.Errorf("pipe holds %q, %v; want %q", got, err, "hello\nto stderr\n")
	}
}

func testExitStatus(t *testing.T, d sandbox.Driver) {
	spec, _, _ := ProbeSpec(t, "exit", "3")
	st := RunToExit(t, d, spec)
	want := sandbox.ExitStatus{Code: 3}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Wait (-want +got):\n%s", diff)
	}
	if got := st.String(); got != "exit status 3" {
		t.Errorf("String() = %q, want %q", got, "exit status 3")
	}
	// Wait can be asked again and gives the same answer.
	again, err := d.Wait(ctx(t), spec.ID)
	if err != nil || again != st {
		t.Errorf("second Wait = %v, %v; want %v", again, err, st)
	}
}

type identity struct {
	UID, GID, PID, PPID int
	Groups              []int
	Hostname, Cwd       string
	Status              map[string]string
	FDs                 map[string]string
	Pids                []int
	NoFile              [2]uint64
}

func testIdentity(t *testing.T, d sandbox.Driver) {
	var id identity
	RunJSON(t, d, &id, "whoami")
	if id.UID != sandbox.DefaultUID || id.GID != sandbox.DefaultGID || len(id.Groups) != 0 {
		t.Errorf("uid %d gid %d groups %v, want %d %d none", id.UID, id.GID, id.Groups, sandbox.DefaultUID, sandbox.DefaultGID)
	}
	// A fresh pid namespace and /proc: the function sees itself and nothing of the host.
	if id.PID != 1 || !cmp.Equal(id.Pids, []int{1}) {
		t.Errorf("pid %d, /proc lists %v; want only the program itself", id.PID, id.Pids)
	}
	zero := "0000000000000000"
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if id.Status[k] != zero {
			t.Errorf("%s = %q, want no capabilities", k, id.Status[k])
		}
	}
	if id.Status["NoNewPrivs"] != "1" {
		t.Errorf("NoNewPrivs = %q, want 1", id.Status["NoNewPrivs"])
	}
	if id.Status["Seccomp"] != "2" {
		t.Errorf("Seccomp = %q, want 2 (filter)", id.Status["Seccomp"])
	}
	if id.NoFile != [2]uint64{sandbox.OpenFilesLimit, sandbox.OpenFilesLimit} {
		t.Errorf("RLIMIT_NOFILE = %v, want %d", id.NoFile, sandbox.OpenFilesLimit)
	}
	if id.Cwd != sandbox.DefaultDir {
		t.Errorf("cwd = %q, want %q", id.Cwd, sandbox.DefaultDir)
	}
	// Nothing inherited: stdin, stdout and stderr, plus what the Go runtime of the probe
	// opened for its own poller.
	for fd, what := range id.FDs {
		var ok bool
		switch fd {
		case "0":
			ok = what == "/dev/null"
		case "1", "2":
			ok = strings.HasPrefix(what, "pipe:")
		default:
			ok = what == "anon_inode:[eventpoll]" || what == "anon_inode:[eventfd]"
		}
		if !ok {
			t.Errorf("descriptor %s -> %s was inherited", fd, what)
		}
	}
}

func testEnvironment(t *testing.T, d sandbox.Driver) {
	var env []string
	spec, stdout, _ := ProbeSpec(t, "env")
	spec.Env = []string{"AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001", "EMPTY=", "_HANDLER=main"}
	if st := RunToExit(t, d, spec); !st.Exited() || st.Code != 0 {
		t.Fatalf("probe env: %v", st)
	}
	if err := jsonDecode(stdout.Bytes(), &env); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(spec.Env, env); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
}

func testFileSystem(t *testing.T, d sandbox.Driver) {
	dataDir := t.TempDir()
	secret := filepath.Join(dataDir, "secret")
	if err := os.WriteFile(secret, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dataDir, 0o755)
	self, _ := os.Executable()
	reads := []string{secret, "/etc/shadow", "/root/.bashrc", self, "/proc/1/root/etc/shadow", "/sys/kernel/notes"}
	var got map[string]string
	RunJSON(t, d, &got, append([]string{"read"}, reads...)...)
	for _, p := range reads {
		if got[p] == "ok" {
			t.Errorf("read %s inside the environment succeeded", p)
		}
	}
	var ok map[string]string
	RunJSON(t, d, &ok, "read", "/var/task/probe", "/etc/passwd", "/etc/hosts", "/dev/urandom", "/proc/self/status")
	for p, res := range ok {
		if res != "ok" {
			t.Errorf("read %s = %s, want ok", p, res)
		}
	}

	// Writable only /tmp; the code, the generated /etc and the root are read-only. /usr
	// exists because an interpreter directory is mounted below it.
	spec, stdout, stderr := ProbeSpec(t, "write", "/var/task", "/etc", "/", "/usr", "/usr/lib", "/opt", "/var/runtime", "/dev", "/tmp", "/dev/shm")
	spec.Mounts = []sandbox.Mount{{Source: "/usr/lib", Target: "/usr/lib"}}
	if st := RunToExit(t, d, spec); st.Code != 0 {
		t.Fatalf("probe write: %v; stderr:\n%s", st, stderr)
	}
	var writes map[string]string
	if err := jsonDecode(stdout.Bytes(), &writes); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/var/task": "EROFS", "/etc": "EROFS", "/": "EROFS", "/usr": "EROFS", "/usr/lib": "EROFS",
		"/opt": "EROFS", "/var/runtime": "EROFS", "/dev": "EROFS", "/tmp": "ok", "/dev/shm": "ok",
	}
	if diff := cmp.Diff(want, writes); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
}

func testNetwork(t *testing.T, d sandbox.Driver) {
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	go func() {
		for {
			c, err := host.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	spec, stdout, stderr := ProbeSpec(t, "connect", host.Addr().String(), "10.0.0.1:80", "127.0.0.1:9001")
	l, ok := d.(sandbox.Listener)
	if ok {
		Create(t, d, spec)
		rapi, err := l.Listen(ctx(t), spec.ID, "127.0.0.1:9001")
		if err != nil {
			t.Fatalf("Listen = %v", err)
		}
		defer rapi.Close()
		if err := d.Start(ctx(t), spec.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Wait(ctx(t), spec.ID); err != nil {
			t.Fatal(err)
		}
	} else {
		RunToExit(t, d, spec)
	}
	var got map[string]string
	if err := jsonDecode(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v; stderr:\n%s", err, stderr)
	}
	if got[host.Addr().String()] == "ok" {
		t.Errorf("connected to the host's %s from inside the environment", host.Addr())
	}
	if got["10.0.0.1:80"] == "ok" {
		t.Errorf("reached 10.0.0.1:80 from inside the environment")
	}
	if ok && got["127.0.0.1:9001"] != "ok" {
		t.Errorf("connect to its own Runtime API listener: %s", got["127.0.0.1:9001"])
	}
}

func testMemoryLimit(t *testing.T, d sandbox.Driver) {
	spec, stdout, _ := ProbeSpec(t, "alloc", "1024")
	spec.MemoryMB = 128
	st := RunToExit(t, d, spec)
	if !st.OOMKilled || st.Signal != syscall.SIGKILL || st.String() != "signal: killed" {
		t.Errorf("allocating 1 GiB under a 128 MB limit: %+v (%v), want OOM-killed by SIGKILL", st, st)
	}
	if strings.Contains(stdout.String(), "done") || strings.Contains(stdout.String(), "allocated 128 MiB") {
		t.Errorf("allocated beyond the limit: %q", stdout)
	}
	// A normal exit is not an OOM kill.
	spec, _, _ = ProbeSpec(t, "exit", "0")
	if st := RunToExit(t, d, spec); st.OOMKilled {
		t.Errorf("exit 0 reported as OOM: %+v", st)
	}
}

func testPidsLimit(t *testing.T, d sandbox.Driver) {
	spec, stdout, stderr := ProbeSpec(t, "forkbomb")
	spec.MemoryMB = 1024
	Start(t, d, spec)
	stdout.WaitFor(t, "}\n")
	var got struct {
		Forked int
		Err    string
	}
	if err := jsonDecode(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v; stderr:\n%s", err, stderr)
	}
	if got.Err != "EAGAIN" || got.Forked >= sandbox.PidsLimit || got.Forked < sandbox.PidsLimit/2 {
		t.Errorf("fork bomb forked %d then %s; want EAGAIN below %d processes", got.Forked, got.Err, sandbox.PidsLimit)
	}
}

// testForkBomb kills fork bombs at 128 MB, with the CPU quota that memory buys: forking for
// ever at the pids and memory limits, their processes are starved by their own quota, and
// killing them one by one (or waiting for them to die of a SIGKILL they cannot run to take)
// took minutes. Stop and Destroy must end them at once and leave no process behind; the
// output pipe every process of the bomb holds tells when the last one is gone. How fast is
// measured by the driver's fork-bomb benchmark, not here.
func testForkBomb(t *testing.T, d sandbox.Driver) {
	for i := range 2 {
		for _, stop := range []bool{false, true} {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			spec, _, _ := ProbeSpec(t, "bomb")
			spec.MemoryMB = 128
			spec.Stdout, spec.Stderr = w, w
			StartForkBomb(t, d, spec)
			w.Close() // the bomb's processes hold the only write ends now
			if stop {
				if err := d.Stop(ctx(t), spec.ID, 0); err != nil {
					t.Fatalf("round %d: Stop of a fork bomb = %v", i, err)
				}
				if st, err := d.Wait(ctx(t), spec.ID); err != nil || st.Signal != syscall.SIGKILL {
					t.Errorf("round %d: Wait after Stop of a fork bomb = %v, %v; want SIGKILL", i, st, err)
				}
			}
			if err := d.Destroy(ctx(t), spec.ID); err != nil {
				t.Fatalf("round %d: Destroy of a fork bomb = %v", i, err)
			}
			if err := waitEOF(r, callTimeout); err != nil {
				t.Fatalf("round %d (stop first: %v): processes of the fork bomb outlive Destroy: %v", i, stop, err)
			}
			r.Close()
		}
	}
}

// StartForkBomb starts spec, a probe "bomb", and returns once the bomb is at full strength,
// with half of its memory limit in use, and any Init CPU boost is over, so that it runs on
// the quota its memory buys. Its output must be a pipe the caller reads, or discarded.
func StartForkBomb(tb testing.TB, d sandbox.Driver, spec sandbox.Spec) {
	tb.Helper()
	Start(tb, d, spec)
	deadline := time.Now().Add(callTimeout)
	for {
		s, err := d.Stats(ctx(tb), spec.ID)
		if err != nil {
			tb.Fatalf("Stats(%s) = %v", spec.ID, err)
		}
		if s.MemoryBytes >= uint64(spec.MemoryMB)<<19 {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("fork bomb uses %d bytes after %v, want half of %d MB", s.MemoryBytes, callTimeout, spec.MemoryMB)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b, ok := d.(sandbox.InitBooster); ok {
		if err := b.EndInit(ctx(tb), spec.ID); err != nil {
			tb.Fatalf("EndInit(%s) = %v", spec.ID, err)
		}
	}
}

// waitEOF reads r until every writer is gone, or fails after timeout.
func waitEOF(r *os.File, timeout time.Duration) error {
	r.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, r)
	return err
}

func testTmpSize(t *testing.T, d sandbox.Driver) {
	spec, stdout, _ := ProbeSpec(t, "filltmp")
	spec.EphemeralStorageMB = 16
	spec.MemoryMB = 256
	RunToExit(t, d, spec)
	var got struct {
		Bytes int
		Err   string
	}
	if err := jsonDecode(stdout.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Err != "ENOSPC" || got.Bytes > 16<<20 {
		t.Errorf("filling a 16 MB /tmp wrote %d bytes then %s; want ENOSPC within 16 MB", got.Bytes, got.Err)
	}
}

func testOpenFiles(t *testing.T, d sandbox.Driver) {
	var got struct {
		Opened     int
		Err, Raise string
	}
	RunJSON(t, d, &got, "openfiles")
	if got.Err != "EMFILE" || got.Opened >= sandbox.OpenFilesLimit || got.Opened < sandbox.OpenFilesLimit-16 {
		t.Errorf("opened %d files then %s; want EMFILE just below %d", got.Opened, got.Err, sandbox.OpenFilesLimit)
	}
	if got.Raise != "EPERM" {
		t.Errorf("raising RLIMIT_NOFILE = %s, want EPERM", got.Raise)
	}
}

func testSyscalls(t *testing.T, d sandbox.Driver) {
	var got map[string]string
	RunJSON(t, d, &got, "syscalls")
	want := map[string]string{
		"mount": "EPERM", "umount": "EPERM", "unshare-user": "EPERM", "unshare-net": "EPERM", "chroot": "EPERM",
		"clone-newuser": "EPERM", "setns": "EPERM", "ptrace": "EPERM", "bpf": "EPERM", "perf_event_open": "EPERM",
		"keyctl": "EPERM", "userfaultfd": "EPERM", "io_uring_setup": "ENOSYS", "init_module": "EPERM",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("forbidden system calls (-want +got):\n%s", diff)
	}
}

// testSockets: only the address families a runtime needs, and only the routing table of
// netlink; the rest, AF_VSOCK to the host among them, is refused as if the kernel lacked it.
func testSockets(t *testing.T, d sandbox.Driver) {
	var got map[string]string
	RunJSON(t, d, &got, "sockets")
	want := map[string]string{
		"unix": "ok", "inet": "ok", "inet6": "ok", "netlink-route": "ok", "socketpair-unix": "ok",
		"netlink-audit": "EPROTONOSUPPORT", "netlink-uevent": "EPROTONOSUPPORT", "netlink-crypto": "EPROTONOSUPPORT",
		"vsock": "EAFNOSUPPORT", "vsock-high-bits": "EAFNOSUPPORT", "socketpair-vsock": "EAFNOSUPPORT",
		"packet": "EAFNOSUPPORT", "alg": "EAFNOSUPPORT", "key": "EAFNOSUPPORT", "bluetooth": "EAFNOSUPPORT",
		"xdp": "EAFNOSUPPORT", "tipc": "EAFNOSUPPORT",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sockets (-want +got):\n%s", diff)
	}
}

// shown is what the probe's show reports of a path.
type shown struct {
	Content string
	Entries []string
	Err     string
}

// testHostProc: /proc shows nothing of the host's kernel, hardware or load. What runc and
// Docker mask is empty or unreadable; the load, the CPU times, the boot time and boot_id are
// the environment's own, not the host's.
func testHostProc(t *testing.T, d sandbox.Driver) {
	masked := []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/latency_stats", "/proc/interrupts", "/proc/acpi", "/proc/asound", "/proc/scsi", "/proc/bus",
		"/proc/driver", "/proc/fs", "/proc/irq", "/proc/pressure", "/proc/pressure/cpu", "/proc/pressure/memory",
		"/proc/pressure/io", "/sys/firmware"}
	own := []string{"/proc/loadavg", "/proc/stat", "/proc/sys/kernel/random/boot_id"}
	var got map[string]shown
	RunJSON(t, d, &got, append(append([]string{"show"}, masked...), own...)...)
	for _, p := range masked {
		if s := got[p]; s.Content != "" || len(s.Entries) > 0 {
			t.Errorf("%s is readable inside the environment: %q %q", p, truncate(s.Content), s.Entries)
		}
	}
	host := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if b := got["/proc/sys/kernel/random/boot_id"].Content; b == host("/proc/sys/kernel/random/boot_id") || len(strings.TrimSpace(b)) != 36 {
		t.Errorf("boot_id = %q, want a UUID of the environment's own", b)
	}
	btime := func(stat string) string {
		for _, line := range strings.Split(stat, "\n") {
			if strings.HasPrefix(line, "btime ") {
				return line
			}
		}
		return ""
	}
	if s := got["/proc/stat"].Content; btime(s) == "" || btime(s) == btime(host("/proc/stat")) || !strings.Contains(s, "\ncpu0 ") {
		t.Errorf("/proc/stat shows the host's boot time or no CPUs:\n%s", truncate(s))
	}
	// The fourth field counts the threads of the whole machine: hundreds on any host.
	f := strings.Fields(got["/proc/loadavg"].Content)
	if len(f) != 5 {
		t.Fatalf("/proc/loadavg = %q", got["/proc/loadavg"].Content)
	}
	if _, threads, _ := strings.Cut(f[3], "/"); len(threads) > 2 {
		t.Errorf("/proc/loadavg = %q counts the host's threads", got["/proc/loadavg"].Content)
	}
}

// testMountInfo: the mount table shows no host path of the code, runtime or layer directories
// (the function's data directory layout, the server's user, ...).
func testMountInfo(t *testing.T, d sandbox.Driver) {
	spec, stdout, stderr := ProbeSpec(t, "show", "/proc/self/mountinfo", "/proc/self/mounts", "/var/runtime/marker", "/opt/marker")
	spec.RuntimeDir, spec.LayerDir = t.TempDir(), t.TempDir()
	for _, dir := range []string{spec.RuntimeDir, spec.LayerDir} {
		os.Chmod(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, "marker"), []byte("here"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if st := RunToExit(t, d, spec); st.Code != 0 {
		t.Fatalf("probe: %v; stderr:\n%s", st, stderr)
	}
	var got map[string]shown
	if err := jsonDecode(stdout.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/var/runtime/marker", "/opt/marker"} {
		if got[p].Content != "here" {
			t.Errorf("%s = %+v, want the mounted directory's file", p, got[p])
		}
	}
	for _, file := range []string{"/proc/self/mountinfo", "/proc/self/mounts"} {
		table := got[file].Content
		if table == "" {
			t.Fatalf("%s is empty: %+v", file, got[file])
		}
		for _, host := range []string{spec.CodeDir, spec.RuntimeDir, spec.LayerDir} {
			if strings.Contains(table, host) {
				t.Errorf("%s shows host path %s:\n%s", file, host, table)
			}
		}
	}
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// testBackgroundProcess leaves a double-forked, setsid'd process holding a connection to the
// test, and checks that Destroy ends it: the connection must close.
func testBackgroundProcess(t *testing.T, d sandbox.Driver) {
	l, ok := d.(sandbox.Listener)
	if !ok {
		t.Skip("driver has no Listener")
	}
	spec, stdout, _ := ProbeSpec(t, "daemon", "127.0.0.1:9001")
	if err := d.Create(ctx(t), spec); err != nil {
		t.Fatal(err)
	}
	ln, err := l.Listen(ctx(t), spec.ID, "127.0.0.1:9001")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx(t), spec.ID); err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); line != "alive\n" {
		t.Fatalf("background process said %q, %v", line, err)
	}
	stdout.WaitFor(t, "daemonized\n")
	if err := d.Destroy(ctx(t), spec.ID); err != nil {
		t.Fatalf("Destroy = %v", err)
	}
	c.SetReadDeadline(time.Now().Add(callTimeout))
	for {
		if _, err := r.ReadString('\n'); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("background process still alive after Destroy")
			}
			break
		}
	}
	if err := d.Destroy(ctx(t), spec.ID); err != nil {
		t.Errorf("second Destroy = %v, want nil", err)
	}
}

func testStop(t *testing.T, d sandbox.Driver) {
	spec, stdout, _ := ProbeSpec(t, "sigterm")
	Start(t, d, spec)
	stdout.WaitFor(t, "ready\n")
	if err := d.Stop(ctx(t), spec.ID, callTimeout); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	st, err := d.Wait(ctx(t), spec.ID)
	if err != nil || st.String() != "exit status 0" || !strings.Contains(stdout.String(), "got SIGTERM") {
		t.Errorf("after Stop: %v, %v, output %q; want a clean exit on SIGTERM", st, err, stdout)
	}

	spec, stdout, _ = ProbeSpec(t, "ignore-sigterm")
	Start(t, d, spec)
	stdout.WaitFor(t, "ready\n")
	if err := d.Stop(ctx(t), spec.ID, 50*time.Millisecond); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	st, err = d.Wait(ctx(t), spec.ID)
	if err != nil || st.Signal != syscall.SIGKILL || st.OOMKilled {
		t.Errorf("after Stop of a program ignoring SIGTERM: %+v, %v; want SIGKILL, not OOM", st, err)
	}
}

// testFreeze checks that a frozen environment makes no progress and a thawed one does,
// through an echo over the environment's listener.
func testFreeze(t *testing.T, d sandbox.Driver) {
	fr, spec, echo := echoEnv(t, d)
	if got, err := echo("one", callTimeout); got != "one\n" {
		t.Fatalf("echo before freezing = %q, %v", got, err)
	}
	if err := fr.Freeze(ctx(t), spec.ID); err != nil {
		t.Fatalf("Freeze = %v", err)
	}
	// A frozen program cannot answer; the answer may only come after Thaw.
	if got, err := echo("two", 200*time.Millisecond); err == nil {
		t.Fatalf("frozen environment answered %q", got)
	}
	if err := fr.Thaw(ctx(t), spec.ID); err != nil {
		t.Fatalf("Thaw = %v", err)
	}
	if got, err := echo("", callTimeout); got != "two\n" {
		t.Fatalf("echo after thawing = %q, %v", got, err)
	}
	// That a frozen environment is destroyed all the same is testDestroyFrozen's.
}

func testStats(t *testing.T, d sandbox.Driver) {
	spec, stdout, _ := ProbeSpec(t, "alloc", "64")
	spec.MemoryMB = 256
	Start(t, d, spec)
	stdout.WaitFor(t, "done\n")
	s, err := d.Stats(ctx(t), spec.ID)
	if err != nil {
		t.Fatalf("Stats = %v", err)
	}
	if s.MemoryBytes < 64<<20 || s.PeakMemoryBytes < s.MemoryBytes || s.PeakMemoryBytes > 256<<20 {
		t.Errorf("Stats = %+v after touching 64 MiB under 256 MB", s)
	}
	if err := d.Stop(ctx(t), spec.ID, 0); err != nil {
		t.Fatal(err)
	}
	after, err := d.Stats(ctx(t), spec.ID)
	if err != nil || after.PeakMemoryBytes < s.MemoryBytes {
		t.Errorf("Stats after exit = %+v, %v; want the peak kept", after, err)
	}
}

func testExecError(t *testing.T, d sandbox.Driver) {
	for _, tc := range []struct {
		path string
		want error
		code int
	}{
		{"/var/task/missing", fs.ErrNotExist, 127},
		{"/etc/passwd", fs.ErrPermission, 126},
	} {
		spec, _, _ := ProbeSpec(t)
		spec.Args = []string{tc.path}
		Create(t, d, spec)
		err := d.Start(ctx(t), spec.ID)
		var ee *sandbox.ExecError
		if !errors.As(err, &ee) || !errors.Is(err, tc.want) {
			t.Errorf("Start with %s = %v, want an *ExecError that is %v", tc.path, err, tc.want)
		}
		st, err := d.Wait(ctx(t), spec.ID)
		if err != nil || st.Code != tc.code {
			t.Errorf("Wait after failed exec of %s = %v, %v; want exit status %d", tc.path, st, err, tc.code)
		}
	}
}

func testLifecycle(t *testing.T, d sandbox.Driver) {
	spec, _, _ := ProbeSpec(t, "sleep")
	Create(t, d, spec)
	if err := d.Create(ctx(t), spec); !errors.Is(err, sandbox.ErrExists) {
		t.Errorf("Create twice = %v, want ErrExists", err)
	}
	if err := d.Start(ctx(t), spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx(t), spec.ID); !errors.Is(err, sandbox.ErrState) {
		t.Errorf("Start twice = %v, want ErrState", err)
	}
	if l, ok := d.(sandbox.Listener); ok {
		if _, err := l.Listen(ctx(t), spec.ID, "127.0.0.1:9001"); !errors.Is(err, sandbox.ErrState) {
			t.Errorf("Listen after Start = %v, want ErrState", err)
		}
	}
	short, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := d.Wait(short, spec.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on a sleeping program = %v, want the context's deadline", err)
	}
	if err := d.Destroy(ctx(t), spec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Wait(ctx(t), spec.ID); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("Wait after Destroy = %v, want ErrNotFound", err)
	}
	if err := d.Destroy(ctx(t), "never-created"); err != nil {
		t.Errorf("Destroy of an unknown environment = %v, want nil", err)
	}
	bad := spec
	bad.ID = "../escape"
	if err := d.Create(ctx(t), bad); !errors.Is(err, sandbox.ErrInvalidSpec) {
		t.Errorf("Create with ID %q = %v, want ErrInvalidSpec", bad.ID, err)
	}
}

// testInterpreters starts the host's Python and Node inside environments, with the seccomp
// filter and everything else in place.
func testInterpreters(t *testing.T, d sandbox.Driver) {
	for _, tc := range []struct {
		name, prog string
		args       []string
		extra      func() []string
		want       string
	}{
		// With /proc/stat replaced, both still count the CPUs (glibc reads /proc/stat when
		// /sys is missing, libuv's os.cpus() always does) and list network interfaces
		// (netlink).
		{"python3", "/usr/bin/python3", []string{"-c", "import json, os, sys, socket, ssl; " +
			"print(json.dumps([sys.version_info[0], os.cpu_count() > 0, len(socket.if_nameindex()) > 0]))"},
			func() []string {
				out, err := exec.Command("/usr/bin/python3", "-I", "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))").Output()
				if err != nil {
					return nil
				}
				return []string{strings.TrimSpace(string(out))}
			}, "[3, true, true]\n"},
		{"node", "node", []string{"-e", "const os = require('os'); " +
			"console.log(JSON.stringify([os.userInfo().uid > 0, os.cpus().length > 0, os.availableParallelism() > 0, " +
			"Object.keys(os.networkInterfaces()).length > 0]))"}, nil, "[true,true,true,true]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, err := exec.LookPath(tc.prog)
			if err != nil {
				t.Skipf("%s is not installed", tc.prog)
			}
			var extra []string
			if tc.extra != nil {
				extra = tc.extra()
			}
			real, mounts, err := HostProgram(path, extra...)
			if err != nil {
				t.Skipf("cannot tell what %s needs: %v", path, err)
			}
			spec, stdout, stderr := ProbeSpec(t)
			spec.Args = append([]string{real}, tc.args...)
			spec.Mounts = mounts
			spec.MemoryMB = 1769
			st := RunToExit(t, d, spec)
			if st.Code != 0 || stdout.String() != tc.want {
				t.Errorf("%s in an environment: %v, stdout %q, want %q; stderr:\n%s", tc.name, st, stdout, tc.want, stderr)
			}
		})
	}
}

// echoEnv starts the probe's echo server in an environment of a driver that can freeze it,
// and connects to it through the environment's listener; echo sends s (unless empty) and
// returns the answer, waiting at most wait. It skips a driver without Freezer or Listener.
func echoEnv(t *testing.T, d sandbox.Driver) (fr sandbox.Freezer, spec sandbox.Spec, echo func(s string, wait time.Duration) (string, error)) {
	fr, ok := d.(sandbox.Freezer)
	l, lok := d.(sandbox.Listener)
	if !ok || !lok {
		t.Skip("driver has no Freezer or no Listener")
	}
	spec, _, _ = ProbeSpec(t, "echo", "127.0.0.1:9001")
	Create(t, d, spec)
	ln, err := l.Listen(ctx(t), spec.ID, "127.0.0.1:9001")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx(t), spec.ID); err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := bufio.NewReader(c)
	return fr, spec, func(s string, wait time.Duration) (string, error) {
		c.SetDeadline(time.Now().Add(wait))
		if s != "" {
			if _, err := c.Write([]byte(s + "\n")); err != nil {
				return "", err
			}
		}
		return r.ReadString('\n')
	}
}

// testFreezeCycles freezes and thaws an environment again and again, as between
// invocations: after each thaw it answers at once. Freezing a frozen environment and thawing
// a running one are no errors.
func testFreezeCycles(t *testing.T, d sandbox.Driver) {
	fr, spec, echo := echoEnv(t, d)
	for i := range 50 {
		if err := fr.Freeze(ctx(t), spec.ID); err != nil {
			t.Fatalf("Freeze #%d = %v", i+1, err)
		}
		if i == 0 {
			if err := fr.Freeze(ctx(t), spec.ID); err != nil {
				t.Fatalf("Freeze of a frozen environment = %v", err)
			}
		}
		if err := fr.Thaw(ctx(t), spec.ID); err != nil {
			t.Fatalf("Thaw #%d = %v", i+1, err)
		}
		want := fmt.Sprintf("cycle %d\n", i)
		if got, err := echo(strings.TrimSpace(want), callTimeout); got != want {
			t.Fatalf("echo after freeze and thaw #%d = %q, %v; want %q", i+1, got, err, want)
		}
	}
	if err := fr.Thaw(ctx(t), spec.ID); err != nil {
		t.Fatalf("Thaw of a running environment = %v", err)
	}
}

// testFreezeCanceled checks that a Freeze whose context has ended fails and leaves the
// environment running.
func testFreezeCanceled(t *testing.T, d sandbox.Driver) {
	fr, spec, echo := echoEnv(t, d)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := fr.Freeze(canceled, spec.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("Freeze with a canceled context = %v, want %v", err, context.Canceled)
	}
	if got, err := echo("still running", callTimeout); got != "still running\n" {
		t.Fatalf("echo after a canceled Freeze = %q, %v", got, err)
	}
}

// testDestroyFrozen checks that Destroy kills a frozen environment (on cgroup v1 a frozen
// process cannot die until thawed): its program's end of the connection closes, and its ID is
// free again.
func testDestroyFrozen(t *testing.T, d sandbox.Driver) {
	fr, spec, echo := echoEnv(t, d)
	if err := fr.Freeze(ctx(t), spec.ID); err != nil {
		t.Fatalf("Freeze = %v", err)
	}
	if err := d.Destroy(ctx(t), spec.ID); err != nil {
		t.Fatalf("Destroy of a frozen environment = %v", err)
	}
	if got, err := echo("", callTimeout); !errors.Is(err, io.EOF) {
		t.Errorf("connection to a destroyed frozen environment read %q, %v; want EOF", got, err)
	}
	if err := fr.Thaw(ctx(t), spec.ID); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("Thaw after Destroy = %v, want %v", err, sandbox.ErrNotFound)
	}
	again, _, _ := ProbeSpec(t, "hello")
	again.ID = spec.ID
	if st := RunToExit(t, d, again); st.Code != 0 {
		t.Errorf("environment reusing the ID of a destroyed frozen one: %v", st)
	}
}
