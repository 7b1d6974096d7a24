package linux

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nimbusfaas/nimbus/internal/sandbox"
	"github.com/nimbusfaas/nimbus/internal/sandbox/linux/nsinit"
)

// Sizes of the file systems the driver makes besides /tmp.
const (
	rootFSOptions = "size=1m,nr_inodes=4096,mode=755"
	devFSOptions  = "size=64k,nr_inodes=64,mode=755"
	// /dev/shm is capped separately from /tmp; both count against the memory limit.
	shmFSOptions = "size=64m,mode=1777"
	hostname     = "localhost"
	// sandboxUser is the name Lambda gives its function user.
	sandboxUser = "sbx_user1051"
)

const (
	roBind = unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV
)

// devices are the character devices of the minimal /dev.
var devices = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9},
}

// planner turns a Spec into the steps the init runs. It keeps a model of the tree it builds
// inside the new root so that mount points are created exactly once, host symlinks along a
// mount's path are reproduced, and a mount point inside an earlier read-only mount is
// checked to exist rather than created.
type planner struct {
	// root is the host directory the new root tmpfs is mounted on.
	root string
	// hostRoot prefixes every host path the planner looks at; tests point it at a fake host.
	hostRoot string
	// proc, if set, is what the boot plan masks and replaces in /proc.
	proc *procView
	// overlay mounts the code, runtime and layer directories (and other directories mounted
	// elsewhere than at their host path) as overlays, which hide their host paths (see hide).
	overlay   bool
	chdirDone bool
	ops       []nsinit.Op
	nodes     map[string]*node
}

type nodeKind int

const (
	dirNode nodeKind = iota
	fileNode
	linkNode
	mountNode
)

type node struct {
	kind nodeKind
	// link is a symlink's target; source is a mount's host path.
	link, source string
}

// bootPlan is what every init does while it waits in the pool (see initPool): the parts of
// the root that are the same for every environment, and its own boot_id. rootDir is the host
// mount point of the new root; proc, if not nil, says what to mask in /proc.
func bootPlan(rootDir string, proc *procView) *nsinit.Plan {
	p := planner{root: rootDir, proc: proc}
	p.skeleton()
	return &nsinit.Plan{Ops: p.ops, Hostname: hostname, NoFile: sandbox.OpenFilesLimit}
}

// buildPlan returns the rest of the init's work for spec, which must have passed Validate:
// the mounts, /tmp, pivot_root and the program. seccompProg is the assembled filter; overlay
// says whether the kernel has overlayfs, to hide host paths with (see planner.hide).
func buildPlan(spec sandbox.Spec, rootDir string, seccompProg []byte, overlay bool) (*nsinit.Plan, error) {
	return planner{root: rootDir, overlay: overlay}.build(spec, seccompProg)
}

// skeleton plans the root tmpfs with its directories, the generated /etc (for the default
// user), /dev and /proc.
func (p *planner) skeleton() {
	p.nodes = map[string]*node{"/": {kind: dirNode}}
	p.op(nsinit.Op{Kind: nsinit.OpMount, Source: "tmpfs", Path: p.root, FSType: "tmpfs",
		Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: rootFSOptions})
	for _, d := range []string{"/etc", "/var", sandbox.TaskDir, sandbox.RuntimeDir, sandbox.LayerDir, sandbox.TmpDir, "/proc", "/dev"} {
		p.mkdir(d, 0o755)
	}
	for _, f := range etcFiles(sandbox.DefaultUID, sandbox.DefaultGID) {
		p.nodes[f.path] = &node{kind: fileNode}
		p.op(nsinit.Op{Kind: nsinit.OpWriteFile, Path: p.host(f.path), Mode: 0o644, Data: f.data})
	}
	p.dev()
	p.op(nsinit.Op{Kind: nsinit.OpMount, Source: "proc", Path: p.host("/proc"), FSType: "proc",
		Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC})
	if p.proc != nil {
		p.maskProc(p.proc)
	}
	p.mkdir(stageDir+"/"+emptyLower, 0o555)
}

