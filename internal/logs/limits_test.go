package logs

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Output over an environment's log rate is dropped, counted, and marked in its own stream
// before the next line kept (here END, which takes the marker with it); the platform's lines
// are kept whatever the rate.
func TestRateDropsAndMarks(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	var serverLog syncBuffer
	s, _ := newService(t, Config{Now: clock.Now, RateBytes: 1024, BurstBytes: 4096,
		Logger: slog.New(slog.NewTextHandler(&serverLog, nil))})
	st := s.NewStream("loud", "$LATEST", "e")
	out := st.Writer()
	line := strings.Repeat("x", 511) + "\n"
	st.Begin("r1", true)
	for range 12 {
		fmt.Fprint(out, line) // 8 fit in the 4 KiB burst; the clock stands still
	}
	tail := st.End(Report{MemorySizeMB: 128})
	marker := "[nimbus] 4 log lines dropped: this execution environment wrote more than 1 KiB a second (bursts of 4 KiB), Nimbus's log rate per environment\n"
	want := []string{"START RequestId: r1 Version: $LATEST\n"}
	for range 8 {
		want = append(want, line)
	}
	want = append(want, marker, "END RequestId: r1\n",
		"REPORT RequestId: r1\tDuration: 0.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 0 MB\t\n")
	if !strings.Contains(string(tail), marker+"END RequestId: r1\n") {
		t.Errorf("tail lacks the marker before END:\n%s", tail)
	}
	// A second later the rate allows a KiB again: one more line goes in.
	clock.Advance(time.Second)
	st.Begin("r2", false)
	fmt.Fprint(out, line, line, line)
	st.End(Report{MemorySizeMB: 128})
	want = append(want, "START RequestId: r2 Version: $LATEST\n", line, line,
		"[nimbus] 1 log lines dropped: this execution environment wrote more than 1 KiB a second (bursts of 4 KiB), Nimbus's log rate per environment\n",
		"END RequestId: r2\n", "REPORT RequestId: r2\tDuration: 0.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 0 MB\t\n")
	flush(t, s)
	if diff := cmp.Diff(want, messages(readAll(t, s, st.Group()))); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}
	if got := s.Stats().Dropped; got != 5 {
		t.Errorf("Stats().Dropped = %d, want 5", got)
	}
	// The operator hears of it too.
	waitFor(t, "the server's log to warn of dropped lines", func() bool {
		return strings.Contains(serverLog.String(), "function log lines dropped")
	})
}

// syncBuffer is a bytes.Buffer for a logger written by another goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Issue 9.4: environments that fill their buffers and the node's lose their own lines only.
// A quiet function's output and every START, END and REPORT are kept.
func TestFloodingStreamsCostOthersNothing(t *testing.T) {
	// A linger of a minute keeps everything in the buffers until Flush: the worst case of a
	// store that cannot keep up.
	s, _ := newService(t, Config{Linger: time.Minute, RateBytes: -1,
		BufferBytes: 64 << 10, StreamBufferBytes: 32 << 10, ReserveBytes: 8 << 10})
	var loud []*Stream
	for i := range 3 {
		st := s.NewStream(fmt.Sprintf("loud%d", i), "$LATEST", "e")
		st.Begin("loud-r", false)
		out := st.Writer()
		for range 100 {
			fmt.Fprint(out, strings.Repeat("l", 1023)+"\n")
		}
		loud = append(loud, st)
	}
	quiet := s.NewStream("quiet", "$LATEST", "e")
	out := quiet.Writer()
	quiet.Begin("quiet-r", false)
	for k := range 5 {
		fmt.Fprintf(out, "quiet line %d\n", k)
	}
	quiet.End(Report{MemorySizeMB: 128})
	for _, st := range loud {
		st.End(Report{MemorySizeMB: 128})
	}
	flush(t, s)

	want := []string{"START RequestId: quiet-r Version: $LATEST\n", "quiet line 0\n", "quiet line 1\n", "quiet line 2\n",
		"quiet line 3\n", "quiet line 4\n", "END RequestId: quiet-r\n",
		"REPORT RequestId: quiet-r\tDuration: 0.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 0 MB\t\n"}
	if diff := cmp.Diff(want, messages(readAll(t, s, quiet.Group()))); diff != "" {
		t.Errorf("the quiet function's events (-want +got):\n%s", diff)
	}
	for _, st := range loud {
		got := strings.Join(messages(readAll(t, s, st.Group())), "")
		for _, w := range []string{"START RequestId: loud-r", "log lines dropped: the log store is not keeping up", "END RequestId: loud-r\n", "REPORT RequestId: loud-r\t"} {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %q", st.Group(), w)
			}
		}
		if n := strings.Count(got, strings.Repeat("l", 1023)); n == 0 || n > 32 {
			t.Errorf("%s kept %d of its 1 KiB lines, want some and at most its 32 KiB buffer's worth", st.Group(), n)
		}
	}
}

