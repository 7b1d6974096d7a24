package logs

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The function may post its response before its last lines have been read from the pipe.
// End must still put them before END. Writing to the pipe and calling End at once leaves the
// reader goroutine no time, so without End's drain this fails nearly every round.
func TestEndTakesInWhatWasWrittenBefore(t *testing.T) {
	// 15 MB in no time: over the default rate and buffer, which other tests cover.
	s, _ := newService(t, Config{RateBytes: -1, StreamBufferBytes: 64 << 20, BufferBytes: 64 << 20})
	st := s.NewStream("pipe", "$LATEST", "e")
	w, err := st.Pipe()
	if err != nil {
		t.Fatalf("Pipe: %v", err)
	}
	defer w.Close()
	for i := range 300 {
		id := fmt.Sprintf("r%d", i)
		st.Begin(id, true)
		if i%2 == 1 {
			fmt.Fprintf(w, "first a big one %s\n", strings.Repeat("x", 100_000)) // more than a pipe holds
		}
		fmt.Fprintf(w, "line one of %s\nline two of %s\n", id, id)
		tail := st.End(Report{MemorySizeMB: 128})
		want := fmt.Sprintf("line one of %s\nline two of %s\nEND RequestId: %s\n", id, id, id)
		if !bytes.Contains(tail, []byte(want)) {
			t.Fatalf("round %d: tail lacks the function's lines before END:\n%q", i, tail)
		}
	}
}

// A real process writing to stdout and stderr: everything it wrote before signalling (as a
// runtime posts /response) is in the invocation, a last unfinished line included, and the
// pipe ends cleanly when the process exits.
func TestPipeFromAProcess(t *testing.T) {
	s, _ := newService(t, Config{})
	st := s.NewStream("proc", "$LATEST", "e")
	w, err := st.Pipe()
	if err != nil {
		t.Fatalf("Pipe: %v", err)
	}
	// fd 3 plays the Runtime API: the process writes "done" there after its output, then
	// waits for its stdin to close.
	doneR, doneW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer doneR.Close()
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", `
		echo "init output"
		read start
		echo "to stdout"
		echo "to stderr" >&2
		printf "unfinished"
		echo done >&3
		read end
		printf "after the invocation, unfinished"
	`)
	cmd.Stdout, cmd.Stderr, cmd.Stdin = w, w, stdinR
	cmd.ExtraFiles = []*os.File{doneW}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	w.Close()
	doneW.Close()
	stdinR.Close()

	waitForEvents(t, s, st.Group(), 1) // init output arrives on its own
	st.Begin("r", true)
	fmt.Fprintln(stdinW, "go")
	buf := make([]byte, 5)
	if _, err := doneR.Read(buf); err != nil {
		t.Fatalf("waiting for the process: %v", err)
	}
	tail := st.End(Report{MemorySizeMB: 128})
	wantTail := "START RequestId: r Version: $LATEST\nto stdout\nto stderr\nunfinishedEND RequestId: r\n"
	if !strings.HasPrefix(string(tail), wantTail) {
		t.Errorf("tail = %q, want it to start with %q", tail, wantTail)
	}
	stdinW.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("process: %v", err)
	}
	// The pipe's end stores the last unfinished line.
	events := waitForEvents(t, s, st.Group(), 8)
	got := messages(events)
	want := []string{
		"init output\n",
		"START RequestId: r Version: $LATEST\n",
		"to stdout\n",
		"to stderr\n",
		"unfinished",
		"END RequestId: r\n",
		"REPORT RequestId: r\tDuration: 0.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 0 MB\t\n",
		"after the invocation, unfinished",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if events[0].RequestID != "" || events[7].RequestID != "" || events[2].RequestID != "r" {
		t.Errorf("request ids = %q, %q, %q; want \"\", \"r\", \"\"", events[0].RequestID, events[2].RequestID, events[7].RequestID)
	}
	waitFor(t, "the pipe reader to finish", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.pipes) == 0 && len(st.sources) == 0
	})
}

// Close ends the pipe readers even while a process still holds the write end, and later
// pipes are refused.
func TestStreamCloseStopsPipes(t *testing.T) {
	s, _ := newService(t, Config{})
	st := s.NewStream("close", "$LATEST", "e")
	var ws []*os.File
	for range 3 {
		w, err := st.Pipe()
		if err != nil {
			t.Fatalf("Pipe: %v", err)
		}
		defer w.Close()
		ws = append(ws, w)
	}
	fmt.Fprint(ws[0], "pending")
	st.mu.Lock()
	pipes := append([]*pipe(nil), st.pipes...)
	st.mu.Unlock()
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, p := range pipes {
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("pipe %d reader still running after Close", i)
		}
	}
	if _, err := st.Pipe(); err == nil {
		t.Errorf("Pipe after Close succeeded, want an error")
	}
	flush(t, s)
	if got := messages(readAll(t, s, st.Group())); !cmp.Equal(got, []string{"pending"}) {
		t.Errorf("events = %q, want [\"pending\"]", got)
	}
}

func waitForEvents(t *testing.T, s *Service, group string, n int) []Event {
	t.Helper()
	var events []Event
	waitFor(t, fmt.Sprintf("%d events", n), func() bool {
		flush(t, s)
		events = readAll(t, s, group)
		return len(events) >= n
	})
	return events
}