func (p planner) build(spec sandbox.Spec, seccompProg []byte) (*nsinit.Plan, error) {
	p.skeleton()
	p.ops = nil // done by the init while it waited in the pool
	if spec.UID != sandbox.DefaultUID || spec.GID != sandbox.DefaultGID {
		for _, f := range etcFiles(spec.UID, spec.GID)[:2] { // passwd and group
			p.op(nsinit.Op{Kind: nsinit.OpWriteFile, Path: p.host(f.path), Mode: 0o644, Data: f.data, Flags: syscall.O_TRUNC})
		}
	}

	binds := []struct{ source, target, name string }{{spec.CodeDir, sandbox.TaskDir, "task"}}
	if spec.RuntimeDir != "" {
		binds = append(binds, struct{ source, target, name string }{spec.RuntimeDir, sandbox.RuntimeDir, "runtime"})
	}
	if spec.LayerDir != "" {
		binds = append(binds, struct{ source, target, name string }{spec.LayerDir, sandbox.LayerDir, "opt"})
	}
	for _, b := range binds {
		if err := p.bind(b.source, b.target, false, b.name); err != nil {
			return nil, err
		}
	}
	mounts := slices.Clone(spec.Mounts)
	for i := range mounts {
		if mounts[i].Target == "" {
			mounts[i].Target = mounts[i].Source
		}
	}
	// Parents before children, so that /usr/lib is mounted before /usr/lib/python3.11 and
	// the latter is checked against it.
	slices.SortStableFunc(mounts, func(a, b sandbox.Mount) int { return strings.Compare(a.Target, b.Target) })
	for i, m := range mounts {
		// A mount at its host path shows nothing the environment does not see anyway.
		hideAs := ""
		if m.Target != m.Source {
			hideAs = "mount" + strconv.Itoa(i)
		}
		if err := p.bind(m.Source, m.Target, m.Target == m.Source, hideAs); err != nil {
			return nil, err
		}
	}

	p.op(nsinit.Op{Kind: nsinit.OpMount, Source: "tmpfs", Path: p.host(sandbox.TmpDir), FSType: "tmpfs",
		Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "size=" + strconv.Itoa(spec.EphemeralStorageMB) + "m,mode=1777"})
	p.op(nsinit.Op{Kind: nsinit.OpPivotRoot, Path: p.root})
	// Only now, with everything created in it, the root becomes read-only.
	p.op(nsinit.Op{Kind: nsinit.OpMount, Path: "/", Flags: unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV})

	return &nsinit.Plan{
		Ops:     p.ops,
		UID:     uint32(spec.UID),
		GID:     uint32(spec.GID),
		Seccomp: seccompProg,
		Dir:     spec.Dir,
		Path:    spec.Args[0],
		Args:    spec.Args,
		Env:     spec.Env,
	}, nil
}

func (p *planner) op(op nsinit.Op) { p.ops = append(p.ops, op) }

// host is where a path inside the new root is before pivot_root.
func (p *planner) host(inside string) string { return p.root + inside }

func (p *planner) mkdir(inside string, mode uint32) {
	p.nodes[inside] = &node{kind: dirNode}
	p.op(nsinit.Op{Kind: nsinit.OpMkdir, Path: p.host(inside), Mode: mode})
}

// dev builds /dev: device nodes on a small tmpfs made read-only afterwards, the usual
// symlinks into /proc/self, and a separate tmpfs for /dev/shm.
func (p *planner) dev() {
	p.op(nsinit.Op{Kind: nsinit.OpMount, Source: "tmpfs", Path: p.host("/dev"), FSType: "tmpfs",
		Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: devFSOptions})
	for _, d := range devices {
		p.op(nsinit.Op{Kind: nsinit.OpMknod, Path: p.host("/dev/" + d.name), Mode: syscall.S_IFCHR | 0o666,
			Dev: unix.Mkdev(d.major, d.minor)})
	}
	for name, target := range map[string]string{
		"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	} {
		p.op(nsinit.Op{Kind: nsinit.OpSymlink, Path: p.host("/dev/" + name), Source: target})
	}
	p.op(nsinit.Op{Kind: nsinit.OpMkdir, Path: p.host("/dev/shm"), Mode: 0o1777})
	p.op(nsinit.Op{Kind: nsinit.OpMount, Source: "tmpfs", Path: p.host("/dev/shm"), FSType: "tmpfs",
		Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, Data: shmFSOptions})
	p.op(nsinit.Op{Kind: nsinit.OpMount, Path: p.host("/dev"),
		Flags: unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NOEXEC})
}

