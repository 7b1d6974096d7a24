package async

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// maxRecordedResponse is the most of a failed attempt's response kept for its record.
const maxRecordedResponse = 256 << 10

// scale applies the TimeScale to one of Lambda's delays or ages.
func (q *Queue) scale(d time.Duration) time.Duration {
	return time.Duration(float64(d) * q.cfg.TimeScale)
}

// process runs one delivered event and decides its outcome: done (success or failure
// handled), or retried later. The message is acknowledged only once that is settled, and a
// retry is stored before the attempt it follows is acknowledged.
func (q *Queue) process(msg jetstream.Msg) {
	var ev Event
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		q.log.Error("dropping an undecodable async event", "subject", msg.Subject(), "err", err)
		msg.Term()
		return
	}
	now := q.cfg.Now()
	if wait := ev.NotBefore.Sub(now); wait > 0 {
		msg.NakWithDelay(wait)
		return
	}
	fn, ok := q.cfg.Functions.Resolve(ev.Function, ev.Qualifier)
	if !ok {
		q.log.Warn("dropping an async event: its function, version or alias was deleted", "function", ev.Function, "qualifier", ev.Qualifier, "requestId", ev.RequestID)
		q.metrics.dropped(ev.Function)
		msg.Ack()
		return
	}
	cfg := fn.EventInvoke
	maxAge := q.scale(cfg.MaxEventAge())
	key := lineageKey(fn.Name)
	switch {
	case fn.ReservedConcurrency != nil && *fn.ReservedConcurrency == 0:
		q.fail(&ev, fn, lambda.ConditionZeroReservedConcurrency, nil)
		msg.Ack()
		return
	case now.Sub(ev.Received) > maxAge:
		q.fail(&ev, fn, lambda.ConditionEventAgeExceeded, ev.Last)
		msg.Ack()
		return
	case ev.Lineage[key] >= MaxLineageHops:
		q.log.Warn("stopped a recursive invocation loop", "function", fn.Name, "requestId", ev.RequestID, "hops", ev.Lineage[key])
		q.fail(&ev, fn, lambda.ConditionRecursiveLoop, ev.Last)
		msg.Ack()
		return
	}
	if ev.Attempts == 0 && ev.Throttles == 0 {
		q.metrics.age(fn.Name, now.Sub(ev.Received))
	}
	lineage := maps.Clone(ev.Lineage)
	if lineage == nil {
		lineage = map[string]int{}
	}
	lineage[key]++
	res, err := q.cfg.Invoker.Invoke(q.ctx, &lambda.Invocation{
		Function:      fn,
		Version:       fn.VersionName(),
		InvokedARN:    ev.InvokedARN,
		RequestID:     ev.RequestID,
		Payload:       ev.Payload,
		ClientContext: ev.ClientContext,
		TraceID:       traceHeader(ev.TraceID, lineage),
	})
	if q.ctx.Err() != nil {
		// Shutting down: the attempt's outcome is unknown; the event runs again elsewhere.
		msg.Nak()
		return
	}
	now = q.cfg.Now()
	if err != nil {
		// A throttle or a platform error: retried with backoff for as long as the event
		// may live.
		ev.Throttles++
		q.metrics.throttled(fn.Name)
		if le, ok := lambda.AsError(err); !ok || le.Code != lambda.CodeTooManyRequests {
			q.log.Warn("async invocation could not run", "function", fn.Name, "requestId", ev.RequestID, "err", err)
		}
		q.retryOrAge(msg, &ev, fn, now.Add(q.scale(throttleDelay(ev.Throttles))), maxAge)
		return
	}
	ev.Attempts++
	last := &Response{Payload: res.Payload, FunctionError: res.FunctionError}
	if len(last.Payload) > maxRecordedResponse {
		last.Payload = nil
	}
	if res.FunctionError == "" {
		q.succeed(&ev, fn, last, lineage)
		msg.Ack()
		return
	}
	ev.Last = last
	if ev.Attempts > cfg.RetryAttempts() {
		q.fail(&ev, fn, lambda.ConditionRetriesExhausted, last)
		msg.Ack()
		return
	}
	q.retryOrAge(msg, &ev, fn, now.Add(q.scale(functionErrorDelay(ev.Attempts))), maxAge)
}

