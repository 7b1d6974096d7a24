package nsinit

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestInitRunsEarly checks the premise of this package: in a binary as heavy as nimbus, its
// init function runs before the expensive package initialisation (which takes ~10 ms in
// total), so that a sandbox init does not pay for it.
func TestInitRunsEarly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and links a binary with the AWS SDK and NATS")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "ordercheck")
	out, err := exec.Command(goTool, "build", "-o", bin, "github.com/nimbusfaas/nimbus/internal/sandbox/linux/nsinit/internal/ordercheck").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var trace bytes.Buffer
	cmd.Stderr = &trace
	if err := cmd.Run(); err != nil {
		t.Fatalf("ordercheck: %v\n%s", err, trace.Bytes())
	}
	order := map[string]int{}
	lines := strings.Split(trace.String(), "\n")
	for i, line := range lines {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "init" {
			order[f[1]] = i
		}
	}
	self, ok := order["github.com/nimbusfaas/nimbus/internal/sandbox/linux/nsinit"]
	if !ok {
		t.Fatalf("nsinit missing from the init trace:\n%s", trace.Bytes())
	}
	for _, heavy := range []string{
		"net/http",
		"github.com/aws/aws-sdk-go-v2/service/lambda",
		"github.com/nats-io/nats-server/v2/server",
		"github.com/containerd/cgroups/v3/cgroup1",
	} {
		if i, ok := order[heavy]; ok && i < self {
			t.Errorf("%s initialises before nsinit:\n%s", heavy, strings.Join(lines[:self+1], "\n"))
		}
	}
	t.Logf("nsinit: %s", lines[self])
}
