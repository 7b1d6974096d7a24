package logs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// The write path, bounded at every step so that no function can grow the server's memory or
// take another function's share:
//
//   - a line longer than MaxLineBytes (CloudWatch's 256 KB event) is cut into several;
//   - each environment may keep RateBytes a second (plus a BurstBytes burst) of output;
//   - each environment may have StreamBufferBytes of output waiting to be stored, and the node
//     BufferBytes in all, except that an environment with less than ReserveBytes waiting is
//     never refused: a quiet function's lines go in whatever the others do;
//   - a line refused by any of these is dropped and counted, and the next line kept (or the
//     invocation's END) is preceded by "[nimbus] N log lines dropped: why" in that
//     environment's own stream, where its owner looks;
//   - the platform's own lines (START, END, REPORT, INIT_REPORT, timeouts, the drop marker)
//     are never dropped: they are a few hundred bytes per invocation.
//
// Each environment's lines wait in its own queue; the publisher serves the queues round robin,
// one batch (one JetStream message) per queue per turn, so a flooding environment cannot delay
// another's lines by more than one batch per busy environment.

// queued is one line waiting to be stored.
type queued struct {
	ts        int64
	requestID string
	msg       []byte
	platform  bool // a platform line: not counted against the buffers
}

// dropReason says why lines were dropped, for the marker.
type dropReason int

const (
	dropNone dropReason = iota
	dropRate
	dropBuffer
)

// admitLocked decides whether a line of the function's output of n bytes, captured at ts,
// is kept; it takes the line's share of the environment's rate when it is.
func (st *Stream) admitLocked(n int, ts int64) dropReason {
	s := st.svc
	if s.rate > 0 {
		if st.tokensAt == 0 {
			st.tokens, st.tokensAt = s.burst, ts
		}
		if ts > st.tokensAt {
			st.tokens = min(s.burst, st.tokens+s.rate*float64(ts-st.tokensAt)/float64(time.Second))
			st.tokensAt = ts
		}
		if st.tokens < min(float64(n), s.burst) {
			return dropRate
		}
	}
	waiting := st.pendBytes.Load()
	if waiting+int64(n) > s.streamBuffer {
		return dropBuffer
	}
	if s.buffered.Load()+int64(n) > s.bufferBytes && waiting+int64(n) > s.reserve {
		return dropBuffer
	}
	if s.rate > 0 {
		st.tokens -= float64(n)
	}
	return dropNone
}

// throttleLocked says how long a pipe's reader should wait before it reads again: until the
// environment's rate allows a line of the longest length (or the whole burst, if smaller), and
// the buffers have room for it, so that the next line read is kept. Zero means read now.
func (st *Stream) throttleLocked() time.Duration {
	s := st.svc
	line := int64(s.maxLine)
	if s.rate > 0 {
		line = int64(min(float64(s.maxLine), s.burst))
	}
	// The store is behind: wait for the publisher, until this stream's lines are stored if
	// need be, rather than drop what the function wrote within its rate. (A few milliseconds
	// is a publish or two.)
	waiting := st.pendBytes.Load()
	if waiting > 0 && (waiting+line > s.streamBuffer || s.buffered.Load()+line > s.bufferBytes && waiting+line > s.reserve) {
		return 5 * time.Millisecond
	}
	if s.rate <= 0 || st.tokensAt == 0 {
		return 0
	}
	need := float64(line)
	now := s.now().UnixNano()
	have := st.tokens
	if now > st.tokensAt {
		have = min(s.burst, have+s.rate*float64(now-st.tokensAt)/float64(time.Second))
	}
	if have >= need {
		return 0
	}
	// At least a millisecond, so that a reader never spins; at most a tenth of a second,
	// so that a clock that jumps cannot hold it.
	wait := time.Duration((need - have) / s.rate * float64(time.Second))
	return min(max(wait, time.Millisecond), 100*time.Millisecond)
}