// retryOrAge queues ev again to run at notBefore, or hands it to failure handling when it
// would be too old by then.
func (q *Queue) retryOrAge(msg jetstream.Msg, ev *Event, fn *lambda.Function, notBefore time.Time, maxAge time.Duration) {
	if notBefore.Sub(ev.Received) > maxAge {
		q.fail(ev, fn, lambda.ConditionEventAgeExceeded, ev.Last)
		msg.Ack()
		return
	}
	ev.NotBefore = notBefore
	ctx, cancel := context.WithTimeout(q.ctx, 10*time.Second)
	defer cancel()
	if err := q.publish(ctx, ev); err != nil {
		// The attempt is not acknowledged: it comes back after the same delay and runs
		// with its old counters, which at worst adds one attempt.
		q.log.Warn("could not queue an async retry", "function", fn.Name, "requestId", ev.RequestID, "err", err)
		msg.NakWithDelay(notBefore.Sub(q.cfg.Now()))
		return
	}
	q.metrics.retried(fn.Name)
	msg.Ack()
}

// succeed sends the success record to the OnSuccess destination, if any.
func (q *Queue) succeed(ev *Event, fn *lambda.Function, last *Response, lineage map[string]int) {
	q.metrics.succeeded(fn.Name)
	if dest := fn.EventInvoke.Destination(true); dest != "" {
		rec := newRecord(ev, fn.VersionName(), q.cfg.Location.QualifiedARN(fn.Name, fn.VersionName()), lambda.ConditionSuccess, last, q.cfg.Now())
		q.deliver(ev, fn, dest, rec, true, lineage)
	}
}

// fail is failure handling: the event is dropped, with its record sent to the OnFailure
// destination if there is one.
func (q *Queue) fail(ev *Event, fn *lambda.Function, condition string, last *Response) {
	q.metrics.dropped(fn.Name)
	level := slog.LevelInfo
	if condition == lambda.ConditionZeroReservedConcurrency {
		// The owner stopped the function on purpose: one line per event would flood the log.
		level = slog.LevelDebug
	}
	q.log.Log(q.ctx, level, "async event failed", "function", fn.Name, "requestId", ev.RequestID, "condition", condition, "attempts", ev.Attempts)
	if dest := fn.EventInvoke.Destination(false); dest != "" {
		rec := newRecord(ev, fn.VersionName(), q.cfg.Location.QualifiedARN(fn.Name, fn.VersionName()), condition, last, q.cfg.Now())
		lineage := maps.Clone(ev.Lineage)
		if lineage == nil {
			lineage = map[string]int{}
		}
		lineage[lineageKey(fn.Name)]++
		q.deliver(ev, fn, dest, rec, false, lineage)
	}
}

// deliver sends a record to its destination; a failure is counted and logged, and the event
// is done all the same, as on Lambda.
func (q *Queue) deliver(ev *Event, fn *lambda.Function, dest string, rec Record, success bool, lineage map[string]int) {
	body, err := json.Marshal(rec)
	if err == nil {
		var t Target
		if t, err = q.Target(dest); err == nil {
			ctx, cancel := context.WithTimeout(q.ctx, 10*time.Second)
			err = t.Send(ctx, Message{Body: body, Success: success, Lineage: lineage, TraceID: ev.TraceID})
			cancel()
		}
	}
	if err != nil {
		q.metrics.destinationFailed(fn.Name)
		q.log.Warn("async destination delivery failed", "function", fn.Name, "requestId", ev.RequestID, "destination", dest, "err", err)
	}
}
