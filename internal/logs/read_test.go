package logs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
)

var t0 = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

// writeLines writes one line per entry of lines to st, advancing the clock 1 s before each.
func writeLines(st *Stream, clock *fakeClock, lines ...string) {
	w := st.Writer()
	defer w.Close()
	for _, l := range lines {
		clock.Advance(time.Second)
		fmt.Fprintln(w, l)
	}
}

func TestStoreRoundTrip(t *testing.T) {
	clock := newFakeClock(t0)
	s, _ := newService(t, Config{Now: clock.Now})
	a := s.NewStream("fn", "$LATEST", "aaaa")
	b := s.NewStream("fn", "2", "bbbb")
	other := s.NewStream("other.fn", "$LATEST", "cccc")
	// Interleave two streams of a group; each line is one second after the previous.
	writeLines(a, clock, "a1")
	writeLines(b, clock, "b1")
	writeLines(other, clock, "o1")
	writeLines(a, clock, "a2")
	writeLines(b, clock, "b2", "b3")
	flush(t, s)

	type ev struct{ Stream, Msg string }
	var got []ev
	events := readAll(t, s, "/aws/lambda/fn")
	for _, e := range events {
		got = append(got, ev{e.Stream, e.Message})
	}
	want := []ev{
		{a.Name(), "a1\n"}, {b.Name(), "b1\n"}, {a.Name(), "a2\n"}, {b.Name(), "b2\n"}, {b.Name(), "b3\n"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
	for i := 1; i < len(events); i++ {
		if events[i].Timestamp.Before(events[i-1].Timestamp) {
			t.Errorf("events out of time order at %d", i)
		}
	}

	ctx := context.Background()
	streams, err := s.Streams(ctx, "/aws/lambda/fn")
	if err != nil {
		t.Fatalf("Streams: %v", err)
	}
	wantStreams := []StreamInfo{
		{Name: a.Name(), FirstEvent: t0.Add(1 * time.Second), LastEvent: t0.Add(4 * time.Second)},
		{Name: b.Name(), FirstEvent: t0.Add(2 * time.Second), LastEvent: t0.Add(6 * time.Second)},
	}
	if diff := cmp.Diff(wantStreams, streams, cmp.Comparer(func(x, y time.Time) bool { return x.Equal(y) }),
		cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".LastIngestion" }, cmp.Ignore())); diff != "" {
		t.Errorf("Streams (-want +got):\n%s", diff)
	}
	for _, st := range streams {
		if st.LastIngestion.IsZero() {
			t.Errorf("stream %q has no last ingestion time", st.Name)
		}
	}
	groups, err := s.Groups(ctx)
	if err != nil {
		t.Fatalf("Groups: %v", err)
	}
	if want := []string{"/aws/lambda/fn", "/aws/lambda/other.fn"}; !cmp.Equal(groups, want) {
		t.Errorf("Groups = %q, want %q", groups, want)
	}
	if streams, err := s.Streams(ctx, "/aws/lambda/none"); err != nil || len(streams) != 0 {
		t.Errorf("Streams(unknown group) = %v, %v; want none", streams, err)
	}
	if events := readAll(t, s, "/aws/lambda/none"); len(events) != 0 {
		t.Errorf("Read(unknown group) = %v, want none", events)
	}
}

