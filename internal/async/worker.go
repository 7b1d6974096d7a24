package async

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// worker pulls one function's events on this node. It runs at most the function's in-flight
// cap (limit) at a time and holds at most holdFactor times that, so that the next events are
// at hand when invocations end. Every event it holds is kept alive (InProgress) from the moment it
// arrives, so none outlives its ack wait while it waits for a slot.
type worker struct {
	q    *Queue
	name string

	mu      sync.Mutex
	held    int           // events fetched and not yet settled, running ones included
	running int           // events being invoked
	freed   chan struct{} // closed and replaced when held or running drops
	woken   time.Time     // last wake-up: the worker stays up IdleTimeout after it
}

// ensureWorker starts the function's worker on this node unless it runs.
func (q *Queue) ensureWorker(name string) {
	if q.ctx.Err() != nil || name == "" {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if w := q.workers[name]; w != nil {
		w.mu.Lock()
		w.woken = q.cfg.Now()
		w.mu.Unlock()
		return
	}
	w := &worker{q: q, name: name, freed: make(chan struct{}), woken: q.cfg.Now()}
	q.workers[name] = w
	q.wg.Add(1)
	go w.run()
}

// consumerName is the durable consumer all nodes share for a function. Function names are
// valid consumer names.
func consumerName(function string) string { return "fn-" + function }

func (w *worker) run() {
	q := w.q
	defer q.wg.Done()
	defer func() {
		q.mu.Lock()
		if q.workers[w.name] == w {
			delete(q.workers, w.name)
		}
		q.mu.Unlock()
	}()
	cons, err := q.js.CreateOrUpdateConsumer(q.ctx, q.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       consumerName(w.name),
		Description:   "Nimbus async worker for " + w.name,
		FilterSubject: q.subject(w.name),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.cfg.AckWait,
		// Retries are delayed with NakWithDelay, any number of times.
		MaxDeliver: -1,
		// Events waiting for a delayed retry count as pending: leave room for many, so that
		// a burst of failures does not hold up the function's new events.
		MaxAckPending: 100000,
		// A function nobody has queued for in a day loses its consumer; its next event
		// makes a new one, which starts at the stream's first message for it.
		InactiveThreshold: 24 * time.Hour,
	})
	if err != nil {
		if q.ctx.Err() == nil {
			q.log.Warn("async worker could not start", "function", w.name, "err", err)
		}
		return
	}
	// The worker asks for as many events as it may still hold, and hands each to its own
	// goroutine as it arrives. It keeps no client-side buffer: an event waiting there, not
	// kept alive, would outlive its ack wait behind a slow invocation and run twice.
	for {
		n := w.acquireHeld()
		if n == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(q.ctx, fetchWait)
		batch, err := cons.Fetch(n, jetstream.FetchContext(ctx))
		got := 0
		if err == nil {
			for msg := range batch.Messages() {
				got++
				go w.handle(msg)
			}
			err = batch.Error()
		}
		cancel()
		w.releaseHeld(n - got)
		switch {
		case q.ctx.Err() != nil:
			return
		case errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound):
			// The next wake-up or scan starts a new worker, with a new consumer.
			return
		case err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded):
			q.log.Warn("async worker could not pull", "function", w.name, "err", err)
			select {
			case <-q.ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		if got == 0 && w.idle() {
			return
		}
	}
}

// holdFactor is how many times its in-flight cap a worker holds: enough that a batch can be
// fetched while the held events keep every slot busy.
const holdFactor = 3

// fetchWait is how long one pull waits for events; an idle worker checks whether to end
// after each. Events that arrive meanwhile are delivered to the waiting pull at once.
const fetchWait = 5 * time.Second

// limit is the function's in-flight cap on this node: PerFunction, lowered to its reserved
// concurrency. Reserved concurrency 0 runs nothing: its events go straight to failure
// handling, PerFunction at a time.
func (w *worker) limit() int {
	n := w.q.cfg.PerFunction
	if fn, ok := w.q.cfg.Functions.Lookup(w.name); ok && fn.ReservedConcurrency != nil && *fn.ReservedConcurrency > 0 {
		n = min(n, *fn.ReservedConcurrency)
	}
	return n
}

// wait blocks until the worker's counters change; false when the queue closes. Call it
// without w.mu, with the channel read under it.
func (w *worker) wait(freed chan struct{}) bool {
	select {
	case <-freed:
		return true
	case <-w.q.ctx.Done():
		return false
	}
}

// signalLocked wakes the waiters after a counter dropped.
func (w *worker) signalLocked() {
	close(w.freed)
	w.freed = make(chan struct{})
}

// acquireHeld waits until the worker may hold another limit's worth of events and takes
// every free place; it returns how many, or 0 when the queue closes. Fetching in batches of
// at least limit keeps the number of pulls per event low when a backlog drains.
func (w *worker) acquireHeld() int {
	for {
		w.mu.Lock()
		limit := w.limit()
		if n := holdFactor*limit - w.held; n >= limit {
			w.held += n
			w.mu.Unlock()
			return n
		}
		freed := w.freed
		w.mu.Unlock()
		if !w.wait(freed) {
			return 0
		}
	}
}

func (w *worker) releaseHeld(n int) {
	if n == 0 {
		return
	}
	w.mu.Lock()
	w.held -= n
	w.signalLocked()
	w.mu.Unlock()
}

// acquireRun waits for one of the function's in-flight slots; false when the queue closes.
func (w *worker) acquireRun() bool {
	for {
		w.mu.Lock()
		if w.running < w.limit() {
			w.running++
			w.mu.Unlock()
			return true
		}
		freed := w.freed
		w.mu.Unlock()
		if !w.wait(freed) {
			return false
		}
	}
}

func (w *worker) releaseRun() {
	w.mu.Lock()
	w.running--
	w.signalLocked()
	w.mu.Unlock()
}

// idle says whether the worker may end: nothing held and no wake-up for IdleTimeout.
// It unregisters the worker under the queue's lock, so a wake-up either sees it running or
// starts a new one.
func (w *worker) idle() bool {
	w.q.mu.Lock()
	defer w.q.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held > 0 || w.q.cfg.Now().Sub(w.woken) < w.q.cfg.IdleTimeout {
		return false
	}
	if w.q.workers[w.name] == w {
		delete(w.q.workers, w.name)
	}
	return true
}

// handle runs one event within the function's and the node's caps, telling JetStream it is
// still being worked on while it waits and runs.
func (w *worker) handle(msg jetstream.Msg) {
	q := w.q
	defer w.releaseHeld(1)
	stop := keepAlive(msg, q.cfg.AckWait/3)
	defer stop()
	if !w.acquireRun() {
		msg.Nak()
		return
	}
	defer w.releaseRun()
	select {
	case q.slots <- struct{}{}:
	case <-q.ctx.Done():
		msg.Nak()
		return
	}
	defer func() { <-q.slots }()
	q.process(msg)
}

// keepAlive sends InProgress every interval until stop is called, so that a long invocation
// is not redelivered to another node.
func keepAlive(msg jetstream.Msg, interval time.Duration) (stop func()) {
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	t = time.AfterFunc(interval, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		msg.InProgress()
		t.Reset(interval)
	})
	return func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		t.Stop()
	}
}
