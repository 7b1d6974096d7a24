package linux

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nimbusfaas/nimbus/internal/sandbox"
	"github.com/nimbusfaas/nimbus/internal/sandbox/sandboxtest"
)

func TestSmoke(t *testing.T) {
	sandboxtest.RequireRoot(t)
	code := sandboxtest.CodeDir(t)
	d, err := New(Config{RunDir: t.TempDir(), CgroupParent: fmt.Sprintf("nimbus-test-%d", os.Getpid())})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	var out, errb bytes.Buffer
	start := time.Now()
	err = d.Create(ctx, sandbox.Spec{ID: "smoke", Args: []string{"/var/task/probe", "whoami"}, Env: []string{"A=b"}, CodeDir: code, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("create", time.Since(start))
	if err := d.Start(ctx, "smoke"); err != nil {
		t.Fatal(err)
	}
	st, err := d.Wait(ctx, "smoke")
	t.Log("total", time.Since(start), st, err, out.String(), errb.String())
	if err := d.Destroy(ctx, "smoke"); err != nil {
		t.Fatal(err)
	}
}
