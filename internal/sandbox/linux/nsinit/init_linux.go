package nsinit

import (
	"syscall"
	"unsafe"
)

// Constants the frozen syscall package lacks.
const (
	prSetNoNewPrivs       = 38
	prCapAmbient          = 47
	prCapAmbientClearAll  = 4
	seccompModeFilter     = 2
	sysCloseRange         = 436 // the same number on every architecture
	closeRangeCloexec     = 1 << 2
	maxCapability         = 63
	listenBacklog         = 1024
	setupErrorPrefixLimit = 512
)

func init() {
	if v, ok := syscall.Getenv(EnvMarker); !ok || v != ProtocolVersion {
		return
	}
	// The runtime keeps the main goroutine on the main thread during package initialisation,
	// which matters: the credentials, the seccomp filter and the cgroup namespace set below
	// belong to this thread, and it is the one that execs.
	syscall.Exit(run())
}

func run() int {
	boot, err := receivePlan()
	if err != nil {
		sendText(MsgSetupError, "receive boot plan: "+err.Error())
		return ExitSetupFailed
	}
	if step, err := prepare(boot); err != nil {
		sendText(MsgSetupError, step+": "+err.Error())
		return ExitSetupFailed
	}
	if err := send([]byte{MsgReady}, nil); err != nil {
		return ExitSetupFailed
	}
	// Here the init waits in the pool until an environment takes it.
	plan, fds, err := receivePlanFDs()
	if err != nil {
		sendText(MsgSetupError, "receive plan: "+err.Error())
		return ExitSetupFailed
	}
	if err := redirect(plan, fds); err != nil {
		sendText(MsgSetupError, "redirect output: "+err.Error())
		return ExitSetupFailed
	}
	for i := range plan.Ops {
		if err := do(&plan.Ops[i]); err != nil {
			sendText(MsgSetupError, opName(&plan.Ops[i])+": "+err.Error())
			return ExitSetupFailed
		}
	}
	// Dropping privileges here rather than at MsgStart takes it off the cold start: the
	// parent is setting the cgroup limits meanwhile. Nothing that follows needs them (the
	// Runtime API listens on an unprivileged port).
	if step, err := dropPrivileges(plan); err != nil {
		sendText(MsgSetupError, step+": "+err.Error())
		return ExitSetupFailed
	}
	if err := send([]byte{MsgReady}, nil); err != nil {
		return ExitSetupFailed
	}
	buf := make([]byte, 64)
	for {
		n, err := recv(buf, 0)
		if err != nil || n == 0 {
			// The parent went away or closed the socket: nobody will ever start us.
			return ExitSetupFailed
		}
		switch buf[0] {
		case MsgListen:
			listen(buf[1:n])
		case MsgStart:
			return start(plan)
		default:
			return ExitSetupFailed
		}
	}
}

func receivePlan() (*Plan, error) {
	p, fds, err := receivePlanFDs()
	for _, fd := range fds {
		syscall.Close(fd)
	}
	return p, err
}

// receivePlanFDs receives a plan and the descriptors passed with it (at most two).
func receivePlanFDs() (*Plan, []int, error) {
	var probe [1]byte
	n, err := recv(probe[:], syscall.MSG_PEEK|syscall.MSG_TRUNC)
	if err != nil {
		return nil, nil, err
	}
	if n <= 0 || n > MaxPlanSize {
		return nil, nil, syscall.EMSGSIZE
	}
	buf := make([]byte, n)
	oob := make([]byte, syscall.CmsgSpace(2*4))
	n, oobn, err := recvmsg(buf, oob)
	if err != nil {
		return nil, nil, err
	}
	var fds []int
	if oobn > 0 {
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, nil, err
		}
		for i := range msgs {
			rights, err := syscall.ParseUnixRights(&msgs[i])
			if err != nil {
				return nil, nil, err
			}
			fds = append(fds, rights...)
		}
	}
	p, err := Decode(buf[:n])
	return p, fds, err
}

// redirect makes the passed descriptors the program's stdout and stderr, as the plan says.
func redirect(p *Plan, fds []int) error {
	for _, r := range []struct {
		which uint8
		to    int
	}{{p.Stdout, 1}, {p.Stderr, 2}} {
		if r.which == 0 {
			continue
		}
		if int(r.which) > len(fds) {
			return syscall.EBADF
		}
		if _, _, errno := syscall.RawSyscall(syscall.SYS_DUP3, uintptr(fds[r.which-1]), uintptr(r.to), 0); errno != 0 {
			return errno
		}
	}
	for _, fd := range fds {
		syscall.Close(fd)
	}
	return nil
}

