package invoker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
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
	// slowDestroy, when set, holds the Destroy of function "slow"'s environments until it
	// is closed: a teardown that takes long, like a fork bomb's.
	slowDestroy chan struct{}
}

type testEnv struct {
	id        int64
	l         *countingLauncher
	destroyed atomic.Bool
	name      string
}

func (l *countingLauncher) Launch(ctx context.Context, inv *lambda.Invocation) (Environment, *lambda.InvokeResult, error) {
	return &testEnv{id: l.launched.Add(1), l: l, name: inv.Function.Name}, nil, nil
}

func (e *testEnv) Invoke(ctx context.Context, inv *lambda.Invocation) (*lambda.InvokeResult, bool, error) {
	if e.l.block != nil {
		<-e.l.block
	}
	return &lambda.InvokeResult{Payload: []byte{byte('0' + e.id)}}, e.l.reusable, nil
}

func (e *testEnv) Destroy() {
	if e.destroyed.CompareAndSwap(false, true) {
		if e.l.slowDestroy != nil && e.name == "slow" {
			<-e.l.slowDestroy
		}
		e.l.destroyed.Add(1)
	}
}

// waitFor polls cond until it holds, failing the test after a generous deadline: teardowns
// run in the background.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
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
	waitFor(t, "2 environments destroyed", func() bool { return l.destroyed.Load() == 2 })
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
	// The message says which limit it is and how to lift it (issue 9, point 14).
	for _, want := range []string{"memory budget of 256 MB", "--memory-budget", "1 busy or starting environments hold 256 MB", "needs 128 MB"} {
		if !strings.Contains(le.Message, want) {
			t.Errorf("429 message %q does not say %q", le.Message, want)
		}
	}
	close(l.block)
	<-done
	l.block = nil
	// "busy" is idle now; "other" evicts it to fit.
	if _, err := iv.Invoke(context.Background(), invocation("other", 128)); err != nil {
		t.Fatalf("Invoke after the node freed up = %v", err)
	}
	waitFor(t, "the idle environment evicted", func() bool { return l.destroyed.Load() == 1 })
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
	n := iv.Reap()
	waitFor(t, "the reaped environment destroyed", func() bool { return l.destroyed.Load() >= 1 })
	if n != 1 || l.destroyed.Load() != 1 {
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

// TestEvictionDoesNotWaitForTeardown is issue 9's point 10: a cold start that must evict an
// idle environment of another function to fit in the memory budget does not wait for that
// environment's teardown (a fork-bombed one took 38 s to die).
func TestEvictionDoesNotWaitForTeardown(t *testing.T) {
	l := &countingLauncher{reusable: true, slowDestroy: make(chan struct{})}
	iv := New(Config{Launcher: l, MemoryBudgetMB: 128})
	if _, err := iv.Invoke(context.Background(), invocation("slow", 128)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := iv.Invoke(context.Background(), invocation("other", 128))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Invoke other = %v", err)
		}
	case <-time.After(10 * time.Second):
		close(l.slowDestroy)
		t.Fatal("a cold start waited for another function's teardown")
	}
	if st := iv.Stats(); st.Live != 1 || st.MemoryMB != 128 {
		t.Errorf("Stats while the evicted environment is still dying = %+v, want only the new one on the books", st)
	}
	if l.destroyed.Load() != 0 {
		t.Errorf("destroyed %d, want the slow teardown still under way", l.destroyed.Load())
	}
	close(l.slowDestroy)
	iv.Close()
	if l.destroyed.Load() != 2 {
		t.Errorf("after Close destroyed %d, want 2", l.destroyed.Load())
	}
}

// TestTimedOutInvocationDoesNotWaitForTeardown: an environment that may not serve again (a
// timeout, a crash) is destroyed after the answer, not before it.
func TestTimedOutInvocationDoesNotWaitForTeardown(t *testing.T) {
	l := &countingLauncher{reusable: false, slowDestroy: make(chan struct{})}
	iv := New(Config{Launcher: l, MemoryBudgetMB: 128})
	done := make(chan error, 1)
	go func() {
		_, err := iv.Invoke(context.Background(), invocation("slow", 128))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Invoke = %v", err)
		}
	case <-time.After(10 * time.Second):
		close(l.slowDestroy)
		t.Fatal("an invocation waited for its environment's teardown")
	}
	// The budget is free at once: another function starts while the teardown goes on.
	if _, err := iv.Invoke(context.Background(), invocation("other", 128)); err != nil {
		t.Fatalf("Invoke other = %v", err)
	}
	close(l.slowDestroy)
	iv.Close()
	if l.destroyed.Load() != 2 {
		t.Errorf("after Close destroyed %d, want 2", l.destroyed.Load())
	}
}

