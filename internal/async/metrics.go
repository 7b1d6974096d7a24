package async

import (
	"sort"
	"sync"
	"time"
)

// FunctionMetrics are one function's asynchronous invocation counters on this node, for the
// metrics work to publish (Lambda's AsyncEventsReceived, AsyncEventAge, AsyncEventsDropped,
// DestinationDeliveryFailures).
type FunctionMetrics struct {
	// Received counts the events this node queued.
	Received int64
	// Succeeded, Dropped: events that ended here, run successfully or through failure
	// handling (retries exhausted, too old, zero reserved concurrency, function deleted).
	Succeeded int64
	Dropped   int64
	// Retried counts retries queued; Throttled the attempts the invoker refused.
	Retried   int64
	Throttled int64
	// DestinationFailures counts records that could not be delivered.
	DestinationFailures int64
	// EventAge: the time events waited before their first attempt.
	AgeCount int64
	AgeTotal time.Duration
	AgeMax   time.Duration
}

type metrics struct {
	mu  sync.Mutex
	fns map[string]*FunctionMetrics
}

func (m *metrics) update(name string, f func(*FunctionMetrics)) {
	m.mu.Lock()
	fm := m.fns[name]
	if fm == nil {
		fm = &FunctionMetrics{}
		m.fns[name] = fm
	}
	f(fm)
	m.mu.Unlock()
}

func (m *metrics) received(name string)  { m.update(name, func(f *FunctionMetrics) { f.Received++ }) }
func (m *metrics) succeeded(name string) { m.update(name, func(f *FunctionMetrics) { f.Succeeded++ }) }
func (m *metrics) dropped(name string)   { m.update(name, func(f *FunctionMetrics) { f.Dropped++ }) }
func (m *metrics) retried(name string)   { m.update(name, func(f *FunctionMetrics) { f.Retried++ }) }
func (m *metrics) throttled(name string) { m.update(name, func(f *FunctionMetrics) { f.Throttled++ }) }
func (m *metrics) destinationFailed(name string) {
	m.update(name, func(f *FunctionMetrics) { f.DestinationFailures++ })
}
func (m *metrics) age(name string, d time.Duration) {
	m.update(name, func(f *FunctionMetrics) {
		f.AgeCount++
		f.AgeTotal += d
		f.AgeMax = max(f.AgeMax, d)
	})
}

// Metrics returns a copy of every function's counters on this node.
func (q *Queue) Metrics() map[string]FunctionMetrics {
	q.metrics.mu.Lock()
	defer q.metrics.mu.Unlock()
	out := make(map[string]FunctionMetrics, len(q.metrics.fns))
	for name, f := range q.metrics.fns {
		out[name] = *f
	}
	return out
}

func sortBacklogs(b []Backlog) {
	sort.Slice(b, func(i, j int) bool { return b[i].Function < b[j].Function })
}