// dropLocked counts a dropped line of the function's output.
func (st *Stream) dropLocked(why dropReason) {
	st.svc.dropped.Add(1)
	st.droppedLines++
	st.dropWhy = why
}

// markDropsLocked writes the marker for the lines dropped since the last one.
func (st *Stream) markDropsLocked(ts int64) {
	if st.droppedLines == 0 {
		return
	}
	why := "the log store is not keeping up with this function's output"
	if st.dropWhy == dropRate {
		why = fmt.Sprintf("this execution environment wrote more than %s a second (bursts of %s), Nimbus's log rate per environment",
			byteSize(st.svc.rate), byteSize(st.svc.burst))
	}
	st.line = fmt.Appendf(st.line[:0], "[nimbus] %d log lines dropped: %s\n", st.droppedLines, why)
	st.droppedLines = 0
	st.lastMarker = ts
	st.recordLocked(st.line, ts, true)
}

func byteSize(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%g MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%g KiB", b/(1<<10))
	}
	return fmt.Sprintf("%g bytes", b)
}

// enqueueLocked puts one line in the stream's queue and schedules the stream with the
// publisher. The stream's mu is held; qmu and the service's mu are taken inside it.
func (st *Stream) enqueueLocked(ts int64, requestID string, msg []byte, platform bool) {
	s := st.svc
	if s.closed.Load() {
		s.dropped.Add(1)
		return
	}
	if platform {
		// Platform lines are a few hundred bytes per invocation and never refused by the
		// limits above; this bound only holds when the store has been unreachable for some
		// hundred thousand invocations, so that even then memory stays bounded.
		if s.platformBuffered.Add(int64(len(msg))) > s.bufferBytes {
			s.platformBuffered.Add(-int64(len(msg)))
			s.dropped.Add(1)
			return
		}
	} else {
		st.pendBytes.Add(int64(len(msg)))
		s.buffered.Add(int64(len(msg)))
	}
	q := queued{ts: ts, requestID: requestID, msg: append([]byte(nil), msg...), platform: platform}
	st.qmu.Lock()
	st.queue = append(st.queue, q)
	st.enqueued++
	schedule := !st.scheduled
	st.scheduled = true
	st.qmu.Unlock()
	s.accepted.Add(1)
	if schedule {
		s.mu.Lock()
		s.ready = append(s.ready, st)
		s.active[st] = struct{}{}
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// publish is the publisher goroutine. Woken by the first line queued, it lingers to gather
// more, then serves the ready streams round robin until none has lines left. Waiting for
// JetStream's ack here is what paces it; the invoke path never waits for it.
func (s *Service) publish(ctx context.Context) {
	defer close(s.done)
	var (
		payload  []byte
		lastWarn time.Time
		warned   uint64
	)
	warnDrops := func() {
		if d := s.dropped.Load(); d != warned && time.Since(lastWarn) > 10*time.Second {
			s.log.Warn("function log lines dropped: over a function's log rate or the log buffers",
				"dropped_total", d, "rate_bytes", s.rate, "buffer_bytes", s.bufferBytes)
			warned, lastWarn = d, time.Now()
		}
	}
	lingering := time.NewTimer(time.Hour)
	lingering.Stop()
	for {
		select {
		case <-s.wake:
		case <-s.quit:
			for s.serveRound(ctx, &payload) {
			}
			return
		}
		if s.linger > 0 {
			lingering.Reset(s.linger)
			select {
			case <-lingering.C:
			case <-s.hurry:
				lingering.Stop()
			case <-s.quit:
				lingering.Stop()
			}
		}
		// Under a steady flood the rounds never stop: warn between them too.
		for s.serveRound(ctx, &payload) {
			warnDrops()
		}
		warnDrops()
	}
}

// serveRound publishes one batch of every ready stream, and reports whether there was any.
func (s *Service) serveRound(ctx context.Context, payload *[]byte) bool {
	s.mu.Lock()
	round := s.ready
	s.ready = nil
	s.mu.Unlock()
	if len(round) == 0 {
		return false
	}
	var again []*Stream
	for _, st := range round {
		lines, fnBytes, platformBytes, more := st.takeBatch(s.maxBatch, payload)
		s.send(ctx, st.subject, *payload, lines)
		st.pendBytes.Add(-fnBytes)
		s.buffered.Add(-fnBytes)
		s.platformBuffered.Add(-platformBytes)
		st.qmu.Lock()
		st.stored += uint64(lines)
		st.qmu.Unlock()
		if more {
			again = append(again, st)
		}
	}
	s.mu.Lock()
	s.ready = append(s.ready, again...)
	for _, st := range round {
		st.qmu.Lock()
		idle := st.stored == st.enqueued
		st.qmu.Unlock()
		if idle {
			delete(s.active, st)
		}
	}
	close(s.round)
	s.round = make(chan struct{})
	s.mu.Unlock()
	return true
}

// takeBatch moves the stream's first lines, up to maxBatch bytes (at least one line), into
// payload. It reports the lines taken, the bytes of function output and of platform lines
// among them, and whether lines are left (the stream then stays scheduled).
func (st *Stream) takeBatch(maxBatch int, payload *[]byte) (lines int, fnBytes, platformBytes int64, more bool) {
	st.qmu.Lock()
	defer st.qmu.Unlock()
	p := (*payload)[:0]
	n := 0
	for _, q := range st.queue {
		if n > 0 && len(p)+len(q.msg)+len(q.requestID)+eventOverhead > maxBatch {
			break
		}
		p = appendEvent(p, q.ts, q.requestID, q.msg)
		if q.platform {
			platformBytes += int64(len(q.msg))
		} else {
			fnBytes += int64(len(q.msg))
		}
		n++
	}
	clear(st.queue[:n])
	st.queue = st.queue[n:]
	if len(st.queue) == 0 {
		st.queue = nil // let a burst's backing array go
		st.scheduled = false
	}
	*payload = p
	return n, fnBytes, platformBytes, len(st.queue) > 0
}

// Flush waits until every line handed to the service before the call is stored (or dropped,
// if JetStream refused it). It is for shutdown and tests, not for the invoke path.
func (s *Service) Flush(ctx context.Context) error {
	if s.closed.Load() {
		return errors.New("flush logs: service closed")
	}
	type target struct {
		st *Stream
		n  uint64
	}
	var targets []target
	s.mu.Lock()
	for st := range s.active {
		st.qmu.Lock()
		targets = append(targets, target{st, st.enqueued})
		st.qmu.Unlock()
	}
	s.mu.Unlock()
	// Cut the publisher's linger short, and wake it if it sleeps.
	for _, ch := range []chan struct{}{s.hurry, s.wake} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	for {
		s.mu.Lock()
		round := s.round
		s.mu.Unlock()
		pending := false
		for _, t := range targets {
			t.st.qmu.Lock()
			if t.st.stored < t.n {
				pending = true
			}
			t.st.qmu.Unlock()
		}
		if !pending {
			return nil
		}
		select {
		case <-round:
		case <-s.done:
			return errors.New("flush logs: service closed")
		case <-ctx.Done():
			return fmt.Errorf("flush logs: %w", ctx.Err())
		}
	}
}

// send publishes one batch, retrying briefly (a cluster may be electing a leader); after
// that the batch is counted as failed and the publisher moves on.
func (s *Service) send(ctx context.Context, subject string, payload []byte, lines int) {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = s.js.PublishMsg(pctx, &nats.Msg{Subject: subject, Data: payload})
		cancel()
		if err == nil {
			s.published.Add(uint64(lines))
			return
		}
	}
	s.failed.Add(uint64(lines))
	s.log.Error("store function log lines", "subject", subject, "lines", lines, "err", err)
}
