package logs

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock is a settable clock for Config.Now.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *fakeClock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }

func TestInvocationLog(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	s, _ := newService(t, Config{Now: clock.Now})
	st := s.NewStream("hello", "$LATEST", "env1")
	if got, want := st.Group(), "/aws/lambda/hello"; got != want {
		t.Errorf("Group() = %q, want %q", got, want)
	}
	if got, want := st.Name(), "2026/03/04/[$LATEST]env1"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	out := st.Writer()
	fmt.Fprint(out, "init line\n")

	st.Begin("req-1", true)
	fmt.Fprint(out, "hello from the handler\nsecond ")
	fmt.Fprint(out, "line\nno newline at the end")
	report := Report{Duration: 2900 * time.Microsecond, MemorySizeMB: 128, MaxMemoryUsed: 36 << 20, InitDuration: 110100 * time.Microsecond}
	tail := st.End(report)

	invocation := "START RequestId: req-1 Version: $LATEST\n" +
		"hello from the handler\n" +
		"second line\n" +
		"no newline at the end" +
		"END RequestId: req-1\n" +
		"REPORT RequestId: req-1\tDuration: 2.90 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tInit Duration: 110.10 ms\t\n"
	if string(tail) != invocation {
		t.Errorf("End() tail =\n%q\nwant\n%q", tail, invocation)
	}

	// A warm invocation without the tail; output between invocations belongs to none.
	fmt.Fprint(out, "between\n")
	st.Begin("req-2", false)
	fmt.Fprint(out, "warm\n")
	if tail := st.End(Report{Duration: time.Millisecond, MemorySizeMB: 128, MaxMemoryUsed: 36 << 20}); tail != nil {
		t.Errorf("End() without tail = %q, want nil", tail)
	}

	flush(t, s)
	events := readAll(t, s, "/aws/lambda/hello")
	type line struct{ Msg, RequestID string }
	var got []line
	for _, e := range events {
		got = append(got, line{e.Message, e.RequestID})
		if e.Stream != st.Name() || e.Group != st.Group() {
			t.Errorf("event in %q/%q, want %q/%q", e.Group, e.Stream, st.Group(), st.Name())
		}
		if !e.Timestamp.Equal(clock.Now()) {
			t.Errorf("event %q timestamp %v, want %v", e.Message, e.Timestamp, clock.Now())
		}
		if e.Ingested.IsZero() {
			t.Errorf("event %q has no ingestion time", e.Message)
		}
	}
	want := []line{
		{"init line\n", ""},
		{"START RequestId: req-1 Version: $LATEST\n", "req-1"},
		{"hello from the handler\n", "req-1"},
		{"second line\n", "req-1"},
		{"no newline at the end", "req-1"},
		{"END RequestId: req-1\n", "req-1"},
		{"REPORT RequestId: req-1\tDuration: 2.90 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tInit Duration: 110.10 ms\t\n", "req-1"},
		{"between\n", ""},
		{"START RequestId: req-2 Version: $LATEST\n", "req-2"},
		{"warm\n", "req-2"},
		{"END RequestId: req-2\n", "req-2"},
		{"REPORT RequestId: req-2\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\t\n", "req-2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}
}

func TestTimeoutLines(t *testing.T) {
	at := time.Date(2023, 10, 20, 16, 28, 17, 840_000_000, time.UTC)
	s, _ := newService(t, Config{Now: newFakeClock(at).Now})
	st := s.NewStream("slow", "3", "e")
	out := st.Writer()
	st.Begin("r", true)
	fmt.Fprint(out, "working")
	tail := st.End(Report{Duration: 3 * time.Second, MemorySizeMB: 128, MaxMemoryUsed: 20 << 20, Status: StatusTimeout})
	want := "START RequestId: r Version: 3\n" +
		"working" +
		"2023-10-20T16:28:17.840Z r Task timed out after 3.00 seconds\n" +
		"END RequestId: r\n" +
		"REPORT RequestId: r\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tStatus: timeout\n"
	if string(tail) != want {
		t.Errorf("tail =\n%q\nwant\n%q", tail, want)
	}
}

func TestTailCutsTheLast4096Bytes(t *testing.T) {
	s, _ := newService(t, Config{})
	st := s.NewStream("big", "$LATEST", "e")
	out := st.Writer()
	st.Begin("r", true)
	// Lines of two-byte characters with an odd-length prefix, so the 4096-byte cut falls
	// inside a character, plus one line longer than the whole tail.
	for i := range 300 {
		fmt.Fprintf(out, "%03d é日本語ü\n", i)
	}
	fmt.Fprintf(out, "%s\n", strings.Repeat("ü", 3000))
	fmt.Fprint(out, "after the long line\n")
	tail := st.End(Report{Duration: time.Millisecond, MemorySizeMB: 128})

	flush(t, s)
	var whole bytes.Buffer
	for _, e := range readAll(t, s, st.Group()) {
		if e.RequestID == "r" {
			whole.WriteString(e.Message)
		}
	}
	if whole.Len() <= TailBytes {
		t.Fatalf("invocation log is %d bytes, want more than %d", whole.Len(), TailBytes)
	}
	want := whole.Bytes()[whole.Len()-TailBytes:]
	if !bytes.Equal(tail, want) {
		t.Errorf("tail (%d bytes) is not the last %d bytes of the invocation's log:\n got %q\nwant %q", len(tail), TailBytes, tail, want)
	}
	if !bytes.HasPrefix(whole.Bytes(), []byte("START RequestId: r")) || !bytes.HasSuffix(tail, []byte("\t\n")) {
		t.Errorf("invocation log does not run from START to REPORT")
	}

	// A short invocation's tail is the whole log.
	st.Begin("r2", true)
	tail = st.End(Report{Duration: time.Millisecond, MemorySizeMB: 128})
	if !bytes.HasPrefix(tail, []byte("START RequestId: r2 ")) {
		t.Errorf("short tail = %q, want it to start with START", tail)
	}
}

func TestTailBuffer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tb tailBuffer
	var all []byte
	for range 2000 {
		n := rng.IntN(300)
		if rng.IntN(50) == 0 {
			n = rng.IntN(10000)
		}
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.IntN(256))
		}
		tb.write(p)
		all = append(all, p...)
		want := all
		if len(want) > TailBytes {
			want = want[len(want)-TailBytes:]
		}
		if got := tb.last(); !bytes.Equal(got, want) {
			t.Fatalf("after %d bytes: tail differs from the last %d bytes written", len(all), len(want))
		}
		if cap(tb.buf) > 2*TailBytes+10000 {
			t.Fatalf("tail buffer grew to %d bytes", cap(tb.buf))
		}
	}
}

