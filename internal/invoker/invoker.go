package invoker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// Environment is one started execution environment, Init done, ready for invocations.
type Environment interface {
	// Invoke runs one invocation to its end. reusable is false when the environment must not
	// serve again (timeout, crash, out of memory): the invoker then destroys it.
	Invoke(ctx context.Context, inv *lambda.Invocation) (res *lambda.InvokeResult, reusable bool, err error)
	// Destroy stops the environment and releases everything it holds. It is idempotent.
	Destroy()
}

// Launcher starts environments. Launch returns once Init has finished; an Init failure is
// returned as the invocation's result (res non-nil) with a nil Environment.
type Launcher interface {
	Launch(ctx context.Context, inv *lambda.Invocation) (env Environment, initFailure *lambda.InvokeResult, err error)
}

// Config configures an Invoker. Zero values take the documented defaults.
type Config struct {
	Launcher Launcher
	// MemoryBudgetMB is the memory this node may give to environments in total; environments
	// are counted at their configured MemorySize. Default 4096.
	MemoryBudgetMB int
	// MaxEnvironments caps the number of environments whatever their size, and so the
	// invocations this node runs at once: its concurrency limit, unless the memory budget
	// holds fewer environments of the smallest size (see ConcurrencyLimit). Default 1000.
	MaxEnvironments int
	// Reserved returns the concurrency reserved by all functions together (PutFunctionConcurrency);
	// functions without a reservation share what is left of the concurrency limit. Nil means
	// none.
	Reserved func() int
	// KeepWarm is how long an idle environment is kept. Default 10 minutes.
	KeepWarm time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Invoker schedules invocations onto environments.
type Invoker struct {
	launcher Launcher
	budgetMB int
	maxEnvs  int
	keepWarm time.Duration
	reserved func() int
	now      func() time.Time
	log      *slog.Logger

	mu sync.Mutex
	// running counts, per function, the invocations under way on this node (starting
	// environments included); unreserved counts those of functions without a reservation.
	running    map[string]int
	unreserved int
	// pools by function version and configuration: a changed function gets fresh environments.
	pools map[string]*pool
	// current is, per function whose record changed while this node ran, the pool keys its
	// environments may have ($LATEST's and each published version's); empty when it was
	// deleted. Environments of any other key are destroyed instead of kept idle.
	current  map[string]map[string]bool
	usedMB   int // memory of all live environments, launching ones included
	liveEnvs int
	closed   bool
	// tearingDown counts environments being destroyed in the background; Close waits for
	// them through torn.
	tearingDown int
	torn        *sync.Cond
}

// pool holds the idle environments of one function configuration, most recently used last.
type pool struct {
	key  string
	idle []*slot
}

type slot struct {
	env      Environment
	memoryMB int
	lastUsed time.Time
}

// New returns an Invoker.
func New(cfg Config) *Invoker {
	iv := &Invoker{
		launcher: cfg.Launcher, budgetMB: cfg.MemoryBudgetMB, maxEnvs: cfg.MaxEnvironments,
		keepWarm: cfg.KeepWarm, reserved: cfg.Reserved, now: cfg.Now, log: cfg.Logger, pools: map[string]*pool{},
		current: map[string]map[string]bool{}, running: map[string]int{},
	}
	iv.torn = sync.NewCond(&iv.mu)
	if iv.budgetMB == 0 {
		iv.budgetMB = 4096
	}
	if iv.maxEnvs == 0 {
		iv.maxEnvs = 1000
	}
	if iv.keepWarm == 0 {
		iv.keepWarm = 10 * time.Minute
	}
	if iv.reserved == nil {
		iv.reserved = func() int { return 0 }
	}
	if iv.now == nil {
		iv.now = time.Now
	}
	if iv.log == nil {
		iv.log = slog.Default()
	}
	return iv
}

// ErrClosed is returned by Invoke after Close.
var ErrClosed = errors.New("invoker closed")

// ConcurrencyLimit is the most invocations (and environments) this node runs at once:
// MaxEnvironments, or fewer when the memory budget holds fewer environments of the smallest
// size (a 12,032 MB budget runs at most 94 invocations of 128 MB, not 1,000).
func (iv *Invoker) ConcurrencyLimit() int { return min(iv.maxEnvs, iv.budgetMB/lambda.MinMemoryMB) }

// MemoryBudgetMB is the memory this node may give to environments in total.
func (iv *Invoker) MemoryBudgetMB() int { return iv.budgetMB }

// The messages below name the server's flag: the memory budget is Nimbus's own limit, which
// Lambda has no word for, and whoever reads the error can only lift it by that flag.

// concurrencyThrottle is the 429 of a node running as many invocations of functions without
// a reservation as it may.
func (iv *Invoker) concurrencyThrottle(reserved int) error {
	e := lambda.TooManyRequests(lambda.ReasonConcurrentInvocationLimitExceeded)
	if limit := iv.ConcurrencyLimit(); limit < iv.maxEnvs {
		e.Message = fmt.Sprintf("Rate Exceeded. This node runs at most %d invocations at once, as many environments of %d MB as its memory budget of %d MB (the server's --memory-budget) holds; functions without reserved concurrency share %d of them.",
			limit, lambda.MinMemoryMB, iv.budgetMB, max(limit-reserved, 0))
	}
	return e
}

// budgetThrottleLocked is the 429 of a node whose memory budget is taken by busy
// environments. Lambda has no such limit: the Reason is the closest of Lambda's (the SDKs
// know only those), and the message says what the limit is.
func (iv *Invoker) budgetThrottleLocked(memoryMB int) error {
	e := lambda.TooManyRequests(lambda.ReasonConcurrentInvocationLimitExceeded)
	e.Message = fmt.Sprintf("Rate Exceeded. This node's memory budget of %d MB (the server's --memory-budget) is in use: %d busy or starting environments hold %d MB, and this function needs %d MB more.",
		iv.budgetMB, iv.liveEnvs, iv.usedMB, memoryMB)
	return e
}

// neverFits is the answer to a function larger than the node's whole memory budget: no
// amount of waiting would let it run, so it is no throttle. The API refuses such a
// MemorySize when it is configured; this catches functions configured before the budget
// was lowered.
func (iv *Invoker) neverFits(memoryMB int) error {
	return lambda.InvalidParameter("The function's MemorySize of %d MB is more than this node's whole memory budget of %d MB (the server's --memory-budget): it can never run here. Lower MemorySize or raise --memory-budget.",
		memoryMB, iv.budgetMB)
}

// poolKey identifies environments that may serve an invocation: same function, same version,
// same configuration. LastModified changes with every code or configuration update of
// $LATEST; a published version never changes. An environment of version 1 therefore never
// serves version 2 or $LATEST.
func poolKey(fn *lambda.Function) string {
	return fn.Name + "/" + fn.VersionName() + "/" + strconv.FormatInt(fn.LastModified.UnixNano(), 10)
}

// Invoke runs inv in a warm environment if one is idle, or in a new one.
func (iv *Invoker) Invoke(ctx context.Context, inv *lambda.Invocation) (*lambda.InvokeResult, error) {
	shared, err := iv.admit(inv.Function)
	if err != nil {
		return nil, err
	}
	defer iv.leave(inv.Function.Name, shared)
	key := poolKey(inv.Function)
	s, err := iv.take(key, inv.Function.MemorySize)
	if err != nil {
		return nil, err
	}
	if s.env == nil {
		env, failure, err := iv.launcher.Launch(ctx, inv)
		if err != nil || failure != nil {
			iv.release(s.memoryMB)
			if err != nil {
				return nil, fmt.Errorf("starting environment for %s: %w", inv.Function.Name, err)
			}
			return failure, nil
		}
		s.env = env
	}
	res, reusable, err := s.env.Invoke(ctx, inv)
	if !reusable || err != nil {
		// The answer does not wait for the kill (a fork bomb can take long to die).
		iv.mu.Lock()
		iv.forgetLocked([]*slot{s})
		iv.destroyLaterLocked([]*slot{s})
		iv.mu.Unlock()
	} else {
		iv.putIdle(key, s)
	}
	return res, err
}

// admit counts an invocation of fn in, or refuses it with Lambda's 429: a function with
// reserved concurrency may run that many invocations at once, and the functions without one
// share the rest of the node's limit. shared says whether it was counted in that share, for
// leave.
func (iv *Invoker) admit(fn *lambda.Function) (shared bool, err error) {
	reserved := iv.reserved()
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if r := fn.ReservedConcurrency; r != nil {
		if iv.running[fn.Name] >= *r {
			return false, lambda.TooManyRequests(lambda.ReasonReservedFunctionConcurrentInvocationLimit)
		}
	} else if iv.unreserved >= iv.ConcurrencyLimit()-reserved {
		return false, iv.concurrencyThrottle(reserved)
	}
	iv.running[fn.Name]++
	if fn.ReservedConcurrency == nil {
		iv.unreserved++
	}
	return fn.ReservedConcurrency == nil, nil
}

// leave counts an invocation admitted by admit out.
func (iv *Invoker) leave(name string, shared bool) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if iv.running[name]--; iv.running[name] <= 0 {
		delete(iv.running, name)
	}
	if shared {
		iv.unreserved--
	}
}

