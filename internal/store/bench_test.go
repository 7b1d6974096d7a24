package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/natsd"
	"github.com/nimbusfaas/nimbus/internal/store"
	"github.com/nimbusfaas/nimbus/internal/store/storetest"
)

func benchStore(b *testing.B, dir string) (*natsd.Server, *store.Store) {
	b.Helper()
	srv, err := natsd.Start(context.Background(), natsd.Config{DataDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	s, err := store.Open(context.Background(), srv.JetStream(), store.Config{})
	if err != nil {
		b.Fatal(err)
	}
	return srv, s
}

func seed(b *testing.B, s *store.Store, n int) {
	ctx := context.Background()
	sha, err := s.PutCode(ctx, storetest.Zip(b, 4096))
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		f := &lambda.Function{Name: fmt.Sprintf("f-%04d", i), Runtime: "provided.al2023", Handler: "h",
			CodeSHA256: sha, CodeSize: 4096, Environment: map[string]string{"K": "V"}}
		if err := s.CreateFunction(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStartOpen is the store's share of a server start: embedded NATS up, buckets
// bound and the Catalog loaded, on a fresh data dir and on one holding 500 functions.
func BenchmarkStartOpen(b *testing.B) {
	for _, n := range []int{0, 500} {
		b.Run(fmt.Sprintf("functions=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			srv, s := benchStore(b, dir)
			seed(b, s, n)
			s.Close()
			srv.Close()
			for b.Loop() {
				srv, s := benchStore(b, dir)
				if got := len(s.Catalog().List()); got != n {
					b.Fatalf("Catalog has %d functions, want %d", got, n)
				}
				s.Close()
				srv.Close()
			}
		})
	}
}

func BenchmarkOps(b *testing.B) {
	ctx := context.Background()
	srv, s := benchStore(b, b.TempDir())
	defer srv.Close()
	defer s.Close()
	seed(b, s, 100)
	sha, err := s.PutCode(ctx, storetest.Zip(b, 4096))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Lookup", func(b *testing.B) {
		for b.Loop() {
			if _, ok := s.Catalog().Lookup("f-0042"); !ok {
				b.Fatal("missing")
			}
		}
	})
	b.Run("GetFunction", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.GetFunction(ctx, "f-0042"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UpdateFunction", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.UpdateFunction(ctx, "f-0042", func(f *lambda.Function) error { f.Timeout++; return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CreateDeleteFunction", func(b *testing.B) {
		for b.Loop() {
			if err := s.CreateFunction(ctx, &lambda.Function{Name: "tmp", CodeSHA256: sha}); err != nil {
				b.Fatal(err)
			}
			if err := s.DeleteFunction(ctx, "tmp"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ListFunctions100", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.ListFunctions(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PutCodeExisting", func(b *testing.B) {
		zip := storetest.Zip(b, 1<<20)
		for b.Loop() {
			if _, err := s.PutCode(ctx, zip); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PutGetCode1MB", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			zip := storetest.Zip(b, 1<<20)
			b.StartTimer()
			sha, err := s.PutCode(ctx, zip)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.GetCode(ctx, sha); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkResolve is the catalog's share of the invoke path for each kind of qualifier,
// next to the unqualified Lookup it replaces, on a function with 100 published versions and
// 20 aliases: what alias routing adds to an invocation (issue 12's budget: 10 µs at p50).
func BenchmarkResolve(b *testing.B) {
	srv, s := benchStore(b, b.TempDir())
	defer srv.Close()
	defer s.Close()
	seed(b, s, 100)
	ctx := context.Background()
	_, err := s.UpdateFunction(ctx, "f-0042", func(f *lambda.Function) error {
		for i := 1; i <= 100; i++ {
			v := *f
			v.Version, v.Versions = fmt.Sprint(i), nil
			f.Versions = append(f.Versions, &v)
		}
		f.LastVersion = 100
		for i := range 20 {
			f.Aliases = append(f.Aliases, &lambda.Alias{Name: fmt.Sprintf("a%02d", i), Version: fmt.Sprint(50 + i)})
		}
		f.Aliases = append(f.Aliases, &lambda.Alias{Name: "live", Version: "99", AdditionalVersion: "100", AdditionalWeight: 0.1})
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	c := s.Catalog()
	b.Run("lookup", func(b *testing.B) {
		for b.Loop() {
			if _, ok := c.Lookup("f-0042"); !ok {
				b.Fatal("not found")
			}
		}
	})
	for _, q := range []string{"", "$LATEST", "77", "a07", "live"} {
		b.Run("qualifier="+q, func(b *testing.B) {
			for b.Loop() {
				if _, ok := c.Resolve("f-0042", q); !ok {
					b.Fatal("not found")
				}
			}
		})
	}
}
