// Command probe runs inside an execution environment for the sandbox conformance suite: each
// subcommand tries one thing and prints what happened as JSON on stdout, so that the suite
// asserts on the outcome instead of on a crash. It is built with CGO_ENABLED=0, so it needs
// nothing of the environment's root but itself.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe command [args]")
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "hello":
		os.Stdout.WriteString("hello\n")
		os.Stderr.WriteString("to stderr\n")
	case "exit":
		code, _ := strconv.Atoi(args[0])
		os.Exit(code)
	case "sleep":
		sleep()
	case "whoami":
		emit(whoami())
	case "env":
		emit(os.Environ())
	case "read":
		emit(tryEach(args, readSome))
	case "write":
		emit(tryEach(args, func(dir string) error {
			return os.WriteFile(dir+"/probe-write-test", []byte("x"), 0o644)
		}))
	case "connect":
		emit(tryEach(args, func(addr string) error {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}))
	case "alloc":
		alloc(args[0])
	case "forkbomb":
		forkbomb()
	case "bomb":
		bomb()
	case "filltmp":
		fill("/tmp/fill")
	case "openfiles":
		openFiles()
	case "syscalls":
		emit(forbidden())
	case "daemon":
		daemon(args[0])
	case "daemon-mid":
		daemonMid(args[0])
	case "daemon-child":
		daemonChild(args[0])
	case "echo":
		echo(args[0])
	case "sigterm":
		onSigterm()
	case "ignore-sigterm":
		signal.Ignore(syscall.SIGTERM)
		os.Stdout.WriteString("ready\n")
		sleep()
	default:
		fmt.Fprintln(os.Stderr, "probe: unknown command", os.Args[1])
		os.Exit(2)
	}
}

// readSome opens path and reads a little of it: enough to prove access, without reading
// /dev/urandom forever.
func readSome(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Read(make([]byte, 64))
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return err
}

func sleep() {
	for {
		time.Sleep(time.Hour)
	}
}

func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(append(b, '\n'))
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errnoName(errno)
	}
	return err.Error()
}

// errnoName gives the symbolic name, which the suite compares, for the errors that matter.
func errnoName(e syscall.Errno) string {
	names := map[syscall.Errno]string{
		syscall.EPERM: "EPERM", syscall.ENOENT: "ENOENT", syscall.EACCES: "EACCES", syscall.EROFS: "EROFS",
		syscall.ENOSYS: "ENOSYS", syscall.EAGAIN: "EAGAIN", syscall.EMFILE: "EMFILE", syscall.ENOSPC: "ENOSPC",
		syscall.ECONNREFUSED: "ECONNREFUSED", syscall.ENETUNREACH: "ENETUNREACH", syscall.EINVAL: "EINVAL",
		syscall.EBADF: "EBADF", syscall.EFAULT: "EFAULT",
	}
	if n, ok := names[e]; ok {
		return n
	}
	return fmt.Sprintf("errno %d (%v)", int(e), e)
}

func tryEach(items []string, f func(string) error) map[string]string {
	out := map[string]string{}
	for _, it := range items {
		out[it] = errText(f(it))
	}
	return out
}

// Identity is what whoami reports.
type Identity struct {
	UID, GID, PID, PPID int
	Groups              []int
	Hostname, Cwd       string
	Status              map[string]string // selected /proc/self/status lines
	FDs                 map[string]string // descriptor -> what it refers to
	Pids                []int             // numeric entries of /proc
	NoFile              [2]uint64
	Mounts              []string
}

