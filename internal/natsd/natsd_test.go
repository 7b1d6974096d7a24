package natsd_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbusfaas/nimbus/internal/natsd"
)

func start(t *testing.T, cfg natsd.Config) *natsd.Server {
	t.Helper()
	s, err := natsd.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start(%+v) = %v", cfg, err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestEmbeddedNoListener(t *testing.T) {
	dir := t.TempDir()
	s := start(t, natsd.Config{DataDir: dir})
	if !s.Embedded() {
		t.Errorf("Embedded() = false, want true")
	}
	if u := s.ClientURL(); u != "" {
		t.Errorf("ClientURL() = %q, want no listener", u)
	}
	ctx := context.Background()
	kv, err := s.JetStream().CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "t", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("CreateKeyValue = %v", err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Put = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Errorf("file store not under DataDir/jetstream: %v", err)
	}
}

func TestEmbeddedSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := natsd.Start(ctx, natsd.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := s.JetStream().CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "t", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close() // idempotent

	s2 := start(t, natsd.Config{DataDir: dir})
	kv2, err := s2.JetStream().KeyValue(ctx, "t")
	if err != nil {
		t.Fatalf("KeyValue after restart = %v", err)
	}
	e, err := kv2.Get(ctx, "k")
	if err != nil {
		t.Fatalf("Get after restart = %v", err)
	}
	if string(e.Value()) != "v1" {
		t.Errorf("Get after restart = %q, want %q", e.Value(), "v1")
	}
}

// TestListenerAndURL proves the two ways of reaching a server other than in-process: a client
// listener on the embedded server, and Config.URL connecting to it like to any external NATS.
func TestListenerAndURL(t *testing.T) {
	srv := start(t, natsd.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	u := srv.ClientURL()
	if u == "" || u == "nats://127.0.0.1:0" {
		t.Fatalf("ClientURL() = %q, want a bound port", u)
	}
	ext := start(t, natsd.Config{URL: u})
	if ext.Embedded() {
		t.Errorf("Embedded() = true for a URL connection")
	}
	ctx := context.Background()
	if _, err := ext.JetStream().AccountInfo(ctx); err != nil {
		t.Fatalf("AccountInfo over URL = %v", err)
	}
	// A message published over TCP reaches an in-process subscriber of the same server.
	sub, err := srv.Conn().SubscribeSync("ping")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ext.Conn().Publish("ping", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Errorf("NextMsg = %v, want the message published over the listener", err)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  natsd.Config
	}{
		{"no data dir", natsd.Config{}},
		{"bad listen", natsd.Config{DataDir: t.TempDir(), Listen: "nonsense"}},
		{"bad port", natsd.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:99999"}},
		{"unreachable url", natsd.Config{URL: "nats://127.0.0.1:1", StartTimeout: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := natsd.Start(ctx, tc.cfg)
			if err == nil {
				s.Close()
				t.Fatalf("Start(%+v) = nil error, want failure", tc.cfg)
			}
		})
	}
}

func TestExternalWithoutJetStream(t *testing.T) {
	// A plain NATS (no JetStream) must be refused at start, not at the first request.
	plain, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	plain.Start()
	t.Cleanup(func() { plain.Shutdown(); plain.WaitForShutdown() })
	if !plain.ReadyForConnections(5 * time.Second) {
		t.Fatal("plain nats-server not ready")
	}
	s, err := natsd.Start(context.Background(), natsd.Config{URL: plain.ClientURL(), StartTimeout: 2 * time.Second})
	if err == nil {
		s.Close()
		t.Fatalf("Start(URL of a server without JetStream) = nil error, want failure")
	}
}

func TestListenPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, err := natsd.Start(context.Background(), natsd.Config{DataDir: t.TempDir(), Listen: l.Addr().String()})
	if err == nil {
		s.Close()
		t.Fatalf("Start(Listen: %s in use) = nil error, want failure", l.Addr())
	}
}

func BenchmarkStart(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		s, err := natsd.Start(ctx, natsd.Config{DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// TestCloseLeavesNoGoroutines: a server start is cheap enough to run per test, so it must
// not leak what it started.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	ctx := context.Background()
	// Warm up once: package-level goroutines started on first use are not leaks.
	s, err := natsd.Start(ctx, natsd.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	before := runtime.NumGoroutine()
	for range 3 {
		srv := start(t, natsd.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
		ext := start(t, natsd.Config{URL: srv.ClientURL()})
		if _, err := ext.JetStream().CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "t"}); err != nil {
			t.Fatal(err)
		}
		ext.Close()
		srv.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// warnings counts the log records at Warn and above.
type warnings struct {
	mu sync.Mutex
	n  []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n = append(w.n, r.Message)
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

// A second server on a data dir in use fails on the lock before it opens the store: it must
// not recover the first one's streams as if that one had crashed, nor warn about them.
func TestSecondServerOnSameDataDir(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	first := start(t, natsd.Config{DataDir: dir})
	kv, err := first.JetStream().CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "t", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}

	var w warnings
	second, err := natsd.Start(ctx, natsd.Config{DataDir: dir, Logger: slog.New(&w)})
	if err == nil {
		second.Close()
		t.Fatalf("second Start on the same data dir = nil error, want ErrDataDirInUse")
	}
	if !errors.Is(err, natsd.ErrDataDirInUse) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("second Start = %v, want ErrDataDirInUse naming pid %d", err, os.Getpid())
	}
	if len(w.n) > 0 {
		t.Errorf("second Start logged warnings before failing: %q", w.n)
	}

	// Once the first is closed, the data dir is free again.
	first.Close()
	third := start(t, natsd.Config{DataDir: dir})
	kv, err = third.JetStream().KeyValue(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Errorf("after the first server closed, Get(k) = %v, want v", err)
	}
}

// Connect opens a second connection, with its own name, to the same JetStream, embedded or
// external; closing it leaves the first one working.
func TestConnectOpensAnotherConnection(t *testing.T) {
	embedded := start(t, natsd.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	external := start(t, natsd.Config{URL: embedded.ClientURL()})
	for name, s := range map[string]*natsd.Server{"embedded": embedded, "external": external} {
		ctx := context.Background()
		nc, js, err := s.Connect("nimbus-logs-" + name)
		if err != nil {
			t.Fatalf("%s: Connect = %v", name, err)
		}
		if nc == s.Conn() || nc.Opts.Name != "nimbus-logs-"+name {
			t.Errorf("%s: Connect returned the main connection or another name (%q)", name, nc.Opts.Name)
		}
		bucket := "t-" + name
		kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket})
		if err != nil {
			t.Fatalf("%s: CreateKeyValue on the new connection = %v", name, err)
		}
		if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
			t.Fatalf("%s: Put = %v", name, err)
		}
		nc.Close()
		main, err := s.JetStream().KeyValue(ctx, bucket)
		if err != nil {
			t.Fatalf("%s: the main connection after closing the other: %v", name, err)
		}
		if e, err := main.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
			t.Errorf("%s: Get through the main connection = %v", name, err)
		}
	}
}
