package linux

import (
	"os"
	"testing"

	"github.com/nimbusfaas/nimbus/internal/sandbox/sandboxtest"
)

// TestMain removes the probe program the suite builds once the tests are done.
func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m)) }
