package cli

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tree writes files (path → content; a trailing "*" makes the file executable, a content of
// "-> target" makes a symlink) under a new directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "*") {
			name, mode = strings.TrimSuffix(name, "*"), 0o700
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "-> "); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type entry struct {
	mode    fs.FileMode
	content string
}

func unzip(t *testing.T, data []byte) map[string]entry {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("zip.NewReader: %v", err)
	}
	out := map[string]entry{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		out[f.Name] = entry{mode: f.Mode(), content: string(b)}
	}
	return out
}

func TestZipDir(t *testing.T) {
	outside := tree(t, map[string]string{"shared.txt": "shared", "lib/x.py": "x"})
	dir := tree(t, map[string]string{
		"lambda_function.py":           "def lambda_handler(e, c): pass",
		"bin/tool*":                    "#!/bin/sh",
		"pkg/mod.py":                   "m",
		"pkg/__pycache__/mod.pyc":      "cache",
		".git/HEAD":                    "ref",
		"node_modules/.cache/x":        "cache",
		"node_modules/left/index.js":   "kept",
		"secrets.env":                  "TOKEN=1",
		"logs/a.log":                   "log",
		"docs/notes.md":                "notes",
		"deep/docs/keep.md":            "kept: docs/ is anchored",
		"tests/test_a.py":              "t",
		"link-in":                      "-> pkg/mod.py",
		"link-out":                     "-> " + filepath.Join(outside, "shared.txt"),
		"dir-out":                      "-> " + filepath.Join(outside, "lib"),
		"dangling":                     "-> nowhere",
		".nimbusignore":                "# comments and blank lines are fine\n\n*.env\nlogs/\n/docs\ntests/*.py\n",
		"nested/.nimbusignore-is-data": "only the top-level file counts",
	})
	var buf bytes.Buffer
	stats, err := ZipDir(dir, &buf, ZipOptions{})
	if err != nil {
		t.Fatalf("ZipDir: %v", err)
	}
	got := unzip(t, buf.Bytes())
	want := map[string]entry{
		"lambda_function.py":           {0o644, "def lambda_handler(e, c): pass"},
		"bin/tool":                     {0o755, "#!/bin/sh"},
		"pkg/mod.py":                   {0o644, "m"},
		"node_modules/left/index.js":   {0o644, "kept"},
		"deep/docs/keep.md":            {0o644, "kept: docs/ is anchored"},
		"link-in":                      {fs.ModeSymlink | 0o777, "pkg/mod.py"},
		"link-out":                     {0o644, "shared"},
		"nested/.nimbusignore-is-data": {0o644, "only the top-level file counts"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(entry{})); diff != "" {
		t.Errorf("ZipDir entries (-want +got):\n%s", diff)
	}
	sort.Strings(stats.Skipped)
	if diff := cmp.Diff([]string{"dangling", "dir-out"}, stats.Skipped); diff != "" {
		t.Errorf("ZipDir skipped (-want +got):\n%s", diff)
	}
	if stats.Files != len(want) {
		t.Errorf("ZipDir counted %d files, want %d", stats.Files, len(want))
	}
	// What was left out, to tell the user.
	if diff := cmp.Diff([]string{"docs/", "logs/", "secrets.env", "tests/test_a.py"}, stats.LeftOut); diff != "" {
		t.Errorf("ZipDir LeftOut (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{".git/", "node_modules/.cache/", "pkg/__pycache__/"}, stats.LeftOutAlways); diff != "" {
		t.Errorf("ZipDir LeftOutAlways (-want +got):\n%s", diff)
	}

	// The same files make the same zip, whatever their times: redeploys can tell nothing changed.
	os.Chtimes(filepath.Join(dir, "pkg/mod.py"), zipTime, zipTime)
	var again bytes.Buffer
	if _, err := ZipDir(dir, &again, ZipOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("zipping the same directory twice gave different zips")
	}
}

func TestZipDirBadIgnoreFile(t *testing.T) {
	dir := tree(t, map[string]string{"a.py": "x", ".nimbusignore": "!keep.py\n"})
	_, err := ZipDir(dir, io.Discard, ZipOptions{})
	if err == nil || !strings.Contains(err.Error(), "negated patterns") {
		t.Errorf("ZipDir with a negated pattern = %v, want an error naming it", err)
	}
}

// Installed dependencies join the code from a second directory; the code's own files win, and
// LeaveOut keeps the code's stale node_modules out.
func TestZipDirExtra(t *testing.T) {
	dir := tree(t, map[string]string{
		"index.mjs":                 "code",
		"package.json":              "{}",
		"node_modules/dev/index.js": "a devDependency left from npm install",
	})
	deps := tree(t, map[string]string{
		"package.json":                    "the staging copy",
		"node_modules/left/index.js":      "installed",
		"node_modules/left/__pycache__/x": "cache",
	})
	var buf bytes.Buffer
	stats, err := ZipDir(dir, &buf, ZipOptions{Extra: deps, LeaveOut: []string{"/node_modules/"}})
	if err != nil {
		t.Fatal(err)
	}
	got := unzip(t, buf.Bytes())
	want := map[string]entry{
		"index.mjs":                  {0o644, "code"},
		"package.json":               {0o644, "{}"},
		"node_modules/left/index.js": {0o644, "installed"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(entry{})); diff != "" {
		t.Errorf("ZipDir with Extra (-want +got):\n%s", diff)
	}
	if stats.Files != 3 || !slices.Equal(stats.LeftOut, []string{"node_modules/"}) {
		t.Errorf("ZipDir with Extra: %d files, left out %v; want 3, [node_modules/]", stats.Files, stats.LeftOut)
	}
}
