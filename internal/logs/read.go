package logs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Event is one stored log line, modelled on a CloudWatch Logs event.
type Event struct {
	Group  string // log group, e.g. "/aws/lambda/hello"
	Stream string // log stream, e.g. "2026/01/02/[$LATEST]4f…"
	// Timestamp is when the line was captured (CloudWatch's "timestamp", in ms there).
	Timestamp time.Time
	// Ingested is when JetStream stored it (CloudWatch's "ingestionTime").
	Ingested time.Time
	// Message is the line, with its trailing newline when it had one (CloudWatch keeps it).
	Message string
	// RequestID is the invocation the line belongs to; "" for output outside invocations.
	RequestID string
	// Position identifies the event; reading from it (ReadOptions.From) starts with it.
	Position Cursor
}

// Cursor is a position in the log: the JetStream sequence of a batch and an event's index in
// it. The zero Cursor is the beginning.
type Cursor struct {
	Seq   uint64
	Index int
}

// ReadOptions narrows Read. The zero value reads a whole group.
type ReadOptions struct {
	// Streams restricts the read to these log streams of the group; empty means all.
	Streams []string
	// Until excludes events at or after this time; zero means no end.
	Until time.Time
	// Limit caps the events returned; zero means 10,000 (CloudWatch's GetLogEvents cap).
	Limit int
	// From resumes a read at a Page.Next; it overrides since for where reading starts (since
	// still filters).
	From Cursor
}

// Page is the result of Read.
type Page struct {
	// Events are sorted by Timestamp, stably, so each stream's events keep the order they
	// were written in. Across pages, the order is the order of storage, in which events of
	// different streams can be out of time order by up to one publishing batch.
	Events []Event
	// Next is where to resume to get the events after these (ReadOptions.From).
	Next Cursor
	// More reports that Limit cut the read short.
	More bool
}

const defaultReadLimit = 10000

// Read returns the events of a log group with timestamps at or after since (zero: all),
// as stored when Read was called. It holds the whole page in memory: for large reads use Scan.
func (s *Service) Read(ctx context.Context, group string, since time.Time, opts ReadOptions) (Page, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = defaultReadLimit
	}
	var page Page
	next, more, err := s.Scan(ctx, group, since, opts, func(e Event) bool {
		if len(page.Events) == limit {
			return false
		}
		page.Events = append(page.Events, e)
		return true
	})
	if err != nil {
		return Page{}, err
	}
	page.Next, page.More = next, more
	slices.SortStableFunc(page.Events, func(a, b Event) int { return a.Timestamp.Compare(b.Timestamp) })
	return page, nil
}

