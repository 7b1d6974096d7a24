package environment

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nimbusfaas/nimbus/internal/sandbox"
)

// DefaultFreezeDelay is how long an environment stays runnable after an invocation before it
// is frozen. Freezing costs a millisecond or so of the freezer waiting for every task to stop
// (cgroup v1 polls its state every millisecond), which is off the hot path only if the next
// invocation does not arrive meanwhile; a short delay lets a caller's back-to-back
// invocations skip the freeze and the thaw, and lets the response reach the caller before
// the freezer competes with it for a CPU. What a background process can do in this time is
// negligible next to a CPU it would otherwise keep busy for as long as the environment lives.
const DefaultFreezeDelay = 2 * time.Millisecond

// idleFreezer freezes an environment between invocations, as Lambda does, so that the
// processes a function leaves running (a busy background thread, a forgotten child) use no
// CPU while no invocation runs. Freezing is asynchronous: an invocation ends without waiting
// for it, and the next one thaws the environment only if the freeze has happened. A freeze
// still under way when the next invocation begins is cancelled, not waited for: the driver
// may take up to its freeze timeout to give up on a process that does not stop.
type idleFreezer struct {
	driver sandbox.Freezer
	id     string
	delay  time.Duration

	mu sync.Mutex
	// gen counts the invocations that began; a freeze scheduled (at generation scheduled)
	// before the latest began is dropped.
	gen, scheduled uint64
	// timer fires the scheduled freeze; made once and reset after each invocation.
	timer  *time.Timer
	frozen bool
	closed bool
	// cancel ends the driver's Freeze under way, if any; done is closed once it has
	// returned and frozen says how it went.
	cancel context.CancelFunc
	done   chan struct{}
}

// newIdleFreezer returns nil (which freezes nothing) when the driver cannot freeze or delay
// is negative.
func newIdleFreezer(d Driver, id string, delay time.Duration) *idleFreezer {
	fr, ok := d.(sandbox.Freezer)
	if !ok || delay < 0 {
		return nil
	}
	return &idleFreezer{driver: fr, id: id, delay: delay}
}

// idle schedules a freeze of the environment, which has just ended an invocation.
func (f *idleFreezer) idle() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.scheduled = f.gen
	if f.timer == nil {
		f.timer = time.AfterFunc(f.delay, f.freeze)
	} else {
		f.timer.Reset(f.delay)
	}
}

func (f *idleFreezer) freeze() {
	f.mu.Lock()
	if f.closed || f.frozen || f.gen != f.scheduled || f.done != nil {
		f.mu.Unlock()
		return // destroyed, or an invocation began meanwhile
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.cancel, f.done = cancel, done
	f.mu.Unlock()

	// Not under f.mu: busy cancels it. A failed or cancelled freeze leaves the environment
	// running, as it was: the invocation thaws nothing and still works.
	err := f.driver.Freeze(ctx, f.id)
	cancel()
	f.mu.Lock()
	f.frozen = err == nil
	f.cancel, f.done = nil, nil
	f.mu.Unlock()
	close(done)
}

// busy thaws the environment for an invocation, if it was frozen, and cancels any freeze
// not yet done.
func (f *idleFreezer) busy() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	if f.timer != nil {
		f.timer.Stop()
	}
	if done := f.done; done != nil {
		// The driver's Freeze returns at once when cancelled, frozen or not.
		f.cancel()
		f.mu.Unlock()
		<-done
		f.mu.Lock()
	}
	if !f.frozen {
		return nil
	}
	if err := f.driver.Thaw(context.Background(), f.id); err != nil {
		return fmt.Errorf("thawing environment %s: %w", f.id, err)
	}
	f.frozen = false
	return nil
}

// close stops freezing: the environment is being destroyed (the driver kills a frozen
// environment as well as a running one).
func (f *idleFreezer) close() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.timer != nil {
		f.timer.Stop()
	}
	if f.cancel != nil {
		f.cancel()
	}
}