// take returns the most recently used idle environment of the pool, or reserves room for a
// new one (a slot with a nil env), or refuses with Lambda's 429. To make room it retires the
// least recently used idle environments of other pools: they leave the books at once and are
// destroyed in the background, so that no invocation waits for another function's teardown.
func (iv *Invoker) take(key string, memoryMB int) (*slot, error) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if iv.closed {
		return nil, ErrClosed
	}
	if memoryMB > iv.budgetMB {
		return nil, iv.neverFits(memoryMB)
	}
	if p := iv.pools[key]; p != nil && len(p.idle) > 0 {
		s := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		return s, nil
	}
	var evicted []*slot
	defer func() { iv.destroyLaterLocked(evicted) }()
	for iv.usedMB+memoryMB > iv.budgetMB || iv.liveEnvs >= iv.maxEnvs {
		e := iv.evictOldestIdleLocked()
		if e == nil && iv.liveEnvs >= iv.maxEnvs {
			return nil, lambda.TooManyRequests(lambda.ReasonConcurrentInvocationLimitExceeded)
		}
		if e == nil {
			return nil, iv.budgetThrottleLocked(memoryMB)
		}
		evicted = append(evicted, e)
	}
	iv.usedMB += memoryMB
	iv.liveEnvs++
	return &slot{memoryMB: memoryMB}, nil
}

