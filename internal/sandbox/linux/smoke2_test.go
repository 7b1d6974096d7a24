package linux

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nimbusfaas/nimbus/internal/sandbox"
	"github.com/nimbusfaas/nimbus/internal/sandbox/sandboxtest"
)

type firstByte struct{ ch chan time.Time }

func (f *firstByte) Write(b []byte) (int, error) {
	select {
	case f.ch <- time.Now():
	default:
	}
	return len(b), nil
}

func TestSmokeTiming(t *testing.T) {
	sandboxtest.RequireRoot(t)
	code := sandboxtest.CodeDir(t)
	d, err := New(Config{RunDir: t.TempDir(), CgroupParent: fmt.Sprintf("nimbus-test-%d", os.Getpid())})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	debugPhases = func(t0 time.Time, e *env) {
		t.Logf("  spawn %v cgroup %v add %v setup %v", e.tSpawn.Sub(t0), e.tCgroup.Sub(e.tSpawn), e.tAdd.Sub(e.tCgroup), time.Since(e.tAdd))
	}
	for i := 0; i < 20; i++ {
		fb := &firstByte{ch: make(chan time.Time, 1)}
		id := fmt.Sprint("t", i)
		t0 := time.Now()
		if err := d.Create(ctx, sandbox.Spec{ID: id, Args: []string{"/var/task/probe", "hello"}, CodeDir: code, Stdout: fb}); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		if err := d.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		first := <-fb.ch
		d.Wait(ctx, id)
		t3 := time.Now()
		d.Destroy(ctx, id)
		t4 := time.Now()
		t.Logf("create %v start %v firstbyte %v wait %v destroy %v", t1.Sub(t0), t2.Sub(t1), first.Sub(t0), t3.Sub(t2), t4.Sub(t3))
	}
}