// TestFunctionLargerThanBudgetIsNoThrottle is issue 9's point 14: a function whose memory is
// more than the node's whole budget got 429 forever; it is a parameter error that says why.
func TestFunctionLargerThanBudgetIsNoThrottle(t *testing.T) {
	l := &countingLauncher{reusable: true}
	iv := New(Config{Launcher: l, MemoryBudgetMB: 256})
	_, err := iv.Invoke(context.Background(), invocation("big", 512))
	le, ok := lambda.AsError(err)
	if !ok || le.Code != lambda.CodeInvalidParameterValue || !strings.Contains(le.Message, "memory budget of 256 MB") || !strings.Contains(le.Message, "--memory-budget") {
		t.Fatalf("Invoke of a 512 MB function on a 256 MB node = %v, want InvalidParameterValueException naming the budget", err)
	}
	if st := iv.Stats(); l.launched.Load() != 0 || st.Live != 0 || st.MemoryMB != 0 {
		t.Fatalf("launched %d, Stats %+v; want nothing", l.launched.Load(), st)
	}
	if _, err := iv.Invoke(context.Background(), invocation("small", 256)); err != nil {
		t.Fatalf("Invoke of a function that fits = %v", err)
	}
}

// TestConcurrencyLimitFollowsMemoryBudget: the node's concurrency limit is what its memory
// budget holds at the smallest size when that is less than MaxEnvironments, and the share of
// functions without a reservation comes out of it, with a message that says so.
func TestConcurrencyLimitFollowsMemoryBudget(t *testing.T) {
	if got := New(Config{MemoryBudgetMB: 94 * 128}).ConcurrencyLimit(); got != 94 {
		t.Errorf("ConcurrencyLimit with a 12032 MB budget = %d, want 94", got)
	}
	if got := New(Config{MemoryBudgetMB: 1 << 20, MaxEnvironments: 1000}).ConcurrencyLimit(); got != 1000 {
		t.Errorf("ConcurrencyLimit with a 1 TB budget = %d, want MaxEnvironments 1000", got)
	}
	l := &countingLauncher{reusable: true, block: make(chan struct{})}
	iv := New(Config{Launcher: l, MemoryBudgetMB: 3 * 128, Reserved: func() int { return 1 }})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := iv.Invoke(context.Background(), invocation("free", 128)); err != nil {
				t.Errorf("Invoke = %v", err)
			}
		})
	}
	waitFor(t, "2 environments launched", func() bool { return l.launched.Load() == 2 })
	_, err := iv.Invoke(context.Background(), invocation("free", 128))
	le, ok := lambda.AsError(err)
	if !ok || le.Reason != lambda.ReasonConcurrentInvocationLimitExceeded || !strings.Contains(le.Message, "at most 3 invocations") ||
		!strings.Contains(le.Message, "--memory-budget") || !strings.Contains(le.Message, "share 2 of them") {
		t.Errorf("third unreserved Invoke = %v, want a 429 that names the memory budget", err)
	}
	close(l.block)
	wg.Wait()
}

// exclusiveLauncher launches environments that check they serve one invocation at a time and
// none after Destroy, and count what is launched and destroyed.
type exclusiveLauncher struct {
	t                   *testing.T
	launched, destroyed atomic.Int64
}

type exclusiveEnv struct {
	l         *exclusiveLauncher
	busy      atomic.Bool
	destroyed atomic.Bool
	n         atomic.Int64
}

func (l *exclusiveLauncher) Launch(ctx context.Context, inv *lambda.Invocation) (Environment, *lambda.InvokeResult, error) {
	l.launched.Add(1)
	return &exclusiveEnv{l: l}, nil, nil
}

func (e *exclusiveEnv) Invoke(ctx context.Context, inv *lambda.Invocation) (*lambda.InvokeResult, bool, error) {
	if !e.busy.CompareAndSwap(false, true) {
		e.l.t.Error("an environment got two invocations at once")
	}
	if e.destroyed.Load() {
		e.l.t.Error("a destroyed environment got an invocation")
	}
	time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
	e.busy.Store(false)
	// Every seventh invocation ends its environment, as a timeout or a crash does.
	return &lambda.InvokeResult{}, e.n.Add(1)%7 != 0, nil
}

func (e *exclusiveEnv) Destroy() {
	if e.busy.Load() {
		e.l.t.Error("a busy environment was destroyed")
	}
	if e.destroyed.CompareAndSwap(false, true) {
		time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
		e.l.destroyed.Add(1)
	}
}

