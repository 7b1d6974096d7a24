package store_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/natsd"
	"github.com/nimbusfaas/nimbus/internal/store"
	"github.com/nimbusfaas/nimbus/internal/store/storetest"
)

func startNATS(t testing.TB, cfg natsd.Config) *natsd.Server {
	t.Helper()
	s, err := natsd.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("natsd.Start(%+v) = %v", cfg, err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestEmbedded runs the suite on the embedded server over its in-process connection.
func TestEmbedded(t *testing.T) {
	storetest.Run(t, func(t *testing.T) jetstream.JetStream {
		return startNATS(t, natsd.Config{DataDir: t.TempDir()}).JetStream()
	})
}

// TestExternalURL runs the suite over TCP against a nats-server reached by URL, the
// --nats-url path.
func TestExternalURL(t *testing.T) {
	storetest.Run(t, func(t *testing.T) jetstream.JetStream {
		srv := startNATS(t, natsd.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
		return startNATS(t, natsd.Config{URL: srv.ClientURL()}).JetStream()
	})
}

// TestRestart: functions and code written before a server stops are there, identical,
// after it starts again on the same data directory.
func TestRestart(t *testing.T) {
	for _, mode := range []string{"embedded", "url"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			// open starts the server (and, in url mode, a client of it) on dir.
			open := func() (stop func(), s *store.Store) {
				srv, err := natsd.Start(ctx, natsd.Config{DataDir: dir, Listen: map[string]string{"url": "127.0.0.1:0"}[mode]})
				if err != nil {
					t.Fatal(err)
				}
				conn, stop := srv, srv.Close
				if mode == "url" {
					if conn, err = natsd.Start(ctx, natsd.Config{URL: srv.ClientURL()}); err != nil {
						t.Fatal(err)
					}
					stop = func() { conn.Close(); srv.Close() }
				}
				if s, err = store.Open(ctx, conn.JetStream(), store.Config{}); err != nil {
					t.Fatal(err)
				}
				return stop, s
			}

			stop, s := open()
			want := map[string][]byte{}
			var created []*lambda.Function
			for i := range 5 {
				zip := storetest.Zip(t, 1000+i*200_000) // up to ~800 KB: several chunks
				sha, err := s.PutCode(ctx, zip)
				if err != nil {
					t.Fatal(err)
				}
				want[sha] = zip
				f := storetest.NewFunction(t, s, fmt.Sprintf("fn-%d", i))
				f.CodeSHA256, f.CodeSize = sha, int64(len(zip))
				if err := s.CreateFunction(ctx, f); err != nil {
					t.Fatal(err)
				}
				created = append(created, f)
			}
			if err := s.DeleteFunction(ctx, "fn-4"); err != nil {
				t.Fatal(err)
			}
			created = created[:4]
			upd, err := s.UpdateFunction(ctx, "fn-0", func(f *lambda.Function) error { f.Timeout = 60; return nil })
			if err != nil {
				t.Fatal(err)
			}
			created[0] = upd
			_ = s.Close()
			stop()

			stop, s = open()
			defer stop()
			defer s.Close()
			got, err := s.ListFunctions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(created, got); diff != "" {
				t.Errorf("functions after restart (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(created, s.Catalog().List()); diff != "" {
				t.Errorf("Catalog after restart (-before +after):\n%s", diff)
			}
			for _, f := range created {
				code, err := s.GetCode(ctx, f.CodeSHA256)
				if err != nil {
					t.Errorf("GetCode(%s) after restart = %v", f.Name, err)
				} else if !bytes.Equal(code, want[f.CodeSHA256]) {
					t.Errorf("code of %s differs after restart", f.Name)
				}
			}
			// Still writable, and names stay taken.
			if err := s.CreateFunction(ctx, created[1]); !errors.Is(err, store.ErrExists) {
				t.Errorf("CreateFunction of an existing name after restart = %v, want ErrExists", err)
			}
			if _, err := s.UpdateFunction(ctx, "fn-1", func(f *lambda.Function) error { f.Timeout = 9; return nil }); err != nil {
				t.Errorf("UpdateFunction after restart = %v", err)
			}
		})
	}
}

const crashEnv = "NIMBUS_STORE_CRASH_DIR"

// TestCrashChild is the process TestCrash kills: it creates functions as fast as it can
// and prints each name once CreateFunction has returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("only runs as TestCrash's subprocess")
	}
	ctx := context.Background()
	srv, err := natsd.Start(ctx, natsd.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, srv.JetStream(), store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	prefix := fmt.Sprint(time.Now().UnixNano())
	for i := range 5000 { // bounded, should the parent die without killing us
		zip := storetest.Zip(t, 150_000+i) // two chunks: a kill can land between them
		sha, err := s.PutCode(ctx, zip)
		if err != nil {
			t.Fatal(err)
		}
		f := &lambda.Function{Name: fmt.Sprintf("c-%s-%d", prefix, i), Runtime: "provided.al2023",
			Handler: "bootstrap", CodeSHA256: sha, CodeSize: int64(len(zip)), State: lambda.StateActive}
		if err := s.CreateFunction(ctx, f); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(out, "created %s\n", f.Name)
		out.Flush()
	}
}

// TestCrash SIGKILLs a process in the middle of creating functions, then checks that the
// store holds every function whose creation had returned, that each function present has
// its code, and that the only debris is unreferenced code, which a sweep removes.
func TestCrash(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("already the child")
	}
	dir := t.TempDir()
	ctx := context.Background()
	var acked []string
	for round, kills := range []int{20, 35, 50} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "created "); ok {
				acked = append(acked, name)
				if n++; n == kills {
					_ = cmd.Process.Kill() // SIGKILL, mid-flight in the next create
					break
				}
			}
		}
		for sc.Scan() { // lines written before the kill were acknowledged too
			if name, ok := strings.CutPrefix(sc.Text(), "created "); ok {
				acked = append(acked, name)
			}
		}
		err = cmd.Wait()
		if n < kills {
			t.Fatalf("round %d: child exited after %d creates: %v\n%s", round, n, err, stderr.String())
		}
	}

	srv := startNATS(t, natsd.Config{DataDir: dir})
	s, err := store.Open(ctx, srv.JetStream(), store.Config{})
	if err != nil {
		t.Fatalf("Open after crashes = %v", err)
	}
	defer s.Close()
	list, err := s.ListFunctions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	for _, f := range list {
		present[f.Name] = true
		code, err := s.GetCode(ctx, f.CodeSHA256)
		if err != nil {
			t.Errorf("function %s present without its code: %v", f.Name, err)
			continue
		}
		if int64(len(code)) != f.CodeSize {
			t.Errorf("function %s: code has %d bytes, record says %d", f.Name, len(code), f.CodeSize)
		}
	}
	// No partial or undecodable record hides behind the Catalog: read the bucket raw.
	kv, err := srv.JetStream().KeyValue(ctx, "nimbus_functions")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(list) {
		t.Errorf("bucket has %d keys, ListFunctions %d functions", len(keys), len(list))
	}
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			t.Errorf("Get(%s) = %v", k, err)
			continue
		}
		var f lambda.Function
		if err := json.Unmarshal(e.Value(), &f); err != nil || f.Name != k || f.CodeSHA256 == "" || f.RevisionID == "" {
			t.Errorf("record %s is not a whole function: %v, %q", k, err, e.Value())
		}
	}
	for _, name := range acked {
		if !present[name] {
			t.Errorf("function %s was acknowledged before the kill but is gone", name)
		}
	}
	// At most one in-flight create per kill may have landed without being acknowledged.
	if extra := len(list) - len(acked); extra < 0 || extra > 3 {
		t.Errorf("%d functions present, %d acknowledged", len(list), len(acked))
	}
	removed, err := s.SweepCode(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) > 3 {
		t.Errorf("sweep removed %d orphans; at most one per kill expected", len(removed))
	}
	for _, f := range list {
		if _, err := s.GetCode(ctx, f.CodeSHA256); err != nil {
			t.Errorf("sweep removed code of %s: %v", f.Name, err)
		}
	}
}

// TestNoGoroutineLeak: a Store's watcher ends with Close, and a stopped server leaves
// nothing running either.
func TestNoGoroutineLeak(t *testing.T) {
	ctx := context.Background()
	cycle := func() {
		srv, err := natsd.Start(ctx, natsd.Config{DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		s, err := store.Open(ctx, srv.JetStream(), store.Config{})
		if err != nil {
			t.Fatal(err)
		}
		storetest.NewFunction(t, s, "x")
		if err := s.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	}
	cycle() // package-level goroutines started on first use are not leaks
	before := runtime.NumGoroutine()
	for range 3 {
		cycle()
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