// prepare runs the boot plan's steps, then the ones that need no plan. It returns the name of
// the step that failed so that the parent's error says what broke.
func prepare(p *Plan) (string, error) {
	syscall.Umask(0)
	// Nothing mounted below may propagate back to the host's mount namespace.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return "make mounts private", err
	}
	for i := range p.Ops {
		if err := do(&p.Ops[i]); err != nil {
			return opName(&p.Ops[i]), err
		}
	}
	if err := syscall.Sethostname([]byte(p.Hostname)); err != nil {
		return "sethostname", err
	}
	// The parent made the network namespace ahead of time, loopback up (linux.newNetns).
	if _, _, errno := syscall.RawSyscall(sysSetns, NetNSFD, syscall.CLONE_NEWNET, 0); errno != 0 {
		return "join network namespace", errno
	}
	syscall.Close(NetNSFD)
	// The parent moved us into our cgroups before sending the boot plan, so the new cgroup
	// namespace is rooted at our own cgroup.
	if err := syscall.Unshare(syscall.CLONE_NEWCGROUP); err != nil {
		return "unshare cgroup namespace", err
	}
	lim := syscall.Rlimit{Cur: p.NoFile, Max: p.NoFile}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return "setrlimit nofile", err
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{}); err != nil {
		return "setrlimit core", err
	}
	return "", nil
}

func do(op *Op) error {
	switch op.Kind {
	case OpMount:
		return syscall.Mount(op.Source, op.Path, op.FSType, uintptr(op.Flags), op.Data)
	case OpMkdir:
		return syscall.Mkdir(op.Path, op.Mode)
	case OpSymlink:
		return syscall.Symlink(op.Source, op.Path)
	case OpWriteFile:
		mode := syscall.O_EXCL
		if op.Flags == syscall.O_TRUNC {
			mode = syscall.O_TRUNC
		}
		fd, err := syscall.Open(op.Path, syscall.O_WRONLY|syscall.O_CREAT|mode|syscall.O_CLOEXEC, op.Mode)
		if err != nil {
			return err
		}
		defer syscall.Close(fd)
		for b := []byte(op.Data); len(b) > 0; {
			n, err := syscall.Write(fd, b)
			if err != nil {
				return err
			}
			b = b[n:]
		}
		return nil
	case OpMknod:
		return syscall.Mknod(op.Path, op.Mode, int(op.Dev))
	case OpChdir:
		return syscall.Chdir(op.Path)
	case OpUnmount:
		return syscall.Unmount(op.Path, syscall.MNT_DETACH)
	case OpPivotRoot:
		// pivot_root(".", ".") stacks the old root on top of the new one, so that it can be
		// detached without a directory to park it in (runc does the same).
		if err := syscall.Chdir(op.Path); err != nil {
			return err
		}
		if err := syscall.PivotRoot(".", "."); err != nil {
			return err
		}
		if err := syscall.Unmount(".", syscall.MNT_DETACH); err != nil {
			return err
		}
		return syscall.Chdir("/")
	}
	return syscall.EINVAL
}

func opName(op *Op) string {
	switch op.Kind {
	case OpMount:
		if op.Flags&syscall.MS_REMOUNT != 0 {
			return "remount " + op.Path
		}
		return "mount " + op.Source + " on " + op.Path
	case OpMkdir:
		return "mkdir " + op.Path
	case OpSymlink:
		return "symlink " + op.Path
	case OpWriteFile:
		return "write " + op.Path
	case OpMknod:
		return "mknod " + op.Path
	case OpPivotRoot:
		return "pivot_root " + op.Path
	case OpChdir:
		return "chdir " + op.Path
	case OpUnmount:
		return "unmount " + op.Path
	}
	return "unknown step"
}

// listen opens a listening TCP socket in our network namespace and hands it to the parent,
// which serves the Runtime API on it. The socket is close-on-exec: the program never sees it.
func listen(m []byte) {
	fd, err := listenSocket(m)
	if err != nil {
		sendText(MsgListenError, err.Error())
		return
	}
	if err := send([]byte{MsgListener}, syscall.UnixRights(fd)); err != nil {
		sendText(MsgListenError, err.Error())
	}
	syscall.Close(fd)
}