// Scan calls fn with the events of a log group, in the order they were stored, as stored when
// Scan was called: from opts.From (else from since), with timestamps in [since, opts.Until)
// and in opts.Streams when given (opts.Limit is ignored). It stops when fn returns false, and
// returns that event's position with more = true, or at the end of the log, returning where
// the events stored later will be. It holds one fetch from JetStream (FetchBytes) at a time,
// whatever the size of the log: a reader pages through a flooded log in bounded memory.
func (s *Service) Scan(ctx context.Context, group string, since time.Time, opts ReadOptions, fn func(Event) bool) (next Cursor, more bool, err error) {
	select {
	case s.readers <- struct{}{}:
		defer func() { <-s.readers }()
	case <-ctx.Done():
		return opts.From, false, fmt.Errorf("read logs of %s: %w", group, ctx.Err())
	}
	cfg := jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubjects:    s.filters(group, opts.Streams),
		InactiveThreshold: time.Minute, // cleans up after a Scan that never got to delete it
		MemoryStorage:     true,
	}
	startConsumerAt(&cfg.DeliverPolicy, &cfg.OptStartSeq, &cfg.OptStartTime, opts.From, since, jetstream.DeliverAllPolicy)
	cons, err := s.stream.CreateConsumer(ctx, cfg)
	if err != nil {
		return opts.From, false, fmt.Errorf("read logs of %s: %w", group, err)
	}
	defer func() {
		// A fresh context: the caller's may be done, and the consumer should go now.
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.stream.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()

	next = opts.From
	pending := cons.CachedInfo().NumPending // what matched when Scan began
	names := map[string][2]string{}
	// A fetch must hold at least the largest message the publisher sends.
	fetchBytes := max(s.fetch, s.maxBatch+64<<10)
	for pending > 0 && !more {
		got, err := fetch(ctx, cons, int(min(pending, 256)), fetchBytes, func(m jetstream.Msg) error {
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			// NumPending counts what is left now; it can shrink below our count if retention
			// removes events meanwhile.
			pending = md.NumPending
			if more {
				return nil // fn is done; let the fetched batch drain
			}
			seq := md.Sequence.Stream
			skip := 0
			if seq == opts.From.Seq {
				skip = opts.From.Index
			}
			next = Cursor{Seq: seq + 1}
			return s.decode(m.Subject(), m.Data(), md.Timestamp, seq, names, func(e Event) bool {
				if e.Position.Index < skip || e.Timestamp.Before(since) ||
					!opts.Until.IsZero() && !e.Timestamp.Before(opts.Until) {
					return true
				}
				if !fn(e) {
					next, more = e.Position, true
					return false
				}
				return true
			})
		})
		if err != nil {
			return opts.From, false, fmt.Errorf("read logs of %s: %w", group, err)
		}
		if got == 0 {
			break // what was pending expired meanwhile
		}
	}
	return next, more, nil
}

// fetch takes up to n messages and maxBytes from a consumer and calls fn for each; it returns
// how many came. A short wait bounds the case where fewer than n are left (retention removed
// some).
func fetch(ctx context.Context, cons jetstream.Consumer, n, maxBytes int, fn func(jetstream.Msg) error) (int, error) {
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	batch, err := cons.Fetch(n, jetstream.FetchMaxBytes(maxBytes), jetstream.FetchContext(fctx))
	if err != nil {
		return 0, err
	}
	got := 0
	var fnErr error
	for m := range batch.Messages() {
		got++
		if fnErr == nil {
			fnErr = fn(m)
		}
	}
	if fnErr != nil {
		return got, fnErr
	}
	if err := ctx.Err(); err != nil {
		return got, err
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
		return got, err
	}
	return got, nil
}

// Follow calls fn with every event of the group stored from now on — and first with the stored
// ones with timestamps at or after since, when since is not zero — in the order they were
// stored, until ctx ends (then it returns nil) or fn returns an error (which it returns).
func (s *Service) Follow(ctx context.Context, group string, since time.Time, fn func(Event) error) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: s.filters(group, nil)}
	startConsumerAt(&cfg.DeliverPolicy, &cfg.OptStartSeq, &cfg.OptStartTime, Cursor{}, since, jetstream.DeliverNewPolicy)
	cons, err := s.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("follow logs of %s: %w", group, err)
	}
	// Bounded like Scan's fetches: the default (500 messages) could hold 500 MB of batches.
	it, err := cons.Messages(jetstream.PullMaxBytes(max(s.fetch, s.maxBatch+64<<10)))
	if err != nil {
		return fmt.Errorf("follow logs of %s: %w", group, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	names := map[string][2]string{}
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("follow logs of %s: %w", group, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("follow logs of %s: %w", group, err)
		}
		var fnErr error
		err = s.decode(m.Subject(), m.Data(), md.Timestamp, md.Sequence.Stream, names, func(e Event) bool {
			if e.Timestamp.Before(since) {
				return true
			}
			fnErr = fn(e)
			return fnErr == nil
		})
		if fnErr != nil {
			return fnErr
		}
		if err != nil {
			return fmt.Errorf("follow logs of %s: %w", group, err)
		}
	}
}

