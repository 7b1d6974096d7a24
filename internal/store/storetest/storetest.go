// Package storetest is the conformance suite of internal/store: every way of reaching
// JetStream (embedded, external by URL, later a cluster) runs it from its own test.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/store"
)

// Run runs the suite. newJetStream returns a JetStream with none of the store's buckets in
// it; the suite opens Stores on it, sometimes two on one JetStream to play two nodes.
func Run(t *testing.T, newJetStream func(t *testing.T) jetstream.JetStream) {
	tests := []struct {
		name string
		fn   func(t *testing.T, js jetstream.JetStream)
	}{
		{"CreateGet", testCreateGet},
		{"CreateExists", testCreateExists},
		{"CreateNeedsCode", testCreateNeedsCode},
		{"InvalidNames", testInvalidNames},
		{"Update", testUpdate},
		{"UpdateAbort", testUpdateAbort},
		{"UpdateConcurrent", testUpdateConcurrent},
		{"UpdateCode", testUpdateCode},
		{"Delete", testDelete},
		{"List", testList},
		{"Events", testEvents},
		{"TwoNodes", testTwoNodes},
		{"OpenDuringWrites", testOpenDuringWrites},
		{"Code", testCode},
		{"SweepCode", testSweepCode},
		{"SweepRacesCreate", testSweepRacesCreate},
		{"Versions", testVersions},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newJetStream(t))
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Open opens a Store on js with default buckets and closes it at the end of the test.
func Open(t *testing.T, js jetstream.JetStream) *store.Store {
	t.Helper()
	s, err := store.Open(ctxT(t), js, store.Config{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Zip returns n random bytes standing in for a zip: the store never looks inside.
func Zip(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// NewFunction returns a fully populated record whose code is already stored.
func NewFunction(t *testing.T, s *store.Store, name string) *lambda.Function {
	t.Helper()
	sha, err := s.PutCode(ctxT(t), Zip(t, 1000))
	if err != nil {
		t.Fatalf("PutCode = %v", err)
	}
	return &lambda.Function{
		Name:         name,
		Runtime:      "provided.al2023",
		Handler:      "bootstrap",
		Role:         "arn:aws:iam::123456789012:role/r",
		Description:  "d",
		Timeout:      3,
		MemorySize:   128,
		EphemeralMB:  512,
		Environment:  map[string]string{"A": "1", "B": "two"},
		Architecture: lambda.DefaultArchitecture,
		TracingMode:  "PassThrough",
		Layers:       []string{"arn:aws:lambda:us-east-1:123456789012:layer:l:1"},
		Tags:         map[string]string{"team": "x"},
		CodeSHA256:   sha,
		CodeSize:     1000,
		LastModified: time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
		State:        lambda.StateActive,
		UpdateStatus: lambda.UpdateSuccess,
	}
}

func mustCreate(t *testing.T, s *store.Store, f *lambda.Function) {
	t.Helper()
	if err := s.CreateFunction(ctxT(t), f); err != nil {
		t.Fatalf("CreateFunction(%s) = %v", f.Name, err)
	}
}

func testCreateGet(t *testing.T, js jetstream.JetStream) {
	s := Open(t, js)
	f := NewFunction(t, s, "fn-1")
	mustCreate(t, s, f)
	if f.RevisionID == "" {
		t.Errorf("CreateFunction left RevisionID empty")
	}
	got, err := s.GetFunction(ctxT(t), "fn-1")
	if err != nil {
		t.Fatalf("GetFunction = %v", err)
	}
	if diff := cmp.Diff(f, got); diff != "" {
		t.Errorf("GetFunction mismatch (-created +got):\n%s", diff)
	}
	// Read-your-writes on this node: the Catalog has it the moment Create returns.
	cached, ok := s.Catalog().Lookup("fn-1")
	if !ok {
		t.Fatalf("Catalog.Lookup(fn-1) = false right after CreateFunction")
	}
	if diff := cmp.Diff(f, cached); diff != "" {
		t.Errorf("Catalog.Lookup mismatch (-created +cached):\n%s", diff)
	}
	// The copy from GetFunction is the caller's.
	got.Environment["A"] = "changed"
	if cached.Environment["A"] != "1" {
		t.Errorf("modifying GetFunction's result changed the Catalog")
	}
}

func testCreateExists(t *testing.T, js jetstream.JetStream) {
	s := Open(t, js)
	f := NewFunction(t, s, "dup")
	mustCreate(t, s, f)
	g := NewFunction(t, s, "dup")
	g.Description = "second"
	err := s.CreateFunction(ctxT(t), g)
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("second CreateFunction(dup) = %v, want ErrExists", err)
	}
	got, err := s.GetFunction(ctxT(t), "dup")
	if err != nil {
		t.Fatal(err)
	}
	if got.Description != "d" || got.RevisionID != f.RevisionID {
		t.Errorf("failed create changed the record: %+v", got)
	}

	// Racing creates of one name: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for i := range 8 {
		h := NewFunction(t, s, "race")
		h.Description = fmt.Sprint(i)
		wg.Go(func() {
			err := s.CreateFunction(ctxT(t), h)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, store.ErrExists):
				conflicts++
			default:
				t.Errorf("CreateFunction(race) = %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || conflicts != 7 {
		t.Errorf("racing creates: %d won, %d conflicted; want 1 and 7", wins, conflicts)
	}
}

func testCreateNeedsCode(t *testing.T, js jetstream.JetStream) {
	s := Open(t, js)
	f := NewFunction(t, s, "nocode")
	f.CodeSHA256 = hex.EncodeToString(make([]byte, 32))
	if err := s.CreateFunction(ctxT(t), f); !errors.Is(err, store.ErrCodeNotFound) {
		t.Fatalf("CreateFunction with unstored code = %v, want ErrCodeNotFound", err)
	}
	f.CodeSHA256 = ""
	if err := s.CreateFunction(ctxT(t), f); !errors.Is(err, store.ErrCodeNotFound) {
		t.Fatalf("CreateFunction without code = %v, want ErrCodeNotFound", err)
	}
	if _, err := s.GetFunction(ctxT(t), "nocode"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetFunction after refused create = %v, want ErrNotFound", err)
	}
}

func testInvalidNames(t *testing.T, js jetstream.JetStream) {
	s := Open(t, js)
	for _, name := range []string{"", "a b", "a.*", ">", "a.", "../x"} {
		f := NewFunction(t, s, name)
		if err := s.CreateFunction(ctxT(t), f); !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("CreateFunction(%q) = %v, want ErrInvalidName", name, err)
		}
		if _, err := s.GetFunction(ctxT(t), name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetFunction(%q) = %v, want ErrNotFound", name, err)
		}
		if err := s.DeleteFunction(ctxT(t), name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteFunction(%q) = %v, want ErrNotFound", name, err)
		}
	}
	if _, err := s.GetFunction(ctxT(t), "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetFunction(missing) = %v, want ErrNotFound", err)
	}
}

func testUpdate(t *testing.T, js jetstream.JetStream) {
	s := Open(t, js)
	f := NewFunction(t, s, "upd")
	mustCreate(t, s, f)
	got, err := s.UpdateFunction(ctxT(t), "upd", func(g *lambda.Function) error {
		g.MemorySize = 1024
		g.Environment["C"] = "3"
		g.Name = "renamed"    // ignored: names are keys
		g.RevisionID = "mine" // ignored: the store owns it
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateFunction = %v", err)
	}
	if got.Name != "upd" || got.MemorySize != 1024 || got.Environment["C"] != "3" {
		t.Errorf("UpdateFunction returned %+v", got)
	}
	if got.RevisionID == f.RevisionID || got.RevisionID == "mine" || got.RevisionID == "" {
		t.Errorf("RevisionID after update = %q (before %q), want a new one", got.RevisionID, f.RevisionID)
	}
	read, err := s.GetFunction(ctxT(t), "upd")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, read); diff != "" {
		t.Errorf("GetFunction after update (-returned +read):\n%s", diff)
	}
	cached, _ := s.Catalog().Lookup("upd")
	if diff := cmp.Diff(got, cached); diff != "" {
		t.Errorf("Catalog right after update (-returned +cached):\n%s", diff)
	}
	if _, err := s.GetFunction(ctxT(t), "renamed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update created a function under a new name: %v", err)
	}
	if _, err := s.UpdateFunction(ctxT(t), "missing", func(*lambda.Function) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateFunction(missing) = %v, want ErrNotFound", err)
	}
}

func testUpdateAbort(t *testing.T, js jetstream.JetStream) {
	s := Open(t, js)
	f := NewFunction(t, s, "abort")
	mustCreate(t, s, f)
	boom := errors.New("boom")
	_, err := s.UpdateFunction(ctxT(t), "abort", func(g *lambda.Function) error {
		g.Timeout = 99
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("UpdateFunction with failing fn = %v, want %v", err, boom)
	}
	_, err = s.UpdateFunction(ctxT(t), "abort", func(g *lambda.Function) error {
		g.Timeout = 99
		return store.CheckRevision(g, "stale-revision")
	})
	if !errors.Is(err, store.ErrRevisionMismatch) {
		t.Errorf("UpdateFunction with stale revision = %v, want ErrRevisionMismatch", err)
	}
	got, err := s.GetFunction(ctxT(t), "abort")
	if err != nil {
		t.Fatal(err)
	}
	if got.Timeout != 3 || got.RevisionID != f.RevisionID {
		t.Errorf("aborted updates changed the record: timeout %d, revision %q (was %q)", got.Timeout, got.RevisionID, f.RevisionID)
	}
	// The current revision passes the check.
	if _, err := s.UpdateFunction(ctxT(t), "abort", func(g *lambda.Function) error {
		return store.CheckRevision(g, f.RevisionID)
	}); err != nil {
		t.Errorf("UpdateFunction with current revision = %v", err)
	}
}

// testUpdateConcurrent: read-modify-write from many goroutines on two Stores (two nodes)
// loses no update.
func testUpdateConcurrent(t *testing.T, js jetstream.JetStream) {
	a, b := Open(t, js), Open(t, js)
	f := NewFunction(t, a, "counter")
	f.Timeout = 0
	mustCreate(t, a, f)
	const workers, each = 8, 10
	var mu sync.Mutex
	revs := map[string]bool{f.RevisionID: true}
	var wg sync.WaitGroup
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range each {
				g, err := s.UpdateFunction(ctxT(t), "counter", func(g *lambda.Function) error {
					g.Timeout++
					return nil
				})
				if err != nil {
					t.Errorf("UpdateFunction = %v", err)
					return
				}
				mu.Lock()
				if revs[g.RevisionID] {
					t.Errorf("RevisionID %s repeated", g.RevisionID)
				}
				revs[g.RevisionID] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	got, err := a.GetFunction(ctxT(t), "counter")
	if err != nil {
		t.Fatal(err)
	}
	if got.Timeout != workers*each {
		t.Errorf("after %d concurrent increments counter = %d", workers*each, got.Timeout)
	}
}

func testUpdateCode(t *testing.T, js jetstream.JetStream) {
	s := Open(t, js)
	f := NewFunction(t, s, "code")
	mustCreate(t, s, f)
	missing := hex.EncodeToString(make([]byte, 32))
	if _, err := s.UpdateFunction(ctxT(t), "code", func(g *lambda.Function) error {
		g.CodeSHA256 = missing
		return nil
	}); !errors.Is(err, store.ErrCodeNotFound) {
		t.Errorf("UpdateFunction to unstored code = %v, want ErrCodeNotFound", err)
	}
	zip := Zip(t, 5000)
	sha, err := s.PutCode(ctxT(t), zip)
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.UpdateFunction(ctxT(t), "code", func(g *lambda.Function) error {
		g.CodeSHA256, g.CodeSize = sha, int64(len(zip))
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateFunction to stored code = %v", err)
	}
	if g.CodeSHA256 != sha {
		t.Errorf("CodeSHA256 = %s, want %s", g.CodeSHA256, sha)
	}
}

func testDelete(t *testing.T, js jetstream.JetStream) {
	s := Open(t, js)
	f := NewFunction(t, s, "del")
	mustCreate(t, s, f)
	if err := s.DeleteFunction(ctxT(t), "del"); err != nil {
		t.Fatalf("DeleteFunction = %v", err)
	}
	if _, ok := s.Catalog().Lookup("del"); ok {
		t.Errorf("Catalog still has the function right after DeleteFunction")
	}
	if _, err := s.GetFunction(ctxT(t), "del"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetFunction after delete = %v, want ErrNotFound", err)
	}
	if err := s.DeleteFunction(ctxT(t), "del"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteFunction = %v, want ErrNotFound", err)
	}
	list, err := s.ListFunctions(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("ListFunctions after delete has %d functions", len(list))
	}
	// The name is free again.
	g := NewFunction(t, s, "del")
	g.Description = "reborn"
	mustCreate(t, s, g)
	got, err := s.GetFunction(ctxT(t), "del")
	if err != nil || got.Description != "reborn" {
		t.Errorf("GetFunction after re-create = %+v, %v", got, err)
	}
}

func testList(t *testing.T, js jetstream.JetStream) {
	s := Open(t, js)
	const n = 120
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("f-%03d", i)
	}
	sha, err := s.PutCode(ctxT(t), Zip(t, 100))
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range mrand.Perm(n) {
		f := NewFunction(t, s, names[i])
		f.CodeSHA256 = sha
		mustCreate(t, s, f)
	}
	list, err := s.ListFunctions(ctxT(t))
	if err != nil {
		t.Fatalf("ListFunctions = %v", err)
	}
	var got []string
	for _, f := range list {
		got = append(got, f.Name)
	}
	if diff := cmp.Diff(names, got); diff != "" {
		t.Errorf("ListFunctions names (-want +got):\n%s", diff)
	}
	list[0].Tags["team"] = "changed"
	if f, _ := s.Catalog().Lookup(names[0]); f.Tags["team"] != "x" {
		t.Errorf("modifying ListFunctions' result changed the Catalog")
	}
	if c := s.Catalog().List(); len(c) != n {
		t.Errorf("Catalog.List has %d functions, want %d", len(c), n)
	}
}

func testEvents(t *testing.T, js jetstream.JetStream) {
	s := Open(t, js)
	var mu sync.Mutex
	var events []store.Event
	unsubscribe := s.Catalog().Subscribe(func(e store.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	})
	f := NewFunction(t, s, "ev")
	mustCreate(t, s, f)
	g, err := s.UpdateFunction(ctxT(t), "ev", func(g *lambda.Function) error { g.Timeout = 10; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFunction(ctxT(t), "ev"); err != nil {
		t.Fatal(err)
	}
	unsubscribe()
	mustCreate(t, s, NewFunction(t, s, "after-unsubscribe"))

	// Writes wait for their revision, and subscribers run before that: no polling needed.
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 3 {
		t.Fatalf("got %d events, want 3 (create, update, delete): %+v", len(events), events)
	}
	type summary struct {
		Name               string
		Function, Previous string // RevisionIDs, "" for nil
		RevisionIncreasing bool
	}
	rid := func(f *lambda.Function) string {
		if f == nil {
			return ""
		}
		return f.RevisionID
	}
	var got []summary
	for i, e := range events {
		got = append(got, summary{e.Name, rid(e.Function), rid(e.Previous), i == 0 || e.Revision > events[i-1].Revision})
	}
	want := []summary{
		{"ev", f.RevisionID, "", true},
		{"ev", g.RevisionID, f.RevisionID, true},
		{"ev", "", g.RevisionID, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// testTwoNodes: a write on one Store reaches the other's Catalog, and the other's
// ListFunctions and GetFunction see it at once.
func testTwoNodes(t *testing.T, js jetstream.JetStream) {
	a := Open(t, js)
	f := NewFunction(t, a, "early")
	mustCreate(t, a, f)
	b := Open(t, js) // loads what exists
	if _, ok := b.Catalog().Lookup("early"); !ok {
		t.Errorf("a Store opened later does not have an existing function in its Catalog")
	}
	g := NewFunction(t, a, "late")
	mustCreate(t, a, g)
	if _, err := b.GetFunction(ctxT(t), "late"); err != nil {
		t.Errorf("GetFunction on the other node = %v", err)
	}
	list, err := b.ListFunctions(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Errorf("ListFunctions on the other node right after a create has %d functions, want 2", len(list))
	}
	if err := b.Sync(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Catalog().Lookup("late"); !ok {
		t.Errorf("Catalog of the other node lacks the function after Sync")
	}
	if err := a.DeleteFunction(ctxT(t), "late"); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Catalog().Lookup("late"); ok {
		t.Errorf("Catalog of the other node still has a deleted function after Sync")
	}
}

// testOpenDuringWrites: a Store opened while another node rewrites records loads every
// record; none is missing because its message was replaced during the load.
func testOpenDuringWrites(t *testing.T, js jetstream.JetStream) {
	a := Open(t, js)
	const n = 20
	for i := range n {
		mustCreate(t, a, NewFunction(t, a, fmt.Sprintf("w-%02d", i)))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w-%02d", (i*7+w)%n)
				if _, err := a.UpdateFunction(ctxT(t), name, func(f *lambda.Function) error { f.Timeout++; return nil }); err != nil {
					t.Errorf("UpdateFunction = %v", err)
					return
				}
			}
		})
	}
	for i := range 100 {
		b, err := store.Open(ctxT(t), js, store.Config{})
		if err != nil {
			t.Fatalf("Open #%d during writes = %v", i, err)
		}
		got := len(b.Catalog().List())
		_ = b.Close()
		if got != n {
			t.Fatalf("Open #%d during writes loaded %d functions, want %d", i, got, n)
		}
	}
}

func testCode(t *testing.T, js jetstream.JetStream) {
	s := Open(t, js)
	for _, size := range []int{0, 1, 128 * 1024, 3*1024*1024 + 7} { // multi-chunk too
		zip := Zip(t, size)
		sum := sha256.Sum256(zip)
		want := hex.EncodeToString(sum[:])
		sha, err := s.PutCode(ctxT(t), zip)
		if err != nil {
			t.Fatalf("PutCode(%d bytes) = %v", size, err)
		}
		if sha != want {
			t.Errorf("PutCode(%d bytes) = %s, want %s", size, sha, want)
		}
		if again, err := s.PutCode(ctxT(t), zip); err != nil || again != sha {
			t.Errorf("second PutCode(%d bytes) = %s, %v; want %s", size, again, err, sha)
		}
		got, err := s.GetCode(ctxT(t), sha)
		if err != nil {
			t.Fatalf("GetCode(%d bytes) = %v", size, err)
		}
		if !bytes.Equal(got, zip) {
			t.Errorf("GetCode(%d bytes) returned %d different bytes", size, len(got))
		}
	}
	if _, err := s.GetCode(ctxT(t), hex.EncodeToString(make([]byte, 32))); !errors.Is(err, store.ErrCodeNotFound) {
		t.Errorf("GetCode(unknown) = %v, want ErrCodeNotFound", err)
	}

	// Concurrent puts of one zip on two nodes all succeed and leave it readable.
	a, b := s, Open(t, js)
	zip := Zip(t, 300*1024)
	var wg sync.WaitGroup
	for i := range 6 {
		n := a
		if i%2 == 1 {
			n = b
		}
		wg.Go(func() {
			if _, err := n.PutCode(ctxT(t), zip); err != nil {
				t.Errorf("concurrent PutCode = %v", err)
			}
		})
	}
	wg.Wait()
	sum := sha256.Sum256(zip)
	if got, err := b.GetCode(ctxT(t), hex.EncodeToString(sum[:])); err != nil || !bytes.Equal(got, zip) {
		t.Errorf("GetCode after concurrent puts: %d bytes, %v", len(got), err)
	}
}

func testSweepCode(t *testing.T, js jetstream.JetStream) {
	s := Open(t, js)
	f := NewFunction(t, s, "keeper")
	mustCreate(t, s, f)
	orphan := Zip(t, 200*1024)
	orphanSHA, err := s.PutCode(ctxT(t), orphan)
	if err != nil {
		t.Fatal(err)
	}
	if removed, err := s.SweepCode(ctxT(t), time.Hour); err != nil || len(removed) != 0 {
		t.Errorf("SweepCode(1h) of young code = %v, %v; want nothing removed", removed, err)
	}
	removed, err := s.SweepCode(ctxT(t), 0)
	if err != nil {
		t.Fatalf("SweepCode(0) = %v", err)
	}
	// "keeper" references its own code; the orphan is the only unreferenced object.
	if diff := cmp.Diff([]string{orphanSHA}, removed); diff != "" {
		t.Errorf("SweepCode(0) removed (-want +got):\n%s", diff)
	}
	if _, err := s.GetCode(ctxT(t), orphanSHA); !errors.Is(err, store.ErrCodeNotFound) {
		t.Errorf("GetCode(swept) = %v, want ErrCodeNotFound", err)
	}
	if _, err := s.GetCode(ctxT(t), f.CodeSHA256); err != nil {
		t.Errorf("GetCode(referenced) after sweep = %v", err)
	}
	// Swept code can be put again.
	if _, err := s.PutCode(ctxT(t), orphan); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetCode(ctxT(t), orphanSHA); err != nil || !bytes.Equal(got, orphan) {
		t.Errorf("GetCode after re-put: %d bytes, %v", len(got), err)
	}
	// Deleting the function makes its code unreferenced.
	if err := s.DeleteFunction(ctxT(t), "keeper"); err != nil {
		t.Fatal(err)
	}
	removed, err = s.SweepCode(ctxT(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 {
		t.Errorf("SweepCode after delete removed %v, want both objects", removed)
	}
	if removed, err := s.SweepCode(ctxT(t), 0); err != nil || len(removed) != 0 {
		t.Errorf("SweepCode of an empty bucket = %v, %v", removed, err)
	}
}

// testSweepRacesCreate: sweeps running on one node while another creates functions from
// old, unreferenced code never leave a function without its code.
func testSweepRacesCreate(t *testing.T, js jetstream.JetStream) {
	if testing.Short() {
		t.Skip("waits for code to age")
	}
	creator, sweeper := Open(t, js), Open(t, js)
	const minAge = 1500 * time.Millisecond
	var zips [][]byte
	for range 10 {
		z := Zip(t, 10*1024)
		if _, err := creator.PutCode(ctxT(t), z); err != nil {
			t.Fatal(err)
		}
		zips = append(zips, z)
	}
	// Age is the condition under test, so the test has to let the objects grow old.
	time.Sleep(minAge + 100*time.Millisecond)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	sweeps := 0
	stopSweeping := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopSweeping() // also when a Fatalf below ends the test early
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := sweeper.SweepCode(ctxT(t), minAge); err != nil {
				t.Errorf("SweepCode = %v", err)
				return
			}
			sweeps++
		}
	})
	for i, z := range zips {
		sha, err := creator.PutCode(ctxT(t), z)
		if err != nil {
			t.Fatalf("PutCode = %v", err)
		}
		f := NewFunction(t, creator, fmt.Sprintf("r-%d", i))
		f.CodeSHA256 = sha
		if err := creator.CreateFunction(ctxT(t), f); err != nil {
			t.Fatalf("CreateFunction = %v", err)
		}
	}
	stopSweeping()
	if sweeps == 0 {
		t.Fatalf("no sweep ran during the creates")
	}
	list, err := creator.ListFunctions(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range list {
		if _, err := creator.GetCode(ctxT(t), f.CodeSHA256); err != nil {
			t.Errorf("function %s lost its code to a concurrent sweep: %v", f.Name, err)
		}
	}
}

func testClose(t *testing.T, js jetstream.JetStream) {
	s, err := store.Open(ctxT(t), js, store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = s.Catalog().WaitRevision(ctx, s.Catalog().Revision()+1)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitRevision after Close = %v, want a prompt 'stopped' error", err)
	}
}

// testVersions: published versions and aliases live in the function's record; the Catalog
// resolves every qualifier from memory (after a reopen too), a weighted alias routes by its
// weight, and code that only a version references is kept by SweepCode.
func testVersions(t *testing.T, js jetstream.JetStream) {
	s := Open(t, js)
	f := NewFunction(t, s, "versioned")
	mustCreate(t, s, f)
	v1Code := f.CodeSHA256
	newCode, err := s.PutCode(ctxT(t), Zip(t, 500))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateFunction(ctxT(t), "versioned", func(f *lambda.Function) error {
		v := *f
		v.Version, v.Tags, v.ReservedConcurrency = "1", nil, nil
		f.Versions = append(f.Versions, &v)
		f.LastVersion = 1
		f.CodeSHA256 = newCode
		f.Aliases = []*lambda.Alias{
			{Name: "live", Version: "1", AdditionalVersion: lambda.VersionLatest, AdditionalWeight: 0.25, RevisionID: "r"},
			{Name: "edge", Version: lambda.VersionLatest, RevisionID: "r"},
		}
		n := 7
		f.ReservedConcurrency = &n
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateFunction(add version) = %v", err)
	}
	check := func(s *store.Store) {
		t.Helper()
		for q, want := range map[string]string{"": newCode, "$LATEST": newCode, "1": v1Code, "edge": newCode} {
			got, ok := s.Catalog().Resolve("versioned", q)
			if !ok || got.CodeSHA256 != want {
				t.Errorf("Resolve(versioned, %q) = %v, %v; want code %s", q, got, ok, want)
			}
		}
		if v, _ := s.Catalog().Resolve("versioned", "1"); v.VersionName() != "1" || v.ReservedConcurrency == nil || *v.ReservedConcurrency != 7 {
			t.Errorf("Resolve(versioned, 1): version %q, reserved %v; want 1 and the function's 7", v.VersionName(), v.ReservedConcurrency)
		}
		for _, q := range []string{"2", "prod", "0"} {
			if got, ok := s.Catalog().Resolve("versioned", q); ok {
				t.Errorf("Resolve(versioned, %q) = %v, want not found", q, got.VersionName())
			}
		}
		latest := 0
		for range 4000 {
			v, _ := s.Catalog().Resolve("versioned", "live")
			if v.VersionName() == lambda.VersionLatest {
				latest++
			}
		}
		if latest < 800 || latest > 1200 { // 1000 expected; 6 standard deviations is 164
			t.Errorf("alias live at 25%% to $LATEST sent %d of 4000 there", latest)
		}
	}
	check(s)
	check(Open(t, js)) // another node, or this one restarted

	if removed, err := s.SweepCode(ctxT(t), 0); err != nil || len(removed) != 0 {
		t.Errorf("SweepCode with a version holding the old code removed %v, %v; want nothing", removed, err)
	}
	if _, err := s.UpdateFunction(ctxT(t), "versioned", func(f *lambda.Function) error {
		f.Versions, f.Aliases = nil, nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Catalog().Resolve("versioned", "1"); ok {
		t.Errorf("Resolve(versioned, 1) after deleting the version = found")
	}
	if removed, err := s.SweepCode(ctxT(t), 0); err != nil || len(removed) != 1 || removed[0] != v1Code {
		t.Errorf("SweepCode after deleting the version = %v, %v; want [%s]", removed, err, v1Code)
	}
}
