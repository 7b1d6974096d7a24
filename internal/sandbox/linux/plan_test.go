package linux

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/nimbusfaas/nimbus/internal/sandbox"
	"github.com/nimbusfaas/nimbus/internal/sandbox/linux/nsinit"
)

// fakeHost builds a merged-/usr host like Debian's: /lib and /lib64 are relative symlinks
// into /usr, and python3 is a symlink to python3.11.
func fakeHost(t *testing.T) string {
	t.Helper()
	h := t.TempDir()
	for _, d := range []string{"usr/lib64", "usr/lib/x86_64-linux-gnu", "usr/lib/python3.11/encodings", "usr/bin", "code", "runtime"} {
		if err := os.MkdirAll(filepath.Join(h, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"usr/bin/python3.11", "usr/lib64/ld-linux-x86-64.so.2", "code/bootstrap"} {
		if err := os.WriteFile(filepath.Join(h, f), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"lib": "usr/lib", "lib64": "usr/lib64", "usr/bin/python3": "python3.11"} {
		if err := os.Symlink(target, filepath.Join(h, link)); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// render shows a plan's steps after the fixed skeleton, with host paths made readable.
func render(p *nsinit.Plan, root, host string) []string {
	var out []string
	in := func(s string) string { return strings.TrimPrefix(s, root) }
	for _, op := range p.Ops {
		var s string
		switch op.Kind {
		case nsinit.OpMkdir:
			s = "mkdir " + in(op.Path)
		case nsinit.OpSymlink:
			s = "symlink " + in(op.Path) + " -> " + op.Source
		case nsinit.OpWriteFile:
			s = "file " + in(op.Path)
		case nsinit.OpMount:
			switch {
			case op.Flags&unix.MS_REMOUNT != 0:
				s = "ro " + in(op.Path)
			case op.Flags&unix.MS_BIND != 0:
				s = "bind " + in(op.Path) + " <- " + strings.Replace(op.Source, host, "HOST", 1)
			default:
				s = fmt.Sprintf("mount %s %s", op.FSType, in(op.Path))
			}
		default:
			continue
		}
		out = append(out, s)
	}
	return out
}

func TestPlanMounts(t *testing.T) {
	host := fakeHost(t)
	spec := sandbox.Spec{
		ID: "p", Args: []string{"/usr/bin/python3"}, CodeDir: "/code", RuntimeDir: "/runtime",
		Mounts: []sandbox.Mount{
			{Source: "/usr/lib/python3.11"},
			{Source: "/usr/bin/python3"},
			{Source: "/lib64"},
			{Source: "/lib/x86_64-linux-gnu"},
			{Source: "/usr/lib/python3.11/encodings", Target: "/usr/lib/python3.11/encodings"},
		},
	}.WithDefaults()
	p, err := planner{root: "/R", hostRoot: host}.build(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := render(p, "/R", host)
	want := []string{
		"bind /var/task <- HOST/code", "ro /var/task",
		"bind /var/runtime <- HOST/runtime", "ro /var/runtime",
		// /lib is a symlink on the host, so it is one inside too.
		"symlink /lib -> usr/lib", "mkdir /usr", "mkdir /usr/lib", "mkdir /usr/lib/x86_64-linux-gnu",
		"bind /usr/lib/x86_64-linux-gnu <- HOST/usr/lib/x86_64-linux-gnu", "ro /usr/lib/x86_64-linux-gnu",
		"symlink /lib64 -> usr/lib64", "mkdir /usr/lib64",
		"bind /usr/lib64 <- HOST/usr/lib64", "ro /usr/lib64",
		"mkdir /usr/bin", "symlink /usr/bin/python3 -> python3.11", "file /usr/bin/python3.11",
		"bind /usr/bin/python3.11 <- HOST/usr/bin/python3.11", "ro /usr/bin/python3.11",
		"mkdir /usr/lib/python3.11",
		"bind /usr/lib/python3.11 <- HOST/usr/lib/python3.11", "ro /usr/lib/python3.11",
		// Inside an earlier read-only mount, the mount point already exists on the host.
		"bind /usr/lib/python3.11/encodings <- HOST/usr/lib/python3.11/encodings", "ro /usr/lib/python3.11/encodings",
		"mount tmpfs /tmp", "ro /",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if p.UID != 993 || p.GID != 990 || p.Path != "/usr/bin/python3" || p.Dir != "/var/task" {
		t.Errorf("plan process = uid %d gid %d path %s dir %s", p.UID, p.GID, p.Path, p.Dir)
	}
	if p.Hostname != "" || p.NoFile != 0 {
		t.Errorf("environment plan carries boot settings: hostname %q nofile %d", p.Hostname, p.NoFile)
	}
	last := p.Ops[len(p.Ops)-1]
	if last.Path != "/" || last.Flags&unix.MS_RDONLY == 0 || p.Ops[len(p.Ops)-2].Kind != nsinit.OpPivotRoot {
		t.Errorf("plan does not end with pivot_root and a read-only root: %+v", p.Ops[len(p.Ops)-2:])
	}
}

func TestBootPlan(t *testing.T) {
	p := bootPlan("/R", nil)
	got := render(p, "/R", "")
	for _, want := range []string{"mount tmpfs ", "mkdir /var/task", "file /etc/passwd", "file /etc/hosts",
		"mount tmpfs /dev", "symlink /dev/fd -> /proc/self/fd", "mount tmpfs /dev/shm", "ro /dev", "mount proc /proc"} {
		if !slices.Contains(got, want) {
			t.Errorf("boot plan lacks %q: %q", want, got)
		}
	}
	if p.Hostname != "localhost" || p.NoFile != sandbox.OpenFilesLimit {
		t.Errorf("boot plan: hostname %q nofile %d", p.Hostname, p.NoFile)
	}
	// Another user than the default gets its own passwd and group.
	spec := sandbox.Spec{ID: "u", Args: []string{"/x"}, CodeDir: "/", UID: 2000, GID: 3000}.WithDefaults()
	ep, err := planner{root: "/R"}.build(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if op := ep.Ops[0]; op.Path != "/R/etc/passwd" || !strings.Contains(op.Data, ":2000:3000:") || op.Flags != syscall.O_TRUNC {
		t.Errorf("first step for uid 2000 = %+v, want /etc/passwd rewritten", op)
	}
}

func TestPlanRejects(t *testing.T) {
	host := fakeHost(t)
	if err := unix.Mkfifo(filepath.Join(host, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, mounts := range map[string][]sandbox.Mount{
		"missing source":      {{Source: "/nope"}},
		"fifo":                {{Source: "/fifo"}},
		"twice the same":      {{Source: "/usr/lib"}, {Source: "/usr/lib64", Target: "/usr/lib"}},
		"not inside a mount":  {{Source: "/usr/lib"}, {Source: "/usr/bin", Target: "/usr/lib/newdir"}},
		"dir over a file":     {{Source: "/usr/bin/python3.11", Target: "/x"}, {Source: "/usr/bin", Target: "/x/y"}},
		"file over a dir":     {{Source: "/usr/bin/python3.11", Target: "/etc"}},
		"dir inside /etc/...": {{Source: "/usr/lib", Target: "/etc/passwd"}},
	} {
		spec := sandbox.Spec{ID: "p", Args: []string{"/x"}, CodeDir: "/code", Mounts: mounts}.WithDefaults()
		if _, err := (planner{root: "/R", hostRoot: host}).build(spec, nil); !errors.Is(err, sandbox.ErrInvalidSpec) {
			t.Errorf("%s: build = %v, want ErrInvalidSpec", name, err)
		}
	}
}

// TestPlanHidesHostPaths: with overlayfs, the code and runtime directories are overlays whose
// lower layers are named by symlinks in the staging directory, which /tmp covers afterwards;
// mounts at their own host path stay bind mounts.
func TestPlanHidesHostPaths(t *testing.T) {
	host := fakeHost(t)
	spec := sandbox.Spec{
		ID: "p", Args: []string{"/x"}, CodeDir: "/code", RuntimeDir: "/runtime",
		Mounts: []sandbox.Mount{{Source: "/usr/lib"}},
	}.WithDefaults()
	p, err := planner{root: "/R", hostRoot: host, overlay: true}.build(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range p.Ops {
		switch {
		case op.Kind == nsinit.OpChdir:
			got = append(got, "chdir "+op.Path)
		case op.Kind == nsinit.OpSymlink && strings.HasPrefix(op.Path, "/R/tmp/"):
			got = append(got, "symlink "+op.Path+" -> "+strings.Replace(op.Source, host, "HOST", 1))
		case op.Kind == nsinit.OpMount && op.FSType == "overlay":
			got = append(got, "overlay "+op.Path+" "+op.Data)
		case op.Kind == nsinit.OpMount && op.Flags&(unix.MS_BIND|unix.MS_REMOUNT) == unix.MS_BIND:
			got = append(got, "bind "+op.Path)
		}
	}
	want := []string{
		"chdir /R/tmp",
		"symlink /R/tmp/task -> HOST/code", "overlay /R/var/task lowerdir=task:empty,xino=off",
		"symlink /R/tmp/runtime -> HOST/runtime", "overlay /R/var/runtime lowerdir=runtime:empty,xino=off",
		"bind /R/usr/lib",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

// TestBootPlanMasksProc: what the host's /proc has of the masked set is covered, the rest is
// left out, and every init gets a boot_id of its own.
func TestBootPlanMasksProc(t *testing.T) {
	fake := t.TempDir()
	for _, d := range []string{"acpi", "pressure"} {
		os.Mkdir(filepath.Join(fake, d), 0o755)
	}
	os.WriteFile(filepath.Join(fake, "timer_list"), nil, 0o444)
	v, err := newProcView(fake, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(v.files, []string{"timer_list"}) || !cmp.Equal(v.dirs, []string{"acpi", "pressure"}) {
		t.Errorf("masks for the fake /proc: files %v dirs %v", v.files, v.dirs)
	}
	if !strings.Contains(v.stat, "\ncpu0 ") || !strings.Contains(v.stat, "\nbtime 1700000000\n") {
		t.Errorf("/proc/stat replacement:\n%s", v.stat)
	}
	bootIDs := map[string]bool{}
	for range 2 {
		var masks []string
		for _, op := range bootPlan("/R", &v).Ops {
			if op.Kind == nsinit.OpMount && strings.HasPrefix(op.Path, "/R/proc/") {
				masks = append(masks, op.Path+" <- "+op.Source)
			}
			if op.Path == "/R/tmp/boot_id" {
				bootIDs[op.Data] = true
			}
		}
		want := []string{
			"/R/proc/loadavg <- /R/tmp/loadavg", "/R/proc/stat <- /R/tmp/stat",
			"/R/proc/sys/kernel/random/boot_id <- /R/tmp/boot_id", "/R/proc/timer_list <- /R/dev/null",
			"/R/proc/acpi <- tmpfs", "/R/proc/pressure <- tmpfs",
		}
		if diff := cmp.Diff(want, masks); diff != "" {
			t.Errorf("masks (-want +got):\n%s", diff)
		}
	}
	if len(bootIDs) != 2 {
		t.Errorf("two boot plans share a boot_id: %v", bootIDs)
	}
}