// startConsumerAt sets where a consumer starts: at a cursor, else at since (by storage time:
// an event is stored at or after its timestamp, so no event at or after since is missed),
// else with def.
func startConsumerAt(policy *jetstream.DeliverPolicy, seq *uint64, start **time.Time, from Cursor, since time.Time, def jetstream.DeliverPolicy) {
	switch {
	case from.Seq > 0:
		*policy, *seq = jetstream.DeliverByStartSequencePolicy, from.Seq
	case !since.IsZero():
		t := since
		*policy, *start = jetstream.DeliverByStartTimePolicy, &t
	default:
		*policy = def
	}
}

func (s *Service) filters(group string, streams []string) []string {
	if len(streams) == 0 {
		return []string{s.subjects.group(group)}
	}
	f := make([]string, len(streams))
	for i, st := range streams {
		f[i] = s.subjects.stream(group, st)
	}
	return f
}

// decode calls fn for each event of a stored batch until fn returns false. names caches the
// parsed names of subjects.
func (s *Service) decode(subject string, data []byte, ingested time.Time, seq uint64, names map[string][2]string, fn func(Event) bool) error {
	n, ok := names[subject]
	if !ok {
		g, st, err := s.subjects.parse(subject)
		if err != nil {
			return fmt.Errorf("subject %q: %w", subject, err)
		}
		n = [2]string{g, st}
		names[subject] = n
	}
	i, more := 0, true
	err := decodeBatch(data, func(d decodedEvent) {
		if more {
			more = fn(Event{
				Group:     n[0],
				Stream:    n[1],
				Timestamp: d.ts,
				Ingested:  ingested,
				Message:   d.message,
				RequestID: d.requestID,
				Position:  Cursor{Seq: seq, Index: i},
			})
		}
		i++
	})
	if err != nil {
		return fmt.Errorf("message %d: %w", seq, err)
	}
	return nil
}

// StreamInfo describes a log stream, like CloudWatch's DescribeLogStreams.
type StreamInfo struct {
	Name          string
	FirstEvent    time.Time // timestamp of the oldest event kept
	LastEvent     time.Time // timestamp of the newest event
	LastIngestion time.Time // when the newest event was stored
}

// Streams lists the log streams of a group that still hold events, by name.
func (s *Service) Streams(ctx context.Context, group string) ([]StreamInfo, error) {
	subjects, err := s.subjectCounts(ctx, s.subjects.group(group))
	if err != nil {
		return nil, fmt.Errorf("list log streams of %s: %w", group, err)
	}
	out := make([]StreamInfo, 0, len(subjects))
	for subj := range subjects {
		_, name, err := s.subjects.parse(subj)
		if err != nil {
			continue // not ours
		}
		info := StreamInfo{Name: name}
		first, err := s.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subj))
		if err == nil {
			info.FirstEvent = firstTimestamp(first.Data)
		}
		last, err := s.stream.GetLastMsgForSubject(ctx, subj)
		if err == nil {
			info.LastEvent, info.LastIngestion = lastTimestamp(last.Data), last.Time
		}
		if first == nil && last == nil {
			continue // expired while we looked
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b StreamInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// Groups lists the log groups that hold events, by name.
func (s *Service) Groups(ctx context.Context) ([]string, error) {
	subjects, err := s.subjectCounts(ctx, s.subjects.all())
	if err != nil {
		return nil, fmt.Errorf("list log groups: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for subj := range subjects {
		g, _, err := s.subjects.parse(subj)
		if err != nil || seen[g] {
			continue
		}
		seen[g] = true
		out = append(out, g)
	}
	slices.Sort(out)
	return out, nil
}

func (s *Service) subjectCounts(ctx context.Context, filter string) (map[string]uint64, error) {
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, err
	}
	return info.State.Subjects, nil
}

func firstTimestamp(data []byte) time.Time {
	var t time.Time
	found := false
	_ = decodeBatch(data, func(d decodedEvent) {
		if !found {
			t, found = d.ts, true
		}
	})
	return t
}

func lastTimestamp(data []byte) time.Time {
	var t time.Time
	_ = decodeBatch(data, func(d decodedEvent) { t = d.ts })
	return t
}
