package logs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config configures a Service. The zero value of every field but JetStream is usable.
type Config struct {
	// JetStream is where the logs are stored. Required.
	JetStream jetstream.JetStream
	// Stream is the JetStream stream holding every log group. Empty means "NIMBUS_LOGS".
	Stream string
	// SubjectPrefix is the first token of the stream's subjects (<prefix>.<group>.<stream>).
	// Empty means "logs".
	SubjectPrefix string
	// MaxAge is how long events are kept. Zero means 7 days; negative means forever.
	MaxAge time.Duration
	// MaxBytes caps the stream's size; the oldest events go first. Zero or negative means no
	// cap beyond the server's own limits.
	MaxBytes int64
	// Replicas is the stream's replication factor on a NATS cluster. Zero means 1.
	Replicas int
	// BufferBytes bounds the lines waiting to be stored; past it, new lines are dropped and
	// counted rather than slowing the function down. Zero means 8 MiB.
	BufferBytes int64
	// Linger is how long the publisher keeps gathering lines after the first one arrives
	// before it stores them. Storing a message costs JetStream the same whatever its size, so
	// lingering turns one message per line into one per environment per Linger under load.
	// Zero means DefaultLinger; negative means store at once.
	Linger time.Duration
	// Logger receives the service's own problems (dropped lines, failed publishes). Nil
	// discards them.
	Logger *slog.Logger
	// Now is the clock used for line timestamps and stream dates. Nil means time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultStream        = "NIMBUS_LOGS"
	DefaultSubjectPrefix = "logs"
	DefaultMaxAge        = 7 * 24 * time.Hour
	DefaultBufferBytes   = 8 << 20
	DefaultLinger        = 10 * time.Millisecond
)

// MaxLineBytes is the longest event kept: the largest message a CloudWatch Logs event may
// hold (256 KiB less its 26 bytes of overhead). Longer lines are cut into several events.
const MaxLineBytes = 256<<10 - 26

// Service stores the log lines of every function and reads them back.
type Service struct {
	js       jetstream.JetStream
	stream   jetstream.Stream
	name     string
	subjects subjects
	log      *slog.Logger
	now      func() time.Time
	maxLine  int // MaxLineBytes, or less when the server's max payload is smaller
	maxBatch int // the largest payload the publisher sends
	linger   time.Duration

	queue       chan queued
	bufferBytes int64
	buffered    atomic.Int64 // bytes of lines queued or being published
	closed      atomic.Bool
	quit        chan struct{}
	done        chan struct{}
	cancel      context.CancelFunc
	closeOnce   sync.Once

	accepted  atomic.Uint64
	published atomic.Uint64
	dropped   atomic.Uint64
	failed    atomic.Uint64
}

// queued is one line on its way to JetStream, or a Flush marker.
type queued struct {
	subject   string
	ts        int64
	requestID string
	msg       []byte
	flushed   chan struct{} // set on Flush markers only
}

// queueLen bounds the number of queued lines; BufferBytes bounds their size.
const queueLen = 16384

// New creates or updates the log stream in JetStream and starts the publisher. ctx bounds
// the setup only; the Service runs until Close.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.JetStream == nil {
		return nil, errors.New("logs: Config.JetStream is required")
	}
	s := &Service{
		js:          cfg.JetStream,
		name:        cmpOr(cfg.Stream, DefaultStream),
		subjects:    subjects{prefix: cmpOr(cfg.SubjectPrefix, DefaultSubjectPrefix)},
		log:         cfg.Logger,
		now:         cfg.Now,
		bufferBytes: cfg.BufferBytes,
		linger:      cfg.Linger,
		queue:       make(chan queued, queueLen),
		quit:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.bufferBytes <= 0 {
		s.bufferBytes = DefaultBufferBytes
	}
	switch {
	case s.linger == 0:
		s.linger = DefaultLinger
	case s.linger < 0:
		s.linger = 0
	}
	maxAge := cfg.MaxAge
	switch {
	case maxAge == 0:
		maxAge = DefaultMaxAge
	case maxAge < 0:
		maxAge = 0 // JetStream's "no limit"
	}
	maxBytes := cfg.MaxBytes
	if maxBytes <= 0 {
		maxBytes = -1
	}
	stream, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        s.name,
		Description: "Nimbus function logs: one subject per log group and stream",
		Subjects:    []string{s.subjects.all()},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      maxAge,
		MaxBytes:    maxBytes,
		Replicas:    max(cfg.Replicas, 1),
		AllowDirect: true,
	})
	if err != nil {
		return nil, fmt.Errorf("create log stream %s: %w", s.name, err)
	}
	s.stream = stream

	// A batch must fit in one NATS message; leave room for the subject and protocol headers.
	maxPayload := 1 << 20 // NATS's default max payload
	if nc := s.js.Conn(); nc != nil && nc.MaxPayload() > 0 {
		maxPayload = int(nc.MaxPayload())
	}
	s.maxBatch = maxPayload - 4096
	if maxBytes > 0 {
		// Old lines go a message at a time: keep messages small next to the cap, so that
		// what is kept stays close to it.
		s.maxBatch = min(s.maxBatch, int(maxBytes/8))
	}
	s.maxLine = min(MaxLineBytes, s.maxBatch-eventOverhead-1024)
	if s.maxLine < 1024 {
		return nil, fmt.Errorf("create log service: server max payload %d is too small", maxPayload)
	}

	pctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.publish(pctx)
	return s, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// enqueue hands one line to the publisher without ever blocking: when the buffer is full or
