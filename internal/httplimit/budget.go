package httplimit

import (
	"context"
	"sync"
)

// Budget bounds the bytes that requests hold at once, typically bodies buffered before they
// can be handled: a request takes its share before reading and gives it back when done, and
// waits while the budget is spent. A share larger than the whole budget is granted alone, when
// nothing else is held, so that one request of any allowed size can always proceed.
type Budget struct {
	total int64

	mu      sync.Mutex
	held    int64
	waiters []*budgetWaiter // first come, first served
}

type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

// NewBudget returns a Budget of total bytes.
func NewBudget(total int64) *Budget { return &Budget{total: total} }

// Acquire takes n bytes of the budget, waiting until they are free or ctx ends.
func (b *Budget) Acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	if len(b.waiters) == 0 && b.fitsLocked(n) {
		b.held += n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		defer b.mu.Unlock()
		select {
		case <-w.ready: // granted meanwhile: give it back
			b.held -= n
			b.grantLocked()
		default:
			for i, x := range b.waiters {
				if x == w {
					b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
					break
				}
			}
			b.grantLocked() // the head may have changed
		}
		return ctx.Err()
	}
}

// Release gives back n bytes taken by Acquire.
func (b *Budget) Release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held -= n
	b.grantLocked()
}

// Held is the number of bytes currently taken.
func (b *Budget) Held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held
}

func (b *Budget) fitsLocked(n int64) bool {
	return b.held+n <= b.total || b.held == 0
}

// grantLocked wakes waiters in order for as long as the first one fits.
func (b *Budget) grantLocked() {
	for len(b.waiters) > 0 && b.fitsLocked(b.waiters[0].n) {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.held += w.n
		close(w.ready)
	}
}