func (iv *Invoker) putIdle(key string, s *slot) {
	s.lastUsed = iv.now()
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if keep, changed := iv.current[keyName(key)]; iv.closed || changed && !keep[key] {
		// The invoker closed, or the function changed or went away while this environment
		// was busy.
		iv.forgetLocked([]*slot{s})
		iv.destroyLaterLocked([]*slot{s})
		return
	}
	p := iv.pools[key]
	if p == nil {
		p = &pool{key: key}
		iv.pools[key] = p
	}
	p.idle = append(p.idle, s)
}

// keyName is the function name of a pool key.
func keyName(key string) string {
	name, _, _ := strings.Cut(key, "/")
	return name
}

// Retire tells the invoker that a function changed (fn is its new record) or was deleted
// (fn is nil): environments running its old code or configuration, or a version that was
// deleted, are destroyed, the idle ones now and the busy ones when their invocation ends,
// rather than lingering until reaped. It does no I/O and returns at once, so a catalog
// watcher can call it in order.
func (iv *Invoker) Retire(name string, fn *lambda.Function) {
	keep := map[string]bool{}
	if fn != nil {
		keep[poolKey(fn)] = true
		for _, v := range fn.Versions {
			keep[poolKey(v)] = true
		}
	}
	prefix := name + "/"
	var doomed []*slot
	iv.mu.Lock()
	iv.current[name] = keep
	for key, p := range iv.pools {
		if strings.HasPrefix(key, prefix) && !keep[key] {
			doomed = append(doomed, p.idle...)
			delete(iv.pools, key)
		}
	}
	iv.forgetLocked(doomed)
	iv.destroyLaterLocked(doomed)
	iv.mu.Unlock()
}

