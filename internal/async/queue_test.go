package async_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nimbusfaas/nimbus/internal/async"
	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/natsd"
)

var loc = lambda.Location{Region: "us-east-1", AccountID: "000000000000"}

// functions is an in-memory catalog.
type functions struct {
	mu  sync.Mutex
	fns map[string]*lambda.Function
}

func (f *functions) Lookup(name string) (*lambda.Function, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn, ok := f.fns[name]
	return fn, ok
}

// Resolve knows only $LATEST, and a version or alias that names no version: the
// queue's own tests do not publish versions (the server's tests do).
func (f *functions) Resolve(name, qualifier string) (*lambda.Function, bool) {
	if qualifier != "" && qualifier != lambda.VersionLatest {
		return nil, false
	}
	return f.Lookup(name)
}

func (f *functions) put(fn *lambda.Function) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fns == nil {
		f.fns = map[string]*lambda.Function{}
	}
	f.fns[fn.Name] = fn
}

// call is one invocation the fake invoker saw.
type call struct {
	Function, RequestID, Payload, TraceID string
}

// invoker runs functions by name: behave decides each result.
type invoker struct {
	mu     sync.Mutex
	calls  []call
	behave func(inv *lambda.Invocation) (*lambda.InvokeResult, error)
}

func (iv *invoker) Invoke(_ context.Context, inv *lambda.Invocation) (*lambda.InvokeResult, error) {
	iv.mu.Lock()
	iv.calls = append(iv.calls, call{inv.Function.Name, inv.RequestID, string(inv.Payload), inv.TraceID})
	behave := iv.behave
	iv.mu.Unlock()
	if behave == nil {
		return &lambda.InvokeResult{Payload: []byte(`"ok"`)}, nil
	}
	return behave(inv)
}

func (iv *invoker) callsOf(name string) []call {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	var out []call
	for _, c := range iv.calls {
		if c.Function == name {
			out = append(out, c)
		}
	}
	return out
}

