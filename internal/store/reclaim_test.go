package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/store"
)

// codeTrees lists the extracted trees (and anything else) left in a code cache directory.
func codeTrees(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestCodeCacheReclaimsDeletedFunctionsCode is the create/delete cycle that used to leave one
// extracted tree per cycle: with the catalog's references, Reclaim keeps only the live
// function's tree.
func TestCodeCacheReclaimsDeletedFunctionsCode(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	dir := filepath.Join(t.TempDir(), "code")
	c, err := store.NewCodeCache(store.CodeCacheConfig{Dir: dir, Fetch: s.GetCode})
	if err != nil {
		t.Fatal(err)
	}
	const cycles = 40
	var live string
	for i := range cycles {
		z := makeZip(t, zipFile{"bootstrap", fmt.Sprintf("#!/bin/sh\necho %d\n", i), 0o755})
		sha, err := c.Put(ctx, z) // as CreateFunction does: extract, then store, then record
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutCode(ctx, z); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("cycle-%d", i)
		if err := s.CreateFunction(ctx, &lambda.Function{Name: name, Runtime: "provided.al2023", Handler: "h", CodeSHA256: sha}); err != nil {
			t.Fatal(err)
		}
		if i == cycles-1 {
			live = sha // the last function stays
			continue
		}
		if err := s.DeleteFunction(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(codeTrees(t, dir)); n != cycles {
		t.Fatalf("after %d creates the cache holds %d trees, want %d", cycles, n, cycles)
	}
	// Young trees are kept: their function record may be on its way.
	if removed, err := c.Reclaim(time.Hour, s.Catalog().CodeRefs); err != nil || len(removed) != 0 {
		t.Fatalf("Reclaim(1h) = %d trees, %v; want none", len(removed), err)
	}
	removed, err := c.Reclaim(0, s.Catalog().CodeRefs)
	if err != nil || len(removed) != cycles-1 {
		t.Fatalf("Reclaim(0) = %d trees, %v; want %d", len(removed), err, cycles-1)
	}
	if got := codeTrees(t, dir); len(got) != 1 || got[0] != live {
		t.Fatalf("after Reclaim the cache holds %v, want only the live function's %s", got, live)
	}
}

// TestCodeCacheKeepsTreesInUse reclaims while environments still run on trees that no function
// references any more: those stay until released, and a reclaimed tree comes back on demand.
func TestCodeCacheKeepsTreesInUse(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	dir := filepath.Join(t.TempDir(), "code")
	var fetches atomic.Int32
	c, err := store.NewCodeCache(store.CodeCacheConfig{Dir: dir, Fetch: countingFetch(s, &fetches)})
	if err != nil {
		t.Fatal(err)
	}
	put := func(body string) string {
		z := makeZip(t, zipFile{"bootstrap", body, 0o755})
		sha, err := s.PutCode(ctx, z)
		if err != nil {
			t.Fatal(err)
		}
		return sha
	}
	referenced, running, idle := put("#!/bin/sh\n# referenced\n"), put("#!/bin/sh\n# running\n"), put("#!/bin/sh\n# idle\n")
	for _, sha := range []string{referenced, idle} {
		if _, err := c.Path(ctx, sha); err != nil {
			t.Fatal(err)
		}
	}
	runDir, release, err := c.Acquire(ctx, running)
	if err != nil {
		t.Fatal(err)
	}
	// A second environment on the same tree: it stays until both are gone.
	_, release2, err := c.Acquire(ctx, running)
	if err != nil {
		t.Fatal(err)
	}
	refs := func() map[string]bool { return map[string]bool{referenced: true} }

	removed, err := c.Reclaim(0, refs)
	if err != nil || strings.Join(removed, ",") != idle {
		t.Fatalf("Reclaim = %v, %v; want only the idle tree %s", removed, err, idle)
	}
	if _, err := os.Stat(filepath.Join(runDir, "bootstrap")); err != nil {
		t.Fatalf("a running environment's tree was reclaimed: %v", err)
	}
	release()
	release() // idempotent: one environment, one release
	if removed, _ := c.Reclaim(0, refs); len(removed) != 0 {
		t.Fatalf("Reclaim with one environment left = %v, want none", removed)
	}
	release2()
	if removed, _ := c.Reclaim(0, refs); strings.Join(removed, ",") != running {
		t.Fatalf("Reclaim after the last release = %v, want %s", removed, running)
	}
	if got := codeTrees(t, dir); len(got) != 1 || got[0] != referenced {
		t.Fatalf("cache holds %v, want only %s", got, referenced)
	}
	// A reclaimed tree is fetched and extracted again when an environment needs it.
	fetches.Store(0)
	dir2, release3, err := c.Acquire(ctx, idle)
	if err != nil || fetches.Load() != 1 {
		t.Fatalf("Acquire of a reclaimed tree = %v (fetches %d), want one fetch", err, fetches.Load())
	}
	defer release3()
	if _, err := os.Stat(filepath.Join(dir2, "bootstrap")); err != nil {
		t.Fatalf("re-extracted tree: %v", err)
	}
	// A removal cut short by a crash is finished by the next start.
	if err := os.MkdirAll(filepath.Join(dir, ".reclaimed-"+running, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := store.NewCodeCache(store.CodeCacheConfig{Dir: dir, Fetch: s.GetCode}); err != nil {
		t.Fatal(err)
	}
	for _, name := range codeTrees(t, dir) {
		if strings.HasPrefix(name, ".") {
			t.Errorf("restart left %s", name)
		}
	}
}
