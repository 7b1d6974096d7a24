package sandboxtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

const probePackage = "github.com/nimbusfaas/nimbus/internal/sandbox/sandboxtest/probe"

var probe struct {
	once sync.Once
	dir  string
	err  error
}

// CodeDir returns a host directory, readable by any user, holding the probe program as
// "probe": the code directory of every environment the suite creates. It is built once per
// test binary with CGO_ENABLED=0, so that it needs nothing inside the environment but itself.
func CodeDir(tb testing.TB) string {
	tb.Helper()
	probe.once.Do(func() {
		probe.dir, probe.err = buildProbe()
	})
	if probe.err != nil {
		tb.Fatalf("build probe: %v", probe.err)
	}
	return probe.dir
}

func buildProbe() (string, error) {
	dir, err := os.MkdirTemp("", "nimbus-sandbox-probe-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", filepath.Join(dir, "probe"), probePackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", probePackage, err, out.Bytes())
	}
	return dir, nil
}

// RequireRoot skips the test unless it runs as root, which the linux driver needs.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root: execution environments use namespaces and cgroups (CI runs as root)")
	}
}