func startNATS(t *testing.T) *natsd.Server {
	t.Helper()
	nc, err := natsd.Start(context.Background(), natsd.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func newQueue(t *testing.T, nc *natsd.Server, fns *functions, iv *invoker, change ...func(*async.Config)) *async.Queue {
	t.Helper()
	cfg := async.Config{JetStream: nc.JetStream(), Conn: nc.Conn(), Functions: fns, Location: loc,
		TimeScale: 0.001, AckWait: 2 * time.Second, IdleTimeout: time.Second, ScanInterval: 200 * time.Millisecond}
	for _, c := range change {
		c(&cfg)
	}
	if iv != nil {
		cfg.Invoker = iv
	}
	q, err := async.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	return q
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func enqueue(t *testing.T, q *async.Queue, fn, id, payload string) {
	t.Helper()
	err := q.Enqueue(context.Background(), &async.Event{RequestID: id, Function: fn,
		InvokedARN: loc.FunctionARN(fn), Payload: json.RawMessage(payload)})
	if err != nil {
		t.Fatalf("Enqueue(%s) = %v", id, err)
	}
}

func intp(n int) *int { return &n }

func record(t *testing.T, payload string) async.Record {
	t.Helper()
	var r async.Record
	if err := json.Unmarshal([]byte(payload), &r); err != nil {
		t.Fatalf("record %s: %v", payload, err)
	}
	return r
}

func TestSuccessGoesToOnSuccess(t *testing.T) {
	nc := startNATS(t)
	fns := &functions{}
	fns.put(&lambda.Function{Name: "dest"})
	fns.put(&lambda.Function{Name: "fn", EventInvoke: &lambda.EventInvokeConfig{OnSuccess: loc.FunctionARN("dest")}})
	iv := &invoker{}
	q := newQueue(t, nc, fns, iv)
	enqueue(t, q, "fn", "req-1", `{"n":1}`)
	waitFor(t, "the success record", func() bool { return len(iv.callsOf("dest")) == 1 })
	got := record(t, iv.callsOf("dest")[0].Payload)
	got.Timestamp = ""
	want := async.Record{Version: "1.0",
		RequestContext: async.RequestContext{RequestID: "req-1", FunctionARN: loc.QualifiedARN("fn", "$LATEST"),
			Condition: "Success", ApproximateInvokeCount: 1},
		RequestPayload:  json.RawMessage(`{"n":1}`),
		ResponseContext: &async.ResponseContext{StatusCode: 200, ExecutedVersion: "$LATEST"},
		ResponsePayload: json.RawMessage(`"ok"`)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("success record (-want +got):\n%s", diff)
	}
	m := q.Metrics()["fn"]
	if m.Received != 1 || m.Succeeded != 1 || m.AgeCount != 1 {
		t.Errorf("metrics of fn = %+v, want 1 received, 1 succeeded, 1 age sample", m)
	}
}

func TestFunctionErrorsAreRetriedThenSentToOnFailure(t *testing.T) {
	for _, retries := range []int{0, 1, 2} {
		t.Run(fmt.Sprint(retries), func(t *testing.T) {
			nc := startNATS(t)
			fns := &functions{}
			fns.put(&lambda.Function{Name: "dest"})
			fns.put(&lambda.Function{Name: "fn", EventInvoke: &lambda.EventInvokeConfig{
				MaximumRetryAttempts: intp(retries), OnFailure: loc.FunctionARN("dest")}})
			iv := &invoker{behave: func(inv *lambda.Invocation) (*lambda.InvokeResult, error) {
				if inv.Function.Name == "fn" {
					return &lambda.InvokeResult{Payload: []byte(`{"errorMessage":"boom","errorType":"errorString"}`), FunctionError: "Unhandled"}, nil
				}
				return &lambda.InvokeResult{Payload: []byte(`null`)}, nil
			}}
			q := newQueue(t, nc, fns, iv)
			enqueue(t, q, "fn", "req-2", `{}`)
			waitFor(t, "the failure record", func() bool { return len(iv.callsOf("dest")) == 1 })
			calls := iv.callsOf("fn")
			if len(calls) != retries+1 {
				t.Fatalf("fn ran %d times, want %d", len(calls), retries+1)
			}
			for _, c := range calls {
				if c.RequestID != "req-2" {
					t.Errorf("attempt ran with request id %q, want req-2 every time", c.RequestID)
				}
			}
			r := record(t, iv.callsOf("dest")[0].Payload)
			if r.RequestContext.Condition != "RetriesExhausted" || r.RequestContext.ApproximateInvokeCount != retries+1 ||
				r.ResponseContext == nil || r.ResponseContext.FunctionError != "Unhandled" ||
				string(r.ResponsePayload) != `{"errorMessage":"boom","errorType":"errorString"}` {
				t.Errorf("failure record = %+v", r)
			}
			if m := q.Metrics()["fn"]; m.Dropped != 1 || m.Retried != int64(retries) {
				t.Errorf("metrics of fn = %+v, want 1 dropped, %d retried", m, retries)
			}
		})
	}
}

func TestThrottledEventAgesOut(t *testing.T) {
	nc := startNATS(t)
	fns := &functions{}
	fns.put(&lambda.Function{Name: "dest"})
	// 60 s scaled by 0.001: 60 ms, several throttle backoffs (1, 2, 4, … ms scaled... at least 1 ms).
	fns.put(&lambda.Function{Name: "fn", EventInvoke: &lambda.EventInvokeConfig{
		MaximumEventAgeInSeconds: intp(60), OnFailure: loc.FunctionARN("dest")}})
	iv := &invoker{behave: func(inv *lambda.Invocation) (*lambda.InvokeResult, error) {
		if inv.Function.Name == "fn" {
			return nil, lambda.TooManyRequests(lambda.ReasonReservedFunctionConcurrentInvocationLimit)
		}
		return &lambda.InvokeResult{Payload: []byte(`null`)}, nil
	}}
	q := newQueue(t, nc, fns, iv)
	enqueue(t, q, "fn", "req-3", `{}`)
	waitFor(t, "the failure record", func() bool { return len(iv.callsOf("dest")) == 1 })
	r := record(t, iv.callsOf("dest")[0].Payload)
	if r.RequestContext.Condition != "EventAgeExceeded" || r.RequestContext.ApproximateInvokeCount != 0 || r.ResponseContext != nil {
		t.Errorf("failure record = %+v, want EventAgeExceeded, 0 invocations, no response", r)
	}
	if n := len(iv.callsOf("fn")); n < 2 {
		t.Errorf("fn was tried %d times, want throttle retries", n)
	}
}

func TestZeroReservedConcurrencySkipsTheFunction(t *testing.T) {
	nc := startNATS(t)
	fns := &functions{}
	fns.put(&lambda.Function{Name: "dest"})
	fns.put(&lambda.Function{Name: "fn", ReservedConcurrency: intp(0),
		EventInvoke: &lambda.EventInvokeConfig{OnFailure: loc.FunctionARN("dest")}})
	iv := &invoker{}
	q := newQueue(t, nc, fns, iv)
	enqueue(t, q, "fn", "req-4", `{}`)
	waitFor(t, "the failure record", func() bool { return len(iv.callsOf("dest")) == 1 })
	r := record(t, iv.callsOf("dest")[0].Payload)
	if r.RequestContext.Condition != "ZeroReservedConcurrency" || r.RequestContext.ApproximateInvokeCount != 0 {
		t.Errorf("failure record = %+v", r)
	}
	if n := len(iv.callsOf("fn")); n != 0 {
		t.Errorf("fn ran %d times, want 0", n)
	}
}

func TestRecursiveLoopIsStopped(t *testing.T) {
	nc := startNATS(t)
	fns := &functions{}
	// fn's success record goes to fn itself: a loop.
	fns.put(&lambda.Function{Name: "fn", EventInvoke: &lambda.EventInvokeConfig{
		OnSuccess: loc.FunctionARN("fn"), OnFailure: loc.FunctionARN("fn")}})
	iv := &invoker{}
	q := newQueue(t, nc, fns, iv)
	enqueue(t, q, "fn", "req-5", `{}`)
	waitFor(t, "the loop to stop", func() bool { return q.Metrics()["fn"].Dropped == 1 })
	time.Sleep(100 * time.Millisecond) // anything still looping would show up here
	if n := len(iv.callsOf("fn")); n != async.MaxLineageHops {
		t.Errorf("fn ran %d times in the loop, want %d", n, async.MaxLineageHops)
	}
	if m := q.Metrics()["fn"]; m.DestinationFailures != 1 {
		t.Errorf("metrics = %+v, want the stopped loop's failure record refused once", m)
	}
}

func TestTwoNodesShareTheBacklog(t *testing.T) {
	nc := startNATS(t)
	fns := &functions{}
	fns.put(&lambda.Function{Name: "fn"})
	slow := func(inv *lambda.Invocation) (*lambda.InvokeResult, error) {
		time.Sleep(2 * time.Millisecond)
		return &lambda.InvokeResult{Payload: []byte(`null`)}, nil
	}
	a, b := &invoker{behave: slow}, &invoker{behave: slow}
	qa := newQueue(t, nc, fns, a)
	newQueue(t, nc, fns, b)
	const n = 200
	for i := range n {
		enqueue(t, qa, "fn", fmt.Sprintf("req-%d", i), `{}`)
	}
	waitFor(t, "every event", func() bool { return len(a.callsOf("fn"))+len(b.callsOf("fn")) >= n })
	time.Sleep(100 * time.Millisecond)
	seen := map[string]int{}
	for _, c := range append(a.callsOf("fn"), b.callsOf("fn")...) {
		seen[c.RequestID]++
	}
	if len(seen) != n {
		t.Errorf("%d distinct events ran, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k > 1 {
			t.Errorf("event %s ran %d times", id, k)
		}
	}
	if len(a.callsOf("fn")) == 0 || len(b.callsOf("fn")) == 0 {
		t.Errorf("node a ran %d, node b %d: want both to share", len(a.callsOf("fn")), len(b.callsOf("fn")))
	}
}

func TestBusyFunctionDoesNotStarveAnother(t *testing.T) {
	nc := startNATS(t)
	fns := &functions{}
	fns.put(&lambda.Function{Name: "busy"})
	fns.put(&lambda.Function{Name: "other"})
	release := make(chan struct{})
	iv := &invoker{behave: func(inv *lambda.Invocation) (*lambda.InvokeResult, error) {
		if inv.Function.Name == "busy" {
			<-release
		}
		return &lambda.InvokeResult{Payload: []byte(`null`)}, nil
	}}
	q := newQueue(t, nc, fns, iv)
	defer close(release)
	for i := range 200 {
		enqueue(t, q, "busy", fmt.Sprintf("busy-%d", i), `{}`)
	}
	enqueue(t, q, "other", "other-1", `{}`)
	waitFor(t, "the other function's event", func() bool { return len(iv.callsOf("other")) == 1 })
}

func TestInFlightCaps(t *testing.T) {
	nc := startNATS(t)
	fns := &functions{}
	fns.put(&lambda.Function{Name: "capped"})
	fns.put(&lambda.Function{Name: "reserved", ReservedConcurrency: intp(2)})
	var mu sync.Mutex
	running, peak := map[string]int{}, map[string]int{}
	iv := &invoker{behave: func(inv *lambda.Invocation) (*lambda.InvokeResult, error) {
		name := inv.Function.Name
		mu.Lock()
		running[name]++
		peak[name] = max(peak[name], running[name])
		mu.Unlock()
		time.Sleep(3 * time.Millisecond)
		mu.Lock()
		running[name]--
		mu.Unlock()
		return &lambda.InvokeResult{Payload: []byte(`null`)}, nil
	}}
	q := newQueue(t, nc, fns, iv, func(c *async.Config) { c.Concurrency, c.PerFunction = 4, 3 })
	for i := range 40 {
		enqueue(t, q, "capped", fmt.Sprintf("c-%d", i), `{}`)
		enqueue(t, q, "reserved", fmt.Sprintf("r-%d", i), `{}`)
	}
	waitFor(t, "every event", func() bool { return len(iv.callsOf("capped")) == 40 && len(iv.callsOf("reserved")) == 40 })
	mu.Lock()
	defer mu.Unlock()
	if peak["capped"] > 3 || peak["reserved"] > 2 || peak["capped"]+peak["reserved"] < 2 {
		t.Errorf("peak in flight = %v, want capped ≤ 3 (PerFunction) and reserved ≤ 2 (its reserved concurrency)", peak)
	}
}

func TestBacklogs(t *testing.T) {
	nc := startNATS(t)
	fns := &functions{}
	fns.put(&lambda.Function{Name: "fn"})
	q := newQueue(t, nc, fns, nil) // no invoker: events stay queued
	for i := range 3 {
		enqueue(t, q, "fn", fmt.Sprintf("req-%d", i), `{}`)
	}
	b, err := q.Backlogs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 1 || b[0].Function != "fn" || b[0].Events != 3 || b[0].OldestAge <= 0 {
		t.Errorf("Backlogs() = %+v, want fn with 3 events and an age", b)
	}
}

func TestParseLineage(t *testing.T) {
	got := async.ParseLineage("Root=1-5f84c7a9-0a1b2c3d4e5f6a7b8c9d0e1f;Sampled=0;Lineage=a1b2c3d4:3|00ff00ff:1|bad|zz:2")
	want := map[string]int{"a1b2c3d4": 3, "00ff00ff": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseLineage (-want +got):\n%s", diff)
	}
}

// BenchmarkEnqueue is the queue's own cost of accepting an event: stored in JetStream on the
// embedded server (no invoker, so nothing drains).
func BenchmarkEnqueue(b *testing.B) {
	nc, err := natsd.Start(context.Background(), natsd.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	q, err := async.New(context.Background(), async.Config{JetStream: nc.JetStream(), Conn: nc.Conn(), Functions: &functions{}, Location: loc})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	var n atomic.Int64
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprint(n.Add(1))
			if err := q.Enqueue(context.Background(), &async.Event{RequestID: id, Function: "fn", Payload: json.RawMessage(`{"a":1}`)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestSlowFunctionRunsEachEventOnce: events waiting behind a slow invocation must not outlive
// their ack wait on this node and run twice.
func TestSlowFunctionRunsEachEventOnce(t *testing.T) {
	nc := startNATS(t)
	fns := &functions{}
	fns.put(&lambda.Function{Name: "slow", ReservedConcurrency: intp(1)})
	iv := &invoker{behave: func(inv *lambda.Invocation) (*lambda.InvokeResult, error) {
		time.Sleep(400 * time.Millisecond)
		return &lambda.InvokeResult{Payload: []byte(`null`)}, nil
	}}
	q := newQueue(t, nc, fns, iv, func(c *async.Config) { c.AckWait = 250 * time.Millisecond })
	for i := range 4 {
		enqueue(t, q, "slow", fmt.Sprintf("s-%d", i), `{}`)
	}
	waitFor(t, "every event", func() bool { return q.Metrics()["slow"].Succeeded >= 4 })
	time.Sleep(500 * time.Millisecond) // a redelivered event would run now
	runs := map[string]int{}
	for _, c := range iv.callsOf("slow") {
		runs[c.RequestID]++
	}
	for id, n := range runs {
		if n != 1 {
			t.Errorf("event %s ran %d times", id, n)
		}
	}
}
