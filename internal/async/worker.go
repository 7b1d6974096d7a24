package async

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// worker pulls one function's events on this node, at most its in-flight cap at a time.
type worker struct {
	q    *Queue
	name string

	mu       sync.Mutex
	inflight int
	freed    chan struct{} // closed and replaced when inflight drops
	woken    time.Time     // last wake-up: the worker stays up IdleTimeout after it
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
	// Each node fetches a few events ahead, so that the next one is at hand when an
	// invocation ends; what it holds is out of reach of the other nodes until acknowledged.
	it, err := cons.Messages(jetstream.PullMaxMessages(max(2, min(q.cfg.PerFunction, 16))))
	if err != nil {
		q.log.Warn("async worker could not pull", "function", w.name, "err", err)
		return
	}
	defer it.Stop()
	for {
		if !w.acquire() {
			return
		}
		ctx, cancel := context.WithTimeout(q.ctx, q.cfg.IdleTimeout)
		msg, err := it.Next(jetstream.NextContext(ctx))
		cancel()
		if err != nil {
			w.release()
			if q.ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				// Closing, or the pull broke off (a lost connection, a deleted consumer):
				// the next wake-up or scan starts a new worker.
				return
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				q.log.Warn("async worker could not pull", "function", w.name, "err", err)
				select {
				case <-q.ctx.Done():
					return
				case <-time.After(time.Second):
				}
			}
			if w.idle() {
				return
			}
			continue
		}
		go w.handle(msg)
	}
}

// limit is the function's in-flight cap on this node: PerFunction, lowered to its reserved
// concurrency. A function with none reserved still gets one, so that its events go to
// failure handling.
func (w *worker) limit() int {
	n := w.q.cfg.PerFunction
	if fn, ok := w.q.cfg.Functions.Lookup(w.name); ok && fn.ReservedConcurrency != nil {
		n = min(n, max(1, *fn.ReservedConcurrency))
	}
	return n
}

// acquire waits for an in-flight slot of the function; false when the queue closes.
func (w *worker) acquire() bool {
	for {
		w.mu.Lock()
		if w.inflight < w.limit() {
			w.inflight++
			w.mu.Unlock()
			return true
		}
		freed := w.freed
		w.mu.Unlock()
		select {
		case <-freed:
		case <-w.q.ctx.Done():
			return false
		}
	}
}

func (w *worker) release() {
	w.mu.Lock()
	w.inflight--
	close(w.freed)
	w.freed = make(chan struct{})
	w.mu.Unlock()
}

// idle says whether the worker may end: nothing in flight and no wake-up for IdleTimeout.
// It unregisters the worker under the queue's lock, so a wake-up either sees it running or
// starts a new one.
func (w *worker) idle() bool {
	w.q.mu.Lock()
	defer w.q.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inflight > 0 || w.q.cfg.Now().Sub(w.woken) < w.q.cfg.IdleTimeout {
		return false
	}
	if w.q.workers[w.name] == w {
		delete(w.q.workers, w.name)
	}
	return true
}

// handle runs one event within the node-wide cap, telling JetStream it is still being worked
// on while it waits and runs.
func (w *worker) handle(msg jetstream.Msg) {
	q := w.q
	defer w.release()
	stop := keepAlive(msg, q.cfg.AckWait/3)
	defer stop()
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
