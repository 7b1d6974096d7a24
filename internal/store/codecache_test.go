package store_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nimbusfaas/nimbus/internal/codezip"
	"github.com/nimbusfaas/nimbus/internal/natsd"
	"github.com/nimbusfaas/nimbus/internal/store"
)

type zipFile struct {
	name, body string
	mode       fs.FileMode
}

func makeZip(t *testing.T, files ...zipFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate}
		h.SetMode(f.mode)
		fw, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	srv := startNATS(t, natsd.Config{DataDir: t.TempDir()})
	s, err := store.Open(context.Background(), srv.JetStream(), store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// countingFetch is Store.GetCode, counted.
func countingFetch(s *store.Store, n *atomic.Int32) func(context.Context, string) ([]byte, error) {
	return func(ctx context.Context, sha string) ([]byte, error) {
		n.Add(1)
		return s.GetCode(ctx, sha)
	}
}

func TestCodeCache(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	z := makeZip(t,
		zipFile{"bootstrap", "#!/bin/sh\n", 0o755},
		zipFile{"lib/x.py", "x = 1\n", 0o644})
	sha, err := s.PutCode(ctx, z)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "code")
	var fetches atomic.Int32
	c, err := store.NewCodeCache(store.CodeCacheConfig{Dir: dir, Fetch: countingFetch(s, &fetches)})
	if err != nil {
		t.Fatal(err)
	}

	// Concurrent first uses share one fetch and one extraction.
	var wg sync.WaitGroup
	paths := make([]string, 8)
	for i := range paths {
		wg.Go(func() {
			p, err := c.Path(ctx, sha)
			if err != nil {
				t.Errorf("Path = %v", err)
			}
			paths[i] = p
		})
	}
	wg.Wait()
	want := filepath.Join(dir, sha)
	for _, p := range paths {
		if p != want {
			t.Errorf("Path = %q, want %q", p, want)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("8 concurrent Paths fetched %d times, want 1", n)
	}
	if b, err := os.ReadFile(filepath.Join(want, "lib/x.py")); err != nil || string(b) != "x = 1\n" {
		t.Errorf("extracted lib/x.py = %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(want, "bootstrap")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("bootstrap mode = %v, %v; want executable", fi.Mode(), err)
	}
	if fi, err := os.Stat(want); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("code dir mode = %v, %v; want 0755 so the sandbox user can read it", fi.Mode(), err)
	}
	assertNoTemp(t, dir)

	// A new cache over the same directory (a restarted node) reuses the extraction.
	fetches.Store(0)
	c2, err := store.NewCodeCache(store.CodeCacheConfig{Dir: dir, Fetch: countingFetch(s, &fetches)})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := c2.Path(ctx, sha); err != nil || p != want {
		t.Errorf("Path after restart = %q, %v", p, err)
	}
	if n := fetches.Load(); n != 0 {
		t.Errorf("Path after restart fetched %d times, want 0", n)
	}
}

func TestCodeCacheFailures(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	root := t.TempDir()
	dir := filepath.Join(root, "code")
	// Leftovers of a crash mid-extraction are removed at start.
	if err := os.MkdirAll(filepath.Join(dir, ".codezip-abc-123", "half"), 0o755); err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	c, err := store.NewCodeCache(store.CodeCacheConfig{Dir: dir, Fetch: countingFetch(s, &fetches)})
	if err != nil {
		t.Fatal(err)
	}
	assertNoTemp(t, dir)

	for _, bad := range []string{"", "../../etc", strings.Repeat("A", 64), strings.Repeat("0", 63)} {
		if _, err := c.Path(ctx, bad); err == nil {
			t.Errorf("Path(%q) = nil error, want refusal", bad)
		}
	}
	if _, err := c.Path(ctx, hex.EncodeToString(make([]byte, 32))); !errors.Is(err, store.ErrCodeNotFound) {
		t.Errorf("Path(unstored) = %v, want ErrCodeNotFound", err)
	}

	// A hostile zip that reached the store anyway is refused and leaves nothing behind.
	evil := makeZip(t, zipFile{"ok", "fine", 0o644}, zipFile{"../../evil", "escaped", 0o644})
	sha, err := s.PutCode(ctx, evil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Path(ctx, sha); !errors.Is(err, codezip.ErrInvalidZip) {
		t.Errorf("Path(hostile zip) = %v, want codezip.ErrInvalidZip", err)
	}
	if _, err := os.Stat(filepath.Join(dir, sha)); !os.IsNotExist(err) {
		t.Errorf("refused extraction left %s: %v", sha, err)
	}
	if _, err := os.Stat(filepath.Join(root, "evil")); !os.IsNotExist(err) {
		t.Errorf("hostile entry escaped the cache: %v", err)
	}
	assertNoTemp(t, dir)

	// Bytes that do not hash to the name are refused, whatever Fetch returns.
	good := makeZip(t, zipFile{"a", "b", 0o644})
	other := sha256.Sum256([]byte("other"))
	otherHex := hex.EncodeToString(other[:])
	c, err = store.NewCodeCache(store.CodeCacheConfig{Dir: dir,
		Fetch: func(context.Context, string) ([]byte, error) { return good, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Path(ctx, otherHex); err == nil {
		t.Errorf("Path with mismatching bytes = nil error")
	}
	if _, err := os.Stat(filepath.Join(dir, otherHex)); !os.IsNotExist(err) {
		t.Errorf("mismatching bytes were extracted: %v", err)
	}
	if _, err := store.NewCodeCache(store.CodeCacheConfig{Dir: dir}); err == nil {
		t.Errorf("NewCodeCache without Fetch = nil error")
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary %s left in the cache", e.Name())
		}
	}
}

// BenchmarkCodeCacheHit is the warm-invoke cost of finding extracted code.
func BenchmarkCodeCacheHit(b *testing.B) {
	ctx := context.Background()
	srv, s := benchStore(b, b.TempDir())
	defer srv.Close()
	defer s.Close()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	if _, err := w.Create("bootstrap"); err != nil {
		b.Fatal(err)
	}
	w.Close()
	sha, err := s.PutCode(ctx, buf.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	c, err := store.NewCodeCache(store.CodeCacheConfig{Dir: b.TempDir(), Fetch: s.GetCode})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Path(ctx, sha); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.Path(ctx, sha); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCodeCachePut(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	dir := filepath.Join(t.TempDir(), "code")
	var fetches atomic.Int32
	c, err := store.NewCodeCache(store.CodeCacheConfig{Dir: dir, Fetch: countingFetch(s, &fetches)})
	if err != nil {
		t.Fatal(err)
	}
	evil := makeZip(t, zipFile{"../evil", "escaped", 0o644})
	if _, err := c.Put(ctx, evil); !errors.Is(err, codezip.ErrInvalidZip) {
		t.Fatalf("Put(hostile zip) = %v, want codezip.ErrInvalidZip", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("refused Put left %d entries in the cache", len(entries))
	}
	good := makeZip(t, zipFile{"bootstrap", "#!/bin/sh\n", 0o755})
	sha, err := c.Put(ctx, good)
	if err != nil {
		t.Fatalf("Put(good zip) = %v", err)
	}
	if sum := sha256.Sum256(good); sha != hex.EncodeToString(sum[:]) {
		t.Fatalf("Put returned %s, want the zip's sha256", sha)
	}
	// Path finds what Put extracted without fetching from the store (where it is not).
	got, err := c.Path(ctx, sha)
	if err != nil || got != filepath.Join(dir, sha) || fetches.Load() != 0 {
		t.Fatalf("Path after Put = %q, %v (fetches %d)", got, err, fetches.Load())
	}
	if fi, err := os.Stat(filepath.Join(got, "bootstrap")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Fatalf("extracted bootstrap = %v, %v; want executable", fi, err)
	}
}