// TestConcurrentInvokesEvictionsAndRetires runs invocations of several functions on a node
// that fits few environments, while functions change and idle ones are reaped: an environment
// never serves two invocations at once or after its Destroy, the books stay within the budget,
// and after Close every environment launched is destroyed and none is on the books. Run it
// with -race.
func TestConcurrentInvokesEvictionsAndRetires(t *testing.T) {
	l := &exclusiveLauncher{t: t}
	now := atomic.Int64{}
	iv := New(Config{Launcher: l, MemoryBudgetMB: 6 * 128, KeepWarm: time.Millisecond,
		Now: func() time.Time { return time.Unix(0, now.Add(int64(time.Microsecond))) }})
	fns := make([]*lambda.Function, 6)
	for i := range fns {
		fns[i] = &lambda.Function{Name: fmt.Sprintf("f%d", i), MemorySize: 128 * (1 + i%2)}
	}
	var mu sync.Mutex // guards fns' LastModified against the retirer
	stop := make(chan struct{})
	var background sync.WaitGroup
	background.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			fn := *fns[i%len(fns)]
			fn.LastModified = time.Unix(int64(i), 0)
			fns[i%len(fns)] = &fn
			mu.Unlock()
			iv.Retire(fn.Name, &fn)
			iv.Reap()
			if st := iv.Stats(); st.MemoryMB > 6*128 || st.MemoryMB < 0 || st.Live < 0 {
				t.Errorf("Stats = %+v beyond a 768 MB budget", st)
			}
			time.Sleep(200 * time.Microsecond)
		}
	})
	var callers sync.WaitGroup
	var ok, throttled atomic.Int64
	for c := range 8 {
		callers.Go(func() {
			for i := range 200 {
				mu.Lock()
				fn := fns[(c+i)%len(fns)]
				mu.Unlock()
				_, err := iv.Invoke(context.Background(), &lambda.Invocation{Function: fn, Version: lambda.VersionLatest})
				le, isLambda := lambda.AsError(err)
				switch {
				case err == nil:
					ok.Add(1)
				case isLambda && le.Code == lambda.CodeTooManyRequests:
					throttled.Add(1)
				default:
					t.Errorf("Invoke = %v", err)
				}
			}
		})
	}
	callers.Wait()
	close(stop)
	background.Wait()
	iv.Close()
	if st := iv.Stats(); st.Live != 0 || st.Idle != 0 || st.MemoryMB != 0 {
		t.Errorf("after Close Stats = %+v, want nothing", st)
	}
	if l.launched.Load() != l.destroyed.Load() {
		t.Errorf("launched %d environments, destroyed %d", l.launched.Load(), l.destroyed.Load())
	}
	if ok.Load() == 0 {
		t.Errorf("no invocation succeeded (%d throttled)", throttled.Load())
	}
	t.Logf("%d invocations, %d throttled, %d environments", ok.Load(), throttled.Load(), l.launched.Load())
}

// TestEnvironmentsPerVersion: a warm environment of version 1 never serves version 2 or
// $LATEST, and a change of $LATEST leaves the versions' environments warm while a deleted
// version's are destroyed.
func TestEnvironmentsPerVersion(t *testing.T) {
	l := &countingLauncher{reusable: true}
	iv := New(Config{Launcher: l})
	modified := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	latest := &lambda.Function{Name: "f", MemorySize: 128, LastModified: modified}
	v1, v2 := *latest, *latest
	v1.Version, v2.Version = "1", "2"
	latest.Versions = []*lambda.Function{&v1, &v2}
	run := func(fn *lambda.Function) string {
		t.Helper()
		res, err := iv.Invoke(context.Background(), &lambda.Invocation{Function: fn, Version: fn.VersionName()})
		if err != nil {
			t.Fatalf("Invoke(%s) = %v", fn.VersionName(), err)
		}
		return string(res.Payload)
	}
	// Same configuration and LastModified, three versions: three environments.
	got := []string{run(&v1), run(&v2), run(latest), run(&v1), run(&v2), run(latest)}
	if want := []string{"1", "2", "3", "1", "2", "3"}; strings.Join(got, "") != strings.Join(want, "") {
		t.Fatalf("environments serving v1, v2, $LATEST twice = %v, want %v", got, want)
	}
	// $LATEST changes and version 2 is deleted.
	changed := *latest
	changed.LastModified = modified.Add(time.Second)
	changed.Versions = []*lambda.Function{&v1}
	iv.Retire("f", &changed)
	waitFor(t, "two environments destroyed", func() bool { return l.destroyed.Load() == 2 })
	if got := run(&v1); got != "1" {
		t.Errorf("version 1 after $LATEST changed ran in environment %s, want its warm 1", got)
	}
	if got := run(&changed); got != "4" {
		t.Errorf("changed $LATEST ran in environment %s, want a new one (4)", got)
	}
}
