package logs

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// TailBytes is how much of an invocation's log Invoke returns with X-Amz-Log-Type: Tail.
const TailBytes = 4096

var errStreamClosed = errors.New("log stream closed")

// Stream is the log stream of one execution environment: it turns the function's output into
// timestamped lines, brackets invocations with Lambda's platform lines, and keeps the current
// invocation's tail. All methods are safe for concurrent use.
type Stream struct {
	svc     *Service
	group   string
	name    string
	version string
	subject string

	mu        sync.Mutex
	requestID string // the invocation under way; "" before the first and between invocations
	tailOn    bool
	tail      tailBuffer
	// initTail keeps the end of what was written before the first invocation (the Init
	// phase), for the tail of an invocation whose Init failed. begun ends it.
	initTail tailBuffer
	begun    bool
	sources  []*source // every writer and pipe, whose partial lines Begin and End cut off
	pipes    []*pipe   // open pipes, which Begin and End drain (pipe_linux.go)
	line     []byte    // scratch for platform lines
	closed   bool
	// The environment's log rate (a token bucket in bytes) and the lines dropped since the
	// last marker (publish.go).
	tokens       float64
	tokensAt     int64
	droppedLines int
	dropWhy      dropReason
	lastMarker   int64

	// pendBytes is the function output waiting in queue (the publisher lowers it).
	pendBytes atomic.Int64
	// qmu guards the queue the publisher drains; it is taken inside mu, never around it.
	qmu       sync.Mutex
	queue     []queued
	scheduled bool   // in the publisher's ready list, or being served
	enqueued  uint64 // lines ever queued, and stored (or failed): Flush compares them
	stored    uint64
}

// NewStream starts the log stream of a new execution environment of a function version.
// environmentID must be unique among the function's environments; the stream is dated now.
func (s *Service) NewStream(function, version, environmentID string) *Stream {
	group := GroupName(function)
	name := StreamName(s.now(), version, environmentID)
	return &Stream{
		svc:     s,
		group:   group,
		name:    name,
		version: version,
		subject: s.subjects.stream(group, name),
	}
}

// Group is the stream's log group, for AWS_LAMBDA_LOG_GROUP_NAME.
func (st *Stream) Group() string { return st.group }

// Name is the stream's name, for AWS_LAMBDA_LOG_STREAM_NAME.
func (st *Stream) Name() string { return st.name }

// Begin starts an invocation: it writes "START RequestId: <id> Version: <version>" and tags the
// lines that follow with requestID until End. Output the function wrote before Begin (during
// Init, say) is stored first and is not part of the invocation. When tail is set, End returns
// the last TailBytes of the invocation's log.
func (st *Stream) Begin(requestID string, tail bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.drainLocked()
	now := st.svc.now().UnixNano()
	st.flushPartialsLocked(now)
	st.beginLocked(requestID, tail, nil, now)
}

// beginLocked starts an invocation whose tail begins with seed.
func (st *Stream) beginLocked(requestID string, tail bool, seed []byte, now int64) {
	st.begun = true
	st.initTail.buf = nil
	st.requestID = requestID
	st.tailOn = tail
	st.tail.reset()
	st.tail.write(seed)
	st.line = AppendStart(st.line[:0], requestID, st.version)
	st.recordLocked(st.line, now, true)
}

// End finishes the invocation started by Begin: it takes in everything the function wrote
// to its pipes before the call, cuts off unfinished lines, and writes the timeout line (when
// r.Status is StatusTimeout, at the place AWS printed it in 2023: before END), "END RequestId:
// <id>" and the REPORT line. r.RequestID defaults to Begin's. It returns the last TailBytes
// bytes of the invocation's log (START to REPORT) if Begin asked for the tail, else nil. Like
// AWS, it cuts at a byte count, so the tail may begin inside a multi-byte UTF-8 character;
// base64 carries that unharmed.
func (st *Stream) End(r Report) []byte {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.drainLocked()
	now := st.svc.now()
	st.flushPartialsLocked(now.UnixNano())
	return st.endLocked(r, now)
}

