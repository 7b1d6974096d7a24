package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/nimbusfaas/nimbus/internal/logs"
	"github.com/nimbusfaas/nimbus/internal/logsapi"
	"github.com/nimbusfaas/nimbus/internal/natsd"
)

// syncBuffer is a strings.Builder safe for a writer and a poller.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logsServer is the CloudWatch Logs API over a real log store on an embedded JetStream.
func logsServer(t *testing.T) (*logs.Service, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := natsd.Start(ctx, natsd.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("natsd.Start: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	svc, err := logs.New(ctx, logs.Config{JetStream: nc.JetStream()})
	if err != nil {
		t.Fatalf("logs.New: %v", err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	srv := httptest.NewServer(logsapi.New(logsapi.Config{Logs: svc, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	return svc, srv.URL
}

func writeLines(t *testing.T, svc *logs.Service, st *logs.Stream, lines ...string) {
	t.Helper()
	w := st.Writer()
	for _, l := range lines {
		io.WriteString(w, l+"\n")
	}
	w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLogs(t *testing.T) {
	svc, url := logsServer(t)
	tg := Target{Endpoint: url, LogsEndpoint: url, Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}
	st := svc.NewStream("web", "$LATEST", "env1")
	writeLines(t, svc, st, "INFO one", "ERROR two", "INFO three")

	var out strings.Builder
	a := New(Config{Target: tg, Stdout: &out, Stderr: io.Discard})
	if err := a.Logs(context.Background(), LogsOptions{Name: "web"}); err != nil {
		t.Fatalf("Logs: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], "  INFO one") || !strings.HasSuffix(lines[2], "  INFO three") {
		t.Errorf("Logs printed:\n%s", out.String())
	}

	out.Reset()
	a = New(Config{Target: tg, Stdout: &out, Stderr: io.Discard, Format: JSON})
	if err := a.Logs(context.Background(), LogsOptions{Name: "web", Filter: "ERROR"}); err != nil {
		t.Fatalf("Logs: %v", err)
	}
	// One JSON document: an array of events.
	var evs []LogEvent
	if err := json.Unmarshal([]byte(out.String()), &evs); err != nil || len(evs) != 1 || evs[0].Message != "ERROR two" || evs[0].LogStream != st.Name() || evs[0].EventID == "" {
		t.Errorf("Logs --filter ERROR --output json = %q (%v)", out.String(), err)
	}
	out.Reset()
	if err := a.Logs(context.Background(), LogsOptions{Name: "web", Filter: "NOTHING"}); err != nil || out.String() != "[]\n" {
		t.Errorf("Logs --filter NOTHING --output json = %q, %v; want []", out.String(), err)
	}

	// Three hours later, the default --since 10m finds nothing: it says there are older
	// events, and which --since shows them.
	out.Reset()
	var stderr strings.Builder
	a = New(Config{Target: tg, Stdout: &out, Stderr: &stderr})
	later := time.Now().Add(3 * time.Hour)
	a.Now = func() time.Time { return later }
	if err := a.Logs(context.Background(), LogsOptions{Name: "web", Since: later.Add(-10 * time.Minute)}); err != nil || out.String() != "" {
		t.Errorf("Logs since 10m, 3h later = %q, %v", out.String(), err)
	}
	if msg := stderr.String(); !strings.HasPrefix(msg, "no log events for web since ") || !strings.Contains(msg, "(3h ago): see it with --since 4h, or everything with --since 0") {
		t.Errorf("Logs since 10m, 3h later: stderr %q does not point at the older events", msg)
	}
}

func TestLogsFollow(t *testing.T) {
	svc, url := logsServer(t)
	tg := Target{Endpoint: url, LogsEndpoint: url, Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}
	st := svc.NewStream("web", "$LATEST", "env1")
	writeLines(t, svc, st, "old")

	var out syncBuffer
	a := New(Config{Target: tg, Stdout: &out, Stderr: io.Discard})
	a.PollInterval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Logs(ctx, LogsOptions{Name: "web", Follow: true}) }()

	// New lines from two environments show up once each, whatever the polls overlap.
	other := svc.NewStream("web", "$LATEST", "env2")
	for i := range 5 {
		writeLines(t, svc, st, fmt.Sprintf("env1 line %d", i))
		writeLines(t, svc, other, fmt.Sprintf("env2 line %d", i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "\n") < 11 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(5 * a.PollInterval) // a few more polls, which must print nothing again
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Logs --follow after cancel = %v, want nil", err)
	}
	got := out.String()
	for _, want := range []string{"old", "env1 line 0", "env1 line 4", "env2 line 0", "env2 line 4"} {
		if n := strings.Count(got, "  "+want+"\n"); n != 1 {
			t.Errorf("Logs --follow printed %q %d times; output:\n%s", want, n, got)
		}
	}
	if n := strings.Count(got, "\n"); n != 11 {
		t.Errorf("Logs --follow printed %d lines, want 11:\n%s", n, got)
	}
}