func TestReadOptions(t *testing.T) {
	clock := newFakeClock(t0)
	s, _ := newService(t, Config{Now: clock.Now})
	a := s.NewStream("fn", "$LATEST", "a")
	b := s.NewStream("fn", "$LATEST", "b")
	var all []string
	for i := range 50 {
		st := a
		if i%3 == 0 {
			st = b
		}
		line := fmt.Sprintf("line %02d", i) // at t0 + (i+1) s
		writeLines(st, clock, line)
		all = append(all, line+"\n")
		if i%10 == 0 {
			flush(t, s) // vary the batching
		}
	}
	flush(t, s)
	ctx := context.Background()
	read := func(since time.Time, opts ReadOptions) Page {
		t.Helper()
		p, err := s.Read(ctx, "/aws/lambda/fn", since, opts)
		if err != nil {
			t.Fatalf("Read(since %v, %+v): %v", since, opts, err)
		}
		return p
	}

	if got := messages(read(t0.Add(41*time.Second), ReadOptions{}).Events); !cmp.Equal(got, all[40:]) {
		t.Errorf("since line 40: got %q, want %q", got, all[40:])
	}
	p := read(t0.Add(11*time.Second), ReadOptions{Until: t0.Add(21 * time.Second)})
	if got := messages(p.Events); !cmp.Equal(got, all[10:20]) {
		t.Errorf("lines 10 to 20: got %q, want %q", got, all[10:20])
	}
	var fromB []string
	for i, l := range all {
		if i%3 == 0 {
			fromB = append(fromB, l)
		}
	}
	if got := messages(read(time.Time{}, ReadOptions{Streams: []string{b.Name()}}).Events); !cmp.Equal(got, fromB) {
		t.Errorf("stream b: got %q, want %q", got, fromB)
	}
	if got := read(time.Time{}, ReadOptions{Streams: []string{"2026/01/01/[$LATEST]none"}}).Events; len(got) != 0 {
		t.Errorf("unknown stream: got %d events, want none", len(got))
	}

	// Pages of 7 cover every event once, even where a page ends inside a batch; each page is
	// in time order.
	var paged []string
	opts := ReadOptions{Limit: 7}
	for range 20 {
		p := read(time.Time{}, opts)
		paged = append(paged, messages(p.Events)...)
		if !slices.IsSortedFunc(p.Events, func(x, y Event) int { return x.Timestamp.Compare(y.Timestamp) }) {
			t.Errorf("page %q is not in time order", messages(p.Events))
		}
		if !p.More {
			break
		}
		if len(p.Events) != 7 {
			t.Fatalf("a page with More has %d events, want 7", len(p.Events))
		}
		opts.From = p.Next
	}
	slices.Sort(paged) // stored order may differ from time order across streams, by a batch
	if !cmp.Equal(paged, all) {
		t.Errorf("paged read:\n got %q\nwant %q", paged, all)
	}
	// Next of the last page resumes after everything: later lines only.
	last := read(time.Time{}, ReadOptions{})
	writeLines(a, clock, "later")
	flush(t, s)
	if got := messages(read(time.Time{}, ReadOptions{From: last.Next}).Events); !cmp.Equal(got, []string{"later\n"}) {
		t.Errorf("resumed read = %q, want [\"later\\n\"]", got)
	}
}

func TestFollow(t *testing.T) {
	clock := newFakeClock(t0)
	s, _ := newService(t, Config{Now: clock.Now})
	st := s.NewStream("fn", "$LATEST", "a")
	writeLines(st, clock, "old 1", "old 2") // t0+1s, t0+2s
	flush(t, s)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		done <- s.Follow(ctx, "/aws/lambda/fn", t0.Add(2*time.Second), func(e Event) error {
			got <- e.Message
			return nil
		})
	}()
	next := func() string {
		t.Helper()
		select {
		case m := <-got:
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("Follow delivered nothing")
			return ""
		}
	}
	if m := next(); m != "old 2\n" {
		t.Errorf("first followed event = %q, want the stored one since the start time", m)
	}
	other := s.NewStream("fn", "$LATEST", "b")
	writeLines(st, clock, "new 1")
	if m := next(); m != "new 1\n" {
		t.Errorf("followed %q, want \"new 1\\n\"", m)
	}
	writeLines(other, clock, "new 2 from another stream")
	if m := next(); m != "new 2 from another stream\n" {
		t.Errorf("followed %q, want the other stream's line", m)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Follow after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return after its context ended")
	}

	// Without a start time only new events come; fn's error ends Follow.
	stop := fmt.Errorf("enough")
	go func() {
		done <- s.Follow(context.Background(), "/aws/lambda/fn", time.Time{}, func(e Event) error {
			got <- e.Message
			return stop
		})
	}()
	// Keep writing until the follower (started at an unknown moment) sees a line.
	deadline := time.Now().Add(10 * time.Second)
	var first string
	for first == "" && time.Now().Before(deadline) {
		writeLines(st, clock, "fresh")
		select {
		case first = <-got:
		case <-time.After(50 * time.Millisecond):
		}
	}
	if first != "fresh\n" {
		t.Fatalf("follow from now delivered %q, want \"fresh\\n\"", first)
	}
	select {
	case err := <-done:
		if err != stop {
			t.Errorf("Follow = %v, want fn's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return fn's error")
	}
}