func (st *Stream) endLocked(r Report, now time.Time) []byte {
	ts := now.UnixNano()
	st.markDropsLocked(ts)
	if r.RequestID == "" {
		r.RequestID = st.requestID
	}
	if r.Status == StatusTimeout {
		st.line = AppendTimeout(st.line[:0], now, r.RequestID, r.Duration)
		st.recordLocked(st.line, ts, true)
	}
	st.line = AppendEnd(st.line[:0], r.RequestID)
	st.recordLocked(st.line, ts, true)
	st.line = AppendReport(st.line[:0], r)
	st.recordLocked(st.line, ts, true)
	var tail []byte
	if st.tailOn {
		tail = st.tail.last()
	}
	st.requestID, st.tailOn = "", false
	return tail
}

// InitReport holds the figures of Lambda's INIT_REPORT line, which it writes when an
// environment's Init phase fails or times out.
type InitReport struct {
	// Duration is how long Init ran.
	Duration time.Duration
	// Status is StatusError or StatusTimeout.
	Status Status
	// ErrorType goes with StatusError, e.g. "Runtime.ImportModuleError".
	ErrorType string
}

// FailInit logs an invocation that could not run because its environment failed to
// initialise, as Lambda logs it: the Init phase's output (the function's, already in the
// stream), "INIT_REPORT Init Duration: … Phase: init Status: error Error Type: …", START,
// errorLine when it is not empty (Lambda prints the platform's error there for a runtime that
// exited or could not start), END, and r's REPORT, whose status says how Init failed. It
// returns, when tail is set, the last TailBytes of all that, the Init phase's output
// included: what Invoke returns with X-Amz-Log-Type: Tail.
func (st *Stream) FailInit(ir InitReport, requestID, errorLine string, r Report, tail bool) []byte {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.drainLocked()
	now := st.svc.now()
	ts := now.UnixNano()
	st.flushPartialsLocked(ts)
	st.markDropsLocked(ts)
	st.line = AppendInitReport(st.line[:0], ir)
	st.recordLocked(st.line, ts, true)
	st.beginLocked(requestID, tail, st.initTail.last(), ts)
	if errorLine != "" {
		st.line = append(st.line[:0], errorLine...)
		if !bytes.HasSuffix(st.line, []byte("\n")) {
			st.line = append(st.line, '\n')
		}
		st.recordLocked(st.line, ts, true)
	}
	r.RequestID = requestID
	return st.endLocked(r, now)
}

// Writer returns a writer for one source of the function's output, for sandboxes that copy
// the output themselves. Use one Writer per source: each keeps its own unfinished line, so two
// sources copied by two goroutines never split each other's lines. (os/exec given the same
// Writer as Stdout and Stderr uses a single pipe for both, merging them the way Lambda does.)
// Whatever the Writer was given before End is part of the invocation; writers never fail and
// drop their input once the stream is closed. Close flushes the unfinished line.
//
// Prefer Pipe: it needs no copying goroutine, and End can make sure that everything the
// function wrote before it is in.
func (st *Stream) Writer() io.WriteCloser {
	w := &writer{st: st}
	st.mu.Lock()
	st.sources = append(st.sources, &w.src)
	st.mu.Unlock()
	return w
}

type writer struct {
	st  *Stream
	src source
}

func (w *writer) Write(p []byte) (int, error) {
	st := w.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.closed && !w.src.detached {
		st.feedLocked(&w.src, p, st.svc.now().UnixNano())
	}
	return len(p), nil
}

func (w *writer) Close() error {
	st := w.st
	st.mu.Lock()
	defer st.mu.Unlock()
	st.detachLocked(&w.src, st.svc.now().UnixNano())
	return nil
}

// Close ends the stream when its environment goes away: it takes in what the pipes still
// hold, stores unfinished lines and closes the pipes. Later output is dropped.
func (st *Stream) Close() error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil
	}
	st.drainLocked()
	now := st.svc.now().UnixNano()
	st.flushPartialsLocked(now)
	st.markDropsLocked(now)
	st.closed = true
	pipes := slices.Clone(st.pipes) // readers remove themselves from st.pipes as they finish
	st.mu.Unlock()
	for _, p := range pipes {
		p.close()
	}
	return nil
}

// source is one origin of output with its unfinished line.
type source struct {
	partial  []byte
	detached bool
}

