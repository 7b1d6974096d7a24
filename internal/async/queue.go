// Package async is Nimbus's asynchronous invocation queue: the one event spine that Invoke
// with InvocationType Event, InvokeAsync, destinations (and later topics, buses and
// schedules) all go through.
//
// Events live in a JetStream work-queue stream, one subject per function. Every node runs the
// same workers: a durable pull consumer per function, shared by all nodes, hands each event to
// one node at a time, and the event is acknowledged only once its outcome is decided (ran,
// retry queued, or failure handled). A retry is the event republished with its counters
// advanced and a not-before time, so retry state survives a crash. Delivery is at least once.
//
// Per-function consumers keep one function's backlog from starving another's: each function
// has its own in-flight cap, and all of them share a node-wide cap whose waiting list is
// first come, first served.
package async

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// Functions finds functions in memory (store.Catalog implements it).
type Functions interface {
	Lookup(name string) (*lambda.Function, bool)
	// Resolve returns the version an invocation with this qualifier runs.
	Resolve(name, qualifier string) (*lambda.Function, bool)
}

// Invoker runs one invocation, as for a synchronous call (invoker.Invoker implements it).
type Invoker interface {
	Invoke(ctx context.Context, inv *lambda.Invocation) (*lambda.InvokeResult, error)
}

// Config configures a Queue. Zero values take the documented defaults.
type Config struct {
	JetStream jetstream.JetStream
	// Conn carries wake-ups between nodes: a node that queues an event for a function tells
	// the others, whose workers for it may be asleep. Nil: the others find the backlog on
	// their periodic scan.
	Conn      *nats.Conn
	Functions Functions
	// Invoker runs the events. Nil: this node queues events but runs none.
	Invoker  Invoker
	Location lambda.Location
	// Stream is the stream's name. Default "NIMBUS_ASYNC"; its subjects are
	// "<stream in lower case>.ev.<function>".
	Stream string
	// Replicas is the number of copies of the stream when this node creates it. Default 1.
	Replicas int
	// Concurrency caps the asynchronous invocations this node runs at once. Default 64.
	Concurrency int
	// PerFunction caps one function's asynchronous invocations on this node; a function's
	// reserved concurrency caps it further. Default Concurrency/2 (at least 1).
	PerFunction int
	// TimeScale multiplies every delay and age of the retry rules (1 min and 2 min between
	// retries, throttle backoff, MaximumEventAgeInSeconds): tests run them in a fraction of
	// the time. Default 1.
	TimeScale float64
	// AckWait is how long a node may hold an event without a sign of life before another
	// node may take it. Workers signal progress every AckWait/3. Default 30 s.
	AckWait time.Duration
	// ScanInterval is how often a node looks for functions with queued events it has no
	// worker for. Default 10 s.
	ScanInterval time.Duration
	// IdleTimeout ends a function's worker after it found nothing for this long. Default 30 s.
	IdleTimeout time.Duration
	// Logger defaults to slog.Default(); Now to time.Now.
	Logger *slog.Logger
	Now    func() time.Time
}

// Queue is the asynchronous invocation queue of one node.
type Queue struct {
	cfg     Config
	log     *slog.Logger
	js      jetstream.JetStream
	stream  jetstream.Stream
	prefix  string        // subject prefix of events, "<stream>.ev."
	wakeSub string        // subject prefix of wake-ups
	slots   chan struct{} // the node-wide cap
	metrics metrics

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	workers  map[string]*worker
	lastWake map[string]time.Time
	sub      *nats.Subscription
}

// errNoFunction: an event or record names a function that no longer exists.
var errNoFunction = errors.New("function not found")