func TestRetentionMaxAge(t *testing.T) {
	s, n := newService(t, Config{MaxAge: time.Second})
	info, err := n.js.Stream(context.Background(), DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().Config; got.MaxAge != time.Second || got.Storage != jetstream.FileStorage {
		t.Errorf("stream config MaxAge %v, storage %v; want 1s on file storage", got.MaxAge, got.Storage)
	}
	st := s.NewStream("fn", "$LATEST", "a")
	writeLines(st, newFakeClock(time.Now()), "short-lived")
	flush(t, s)
	if got := messages(readAll(t, s, st.Group())); !cmp.Equal(got, []string{"short-lived\n"}) {
		t.Fatalf("events right after writing = %q", got)
	}
	waitFor(t, "the event to expire", func() bool { return len(readAll(t, s, st.Group())) == 0 })
	if streams, err := s.Streams(context.Background(), st.Group()); err != nil || len(streams) != 0 {
		t.Errorf("Streams after expiry = %v, %v; want none", streams, err)
	}
}

func TestRetentionMaxBytes(t *testing.T) {
	const maxBytes = 64 << 10
	s, _ := newService(t, Config{MaxBytes: maxBytes})
	st := s.NewStream("fn", "$LATEST", "a")
	w := st.Writer()
	for i := range 200 {
		fmt.Fprintf(w, "line %03d %s\n", i, strings.Repeat("m", 1000))
		flush(t, s) // one message per line
	}
	events := readAll(t, s, st.Group())
	if len(events) == 0 || len(events) > maxBytes/1000 {
		t.Fatalf("kept %d events of 1 KB under a %d-byte cap", len(events), maxBytes)
	}
	if last := events[len(events)-1].Message; !strings.HasPrefix(last, "line 199 ") {
		t.Errorf("newest event kept = %.10q, want line 199", last)
	}
	if first := events[0].Message; strings.HasPrefix(first, "line 000 ") {
		t.Errorf("oldest event still kept under the cap")
	}
}

func TestLogsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	n := startNATS(t, dir)
	clock := newFakeClock(t0)
	s := newServiceOn(t, Config{JetStream: n.js, Now: clock.Now})
	st := s.NewStream("fn", "$LATEST", "a")
	st.Begin("r", false)
	writeLines(st, clock, "before the restart")
	st.End(Report{MemorySizeMB: 128})
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	n.stop()

	n2 := startNATS(t, dir)
	// A new service on the same stream, with another retention limit: the stream is updated,
	// its events are kept.
	s2 := newServiceOn(t, Config{JetStream: n2.js, MaxAge: 48 * time.Hour})
	got := messages(readAll(t, s2, "/aws/lambda/fn"))
	if len(got) != 4 || got[1] != "before the restart\n" {
		t.Errorf("events after restart = %q, want START, the line, END, REPORT", got)
	}
	info, err := n2.js.Stream(context.Background(), DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().Config.MaxAge; got != 48*time.Hour {
		t.Errorf("MaxAge after update = %v, want 48h", got)
	}
}

func TestNewNeedsJetStream(t *testing.T) {
	if _, err := New(context.Background(), Config{}); err == nil {
		t.Error("New without JetStream succeeded, want an error")
	}
}