func listenSocket(m []byte) (int, error) {
	var (
		sa     syscall.Sockaddr
		family int
	)
	switch {
	case len(m) == 1+4+2 && m[0] == 4:
		a := &syscall.SockaddrInet4{Port: int(m[5])<<8 | int(m[6])}
		copy(a.Addr[:], m[1:5])
		sa, family = a, syscall.AF_INET
	case len(m) == 1+16+2 && m[0] == 6:
		a := &syscall.SockaddrInet6{Port: int(m[17])<<8 | int(m[18])}
		copy(a.Addr[:], m[1:17])
		sa, family = a, syscall.AF_INET6
	default:
		return -1, syscall.EINVAL
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	if err := syscall.Listen(fd, listenBacklog); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// dropPrivileges gives up everything the program must not have: capabilities (bounding and
// ambient sets), root (to the plan's uid and gid, no supplementary groups), the right to gain
// privileges, descriptors beyond stdio and the control socket (made close-on-exec), and the
// system calls the seccomp filter denies. It returns the failing step's name with its error.
func dropPrivileges(p *Plan) (string, error) {
	// Empty the bounding set while we still hold CAP_SETPCAP, so that nothing exec'd later can
	// gain a capability back (setuid binaries are also stopped by nosuid and no_new_privs).
	for c := uintptr(0); c <= maxCapability; c++ {
		if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_CAPBSET_DROP, c, 0); errno == syscall.EINVAL {
			break
		}
	}
	syscall.RawSyscall6(syscall.SYS_PRCTL, prCapAmbient, prCapAmbientClearAll, 0, 0, 0, 0)
	// Raw syscalls on purpose: syscall.Setresuid would change every thread of this Go process,
	// but only this thread survives the exec.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SETGROUPS, 0, 0, 0); errno != 0 {
		return "setgroups", errno
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SETRESGID, uintptr(p.GID), uintptr(p.GID), uintptr(p.GID)); errno != 0 {
		return "setresgid", errno
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SETRESUID, uintptr(p.UID), uintptr(p.UID), uintptr(p.UID)); errno != 0 {
		return "setresuid", errno
	}
	// Changing credentials cleared the parent-death signal; without it a crash of the server
	// would leave this environment running until the next start-up cleans it.
	syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0)
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0); errno != 0 {
		return "set no_new_privs", errno
	}
	if err := closeInheritedFDs(); err != nil {
		return "close inherited descriptors", err
	}
	if len(p.Seccomp) > 0 {
		prog := struct {
			len    uint16
			filter *byte
		}{uint16(len(p.Seccomp) / 8), &p.Seccomp[0]}
		if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_SECCOMP, seccompModeFilter, uintptr(unsafe.Pointer(&prog))); errno != 0 {
			return "install seccomp filter", errno
		}
	}
	return "", nil
}

// start execs the program, its privileges already dropped. It returns only if that fails.
func start(p *Plan) int {
	if err := syscall.Chdir(p.Dir); err != nil {
		return execFailed(err, "chdir "+p.Dir)
	}
	syscall.Umask(0o022)
	err := syscall.Exec(p.Path, p.Args, p.Env)
	return execFailed(err, "exec "+p.Path)
}

// closeInheritedFDs marks every descriptor above stderr close-on-exec. The parent passes
// only 0-3, but Go's runtime or a future change could open more.
func closeInheritedFDs() error {
	_, _, errno := syscall.RawSyscall(sysCloseRange, 3, ^uintptr(0), closeRangeCloexec)
	if errno == 0 {
		return nil
	}
	if errno != syscall.ENOSYS && errno != syscall.EINVAL {
		return errno
	}
	// Kernels before 5.11: walk /proc/self/fd (mounted by the plan).
	dir, err := syscall.Open("/proc/self/fd", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(dir)
	buf := make([]byte, 4096)
	for {
		n, err := syscall.ReadDirent(dir, buf)
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		_, _, names := syscall.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			fd := atoi(name)
			if fd > 2 && fd != dir {
				syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_SETFD, syscall.FD_CLOEXEC)
			}
		}
	}
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return -1
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func execFailed(err error, what string) int {
	errno, _ := err.(syscall.Errno)
	m := []byte{MsgExecError, byte(errno), byte(errno >> 8), byte(errno >> 16), byte(errno >> 24)}
	m = append(m, what+": "+err.Error()...)
	send(m, nil)
	if errno == syscall.ENOENT {
		return ExitNotFound
	}
	return ExitNotExecutable
}

func sendText(tag byte, text string) {
	if len(text) > setupErrorPrefixLimit {
		text = text[:setupErrorPrefixLimit]
	}
	send(append([]byte{tag}, text...), nil)
}

func send(b, oob []byte) error {
	for {
		err := syscall.Sendmsg(ControlFD, b, oob, nil, 0)
		if err != syscall.EINTR {
			return err
		}
	}
}

// recv blocks in a raw system call on purpose: in an ordinary one the Go scheduler hands
// the processor to a new thread after 20 µs, and every extra thread makes the final exec
// slower (the kernel must kill and reap each one first).
// recvmsg is recv with room for passed descriptors.
func recvmsg(b, oob []byte) (n, oobn int, err error) {
	iov := syscall.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	msg := syscall.Msghdr{Iov: &iov, Iovlen: 1, Control: &oob[0]}
	msg.SetControllen(len(oob))
	for {
		r, _, errno := syscall.RawSyscall(syscall.SYS_RECVMSG, ControlFD, uintptr(unsafe.Pointer(&msg)), syscall.MSG_CMSG_CLOEXEC)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return 0, 0, errno
		}
		return int(r), int(msg.Controllen), nil
	}
}

func recv(b []byte, flags int) (int, error) {
	for {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, ControlFD, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(flags), 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return int(n), nil
	}
}