// feedLocked cuts p into lines (each keeping its '\n') and emits the complete ones; the rest
// waits in src. A line longer than the service's maximum is cut into maximum-size pieces so
// that a function printing without newlines cannot grow the buffer without bound.
func (st *Stream) feedLocked(src *source, p []byte, ts int64) {
	maxLine := st.svc.maxLine
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		end := len(p)
		if i >= 0 {
			end = i + 1
		}
		if room := maxLine - len(src.partial); end > room {
			st.emitPieceLocked(src, p[:room], ts)
			p = p[room:]
			continue
		}
		if i < 0 {
			src.partial = append(src.partial, p...)
			return
		}
		st.emitPieceLocked(src, p[:end], ts)
		p = p[end:]
	}
}

// emitPieceLocked emits src's unfinished line followed by piece.
func (st *Stream) emitPieceLocked(src *source, piece []byte, ts int64) {
	if len(src.partial) == 0 {
		st.emitLocked(piece, ts)
		return
	}
	src.partial = append(src.partial, piece...)
	st.emitLocked(src.partial, ts)
	src.reset()
}

func (src *source) reset() {
	if cap(src.partial) > 64<<10 {
		src.partial = nil // don't keep a huge line's buffer for the environment's lifetime
		return
	}
	src.partial = src.partial[:0]
}

// flushPartialsLocked emits every source's unfinished line as it is.
func (st *Stream) flushPartialsLocked(ts int64) {
	for _, src := range st.sources {
		if len(src.partial) > 0 {
			st.emitLocked(src.partial, ts)
			src.reset()
		}
	}
}

// detachLocked flushes a source that has ended and forgets it.
func (st *Stream) detachLocked(src *source, ts int64) {
	if src.detached {
		return
	}
	if len(src.partial) > 0 && !st.closed {
		st.emitLocked(src.partial, ts)
	}
	src.partial, src.detached = nil, true
	st.sources = slices.DeleteFunc(st.sources, func(s *source) bool { return s == src })
}

// emitLocked records one line of the function's output, unless it is over the
// environment's rate or the buffers (publish.go), in which case it is counted as dropped.
// After drops, a marker goes first, at most once a second (End and Close write the rest).
func (st *Stream) emitLocked(msg []byte, ts int64) {
	if st.closed {
		return
	}
	if why := st.admitLocked(len(msg), ts); why != dropNone {
		st.dropLocked(why)
		return
	}
	if st.droppedLines > 0 && ts-st.lastMarker >= int64(time.Second) {
		st.markDropsLocked(ts)
	}
	st.recordLocked(msg, ts, false)
}

// recordLocked keeps one line: in the invocation's tail if asked for (or the Init phase's),
// and in the store unless the stream is closed. Platform lines come here directly: they are
// never dropped.
func (st *Stream) recordLocked(msg []byte, ts int64, platform bool) {
	switch {
	case st.tailOn:
		st.tail.write(msg)
	case !st.begun:
		st.initTail.write(msg)
	}
	if !st.closed {
		st.enqueueLocked(ts, st.requestID, msg, platform)
	}
}

// tailBuffer keeps at least the last TailBytes bytes written to it, compacting only when it
// reaches twice that, so keeping the tail costs a copy per line and rarely a move.
type tailBuffer struct{ buf []byte }

func (t *tailBuffer) reset() { t.buf = t.buf[:0] }

func (t *tailBuffer) write(p []byte) {
	if len(p) >= TailBytes {
		t.buf = append(t.buf[:0], p[len(p)-TailBytes:]...)
		return
	}
	if len(t.buf)+len(p) > 2*TailBytes {
		keep := TailBytes - len(p)
		t.buf = t.buf[:copy(t.buf, t.buf[len(t.buf)-keep:])]
	}
	t.buf = append(t.buf, p...)
}

// last returns a copy of the last TailBytes bytes.
func (t *tailBuffer) last() []byte {
	b := t.buf
	if len(b) > TailBytes {
		b = b[len(b)-TailBytes:]
	}
	return bytes.Clone(b)
}

// Interface guards
var _ io.WriteCloser = (*writer)(nil)
