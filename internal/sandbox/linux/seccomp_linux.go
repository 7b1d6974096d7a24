package linux

import (
	"encoding/binary"
	"fmt"
	"syscall"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// deniedSyscalls fail with EPERM inside an environment. The filter is a deny-list on purpose:
// the Go, Python and Node runtimes (and whatever native code functions bring) must work
// unchanged, and without capabilities most privileged calls fail anyway; what is listed here
// is kernel attack surface an unprivileged process can still reach, or a way out of the
// namespaces. Names missing on an architecture are skipped.
var deniedSyscalls = []string{
	// file systems and the mount table
	"mount", "umount2", "umount", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
	"move_mount", "open_tree", "mount_setattr", "open_by_handle_at", "name_to_handle_at",
	"quotactl", "quotactl_fd", "swapon", "swapoff", "acct",
	// namespaces
	"unshare", "setns",
	// tracing and other processes' memory
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
	// kernel extension and introspection
	"bpf", "perf_event_open", "userfaultfd", "kexec_load", "kexec_file_load",
	"init_module", "finit_module", "delete_module", "lookup_dcookie", "syslog",
	// keyrings
	"keyctl", "add_key", "request_key",
	// the machine
	"reboot", "settimeofday", "clock_settime", "clock_adjtime", "stime", "iopl", "ioperm",
	"vhangup", "nfsservctl", "uselib",
}

// enosysSyscalls fail with ENOSYS, which C libraries and libuv take as "not supported by this
// kernel" and fall back: clone3 hides its flags in memory a filter cannot read (glibc falls
// back to clone, whose flags are checked), io_uring is a large attack surface.
var enosysSyscalls = []string{"clone3", "io_uring_setup", "io_uring_enter", "io_uring_register"}

// cloneNamespaceFlags are the clone flags that create namespaces; clone with any of them is
// refused like unshare.
const cloneNamespaceFlags = syscall.CLONE_NEWNS | syscall.CLONE_NEWCGROUP | syscall.CLONE_NEWUTS |
	syscall.CLONE_NEWIPC | syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET

// socketFamilies are the address families a program may make sockets of: local sockets, IPv4
// and IPv6, and netlink for the routing table (getifaddrs, getaddrinfo's AI_ADDRCONFIG).
// Others (AF_VSOCK to the hypervisor, AF_PACKET, AF_ALG, AF_BLUETOOTH, AF_KEY, ...) are
// kernel attack surface no runtime needs; they fail with EAFNOSUPPORT, as on a kernel built
// without them, which libraries take in their stride. Netlink protocols other than
// NETLINK_ROUTE (audit, uevents, the kernel's crypto and netfilter interfaces) fail with
// EPROTONOSUPPORT. Arguments with high bits set, which the kernel would drop, are refused.
var socketFamilies = []uint32{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK}

// socketFilter checks socket and socketpair and lets every other call through to the rest of
// the filter. It is written out here rather than given to the library as argument conditions:
// the library's program compares the system call number of the groups after a conditional
// one against the argument it loaded last, so conditions only work in its last group.
func socketFilter() []bpf.Instruction {
	type jump struct {
		cond     bpf.JumpTest
		val      uint32
		yes, not string // labels; "" is the next instruction
	}
	var prog []any // bpf.Instruction, jump or a label (string)
	arg := func(i int, high bool) bpf.Instruction {
		off := 16 + 8*uint32(i) // seccomp_data.args[i], little-endian on every architecture we build for
		if high {
			off += 4
		}
		return bpf.LoadAbsolute{Off: off, Size: 4}
	}
	family := func(allowNetlink string) {
		prog = append(prog, arg(0, true), jump{bpf.JumpEqual, 0, "", "denyFamily"}, arg(0, false))
		for _, f := range socketFamilies {
			target := "allow"
			if f == unix.AF_NETLINK && allowNetlink != "" {
				target = allowNetlink
			}
			prog = append(prog, jump{bpf.JumpEqual, f, target, ""})
		}
		prog = append(prog, bpf.Jump{}, "denyFamily") // placeholder replaced below
	}
	prog = append(prog,
		bpf.LoadAbsolute{Off: 0, Size: 4}, // seccomp_data.nr
		jump{bpf.JumpEqual, unix.SYS_SOCKET, "", "socketpair"})
	family("netlink")
	prog = append(prog, "netlink", arg(2, true), jump{bpf.JumpEqual, 0, "", "denyProtocol"}, arg(2, false),
		jump{bpf.JumpEqual, unix.NETLINK_ROUTE, "allow", "denyProtocol"},
		"socketpair", jump{bpf.JumpEqual, unix.SYS_SOCKETPAIR, "", "allow"})
	family("")
	prog = append(prog,
		"denyFamily", bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(syscall.EAFNOSUPPORT)},
		"denyProtocol", bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(syscall.EPROTONOSUPPORT)},
		"allow")

	// Lay out: labels take no room; the placeholder after each family list jumps to denyFamily.
	labels := map[string]int{}
	n := 0
	for i, it := range prog {
		switch v := it.(type) {
		case string:
			labels[v] = n
		case bpf.Jump:
			prog[i] = jump{bpf.JumpEqual, 0, "denyFamily", "denyFamily"} // unconditional
			n++
		default:
			n++
		}
	}
	var out []bpf.Instruction
	skip := func(label string) uint8 {
		if label == "" {
			return 0
		}
		return uint8(labels[label] - len(out) - 1)
	}
	for i := 0; i < len(prog); i++ {
		switch v := prog[i].(type) {
		case string:
		case jump:
			out = append(out, bpf.JumpIf{Cond: v.cond, Val: v.val, SkipTrue: skip(v.yes), SkipFalse: skip(v.not)})
		case bpf.Instruction:
			out = append(out, v)
		}
	}
	return out
}

// seccompProgram assembles the filter into raw sock_filter structs for nsinit.Plan.Seccomp.
func seccompProgram() ([]byte, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	known := func(names []string) []string {
		var out []string
		for _, n := range names {
			if _, ok := info.SyscallNames[n]; ok {
				out = append(out, n)
			}
		}
		return out
	}
	policy := seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{
			{Names: known(deniedSyscalls), Action: seccomp.ActionErrno | seccomp.Action(syscall.EPERM)},
			{Names: known(enosysSyscalls), Action: seccomp.ActionErrno | seccomp.Action(syscall.ENOSYS)},
			{
				NamesWithCondtions: []seccomp.NameWithConditions{{
					Name:       "clone",
					Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.BitsSet, Value: cloneNamespaceFlags}},
				}},
				Action: seccomp.ActionErrno | seccomp.Action(syscall.EPERM),
			},
		},
	}
	insns, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	// The library's program allows (its default action) system calls made through another
	// architecture's entry point, such as int 0x80 on x86-64, whose numbers it does not
	// check; refuse those before anything else, or the deny-list could be bypassed.
	prefix := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(syscall.ENOSYS)},
	}
	prefix = append(prefix, socketFilter()...)
	raw, err := bpf.Assemble(append(prefix, insns...))
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	b := make([]byte, 0, len(raw)*8)
	for _, in := range raw {
		b = binary.NativeEndian.AppendUint16(b, in.Op)
		b = append(b, in.Jt, in.Jf)
		b = binary.NativeEndian.AppendUint32(b, in.K)
	}
	return b, nil
}