// New binds to the stream, creating it when missing. Start begins running events.
func New(ctx context.Context, cfg Config) (*Queue, error) {
	if cfg.Stream == "" {
		cfg.Stream = "NIMBUS_ASYNC"
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.PerFunction <= 0 {
		cfg.PerFunction = max(1, cfg.Concurrency/2)
	}
	if cfg.TimeScale <= 0 {
		cfg.TimeScale = 1
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = 10 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	base := strings.ToLower(cfg.Stream)
	q := &Queue{
		cfg: cfg, log: cfg.Logger, js: cfg.JetStream,
		prefix: base + ".ev.", wakeSub: base + ".wake.",
		slots:   make(chan struct{}, cfg.Concurrency),
		workers: map[string]*worker{}, lastWake: map[string]time.Time{},
		metrics: metrics{fns: map[string]*FunctionMetrics{}},
	}
	sc := jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "Nimbus asynchronous invocations",
		Subjects:    []string{q.prefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		// Republishing a retry carries a message id: a node that crashes between
		// republishing and acknowledging leaves one retry, not two.
		Duplicates: 2 * time.Minute,
	}
	st, err := q.js.Stream(ctx, cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = q.js.CreateStream(ctx, sc)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = q.js.Stream(ctx, cfg.Stream)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open async stream %s: %w", cfg.Stream, err)
	}
	q.stream = st
	q.ctx, q.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return q, nil
}

// subject is where a function's events are queued. Function names are valid subject tokens.
func (q *Queue) subject(function string) string { return q.prefix + function }

// Enqueue persists ev and returns once JetStream has stored it: an event Enqueue accepted is
// not lost. It fills in Received when unset.
func (q *Queue) Enqueue(ctx context.Context, ev *Event) error {
	if ev.Received.IsZero() {
		ev.Received = q.cfg.Now()
	}
	if err := q.publish(ctx, ev); err != nil {
		return err
	}
	q.metrics.received(ev.Function)
	q.wake(ev.Function)
	return nil
}

// publish stores ev. A retry carries a message id, which makes a repeated publish of the same
// retry a no-op; a new event needs none (its request id is new).
func (q *Queue) publish(ctx context.Context, ev *Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event %s: %w", ev.RequestID, err)
	}
	var opts []jetstream.PublishOpt
	if ev.Attempts > 0 || ev.Throttles > 0 {
		opts = append(opts, jetstream.WithMsgID(ev.RequestID+"/"+strconv.Itoa(ev.Attempts)+"/"+strconv.Itoa(ev.Throttles)))
	}
	if _, err := q.js.Publish(ctx, q.subject(ev.Function), b, opts...); err != nil {
		return fmt.Errorf("queue event %s: %w", ev.RequestID, err)
	}
	return nil
}

// wake makes sure a worker for function runs on this node, and tells the other nodes, at most
// once a second per function (their workers stay up for IdleTimeout after a wake-up).
func (q *Queue) wake(function string) {
	if q.cfg.Invoker != nil {
		q.ensureWorker(function)
	}
	if q.cfg.Conn == nil {
		return
	}
	now := q.cfg.Now()
	q.mu.Lock()
	if now.Sub(q.lastWake[function]) < time.Second {
		q.mu.Unlock()
		return
	}
	q.lastWake[function] = now
	q.mu.Unlock()
	if err := q.cfg.Conn.Publish(q.wakeSub+function, nil); err != nil {
		q.log.Debug("async wake-up not sent", "function", function, "err", err)
	}
}

// Start runs this node's workers until Close: it listens for wake-ups and scans the stream
// for functions with queued events now and every ScanInterval. Without an Invoker it does
// nothing.
func (q *Queue) Start() error {
	if q.cfg.Invoker == nil {
		return nil
	}
	if q.cfg.Conn != nil {
		sub, err := q.cfg.Conn.Subscribe(q.wakeSub+"*", func(m *nats.Msg) {
			q.ensureWorker(strings.TrimPrefix(m.Subject, q.wakeSub))
		})
		if err != nil {
			return fmt.Errorf("subscribe to async wake-ups: %w", err)
		}
		q.mu.Lock()
		q.sub = sub
		q.mu.Unlock()
	}
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		t := time.NewTicker(q.cfg.ScanInterval)
		defer t.Stop()
		for {
			if err := q.scan(); err != nil && q.ctx.Err() == nil {
				q.log.Warn("scanning the async queue", "err", err)
			}
			select {
			case <-q.ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// scan starts a worker for every function with queued events.
func (q *Queue) scan() error {
	ctx, cancel := context.WithTimeout(q.ctx, 10*time.Second)
	defer cancel()
	info, err := q.stream.Info(ctx, jetstream.WithSubjectFilter(q.prefix+">"))
	if err != nil {
		return err
	}
	for subj, n := range info.State.Subjects {
		if n > 0 {
			q.ensureWorker(strings.TrimPrefix(subj, q.prefix))
		}
	}
	return nil
}

// Close stops the workers and waits a while for the invocations under way. Events not yet
// acknowledged are redelivered, here or on another node.
func (q *Queue) Close() {
	q.cancel()
	q.mu.Lock()
	if q.sub != nil {
		q.sub.Unsubscribe()
	}
	q.mu.Unlock()
	// An invocation runs to its end or its timeout whatever its context says; do not hold a
	// shutdown for it. Its event is not acknowledged and runs again.
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeWait):
		q.log.Warn("async invocations still running at shutdown; their events will run again")
	}
}

// closeWait is how long Close waits for the invocations under way.
const closeWait = 10 * time.Second

// Backlog is the queue of one function.
type Backlog struct {
	Function string
	// Events counts the function's events in the stream: waiting, delayed for a retry, or
	// running.
	Events uint64
	// OldestAge is the age of the function's oldest queued event.
	OldestAge time.Duration
}

// Backlogs reports every function with queued events, by name.
func (q *Queue) Backlogs(ctx context.Context) ([]Backlog, error) {
	info, err := q.stream.Info(ctx, jetstream.WithSubjectFilter(q.prefix+">"))
	if err != nil {
		return nil, fmt.Errorf("async queue info: %w", err)
	}
	var out []Backlog
	for subj, n := range info.State.Subjects {
		if n == 0 {
			continue
		}
		b := Backlog{Function: strings.TrimPrefix(subj, q.prefix), Events: n}
		// The first message by sequence is the oldest first attempt or retry; its event's
		// Received is close to the oldest.
		if m, err := q.stream.GetMsg(ctx, 0, jetstream.WithGetMsgSubject(subj)); err == nil {
			var ev Event
			if json.Unmarshal(m.Data, &ev) == nil && !ev.Received.IsZero() {
				b.OldestAge = q.cfg.Now().Sub(ev.Received)
			}
		}
		out = append(out, b)
	}
	sortBacklogs(out)
	return out, nil
}
