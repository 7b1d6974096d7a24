//go:build !linux

package runtimes

import (
	"os/exec"
	"testing"
)

func chrootCommand(t testing.TB, _ *exec.Cmd, _ Runtime, _, _ string) {
	t.Skip("chroots of runtime mounts are built on Linux only")
}
