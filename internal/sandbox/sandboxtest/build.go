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
// test binary with CGO_ENABLED=0, so that it needs nothing inside the environment but itself;
// Main removes it when the tests are done.
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

// Main runs a package's tests, then removes the probe CodeDir built for them (a 4 MB
// directory in the temp dir that would otherwise outlive every test run). A package whose
// tests use CodeDir or ProbeSpec calls it from its TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if probe.dir != "" {
		os.RemoveAll(probe.dir)
	}
	return code
}