func TestConcurrentWritersKeepLinesWhole(t *testing.T) {
	s, _ := newService(t, Config{})
	st := s.NewStream("concurrent", "$LATEST", "e")
	stdout, stderr := st.Writer(), st.Writer()
	const perWriter = 2000
	st.Begin("r", false)
	var wg sync.WaitGroup
	for w, out := range []interface{ Write([]byte) (int, error) }{stdout, stderr} {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var buf []byte
			for i := range perWriter {
				buf = fmt.Appendf(buf, "writer %d line %d %s\n", w, i, strings.Repeat("x", rng.IntN(100)))
			}
			// Write in random pieces so lines arrive split across writes.
			for len(buf) > 0 {
				n := min(len(buf), 1+rng.IntN(64))
				out.Write(buf[:n])
				buf = buf[n:]
			}
		})
	}
	wg.Wait()
	st.End(Report{MemorySizeMB: 128})
	flush(t, s)

	next := [2]int{}
	for _, e := range readAll(t, s, st.Group()) {
		var w, i int
		if _, err := fmt.Sscanf(e.Message, "writer %d line %d ", &w, &i); err != nil {
			continue // a platform line
		}
		if !strings.HasSuffix(e.Message, "\n") || strings.Count(e.Message, "writer") != 1 {
			t.Fatalf("line mixed up: %q", e.Message)
		}
		if i != next[w] {
			t.Fatalf("writer %d: got line %d, want %d", w, i, next[w])
		}
		next[w]++
	}
	if next != [2]int{perWriter, perWriter} {
		t.Errorf("got %v lines per writer, want %d each", next, perWriter)
	}
}

