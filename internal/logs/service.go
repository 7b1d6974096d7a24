package logs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Config configures a Service. The zero value of every field but JetStream is usable.
type Config struct {
	// JetStream is where the logs are stored. Required. Give the Service a NATS connection of
	// its own: a flood of logs then queues on that connection, never in front of the catalog's
	// or the invoker's requests.
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
	// BufferBytes bounds the function output waiting to be stored, all environments of the
	// node together. Past it, an environment's new lines are dropped (counted, and marked in
	// its stream) unless it has less than ReserveBytes waiting. Zero means 32 MiB.
	BufferBytes int64
	// StreamBufferBytes bounds one environment's output waiting to be stored; past it that
	// environment's new lines are dropped. Zero means 2 MiB.
	StreamBufferBytes int64
	// ReserveBytes is what any environment may have waiting even when the node's buffer is
	// full, so that a function that logs little never loses lines to one that floods. Zero
	// means 64 KiB.
	ReserveBytes int64
	// RateBytes is the documented log rate of one execution environment, in bytes per
	// second: output beyond it (after a burst of BurstBytes) is dropped, counted and marked
	// with a "[nimbus] N log lines dropped" line in the environment's own stream. Zero means
	// DefaultRateBytes; negative means no limit.
	RateBytes int64
	// BurstBytes is how much an environment may write at once above RateBytes. Zero means
	// DefaultBurstBytes.
	BurstBytes int64
	// Linger is how long the publisher keeps gathering lines after the first one arrives
	// before it stores them. Storing a message costs JetStream the same whatever its size, so
	// lingering turns one message per line into one per environment per Linger under load.
	// Zero means DefaultLinger; negative means store at once.
	Linger time.Duration
	// FetchBytes bounds what one read asks of JetStream at a time, and so the memory a read
	// holds. Zero means DefaultFetchBytes.
	FetchBytes int
	// MaxReaders bounds the reads (Scan, Read) that run at once; more wait their turn, so that
	// many readers of a large log cannot take the node's memory or CPU from invocations.
	// Zero means DefaultMaxReaders.
	MaxReaders int
	// Logger receives the service's own problems (dropped lines, failed publishes). Nil
	// discards them.
	Logger *slog.Logger
	// Now is the clock used for line timestamps, stream dates and the log rate. Nil means
	// time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultStream            = "NIMBUS_LOGS"
	DefaultSubjectPrefix     = "logs"
	DefaultMaxAge            = 7 * 24 * time.Hour
	DefaultBufferBytes       = 32 << 20
	DefaultStreamBufferBytes = 2 << 20
	DefaultReserveBytes      = 64 << 10
	DefaultRateBytes         = 1 << 20
	DefaultBurstBytes        = 4 << 20
	DefaultLinger            = 10 * time.Millisecond
	DefaultFetchBytes        = 4 << 20
	DefaultMaxReaders        = 4
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
	fetch    int
	readers  chan struct{} // a token per read running

	// Limits of the write path (Config).
	bufferBytes, streamBuffer, reserve int64
	rate, burst                        float64 // bytes per second and bytes; rate 0: none

	buffered atomic.Int64 // bytes of function output queued or being published, node-wide
	// platformBuffered is the same for platform lines, which only a store down for long fills.
	platformBuffered atomic.Int64
	closed           atomic.Bool
	wake             chan struct{} // a stream has lines to publish; capacity 1
	hurry            chan struct{} // Flush: stop lingering; capacity 1
	quit             chan struct{}
	done             chan struct{}
	cancel           context.CancelFunc
	closeOnce        sync.Once

	mu sync.Mutex
	// ready holds the streams with lines waiting, in the order the publisher serves them
	// (round robin: a stream with more left goes to the back after each batch).
	ready []*Stream
	// active counts the lines each stream with lines in flight has handed over; Flush waits
	// for them.
	active map[*Stream]struct{}
	// round is closed and replaced after every round of the publisher, for Flush.
	round chan struct{}

	accepted  atomic.Uint64
	published atomic.Uint64
	dropped   atomic.Uint64
	failed    atomic.Uint64
}

// New creates or updates the log stream in JetStream and starts the publisher. ctx bounds
// the setup only; the Service runs until Close.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.JetStream == nil {
		return nil, errors.New("logs: Config.JetStream is required")
	}
	s := &Service{
		js:           cfg.JetStream,
		name:         cmpOr(cfg.Stream, DefaultStream),
		subjects:     subjects{prefix: cmpOr(cfg.SubjectPrefix, DefaultSubjectPrefix)},
		log:          cfg.Logger,
		now:          cfg.Now,
		bufferBytes:  cmpOrInt(cfg.BufferBytes, DefaultBufferBytes),
		streamBuffer: cmpOrInt(cfg.StreamBufferBytes, DefaultStreamBufferBytes),
		reserve:      cmpOrInt(cfg.ReserveBytes, DefaultReserveBytes),
		burst:        float64(cmpOrInt(cfg.BurstBytes, DefaultBurstBytes)),
		linger:       cfg.Linger,
		fetch:        int(cmpOrInt(int64(cfg.FetchBytes), DefaultFetchBytes)),
		readers:      make(chan struct{}, cmpOrInt(int64(cfg.MaxReaders), DefaultMaxReaders)),
		wake:         make(chan struct{}, 1),
		hurry:        make(chan struct{}, 1),
		quit:         make(chan struct{}),
		done:         make(chan struct{}),
		active:       map[*Stream]struct{}{},
		round:        make(chan struct{}),
	}
	switch {
	case cfg.RateBytes == 0:
		s.rate = DefaultRateBytes
	case cfg.RateBytes > 0:
		s.rate = float64(cfg.RateBytes)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
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

// cmpOrInt is v, or def when v is zero or negative.
func cmpOrInt(v, def int64) int64 {
	if v <= 0 {
		return def
	}
	return v
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
	Dropped   uint64 // lines dropped: over an environment's rate or buffer, the node's buffer full, or the service closed
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