// A function writing to its pipe faster than its log rate is slowed down, not cut: every line
// is stored. (Without the reader's throttle, everything past the burst would be dropped.)
func TestPipeFloodIsSlowedNotDropped(t *testing.T) {
	s, _ := newService(t, Config{RateBytes: 4 << 20, BurstBytes: 256 << 10})
	st := s.NewStream("pipeflood", "$LATEST", "e")
	w, err := st.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	st.Begin("r", false)
	const lines = 4096 // 4 MiB: about 1 s at the rate
	line := strings.Repeat("p", 1023) + "\n"
	for range lines {
		if _, err := w.WriteString(line); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	waitFor(t, "the pipe to be read to its end", func() bool { st := s.Stats(); return st.Accepted+st.Dropped >= lines+1 })
	st.End(Report{MemorySizeMB: 128})
	flush(t, s)
	if got := s.Stats().Dropped; got != 0 {
		t.Errorf("Stats().Dropped = %d, want 0", got)
	}
	if got := len(readAll(t, s, st.Group())); got != lines+3 {
		t.Errorf("stored %d events, want %d lines with START, END and REPORT", got, lines+3)
	}
}

// A function writing to its pipe faster than the store takes its lines waits for the store
// instead of losing them: a 64 KiB buffer and a publisher that lingers 20 ms, 2 MiB written
// at once, nothing dropped.
func TestPipeWaitsForTheStore(t *testing.T) {
	s, _ := newService(t, Config{RateBytes: -1, StreamBufferBytes: 64 << 10, Linger: 20 * time.Millisecond})
	st := s.NewStream("slowstore", "$LATEST", "e")
	w, err := st.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	const lines = 2048
	line := strings.Repeat("s", 1023) + "\n"
	for range lines {
		if _, err := w.WriteString(line); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	waitFor(t, "the pipe to be read to its end", func() bool { st := s.Stats(); return st.Accepted+st.Dropped >= lines })
	flush(t, s)
	if got := s.Stats().Dropped; got != 0 {
		t.Errorf("Stats().Dropped = %d, want 0", got)
	}
	if got := len(readAll(t, s, st.Group())); got != lines {
		t.Errorf("stored %d events, want %d", got, lines)
	}
}

// A failed Init is logged as Lambda logs it, and the tail carries Init's output.
func TestFailInit(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	s, _ := newService(t, Config{Now: clock.Now})
	st := s.NewStream("broken", "$LATEST", "e")
	out := st.Writer()
	fmt.Fprint(out, "loading config\n[ERROR] Runtime.ImportModuleError: Unable to import module 'app': No module named 'x'\n")
	report := Report{Duration: 1234500 * time.Microsecond, MemorySizeMB: 128, MaxMemoryUsed: 20 << 20,
		Status: StatusError, ErrorType: "Runtime.ImportModuleError"}
	tail := st.FailInit(InitReport{Duration: 1234500 * time.Microsecond, Status: StatusError, ErrorType: "Runtime.ImportModuleError"},
		"req-1", "", report, true)
	want := []string{
		"loading config\n",
		"[ERROR] Runtime.ImportModuleError: Unable to import module 'app': No module named 'x'\n",
		"INIT_REPORT Init Duration: 1234.50 ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError\n",
		"START RequestId: req-1 Version: $LATEST\n",
		"END RequestId: req-1\n",
		"REPORT RequestId: req-1\tDuration: 1234.50 ms\tBilled Duration: 1235 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tStatus: error\tError Type: Runtime.ImportModuleError\n",
	}
	if got := string(tail); got != strings.Join(want, "") {
		t.Errorf("tail = %q\nwant %q", got, strings.Join(want, ""))
	}
	flush(t, s)
	if diff := cmp.Diff(want, messages(readAll(t, s, st.Group()))); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}

	// A timeout, and a runtime that exited, whose error the platform writes after START.
	st2 := s.NewStream("stuck", "$LATEST", "e")
	tail = st2.FailInit(InitReport{Duration: 10 * time.Second, Status: StatusTimeout}, "req-2",
		"RequestId: req-2 Error: Runtime exited with error: exit status 1\nRuntime.ExitError",
		Report{Duration: 10 * time.Second, MemorySizeMB: 128, Status: StatusError, ErrorType: "Runtime.ExitError"}, true)
	wantTail := "INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout\n" +
		"START RequestId: req-2 Version: $LATEST\n" +
		"RequestId: req-2 Error: Runtime exited with error: exit status 1\nRuntime.ExitError\n" +
		"END RequestId: req-2\n" +
		"REPORT RequestId: req-2\tDuration: 10000.00 ms\tBilled Duration: 10000 ms\tMemory Size: 128 MB\tMax Memory Used: 0 MB\tStatus: error\tError Type: Runtime.ExitError\n"
	if string(tail) != wantTail {
		t.Errorf("tail = %q\nwant %q", tail, wantTail)
	}
}
