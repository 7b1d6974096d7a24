package invoker

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// countingLauncher launches in-memory environments that answer with their own id, so the tests
// see which environment served each invocation. The real launcher is exercised end to end by
// the server's tests; these check the scheduling rules alone.
type countingLauncher struct {
	launched  atomic.Int64
	destroyed atomic.Int64
	block     chan struct{} // when set, Invoke waits on it
	reusable  bool
}

type testEnv struct {
	id        int64
	l         *countingLauncher
	destroyed atomic.Bool
}

func (l *countingLauncher) Launch(ctx context.Context, inv *lambda.Invocation) (Environment, *lambda.InvokeResult, error) {
	return &testEnv{id: l.launched.Add(1), l: l}, nil, nil
}

func (e *testEnv) Invoke(ctx context.Context, inv *lambda.Invocation) (*lambda.InvokeResult, bool, error) {
	if e.l.block != nil {
		<-e.l.block
	}
	return &lambda.InvokeResult{Payload: []byte{byte('0' + e.id)}}, e.l.reusable, nil
}

func (e *testEnv) Destroy() {
	if e.destroyed.CompareAndSwap(false, true) {
		e.l.destroyed.Add(1)
	}
}

func invocation(name string, mem int) *lambda.Invocation {
	return &lambda.Invocation{Function: &lambda.Function{Name: name, MemorySize: mem}, Version: lambda.VersionLatest}
}

func TestReusesWarmEnvironment(t *testing.T) {
	l := &countingLauncher{reusable: true}
	iv := New(Config{Launcher: l})
	for i := 0; i < 5; i++ {
		res, err := iv.Invoke(context.Background(), invocation("f", 128))
		if err != nil || string(res.Payload) != "1" {
			t.Fatalf("Invoke #%d = %v, %v, want environment 1", i, res, err)
		}
	}
	if n := l.launched.Load(); n != 1 {
		t.Fatalf("launched %d environments, want 1", n)
	}
}