// the service closed, the line is dropped and counted.
func (s *Service) enqueue(subject string, ts int64, requestID string, msg []byte) {
	if s.closed.Load() {
		s.dropped.Add(1)
		return
	}
	n := int64(len(msg)) + int64(len(requestID))
	if s.buffered.Add(n) > s.bufferBytes {
		s.buffered.Add(-n)
		s.dropped.Add(1)
		return
	}
	q := queued{subject: subject, ts: ts, requestID: requestID, msg: append([]byte(nil), msg...)}
	select {
	case s.queue <- q:
		s.accepted.Add(1)
	default:
		s.buffered.Add(-n)
		s.dropped.Add(1)
	}
}

// Flush waits until every line handed to the service before the call is stored (or dropped,
// if JetStream refused it). It is for shutdown and tests, not for the invoke path.
func (s *Service) Flush(ctx context.Context) error {
	if s.closed.Load() {
		return errors.New("flush logs: service closed")
	}
	ch := make(chan struct{})
	select {
	case s.queue <- queued{flushed: ch}:
	case <-s.done:
		return errors.New("flush logs: service closed")
	case <-ctx.Done():
		return fmt.Errorf("flush logs: %w", ctx.Err())
	}
	select {
	case <-ch:
		return nil
	case <-s.done:
		return errors.New("flush logs: service closed")
	case <-ctx.Done():
		return fmt.Errorf("flush logs: %w", ctx.Err())
	}
}

// Close stores the lines still queued and stops the publisher. Lines written afterwards are
// dropped. If ctx ends first, the remaining lines are abandoned.
func (s *Service) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.quit)
	})
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.cancel()
		<-s.done
		return fmt.Errorf("close logs: %w", ctx.Err())
	}
}

// Stats counts lines by what became of them.
type Stats struct {
	Accepted  uint64 // lines queued for storage
	Published uint64 // lines stored in JetStream
	Dropped   uint64 // lines dropped because the buffer was full or the service closed
	Failed    uint64 // lines lost because JetStream refused them
}

// Stats returns the service's counters.
func (s *Service) Stats() Stats {
	return Stats{
		Accepted:  s.accepted.Load(),
		Published: s.published.Load(),
		Dropped:   s.dropped.Load(),
		Failed:    s.failed.Load(),
	}
}

// batch is the lines of one subject gathered in one round of the publisher.
type batch struct {
	subject string
	payload []byte
	events  int
	bytes   int64
}

// publish is the publisher goroutine: from the first line queued it gathers lines for the
// linger time (or until a round holds maxRound lines), groups them by subject keeping each
// subject's order, and publishes each group as one message. Waiting for JetStream's ack here
// is what paces it; the invoke path never waits for it.
func (s *Service) publish(ctx context.Context) {
	defer close(s.done)
	const maxRound = 1024
	var (
		order     []*batch
		bySubject = map[string]*batch{}
		free      []*batch
		lastWarn  time.Time
		warned    uint64
	)
	flushAll := func() {
		for _, b := range order {
			s.send(ctx, b)
			delete(bySubject, b.subject)
			b.payload = b.payload[:0]
			free = append(free, b)
		}
		order = order[:0]
	}
	add := func(q queued) {
		if q.flushed != nil {
			flushAll()
			close(q.flushed)
			return
		}
		b := bySubject[q.subject]
		if b != nil && len(b.payload)+len(q.msg)+len(q.requestID)+eventOverhead > s.maxBatch {
			// This subject's batch is full: send everything gathered so far, which keeps every
			// subject's order (a subject's lines never overtake each other).
			flushAll()
			b = nil
		}
		if b == nil {
			if n := len(free); n > 0 {
				b, free = free[n-1], free[:n-1]
			} else {
				b = &batch{}
			}
			b.subject, b.events, b.bytes = q.subject, 0, 0
			bySubject[q.subject] = b
			order = append(order, b)
		}
		b.payload = appendEvent(b.payload, q.ts, q.requestID, q.msg)
		b.events++
		b.bytes += int64(len(q.msg)) + int64(len(q.requestID))
	}
	// drain stores what is left when the service closes.
	drain := func() {
		for {
			select {
			case q := <-s.queue:
				add(q)
			default:
				flushAll()
				return
			}
		}
	}
	lingering := time.NewTimer(time.Hour)
	lingering.Stop()
	for {
		select {
		case q := <-s.queue:
			add(q)
		case <-s.quit:
			drain()
			return
		}
		lingering.Reset(s.linger)
	gather:
		for i := 1; i < maxRound; i++ {
			select {
			case q := <-s.queue:
				add(q)
			case <-lingering.C:
				break gather
			case <-s.quit:
				lingering.Stop()
				drain()
				return
			}
		}
		lingering.Stop()
		flushAll()
		if d := s.dropped.Load(); d != warned && time.Since(lastWarn) > 10*time.Second {
			s.log.Warn("function log lines dropped: the log buffer is full", "dropped_total", d, "buffer_bytes", s.bufferBytes)
			warned, lastWarn = d, time.Now()
		}
	}
}

// send publishes one batch, retrying briefly (a cluster may be electing a leader); after
// that the batch is counted as failed and the publisher moves on.
func (s *Service) send(ctx context.Context, b *batch) {
	defer s.buffered.Add(-b.bytes)
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
		_, err = s.js.PublishMsg(pctx, &nats.Msg{Subject: b.subject, Data: b.payload})
		cancel()
		if err == nil {
			s.published.Add(uint64(b.events))
			return
		}
	}
	s.failed.Add(uint64(b.events))
	s.log.Error("store function log lines", "subject", b.subject, "lines", b.events, "err", err)
}
