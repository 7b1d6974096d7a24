package codezip

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// attack is one hostile archive and the sentinel it must be refused with.
type attack struct {
	name string
	zip  func(t testing.TB) []byte
	lim  Limits
	want error
}

func attacks() []attack {
	one := func(m ...member) func(t testing.TB) []byte {
		return func(t testing.TB) []byte { return makeZip(t, m...) }
	}
	ok := member{name: "bootstrap", body: "#!/bin/sh\n", mode: 0o755}
	return []attack{
		{"dot-dot", one(ok, member{name: "../evil", body: "x"}), Limits{}, ErrInvalidZip},
		{"dot-dot inside", one(member{name: "a/../../evil", body: "x"}), Limits{}, ErrInvalidZip},
		{"dot-dot dir", one(member{name: "../d/"}), Limits{}, ErrInvalidZip},
		{"absolute", one(member{name: "/tmp/evil", body: "x"}), Limits{}, ErrInvalidZip},
		{"backslash dot-dot", one(member{name: `..\evil`, body: "x"}), Limits{}, ErrInvalidZip},
		{"backslash path", one(member{name: `a\..\..\evil`, body: "x"}), Limits{}, ErrInvalidZip},
		{"windows absolute", one(member{name: `C:\evil`, body: "x"}), Limits{}, ErrInvalidZip},
		{"nul byte", one(member{name: "a\x00.txt", body: "x"}), Limits{}, ErrInvalidZip},
		{"newline", one(member{name: "a\n.txt", body: "x"}), Limits{}, ErrInvalidZip},
		{"invalid utf-8", one(member{name: "a\xff.txt", body: "x"}), Limits{}, ErrInvalidZip},
		{"empty name", one(member{name: "", body: "x"}), Limits{}, ErrInvalidZip},
		{"dot name", one(member{name: ".", body: "x"}), Limits{}, ErrInvalidZip},
		{"component too long", one(member{name: strings.Repeat("a", 256), body: "x"}), Limits{}, ErrInvalidZip},
		{"too deep", one(member{name: strings.Repeat("d/", 129) + "f", body: "x"}), Limits{}, ErrInvalidZip},
		{"duplicate", one(ok, member{name: "bootstrap", body: "other"}), Limits{}, ErrInvalidZip},
		{"duplicate after cleaning", one(member{name: "a/b", body: "1"}, member{name: "a/./b", body: "2"}), Limits{}, ErrInvalidZip},
		{"duplicate dir", one(member{name: "d/"}, member{name: "d//"}), Limits{}, ErrInvalidZip},
		{"file then dir of same name", one(member{name: "a", body: "1"}, member{name: "a/"}), Limits{}, ErrInvalidZip},
		{"entry beneath a file", one(member{name: "a", body: "1"}, member{name: "a/b", body: "2"}), Limits{}, ErrInvalidZip},
		{"symlink absolute", one(member{name: "passwd", body: "/etc/passwd", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrInvalidZip},
		{"symlink to proc", one(member{name: "root", body: "/proc/self/root", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrInvalidZip},
		{"symlink dot-dot", one(member{name: "up", body: "../../etc", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrInvalidZip},
		{"symlink nested dot-dot", one(member{name: "a/b/up", body: "../../../x", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrInvalidZip},
		// b/c -> "." makes "b/c/../.." climb two levels from b, not from b/c: out of the tree,
		// although the text "b/c/../.." cleans to ".".
		{"symlink chain escape", one(
			member{name: "b/c", body: ".", mode: fs.ModeSymlink | 0o777},
			member{name: "a", body: "b/c/../..", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrInvalidZip},
		{"symlink via sibling link", one(
			member{name: "x/up", body: "..", mode: fs.ModeSymlink | 0o777},
			member{name: "y", body: "x/up/..", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrInvalidZip},
		{"symlink loop", one(
			member{name: "a", body: "b", mode: fs.ModeSymlink | 0o777},
			member{name: "b", body: "a", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrInvalidZip},
		{"symlink empty target", one(member{name: "l", body: "", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrInvalidZip},
		{"symlink target too long", one(member{name: "l", body: strings.Repeat("a/", 2100), mode: fs.ModeSymlink | 0o777}), Limits{}, ErrInvalidZip},
		{"symlink target with nul", one(member{name: "l", body: "a\x00b", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrInvalidZip},
		{"write through symlink", one(
			member{name: "d", body: "sub", mode: fs.ModeSymlink | 0o777},
			member{name: "d/evil", body: "x"}), Limits{}, ErrInvalidZip},
		{"write through absolute symlink", one(
			member{name: "tmp", body: "/tmp", mode: fs.ModeSymlink | 0o777},
			member{name: "tmp/evil", body: "x"}), Limits{}, ErrInvalidZip},
		{"symlink named as dir", one(member{name: "l/", body: "", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrInvalidZip},
		{"char device", one(member{name: "null", mode: fs.ModeDevice | fs.ModeCharDevice | 0o666}), Limits{}, ErrInvalidZip},
		{"block device", one(member{name: "sda", mode: fs.ModeDevice | 0o660}), Limits{}, ErrInvalidZip},
		{"fifo", one(member{name: "pipe", mode: fs.ModeNamedPipe | 0o644}), Limits{}, ErrInvalidZip},
		{"socket", one(member{name: "sock", mode: fs.ModeSocket | 0o755}), Limits{}, ErrInvalidZip},
		{"setuid", one(member{name: "bootstrap", body: "x", mode: fs.ModeSetuid | 0o755}), Limits{}, ErrInvalidZip},
		{"setgid", one(member{name: "bootstrap", body: "x", mode: fs.ModeSetgid | 0o755}), Limits{}, ErrInvalidZip},
		{"sticky dir", one(member{name: "tmp/", mode: fs.ModeDir | fs.ModeSticky | 0o777}), Limits{}, ErrInvalidZip},
		{"directory with content", func(t testing.TB) []byte {
			return makeZip(t, member{raw: storedRaw("d/", "data", 4)})
		}, Limits{}, ErrInvalidZip},
		{"encrypted", func(t testing.TB) []byte {
			h := storedRaw("secret", "xxxx", 4)
			h.Flags |= 1
			return makeZip(t, member{raw: h, body: "xxxx"})
		}, Limits{}, ErrInvalidZip},
		{"unknown compression", func(t testing.TB) []byte {
			h := storedRaw("f", "xxxx", 4)
			h.Method = 14 // LZMA
			return makeZip(t, member{raw: h, body: "xxxx"})
		}, Limits{}, ErrInvalidZip},
		{"bad checksum", func(t testing.TB) []byte {
			h := storedRaw("f", "good", 4)
			return makeZip(t, member{raw: h, body: "evil"})
		}, Limits{}, ErrInvalidZip},
		{"declared smaller than content", func(t testing.TB) []byte {
			return makeZip(t, member{raw: storedRaw("f", "0123456789", 3), body: "0123456789"})
		}, Limits{}, ErrInvalidZip},
		{"declared larger than content", func(t testing.TB) []byte {
			return makeZip(t, member{raw: storedRaw("f", "0123", 10), body: "0123"})
		}, Limits{}, ErrInvalidZip},
		{"truncated", func(t testing.TB) []byte {
			b := makeZip(t, ok, member{name: "lib/big.txt", body: strings.Repeat("data ", 1000)})
			return b[:len(b)/2]
		}, Limits{}, ErrInvalidZip},
		{"central directory cut", func(t testing.TB) []byte {
			b := makeZip(t, ok, member{name: "x", body: "y"})
			return b[:len(b)-10]
		}, Limits{}, ErrInvalidZip},
		{"not a zip", func(t testing.TB) []byte { return []byte("#!/bin/sh\necho hello\n") }, Limits{}, ErrInvalidZip},
		{"empty input", func(t testing.TB) []byte { return nil }, Limits{}, ErrInvalidZip},
		{"gzip", func(t testing.TB) []byte {
			return []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00")
		}, Limits{}, ErrInvalidZip},
		{"overlapping entries", func(t testing.TB) []byte {
			b := makeZip(t, member{name: "a", body: strings.Repeat("A", 100)}, member{name: "b", body: strings.Repeat("A", 100)})
			return patchCentral(t, b, "b", func(rec []byte) { binary.LittleEndian.PutUint32(rec[42:], 0) })
		}, Limits{}, ErrInvalidZip},
		{"too many entries", func(t testing.TB) []byte {
			var ms []member
			for i := 0; i < 11; i++ {
				ms = append(ms, member{name: "f" + string(rune('a'+i)), body: "x"})
			}
			return makeZip(t, ms...)
		}, Limits{MaxEntries: 10}, ErrInvalidZip},
		{"more records than the count says", func(t testing.TB) []byte {
			// 65541 records while the end record says 5: archive/zip only checks the count
			// modulo 65536, so only counting the records first bounds the memory.
			return manyEmptyEntries(65541, false)
		}, Limits{MaxEntries: 1000}, ErrInvalidZip},
		{"bomb by declared size", func(t testing.TB) []byte {
			return makeZip(t, ok, member{raw: storedRaw("big", "tiny", DefaultMaxUnzipped), body: "tiny"})
		}, Limits{}, ErrUnzippedTooLarge},
		{"bomb of honest members", func(t testing.TB) []byte {
			zeros := strings.Repeat("\x00", 600<<10)
			return makeZip(t, member{name: "z1", body: zeros}, member{name: "z2", body: zeros})
		}, Limits{MaxUnzipped: 1 << 20}, ErrUnzippedTooLarge},
		{"single member bomb", func(t testing.TB) []byte {
			return makeZip(t, member{name: "z", body: strings.Repeat("\x00", 2<<20)})
		}, Limits{MaxUnzipped: 1 << 20}, ErrUnzippedTooLarge},
	}
}

func TestAttackCorpusRefused(t *testing.T) {
	for _, a := range attacks() {
		t.Run(a.name, func(t *testing.T) {
			b := a.zip(t)
			if _, err := Validate(context.Background(), b, a.lim); !errors.Is(err, a.want) {
				t.Errorf("Validate = %v, want %v", err, a.want)
			}
			box := t.TempDir()
			parent := filepath.Join(box, "cache")
			if err := os.Mkdir(parent, 0o755); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(parent, "code")
			_, err := Extract(context.Background(), b, dest, a.lim)
			if !errors.Is(err, a.want) {
				t.Fatalf("Extract = %v, want %v", err, a.want)
			}
			if other := ErrInvalidZip; a.want == ErrInvalidZip {
				other = ErrUnzippedTooLarge
				if errors.Is(err, other) {
					t.Errorf("Extract error %v matches both sentinels", err)
				}
			}
			if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("destination exists after refusal (Lstat = %v)", err)
			}
			if names := dirNames(t, parent); len(names) != 0 {
				t.Errorf("left behind in %s: %v", parent, names)
			}
			if names := dirNames(t, box); len(names) != 1 {
				t.Errorf("written beside the cache dir: %v", names)
			}
		})
	}
}

func TestExtractTree(t *testing.T) {
	mtime := time.Date(2025, 6, 1, 12, 30, 0, 0, time.UTC)
	b := makeZip(t,
		member{name: "bootstrap", body: "#!/bin/sh\necho hi\n", mode: 0o755, mtime: mtime},
		member{name: "lib/", mode: fs.ModeDir | 0o700},
		member{name: "lib/libfoo.so.1", body: "ELF", mode: 0o644},
		member{name: "lib/libfoo.so", body: "libfoo.so.1", mode: fs.ModeSymlink | 0o777},
		member{name: "a/b/c/deep.txt", body: "deep", mode: 0o600}, // parents only implied
		member{name: "empty/", mode: fs.ModeDir | 0o755},
		member{name: "bin/tool", body: "../lib/libfoo.so", mode: fs.ModeSymlink | 0o777},
		member{name: "current", body: "lib", mode: fs.ModeSymlink | 0o777},
		member{name: "node_modules/.bin/cli", body: "../pkg/cli.js", mode: fs.ModeSymlink | 0o777},
		member{name: "node_modules/pkg/cli.js", body: "#!/usr/bin/env node\n", mode: 0o750},
		member{name: "dangling", body: "not/there", mode: fs.ModeSymlink | 0o777},
		member{name: "self", body: ".", mode: fs.ModeSymlink | 0o777},
		member{name: "./dotted.py", body: "print(1)\n"},
		member{name: "win/", dos: true},
		member{name: "win/handler.exe.txt", body: "made on windows", dos: true},
		member{name: "plain.txt", body: "no mode"},
		member{name: "noexec.sh", body: "echo", mode: 0o644},
	)
	dest := filepath.Join(t.TempDir(), "cache", "sha256-abc")
	sum, err := Extract(context.Background(), b, dest, Limits{})
	if err != nil {
		t.Fatalf("Extract = %v", err)
	}
	want := []string{
		". drwxr-xr-x",
		"a drwxr-xr-x",
		"a/b drwxr-xr-x",
		"a/b/c drwxr-xr-x",
		"a/b/c/deep.txt -rw-r--r--",
		"bin drwxr-xr-x",
		"bin/tool Lrwxrwxrwx -> ../lib/libfoo.so",
		"bootstrap -rwxr-xr-x",
		"current Lrwxrwxrwx -> lib",
		"dangling Lrwxrwxrwx -> not/there",
		"dotted.py -rw-r--r--",
		"empty drwxr-xr-x",
		"lib drwxr-xr-x",
		"lib/libfoo.so Lrwxrwxrwx -> libfoo.so.1",
		"lib/libfoo.so.1 -rw-r--r--",
		"node_modules drwxr-xr-x",
		"node_modules/.bin drwxr-xr-x",
		"node_modules/.bin/cli Lrwxrwxrwx -> ../pkg/cli.js",
		"node_modules/pkg drwxr-xr-x",
		"node_modules/pkg/cli.js -rwxr-xr-x",
		"noexec.sh -rw-r--r--",
		"plain.txt -rw-r--r--",
		"self Lrwxrwxrwx -> .",
		"win drwxr-xr-x",
		"win/handler.exe.txt -rw-r--r--",
	}
	if diff := cmp.Diff(want, listTree(t, dest)); diff != "" {
		t.Errorf("extracted tree (-want +got):\n%s", diff)
	}
	wantSum := Summary{Files: 8, Dirs: 3, Symlinks: 6, Size: int64(len("#!/bin/sh\necho hi\n") + 3 + 4 + 20 + 9 + 15 + 7 + 4)}
	if sum != wantSum {
		t.Errorf("Extract summary = %+v, want %+v", sum, wantSum)
	}
	for name, body := range map[string]string{"bootstrap": "#!/bin/sh\necho hi\n", "a/b/c/deep.txt": "deep", "bin/tool": "ELF", "current/libfoo.so.1": "ELF"} {
		got, err := os.ReadFile(filepath.Join(dest, name))
		if err != nil || string(got) != body {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", name, got, err, body)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "bootstrap")); err != nil || !fi.ModTime().Equal(mtime) {
		t.Errorf("bootstrap mtime = %v (%v), want %v", fi.ModTime(), err, mtime)
	}
	vsum, err := Validate(context.Background(), b, Limits{})
	if err != nil || vsum != sum {
		t.Errorf("Validate = %+v, %v; want %+v as Extract reported", vsum, err, sum)
	}
	if names := dirNames(t, filepath.Dir(dest)); len(names) != 1 {
		t.Errorf("cache dir holds %v, want only the tree", names)
	}
}

// TestExtractIgnoresUmask checks modes are exact even under a restrictive umask, since the
// sandbox user must read what the server wrote.
func TestExtractIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	b := makeZip(t, member{name: "bootstrap", body: "x", mode: 0o755}, member{name: "d/f", body: "y"})
	dest := filepath.Join(t.TempDir(), "code")
	if _, err := Extract(context.Background(), b, dest, Limits{}); err != nil {
		t.Fatal(err)
	}
	want := []string{". drwxr-xr-x", "bootstrap -rwxr-xr-x", "d drwxr-xr-x", "d/f -rw-r--r--"}
	if diff := cmp.Diff(want, listTree(t, dest)); diff != "" {
		t.Errorf("tree under umask 077 (-want +got):\n%s", diff)
	}
}

func TestExtractExistingDestination(t *testing.T) {
	b := makeZip(t, member{name: "bootstrap", body: "new", mode: 0o755})
	for _, tc := range []struct {
		name  string
		setup func(dest string) error
	}{
		{"non-empty dir", func(dest string) error {
			if err := os.Mkdir(dest, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dest, "bootstrap"), []byte("old"), 0o755)
		}},
		{"empty dir", func(dest string) error { return os.Mkdir(dest, 0o755) }},
		{"symlink", func(dest string) error { return os.Symlink(os.TempDir(), dest) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dest := filepath.Join(parent, "code")
			if err := tc.setup(dest); err != nil {
				t.Fatal(err)
			}
			before := listTree(t, parent)
			if _, err := Extract(context.Background(), b, dest, Limits{}); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("Extract over existing %s = %v, want fs.ErrExist", tc.name, err)
			}
			if diff := cmp.Diff(before, listTree(t, parent)); diff != "" {
				t.Errorf("Extract changed the parent (-before +after):\n%s", diff)
			}
		})
	}
}

func TestRenameNoReplaceRace(t *testing.T) {
	// The destination appears after Extract's first check: the final rename must not replace it.
	parent := t.TempDir()
	from := filepath.Join(parent, "from")
	to := filepath.Join(parent, "to")
	for _, d := range []string{from, to} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := renameNoReplace(from, to); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("renameNoReplace onto an empty dir = %v, want fs.ErrExist", err)
	}
}

func TestExtractCanceled(t *testing.T) {
	b := makeZip(t, member{name: "a", body: strings.Repeat("x", 1<<20)}, member{name: "b", body: "y"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	parent := t.TempDir()
	dest := filepath.Join(parent, "code")
	if _, err := Extract(ctx, b, dest, Limits{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Extract(canceled) = %v, want context.Canceled", err)
	}
	if names := dirNames(t, parent); len(names) != 0 {
		t.Errorf("left behind after cancel: %v", names)
	}
}

func TestRemoveStaleTemp(t *testing.T) {
	parent := t.TempDir()
	for _, d := range []string{tempPrefix + "code-123/sub", "keep", ".other"} {
		if err := os.MkdirAll(filepath.Join(parent, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveStaleTemp(parent); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{".other", "keep"}, dirNames(t, parent)); diff != "" {
		t.Errorf("after RemoveStaleTemp (-want +got):\n%s", diff)
	}
	if err := RemoveStaleTemp(filepath.Join(parent, "missing")); err != nil {
		t.Errorf("RemoveStaleTemp(missing dir) = %v, want nil", err)
	}
}

func TestEmptyArchive(t *testing.T) {
	b := makeZip(t)
	dest := filepath.Join(t.TempDir(), "code")
	sum, err := Extract(context.Background(), b, dest, Limits{})
	if err != nil || sum != (Summary{}) {
		t.Fatalf("Extract(empty zip) = %+v, %v; want an empty tree", sum, err)
	}
	if names := dirNames(t, dest); len(names) != 0 {
		t.Errorf("empty archive produced %v", names)
	}
}
