package linux

import (
	"fmt"
	"os"
	"testing"

	"github.com/nimbusfaas/nimbus/internal/sandbox/sandboxtest"
)

// newTestDriver returns a driver with its own run directory and cgroup parent, so that tests
// of several packages (and several test binaries) on one machine do not clean up each
// other's environments.
func newTestDriver(tb testing.TB) *Driver {
	tb.Helper()
	sandboxtest.RequireRoot(tb)
	d, err := New(Config{RunDir: tb.TempDir(), CgroupParent: fmt.Sprintf("nimbus-test-%d-%s", os.Getpid(), sandboxtest.NewID(tb))})
	if err != nil {
		tb.Fatalf("New = %v", err)
	}
	tb.Cleanup(func() {
		if err := d.Close(); err != nil {
			tb.Errorf("Close = %v", err)
		}
	})
	return d
}

func TestConformance(t *testing.T) {
	sandboxtest.TestDriver(t, newTestDriver(t))
}
