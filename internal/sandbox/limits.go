package sandbox

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Lambda's limits, which every driver enforces.
const (
	DefaultMemoryMB           = 128
	DefaultEphemeralStorageMB = 512
	// DefaultUID and DefaultGID are what a program runs as when the Spec gives none: an
	// unprivileged id that no host file is likely to belong to.
	DefaultUID = 993
	DefaultGID = 990
	// PidsLimit bounds the processes and threads of one environment.
	PidsLimit = 1024
	// OpenFilesLimit is RLIMIT_NOFILE inside an environment, soft and hard.
	OpenFilesLimit = 1024
	// MemoryPerVCPU is how much memory buys one full CPU.
	MemoryPerVCPU = 1769
	// CPUPeriod is the accounting period of the CPU quota.
	CPUPeriod = 100 * time.Millisecond
	// DefaultDir is the working directory when the Spec gives none.
	DefaultDir  = "/var/task"
	maxIDLength = 64
)

// Paths inside an environment.
const (
	TaskDir    = "/var/task"
	RuntimeDir = "/var/runtime"
	LayerDir   = "/opt"
	TmpDir     = "/tmp"
)

// CPUQuota is the CPU time per CPUPeriod that an environment with memoryMB may use: memory
// over MemoryPerVCPU vCPUs, as Lambda grants. It is never below 1 ms (the kernel's minimum).
func CPUQuota(memoryMB int) time.Duration {
	q := CPUPeriod * time.Duration(memoryMB) / MemoryPerVCPU
	return max(q, time.Millisecond)
}

// CPUShares is the relative CPU weight of an environment in cgroup v1 units (1024 per vCPU),
// used when environments compete for the CPU below their quotas.
func CPUShares(memoryMB int) uint64 {
	return max(uint64(memoryMB)*1024/MemoryPerVCPU, 2)
}

// WithDefaults returns the spec with zero fields set to their documented defaults.
func (s Spec) WithDefaults() Spec {
	if s.Dir == "" {
		s.Dir = DefaultDir
	}
	if s.MemoryMB == 0 {
		s.MemoryMB = DefaultMemoryMB
	}
	if s.EphemeralStorageMB == 0 {
		s.EphemeralStorageMB = DefaultEphemeralStorageMB
	}
	if s.UID == 0 {
		s.UID = DefaultUID
	}
	if s.GID == 0 {
		s.GID = DefaultGID
	}
	return s
}

// Validate reports what is wrong with a spec after WithDefaults, wrapping ErrInvalidSpec.
func (s Spec) Validate() error {
	if err := ValidateID(s.ID); err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidSpec, s.ID, fmt.Sprintf(format, args...))
	}
	if len(s.Args) == 0 || s.Args[0] == "" {
		return bad("no program")
	}
	for _, a := range s.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return bad("argument contains NUL")
		}
	}
	for _, e := range s.Env {
		if strings.IndexByte(e, 0) >= 0 || !strings.Contains(e, "=") {
			return bad("environment entry %q is not NAME=value", e)
		}
	}
	if !isCleanAbs(s.Dir) {
		return bad("working directory %q is not a clean absolute path", s.Dir)
	}
	if !isCleanAbs(s.CodeDir) {
		return bad("code directory %q is not a clean absolute path", s.CodeDir)
	}
	for _, d := range []string{s.RuntimeDir, s.LayerDir} {
		if d != "" && !isCleanAbs(d) {
			return bad("directory %q is not a clean absolute path", d)
		}
	}
	for _, m := range s.Mounts {
		if !isCleanAbs(m.Source) {
			return bad("mount source %q is not a clean absolute path", m.Source)
		}
		target := m.Target
		if target == "" {
			target = m.Source
		}
		if !isCleanAbs(target) || target == "/" {
			return bad("mount target %q is not a clean absolute path below /", target)
		}
		for _, reserved := range []string{"/proc", "/dev", TmpDir, TaskDir, RuntimeDir, LayerDir} {
			if target == reserved || strings.HasPrefix(target, reserved+"/") {
				return bad("mount target %q is inside %s, which the driver provides", target, reserved)
			}
		}
	}
	if s.MemoryMB < 1 {
		return bad("memory %d MB", s.MemoryMB)
	}
	if s.EphemeralStorageMB < 1 {
		return bad("ephemeral storage %d MB", s.EphemeralStorageMB)
	}
	if s.UID <= 0 || s.GID <= 0 {
		return bad("uid %d gid %d: a program never runs as root", s.UID, s.GID)
	}
	return nil
}

// ValidateID reports whether id can name an environment (it becomes part of host paths).
func ValidateID(id string) error {
	if id == "" || len(id) > maxIDLength {
		return fmt.Errorf("%w: id %q must have 1 to %d characters", ErrInvalidSpec, id, maxIDLength)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: id %q may contain only letters, digits, '-' and '_'", ErrInvalidSpec, id)
		}
	}
	return nil
}

func isCleanAbs(p string) bool {
	return strings.HasPrefix(p, "/") && path.Clean(p) == p && strings.IndexByte(p, 0) < 0
}