func whoami() Identity {
	id := Identity{UID: os.Getuid(), GID: os.Getgid(), PID: os.Getpid(), PPID: os.Getppid(), Status: map[string]string{}}
	id.Groups, _ = os.Getgroups()
	id.Hostname, _ = os.Hostname()
	id.Cwd, _ = os.Getwd()
	if f, err := os.Open("/proc/self/status"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			k, v, _ := strings.Cut(s.Text(), ":")
			switch k {
			case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Uid", "Gid":
				id.Status[k] = strings.Join(strings.Fields(v), " ")
			}
		}
		f.Close()
	}
	// Read the descriptor list in one go so that the directory's own descriptor is the
	// only extra entry, then drop it.
	if d, err := os.Open("/proc/self/fd"); err == nil {
		names, _ := d.Readdirnames(-1)
		self := strconv.Itoa(int(d.Fd()))
		id.FDs = map[string]string{}
		for _, n := range names {
			if n != self {
				id.FDs[n], _ = os.Readlink("/proc/self/fd/" + n)
			}
		}
		d.Close()
	}
	if entries, err := os.ReadDir("/proc"); err == nil {
		for _, e := range entries {
			if n, err := strconv.Atoi(e.Name()); err == nil {
				id.Pids = append(id.Pids, n)
			}
		}
	}
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	id.NoFile = [2]uint64{lim.Cur, lim.Max}
	if b, err := os.ReadFile("/proc/self/mounts"); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if f := strings.Fields(line); len(f) > 3 {
				id.Mounts = append(id.Mounts, f[1]+" "+f[2]+" "+f[3])
			}
		}
	}
	return id
}

// alloc touches memory a MiB at a time and reports progress, so that the suite sees how far
// it got before the OOM killer struck.
func alloc(mbArg string) {
	mb, _ := strconv.Atoi(mbArg)
	var keep [][]byte
	for i := 1; i <= mb; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
		if i%16 == 0 {
			fmt.Printf("allocated %d MiB\n", i)
		}
	}
	runtime.KeepAlive(keep)
	fmt.Println("done")
	sleep()
}

// forkbomb forks children that only sleep until fork fails. The children are raw forks of
// this Go process that never return to Go code: they block in ppoll, which needs no runtime.
func forkbomb() {
	n := 0
	var err error
	for n < 5000 {
		r1, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
		if errno != 0 {
			err = errno
			break
		}
		if r1 == 0 {
			for {
				syscall.RawSyscall6(syscall.SYS_PPOLL, 0, 0, 0, 0, 0, 0)
			}
		}
		n++
	}
	emit(map[string]any{"forked": n, "err": errText(err)})
	sleep()
}

// bomb is a hostile fork bomb, the probe's `while True: os.fork()`: every process forks
// as fast as it can for ever, trying again when the pids limit refuses, and every child
// dirties 256 KiB of its own, so that the environment lives at its memory limit too, with
// the OOM killer at work. The children are raw forks that run only this loop, which needs
// nothing of the Go runtime. "bombing" is printed once, by the first process.
func bomb() {
	mem := make([]byte, 256<<10) // not touched here: each child's copy is its own
	os.Stdout.WriteString("bombing\n")
	for {
		r1, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
		if errno == 0 && r1 == 0 {
			for i := 0; i < len(mem); i += 4096 {
				mem[i]++
			}
		}
	}
}

func fill(path string) {
	f, err := os.Create(path)
	total := 0
	if err == nil {
		chunk := make([]byte, 1<<20)
		for total < 1<<40 {
			var n int
			n, err = f.Write(chunk)
			total += n
			if err != nil {
				break
			}
		}
		f.Close()
	}
	emit(map[string]any{"bytes": total, "err": errText(err)})
}

func openFiles() {
	var files []*os.File
	var err error
	for len(files) < 100000 {
		var f *os.File
		if f, err = os.Open("/dev/null"); err != nil {
			break
		}
		files = append(files, f)
	}
	n := len(files)
	for _, f := range files {
		f.Close()
	}
	raise := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 4096, Max: 4096})
	emit(map[string]any{"opened": n, "err": errText(err), "raise": errText(raise)})
}

