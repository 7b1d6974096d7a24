package store_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nimbusfaas/nimbus/internal/natsd"
	"github.com/nimbusfaas/nimbus/internal/store"
)

// makeZip builds a zip of the given files.
func makeZip(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, body := range files {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(f, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testExtract is a plain extractor for trusted test zips; hostile zips are codezip's job.
func testExtract(b []byte, dest string) error {
	r, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return err
	}
	for _, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		p := filepath.Join(dest, f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

type counted struct {
	fetches, extracts atomic.Int32
}

func (c *counted) config(t *testing.T, s *store.Store, dir string) store.CodeCacheConfig {
	return store.CodeCacheConfig{
		Dir: dir,
		Fetch: func(ctx context.Context, sha string) ([]byte, error) {
			c.fetches.Add(1)
			return s.GetCode(ctx, sha)
		},
		Extract: func(b []byte, dest string) error {
			c.extracts.Add(1)
			return testExtract(b, dest)
		},
	}
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

func TestCodeCache(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	z := makeZip(t, map[string]string{"bootstrap": "#!/bin/sh\n", "lib/x.py": "x = 1\n"})
	sha, err := s.PutCode(ctx, z)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "code")
	var n counted
	c, err := store.NewCodeCache(n.config(t, s, dir))
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
	if f, e := n.fetches.Load(), n.extracts.Load(); f != 1 || e != 1 {
		t.Errorf("8 concurrent Paths fetched %d and extracted %d times, want 1 and 1", f, e)
	}
	if b, err := os.ReadFile(filepath.Join(want, "lib/x.py")); err != nil || string(b) != "x = 1\n" {
		t.Errorf("extracted lib/x.py = %q, %v", b, err)
	}
	if fi, err := os.Stat(want); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("code dir mode = %v, %v; want 0755 so the sandbox user can read it", fi.Mode(), err)
	}
	assertNoTemp(t, dir)

	// A new cache over the same directory (a restarted node) reuses the extraction.
	var m counted
	c2, err := store.NewCodeCache(m.config(t, s, dir))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := c2.Path(ctx, sha); err != nil || p != want {
		t.Errorf("Path after restart = %q, %v", p, err)
	}
	if f := m.fetches.Load(); f != 0 {
		t.Errorf("Path after restart fetched %d times, want 0", f)
	}
}

func TestCodeCacheFailures(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	dir := t.TempDir()
	// Leftovers of a crash mid-extraction are removed at start.
	if err := os.MkdirAll(filepath.Join(dir, ".extract-abc-123", "half"), 0o755); err != nil {
		t.Fatal(err)
	}
	var n counted
	cfg := n.config(t, s, dir)
	c, err := store.NewCodeCache(cfg)
	if err != nil {
		t.Fatal(err)
	}
	assertNoTemp(t, dir)

	for _, bad := range []string{"", "../../etc", strings.Repeat("A", 64), strings.Repeat("0", 63)} {
		if _, err := c.Path(ctx, bad); err == nil {
			t.Errorf("Path(%q) = nil error, want refusal", bad)
		}
	}
	missing := hex.EncodeToString(make([]byte, 32))
	if _, err := c.Path(ctx, missing); !errors.Is(err, store.ErrCodeNotFound) {
		t.Errorf("Path(unstored) = %v, want ErrCodeNotFound", err)
	}

	// A failed extraction leaves nothing behind, and a later call tries again.
	z := makeZip(t, map[string]string{"a": "b"})
	sha, err := s.PutCode(ctx, z)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("refused")
	cfg.Extract = func(b []byte, dest string) error {
		os.WriteFile(filepath.Join(dest, "partial"), []byte("x"), 0o644)
		return boom
	}
	c, err = store.NewCodeCache(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Path(ctx, sha); !errors.Is(err, boom) {
		t.Errorf("Path with failing Extract = %v, want %v", err, boom)
	}
	if _, err := os.Stat(filepath.Join(dir, sha)); !os.IsNotExist(err) {
		t.Errorf("failed extraction left %s: %v", sha, err)
	}
	assertNoTemp(t, dir)
	cfg.Extract = testExtract
	c, _ = store.NewCodeCache(cfg)
	if _, err := c.Path(ctx, sha); err != nil {
		t.Errorf("Path after a failed attempt = %v", err)
	}

	// Bytes that do not hash to the name are refused, whatever Fetch returns.
	other := hex.EncodeToString(func() []byte { s := sha256.Sum256([]byte("other")); return s[:] }())
	cfg.Fetch = func(context.Context, string) ([]byte, error) { return z, nil }
	c, _ = store.NewCodeCache(cfg)
	if _, err := c.Path(ctx, other); err == nil {
		t.Errorf("Path with mismatching bytes = nil error")
	}
	if _, err := os.Stat(filepath.Join(dir, other)); !os.IsNotExist(err) {
		t.Errorf("mismatching bytes were extracted: %v", err)
	}
	if _, err := store.NewCodeCache(store.CodeCacheConfig{Dir: dir}); err == nil {
		t.Errorf("NewCodeCache without Fetch/Extract = nil error")
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