func (iv *Invoker) release(memoryMB int) {
	iv.mu.Lock()
	iv.usedMB -= memoryMB
	iv.liveEnvs--
	iv.mu.Unlock()
}

// forgetLocked takes environments that are about to be destroyed off the books.
func (iv *Invoker) forgetLocked(slots []*slot) {
	for _, s := range slots {
		iv.usedMB -= s.memoryMB
		iv.liveEnvs--
	}
}

// destroyLaterLocked destroys environments, already taken off the books, in the background:
// a teardown can take long (a fork bomb's processes must all die), and no invocation or
// reaping pass waits for it.
func (iv *Invoker) destroyLaterLocked(slots []*slot) {
	for _, s := range slots {
		iv.tearingDown++
		go func() {
			s.env.Destroy()
			iv.mu.Lock()
			if iv.tearingDown--; iv.tearingDown == 0 {
				iv.torn.Broadcast()
			}
			iv.mu.Unlock()
		}()
	}
}

// evictOldestIdleLocked removes the least recently used idle environment of any pool from the
// books and returns it for destruction, or nil when nothing is idle.
func (iv *Invoker) evictOldestIdleLocked() *slot {
	var oldest *pool
	for _, p := range iv.pools {
		if len(p.idle) > 0 && (oldest == nil || p.idle[0].lastUsed.Before(oldest.idle[0].lastUsed)) {
			oldest = p
		}
	}
	if oldest == nil {
		return nil
	}
	s := oldest.idle[0]
	oldest.idle = oldest.idle[1:]
	if len(oldest.idle) == 0 {
		delete(iv.pools, oldest.key)
	}
	iv.forgetLocked([]*slot{s})
	return s
}

// Reap destroys environments idle for longer than KeepWarm. Run it periodically (see Run).
func (iv *Invoker) Reap() int {
	cutoff := iv.now().Add(-iv.keepWarm)
	var doomed []*slot
	iv.mu.Lock()
	for key, p := range iv.pools {
		// idle is ordered by lastUsed, oldest first.
		n := 0
		for n < len(p.idle) && p.idle[n].lastUsed.Before(cutoff) {
			n++
		}
		doomed = append(doomed, p.idle[:n]...)
		p.idle = append([]*slot(nil), p.idle[n:]...)
		if len(p.idle) == 0 {
			delete(iv.pools, key)
		}
	}
	iv.forgetLocked(doomed)
	iv.destroyLaterLocked(doomed)
	iv.mu.Unlock()
	return len(doomed)
}

// Run reaps idle environments every interval until ctx ends.
func (iv *Invoker) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n := iv.Reap(); n > 0 {
				iv.log.Debug("reaped idle environments", "count", n)
			}
		}
	}
}

// Stats is a snapshot of the node's environments.
type Stats struct {
	Live     int // environments started and not destroyed, busy or idle
	Idle     int
	MemoryMB int
}

// Stats reports the node's environments.
func (iv *Invoker) Stats() Stats {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	st := Stats{Live: iv.liveEnvs, MemoryMB: iv.usedMB}
	for _, p := range iv.pools {
		st.Idle += len(p.idle)
	}
	return st
}

// Close destroys every idle environment, waits for every teardown under way, and refuses new
// invocations; busy environments are destroyed when their invocation ends.
func (iv *Invoker) Close() {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	iv.closed = true
	var doomed []*slot
	for key, p := range iv.pools {
		doomed = append(doomed, p.idle...)
		delete(iv.pools, key)
	}
	iv.forgetLocked(doomed)
	iv.destroyLaterLocked(doomed)
	for iv.tearingDown > 0 {
		iv.torn.Wait()
	}
}