func TestLongLinesAreCut(t *testing.T) {
	s, _ := newService(t, Config{})
	st := s.NewStream("long", "$LATEST", "e")
	out := st.Writer()
	exact := strings.Repeat("a", MaxLineBytes-1) + "\n"
	long := strings.Repeat("b", 2*MaxLineBytes+10) + "\n"
	fmt.Fprint(out, "short\n")
	fmt.Fprint(out, exact)
	// The long line arrives in pieces, after a partial line.
	fmt.Fprint(out, "c")
	for i := 0; i < len(long); i += 10000 {
		fmt.Fprint(out, long[i:min(i+10000, len(long))])
	}
	fmt.Fprint(out, "tail")
	out.Close() // a writer's unfinished line is stored when it closes
	fmt.Fprint(out, "dropped after Close\n")
	flush(t, s)

	cb := "c" + long
	want := []string{
		"short\n",
		exact,
		cb[:MaxLineBytes],
		cb[MaxLineBytes : 2*MaxLineBytes],
		cb[2*MaxLineBytes:],
		"tail",
	}
	got := messages(readAll(t, s, st.Group()))
	if len(got) != len(want) {
		t.Fatalf("got %d events (lengths %v), want %d", len(got), lengths(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d: got %d bytes %.20q…, want %d bytes %.20q…", i, len(got[i]), got[i], len(want[i]), want[i])
		}
	}
}

func lengths(ss []string) []int {
	out := make([]int, len(ss))
	for i, s := range ss {
		out[i] = len(s)
	}
	return out
}

func TestFullBufferDropsInsteadOfBlocking(t *testing.T) {
	s, n := newService(t, Config{BufferBytes: 4096})
	// With JetStream gone, nothing leaves the buffer quickly; the writer must still never wait.
	n.nc.Close()
	st := s.NewStream("drop", "$LATEST", "e")
	out := st.Writer()
	const lines = 5000
	for i := range lines {
		fmt.Fprintf(out, "line %d %s\n", i, strings.Repeat("z", 100))
	}
	st.Begin("r", true)
	if tail := st.End(Report{MemorySizeMB: 128}); !bytes.HasPrefix(tail, []byte("START")) {
		t.Errorf("tail with a full buffer = %q; the tail must not depend on the store", tail)
	}
	total := uint64(lines + 4) // and START, the drop marker, END and REPORT
	waitFor(t, "every line to be dropped or failed", func() bool {
		st := s.Stats()
		return st.Dropped+st.Failed+st.Published == total
	})
	stats := s.Stats()
	if stats.Dropped == 0 || stats.Published != 0 {
		t.Errorf("Stats() = %+v, want dropped lines and none published", stats)
	}
	if stats.Accepted+stats.Dropped != total {
		t.Errorf("Stats() = %+v: accepted+dropped = %d, want %d", stats, stats.Accepted+stats.Dropped, total)
	}
}

func TestClosedStreamDropsOutput(t *testing.T) {
	s, _ := newService(t, Config{})
	st := s.NewStream("closed", "$LATEST", "e")
	out := st.Writer()
	fmt.Fprint(out, "kept")
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	fmt.Fprint(out, "dropped\n")
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	flush(t, s)
	if got, want := messages(readAll(t, s, st.Group())), []string{"kept"}; !cmp.Equal(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Service.Close: %v", err)
	}
	if err := s.Flush(ctx); err == nil {
		t.Errorf("Flush after Close succeeded, want an error")
	}
}

// TestLingerGathersLinesIntoOneMessage: lines that arrive within the linger time are stored
// as one JetStream message per stream, which is what keeps logging cheap under load.
func TestLingerGathersLinesIntoOneMessage(t *testing.T) {
	s, n := newService(t, Config{Linger: time.Minute})
	st := s.NewStream("linger", "$LATEST", "e")
	st.Begin("r1", false)
	out := st.Writer()
	for i := range 100 {
		fmt.Fprintf(out, "line %d\n", i)
	}
	st.End(Report{MemorySizeMB: 128})
	// Nothing is stored before the linger time ends, or a flush cuts it short.
	time.Sleep(50 * time.Millisecond)
	if got := s.Stats().Published; got != 0 {
		t.Fatalf("%d lines published within the linger time, want none yet", got)
	}
	flush(t, s)
	if got := len(readAll(t, s, GroupName("linger"))); got != 103 {
		t.Fatalf("read %d events, want 103 (START, 100 lines, END, REPORT)", got)
	}
	info, err := n.js.Stream(context.Background(), DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if msgs := info.CachedInfo().State.Msgs; msgs != 1 {
		t.Errorf("the stream holds %d messages, want the 103 lines in 1", msgs)
	}
}