// bind plans a read-only bind mount of host path source at target inside the new root. A
// directory given a hideAs name is mounted so that its host path does not show (see hide).
func (p *planner) bind(source, target string, mirror bool, hideAs string) error {
	real, err := filepath.EvalSymlinks(p.hostRoot + source)
	if err != nil {
		return fmt.Errorf("%w: mount %s: %w", sandbox.ErrInvalidSpec, source, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("%w: mount %s: %w", sandbox.ErrInvalidSpec, source, err)
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: mount %s: not a directory or regular file", sandbox.ErrInvalidSpec, source)
	}
	at, err := p.mountPoint(target, fi.IsDir(), mirror)
	if err != nil {
		return fmt.Errorf("%w: mount %s on %s: %w", sandbox.ErrInvalidSpec, source, target, err)
	}
	p.nodes[at] = &node{kind: mountNode, source: real}
	if hideAs != "" && p.overlay && fi.IsDir() {
		p.hide(real, at, hideAs)
		return nil
	}
	p.op(nsinit.Op{Kind: nsinit.OpMount, Source: real, Path: p.host(at), Flags: unix.MS_BIND})
	p.op(nsinit.Op{Kind: nsinit.OpMount, Path: p.host(at), Flags: roBind})
	return nil
}

// mountPoint makes sure target exists inside the new root as a directory (or an empty file
// when isDir is false) and returns its path with symlinks resolved. With mirror, a path
// component that is a symlink on the host becomes the same symlink inside.
func (p *planner) mountPoint(target string, isDir, mirror bool) (string, error) {
	rest := strings.Split(strings.TrimPrefix(target, "/"), "/")
	cur := "/"
	for hops := 0; len(rest) > 0; {
		next := path.Join(cur, rest[0])
		last := len(rest) == 1
		n, ok := p.nodes[next]
		if !ok && mirror {
			if fi, err := os.Lstat(p.hostRoot + next); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				link, err := os.Readlink(p.hostRoot + next)
				if err != nil {
					return "", err
				}
				n = &node{kind: linkNode, link: link}
				p.nodes[next] = n
				p.op(nsinit.Op{Kind: nsinit.OpSymlink, Path: p.host(next), Source: link})
				ok = true
			}
		}
		if !ok {
			if last && !isDir {
				p.nodes[next] = &node{kind: fileNode}
				p.op(nsinit.Op{Kind: nsinit.OpWriteFile, Path: p.host(next), Mode: 0o644})
			} else {
				p.mkdir(next, 0o755)
			}
			cur, rest = next, rest[1:]
			continue
		}
		switch n.kind {
		case linkNode:
			if hops++; hops > 40 {
				return "", syscall.ELOOP
			}
			base := cur
			if strings.HasPrefix(n.link, "/") {
				base = "/"
			}
			rest = append(strings.Split(strings.Trim(path.Join(base, n.link), "/"), "/"), rest[1:]...)
			cur = "/"
		case mountNode:
			// Inside an earlier read-only mount nothing can be created: the rest of the path
			// must already exist in its host directory.
			inner := path.Join(append([]string{n.source}, rest[1:]...)...)
			fi, err := os.Lstat(inner)
			if err != nil {
				return "", fmt.Errorf("inside mount of %s: %w", n.source, err)
			}
			if last {
				return "", fmt.Errorf("already a mount point")
			}
			if fi.IsDir() != isDir || fi.Mode()&fs.ModeSymlink != 0 {
				return "", fmt.Errorf("%s inside mount of %s is not a %s", inner, n.source, map[bool]string{true: "directory", false: "file"}[isDir])
			}
			return path.Join(append([]string{next}, rest[1:]...)...), nil
		case fileNode:
			if !last || isDir {
				return "", fmt.Errorf("%s is a file", next)
			}
			cur, rest = next, rest[1:]
		case dirNode:
			if last && !isDir {
				return "", fmt.Errorf("%s is a directory", next)
			}
			cur, rest = next, rest[1:]
		}
	}
	if cur == "/" {
		return "", fmt.Errorf("resolves to /")
	}
	return cur, nil
}

type etcFile struct{ path, data string }

// etcFiles is the generated /etc: enough for getpwuid, getaddrinfo("localhost") and
// interpreters that look up their user, nothing of the host's.
func etcFiles(uid, gid int) []etcFile {
	u, g := strconv.Itoa(uid), strconv.Itoa(gid)
	return []etcFile{
		{"/etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\n" +
			sandboxUser + ":x:" + u + ":" + g + "::/tmp:/sbin/nologin\n" +
			"nobody:x:65534:65534:nobody:/:/sbin/nologin\n"},
		{"/etc/group", "root:x:0:\n" + sandboxUser + ":x:" + g + ":\nnobody:x:65534:\n"},
		{"/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
		{"/etc/resolv.conf", ""},
		{"/etc/nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files\nnetworks: files\n" +
			"protocols: files\nservices: files\nethers: files\nrpc: files\n"},
		{"/etc/hostname", hostname + "\n"},
	}
}
