package sandbox

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

func TestExitStatusString(t *testing.T) {
	for _, tc := range []struct {
		st   ExitStatus
		want string
	}{
		{ExitStatus{Code: 0}, "exit status 0"},
		{ExitStatus{Code: 127}, "exit status 127"},
		{ExitStatus{Code: -1, Signal: syscall.SIGKILL, OOMKilled: true}, "signal: killed"},
		{ExitStatus{Code: -1, Signal: syscall.SIGSEGV, CoreDumped: true}, "signal: segmentation fault (core dumped)"},
	} {
		if got := tc.st.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.st, got, tc.want)
		}
	}
}

func TestCPU(t *testing.T) {
	for _, tc := range []struct {
		memoryMB int
		quota    time.Duration
		shares   uint64
	}{
		{128, 7235867 * time.Nanosecond, 74},
		{1769, 100 * time.Millisecond, 1024},
		{3538, 200 * time.Millisecond, 2048},
		{10240, 578858112 * time.Nanosecond, 5927},
		{10, time.Millisecond, 5}, // the kernel's minimum quota
	} {
		if got := CPUQuota(tc.memoryMB); got.Round(time.Microsecond) != tc.quota.Round(time.Microsecond) {
			t.Errorf("CPUQuota(%d) = %v, want %v", tc.memoryMB, got, tc.quota)
		}
		if got := CPUShares(tc.memoryMB); got != tc.shares {
			t.Errorf("CPUShares(%d) = %d, want %d", tc.memoryMB, got, tc.shares)
		}
	}
}

func TestValidate(t *testing.T) {
	good := Spec{ID: "fn-1_a", Args: []string{"/var/task/bootstrap"}, Env: []string{"A=b", "EMPTY="}, CodeDir: "/srv/code",
		Mounts: []Mount{{Source: "/usr/lib/python3.11"}, {Source: "/opt/node", Target: "/usr/local/node"}}}.WithDefaults()
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", good, err)
	}
	if good.Dir != "/var/task" || good.MemoryMB != 128 || good.EphemeralStorageMB != 512 || good.UID != 993 || good.GID != 990 {
		t.Errorf("WithDefaults = %+v", good)
	}
	for name, mutate := range map[string]func(*Spec){
		"empty id":           func(s *Spec) { s.ID = "" },
		"id with slash":      func(s *Spec) { s.ID = "../x" },
		"long id":            func(s *Spec) { s.ID = string(make([]byte, 65)) },
		"no program":         func(s *Spec) { s.Args = nil },
		"NUL in argument":    func(s *Spec) { s.Args = []string{"/bin/x", "a\x00b"} },
		"env without =":      func(s *Spec) { s.Env = []string{"NOPE"} },
		"relative code dir":  func(s *Spec) { s.CodeDir = "code" },
		"unclean code dir":   func(s *Spec) { s.CodeDir = "/srv/../etc" },
		"relative dir":       func(s *Spec) { s.Dir = "task" },
		"mount on /":         func(s *Spec) { s.Mounts = []Mount{{Source: "/usr", Target: "/"}} },
		"mount on /proc":     func(s *Spec) { s.Mounts = []Mount{{Source: "/usr", Target: "/proc/x"}} },
		"mount on /var/task": func(s *Spec) { s.Mounts = []Mount{{Source: "/usr", Target: "/var/task"}} },
		"mount on /tmp":      func(s *Spec) { s.Mounts = []Mount{{Source: "/tmp"}} },
		"relative mount":     func(s *Spec) { s.Mounts = []Mount{{Source: "usr"}} },
		"negative memory":    func(s *Spec) { s.MemoryMB = -1 },
		"negative uid":       func(s *Spec) { s.UID = -5 },
	} {
		s := good
		s.Mounts = append([]Mount(nil), good.Mounts...)
		mutate(&s)
		if err := s.Validate(); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%s: Validate = %v, want ErrInvalidSpec", name, err)
		}
	}
}

func TestExecErrorUnwraps(t *testing.T) {
	err := error(&ExecError{Path: "/var/task/bootstrap", Err: syscall.ENOENT})
	if got, want := err.Error(), "exec /var/task/bootstrap: no such file or directory"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, syscall.ENOENT) {
		t.Errorf("errors.Is(%v, ENOENT) = false", err)
	}
}
