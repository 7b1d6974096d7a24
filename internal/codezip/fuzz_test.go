package codezip

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzExtract extracts arbitrary bytes into a fresh directory and checks that Extract never
// panics, refuses only with the two sentinels, leaves nothing when it refuses, never writes
// beside its destination, agrees with Validate, and that every symlink it creates stays inside
// the tree when the kernel resolves it (os.Root is the independent judge). It also checks the
// central-directory pre-count against archive/zip on every input archive/zip accepts.
func FuzzExtract(f *testing.F) {
	for _, a := range attacks() {
		if a.name == "more records than the count says" || strings.Contains(a.name, "bomb of") || a.name == "single member bomb" {
			continue // large seeds slow every fuzz iteration down
		}
		f.Add(a.zip(f))
	}
	f.Add(makeZip(f,
		member{name: "bootstrap", body: "#!/bin/sh\n", mode: 0o755},
		member{name: "lib/a.so.1", body: "ELF"},
		member{name: "lib/a.so", body: "a.so.1", mode: fs.ModeSymlink | 0o777},
		member{name: "x/y/up", body: "../../lib", mode: fs.ModeSymlink | 0o777},
		member{name: "d/"},
	))
	box := f.TempDir()
	parent := filepath.Join(box, "cache")
	sentinel := filepath.Join(box, "sentinel")
	if err := os.WriteFile(sentinel, []byte("untouched"), 0o644); err != nil {
		f.Fatal(err)
	}
	lim := Limits{MaxUnzipped: 1 << 20, MaxEntries: 200}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(parent)
		dest := filepath.Join(parent, "code")
		sum, err := Extract(context.Background(), b, dest, lim)
		vsum, verr := Validate(context.Background(), b, lim)
		if (err == nil) != (verr == nil) || sum != vsum {
			t.Fatalf("Extract = %+v, %v but Validate = %+v, %v", sum, err, vsum, verr)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidZip) && !errors.Is(err, ErrUnzippedTooLarge) {
				t.Fatalf("Extract = %v, want ErrInvalidZip or ErrUnzippedTooLarge", err)
			}
			if names := dirNames(t, parent); len(names) != 0 {
				t.Fatalf("Extract failed (%v) and left %v", err, names)
			}
		} else {
			checkTreeInside(t, dest)
			if names := dirNames(t, parent); len(names) != 1 || names[0] != "code" {
				t.Fatalf("Extract left %v beside the tree", names)
			}
		}
		if names := dirNames(t, box); len(names) != 2 {
			t.Fatalf("Extract wrote beside its parent: %v", names)
		}
		if got, _ := os.ReadFile(sentinel); string(got) != "untouched" {
			t.Fatalf("sentinel file changed to %q", got)
		}
		if zr, zerr := zip.NewReader(bytes.NewReader(b), int64(len(b))); zerr == nil {
			if n, ok := countCentralDirectory(b, 1<<30); !ok || n != len(zr.File) {
				t.Fatalf("countCentralDirectory = %d, %v; archive/zip loads %d", n, ok, len(zr.File))
			}
		}
	})
}

// checkTreeInside walks an extracted tree: only directories, regular files and symlinks, no
// special mode bits, and every symlink resolvable through os.Root without escaping it.
func checkTreeInside(t *testing.T, dest string) {
	t.Helper()
	root, err := os.OpenRoot(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	err = filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		mode := fi.Mode()
		if mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 || mode&fs.ModeType&^(fs.ModeDir|fs.ModeSymlink) != 0 {
			t.Fatalf("%s has mode %v", p, mode)
		}
		if mode&fs.ModeSymlink != 0 {
			rel, _ := filepath.Rel(dest, p)
			if _, err := root.Stat(rel); err != nil && strings.Contains(err.Error(), "escapes") {
				t.Fatalf("symlink %s escapes the tree: %v", rel, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