// forbidden tries what an environment must not be able to do.
func forbidden() map[string]string {
	out := map[string]string{}
	out["mount"] = errText(syscall.Mount("tmpfs", "/tmp", "tmpfs", 0, ""))
	out["umount"] = errText(syscall.Unmount("/proc", syscall.MNT_DETACH))
	out["unshare-user"] = errText(syscall.Unshare(syscall.CLONE_NEWUSER))
	out["unshare-net"] = errText(syscall.Unshare(syscall.CLONE_NEWNET))
	out["chroot"] = errText(syscall.Chroot("/tmp"))
	// clone with a namespace flag must fail; if it ever succeeded, the child exits at once.
	r1, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD|syscall.CLONE_NEWUSER), 0, 0, 0, 0, 0)
	if errno == 0 && r1 == 0 {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	}
	out["clone-newuser"] = errText(errnoOrNil(errno))
	if fd, err := syscall.Open("/proc/1/ns/net", syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err == nil {
		_, _, errno := syscall.Syscall(unix.SYS_SETNS, uintptr(fd), 0, 0)
		out["setns"] = errText(errnoOrNil(errno))
		syscall.Close(fd)
	} else {
		out["setns"] = "open: " + errText(err)
	}
	out["ptrace"] = errText(ptraceChild())
	out["bpf"] = errText(bpfLoad())
	_, _, errno = syscall.Syscall6(unix.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0), ^uintptr(0), 0, 0)
	out["perf_event_open"] = errText(errnoOrNil(errno))
	_, _, errno = syscall.Syscall6(unix.SYS_KEYCTL, 0 /* KEYCTL_GET_KEYRING_ID */, ^uintptr(3) /* session */, 0, 0, 0, 0)
	out["keyctl"] = errText(errnoOrNil(errno))
	_, _, errno = syscall.Syscall(unix.SYS_USERFAULTFD, 0, 0, 0)
	out["userfaultfd"] = errText(errnoOrNil(errno))
	_, _, errno = syscall.Syscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&[120]byte{})), 0)
	out["io_uring_setup"] = errText(errnoOrNil(errno))
	_, _, errno = syscall.Syscall(syscall.SYS_INIT_MODULE, 0, 0, 0)
	out["init_module"] = errText(errnoOrNil(errno))
	return out
}

func errnoOrNil(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func ptraceChild() error {
	cmd := exec.Command("/proc/self/exe", "sleep")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start child: %w", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := syscall.PtraceAttach(cmd.Process.Pid)
	if err == nil {
		syscall.PtraceDetach(cmd.Process.Pid)
	}
	return err
}

// bpfLoad loads the smallest valid socket filter program: "return 0".
func bpfLoad() error {
	insns := []uint64{
		0x00000000000000b7, // mov r0, 0
		0x0000000000000095, // exit
	}
	license := []byte("GPL\x00")
	var attr [128]byte
	*(*uint32)(unsafe.Pointer(&attr[0])) = 1 // BPF_PROG_TYPE_SOCKET_FILTER
	*(*uint32)(unsafe.Pointer(&attr[4])) = uint32(len(insns))
	*(*uint64)(unsafe.Pointer(&attr[8])) = uint64(uintptr(unsafe.Pointer(&insns[0])))
	*(*uint64)(unsafe.Pointer(&attr[16])) = uint64(uintptr(unsafe.Pointer(&license[0])))
	fd, _, errno := syscall.Syscall(unix.SYS_BPF, 5 /* BPF_PROG_LOAD */, uintptr(unsafe.Pointer(&attr[0])), unsafe.Sizeof(attr))
	runtime.KeepAlive(insns)
	runtime.KeepAlive(license)
	if errno == 0 {
		syscall.Close(int(fd))
		return nil
	}
	return errno
}

// daemon leaves a double-forked, setsid'd grandchild behind that holds a connection to addr
// and writes to it, then sleeps itself: the suite checks that Destroy ends both.
func daemon(addr string) {
	cmd := exec.Command("/proc/self/exe", "daemon-mid", addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Run(); err != nil {
		fmt.Println("daemon-mid:", err)
		os.Exit(1)
	}
	fmt.Println("daemonized")
	sleep()
}

func daemonMid(addr string) {
	cmd := exec.Command("/proc/self/exe", "daemon-child", addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		os.Exit(1)
	}
	os.Exit(0) // orphan the child
}

func daemonChild(addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		os.Exit(1)
	}
	for {
		if _, err := c.Write([]byte("alive\n")); err != nil {
			os.Exit(0)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// echo connects to addr and answers every line with the same line.
func echo(addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(1)
	}
	s := bufio.NewScanner(c)
	for s.Scan() {
		if _, err := c.Write(append(s.Bytes(), '\n')); err != nil {
			os.Exit(1)
		}
	}
}

func onSigterm() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	os.Stdout.WriteString("ready\n")
	<-ch
	os.Stdout.WriteString("got SIGTERM\n")
	os.Exit(0)
}