func TestParallelInvocationsGetTheirOwnEnvironments(t *testing.T) {
	l := &countingLauncher{reusable: true, block: make(chan struct{})}
	iv := New(Config{Launcher: l})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := iv.Invoke(context.Background(), invocation("f", 128)); err != nil {
				t.Errorf("Invoke = %v", err)
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.launched.Load() < 8 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(l.block)
	wg.Wait()
	if got := iv.Stats(); got.Live != 8 || got.Idle != 8 {
		t.Fatalf("Stats = %+v, want 8 live and idle", got)
	}
	l.block = nil
	for i := 0; i < 8; i++ {
		iv.Invoke(context.Background(), invocation("f", 128))
	}
	if n := l.launched.Load(); n != 8 {
		t.Fatalf("launched %d environments after warm invokes, want 8", n)
	}
}

func TestNotReusableIsDestroyed(t *testing.T) {
	l := &countingLauncher{reusable: false}
	iv := New(Config{Launcher: l})
	iv.Invoke(context.Background(), invocation("f", 128))
	iv.Invoke(context.Background(), invocation("f", 128))
	if l.launched.Load() != 2 || l.destroyed.Load() != 2 {
		t.Fatalf("launched %d destroyed %d, want 2 and 2", l.launched.Load(), l.destroyed.Load())
	}
	if st := iv.Stats(); st.Live != 0 || st.MemoryMB != 0 {
		t.Fatalf("Stats = %+v, want nothing live", st)
	}
}

func TestBudgetRefusesWith429AndEvictsIdle(t *testing.T) {
	l := &countingLauncher{reusable: true, block: make(chan struct{})}
	iv := New(Config{Launcher: l, MemoryBudgetMB: 256})
	done := make(chan struct{})
	go func() { iv.Invoke(context.Background(), invocation("busy", 256)); close(done) }()
	for l.launched.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	_, err := iv.Invoke(context.Background(), invocation("other", 128))
	le, ok := lambda.AsError(err)
	if !ok || le.Code != lambda.CodeTooManyRequests || le.Reason != lambda.ReasonConcurrentInvocationLimitExceeded {
		t.Fatalf("Invoke on a full node = %v, want TooManyRequestsException", err)
	}
	close(l.block)
	<-done
	l.block = nil
	// "busy" is idle now; "other" evicts it to fit.
	if _, err := iv.Invoke(context.Background(), invocation("other", 128)); err != nil {
		t.Fatalf("Invoke after the node freed up = %v", err)
	}
	if l.destroyed.Load() != 1 {
		t.Fatalf("destroyed %d, want the idle environment evicted", l.destroyed.Load())
	}
}

func TestReapIdle(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &countingLauncher{reusable: true}
	iv := New(Config{Launcher: l, KeepWarm: time.Minute, Now: func() time.Time { return now }})
	iv.Invoke(context.Background(), invocation("f", 128))
	now = now.Add(30 * time.Second)
	if n := iv.Reap(); n != 0 {
		t.Fatalf("Reap after 30s = %d, want 0", n)
	}
	now = now.Add(31 * time.Second)
	if n := iv.Reap(); n != 1 || l.destroyed.Load() != 1 {
		t.Fatalf("Reap after 61s = %d (destroyed %d), want 1", n, l.destroyed.Load())
	}
}

func TestChangedFunctionGetsNewEnvironment(t *testing.T) {
	l := &countingLauncher{reusable: true}
	iv := New(Config{Launcher: l})
	inv := invocation("f", 128)
	iv.Invoke(context.Background(), inv)
	inv.Function.LastModified = time.Now()
	res, _ := iv.Invoke(context.Background(), inv)
	if string(res.Payload) != "2" {
		t.Fatalf("Invoke after an update ran in environment %s, want a new one", res.Payload)
	}
}

func TestRetireDestroysOutdatedEnvironments(t *testing.T) {
	l := &countingLauncher{reusable: true}
	iv := New(Config{Launcher: l})
	old := invocation("f", 128)
	iv.Invoke(context.Background(), old)
	other := invocation("g", 128)
	iv.Invoke(context.Background(), other)

	// An update that only changed state (same LastModified) keeps the warm environment.
	iv.Retire("f", old.Function)
	if st := iv.Stats(); st.Idle != 2 {
		t.Fatalf("after a no-op change Stats = %+v, want 2 idle", st)
	}

	// A busy environment of the old configuration is destroyed when its invocation ends.
	l.block = make(chan struct{})
	done := make(chan struct{})
	go func() { iv.Invoke(context.Background(), old); close(done) }()
	for iv.Stats().Idle != 1 {
		time.Sleep(time.Millisecond)
	}
	updated := *old.Function
	updated.LastModified = time.Now()
	iv.Retire("f", &updated)
	close(l.block)
	<-done
	l.block = nil
	deadline := time.Now().Add(5 * time.Second)
	for l.destroyed.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := iv.Stats(); l.destroyed.Load() != 1 || st.Live != 1 || st.Idle != 1 {
		t.Fatalf("after an update: destroyed %d, Stats %+v; want f's environment gone, g's kept", l.destroyed.Load(), st)
	}

	// Deleting g destroys its idle environment.
	iv.Retire("g", nil)
	for l.destroyed.Load() != 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := iv.Stats(); l.destroyed.Load() != 2 || st.Live != 0 {
		t.Fatalf("after a delete: destroyed %d, Stats %+v", l.destroyed.Load(), st)
	}
}

func TestReservedConcurrency(t *testing.T) {
	l := &countingLauncher{reusable: true, block: make(chan struct{})}
	reserved := 2
	iv := New(Config{Launcher: l, MaxEnvironments: 5, Reserved: func() int { return reserved }})
	capped := func(name string, n int) *lambda.Invocation {
		inv := invocation(name, 128)
		inv.Function.ReservedConcurrency = &n
		return inv
	}
	wantTooMany := func(inv *lambda.Invocation, reason string) {
		t.Helper()
		_, err := iv.Invoke(context.Background(), inv)
		if le, ok := lambda.AsError(err); !ok || le.Code != lambda.CodeTooManyRequests || le.Reason != reason {
			t.Fatalf("Invoke %s = %v, want TooManyRequestsException with Reason %s", inv.Function.Name, err, reason)
		}
	}

	// Zero is the off switch: nothing runs.
	wantTooMany(capped("off", 0), lambda.ReasonReservedFunctionConcurrentInvocationLimit)

	// "capped" may run two at once; the third is refused while they run.
	var wg sync.WaitGroup
	start := func(inv *lambda.Invocation) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := iv.Invoke(context.Background(), inv); err != nil {
				t.Errorf("Invoke %s = %v", inv.Function.Name, err)
			}
		}()
	}
	waitLaunched := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for l.launched.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("launched %d environments, want %d", l.launched.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	start(capped("capped", 2))
	start(capped("capped", 2))
	waitLaunched(2)
	wantTooMany(capped("capped", 2), lambda.ReasonReservedFunctionConcurrentInvocationLimit)

	// The unreserved functions share 5 - 2 = 3.
	for range 3 {
		start(invocation("free", 128))
	}
	waitLaunched(5)
	wantTooMany(invocation("free", 128), lambda.ReasonConcurrentInvocationLimitExceeded)

	close(l.block)
	wg.Wait()
	l.block = nil
	if _, err := iv.Invoke(context.Background(), capped("capped", 2)); err != nil {
		t.Fatalf("Invoke after the others ended = %v", err)
	}
	if _, err := iv.Invoke(context.Background(), invocation("free", 128)); err != nil {
		t.Fatalf("Invoke after the others ended = %v", err)
	}
}
