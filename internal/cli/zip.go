package cli

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// IgnoreFile lists, one pattern a line, what `nimbus deploy` leaves out of a directory's zip.
const IgnoreFile = ".nimbusignore"

// alwaysIgnored are left out of every zip: version control, caches, and the ignore file.
var alwaysIgnored = []string{".git/", "__pycache__/", "node_modules/.cache/", IgnoreFile}

// zipTime is the modification time of every entry: fixed, so that the same files always make
// the same zip, and a redeploy of unchanged code is recognised by its SHA-256.
var zipTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// ignoreRule is one line of an ignore file, with gitignore's common forms: "name" matches at
// any depth, "dir/name" and "/name" from the root, a trailing "/" only directories, "**/"
// any depth, and "*", "?" and "[…]" within a path element. Anything under an ignored
// directory is ignored.
type ignoreRule struct {
	pattern  string
	anchored bool // matched against the whole relative path, not just the last element
	dirOnly  bool
}

func parseIgnore(r io.Reader) ([]ignoreRule, error) {
	var rules []ignoreRule
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			return nil, fmt.Errorf("line %d: negated patterns (%s) are not supported", n, line)
		}
		r := ignoreRule{}
		if strings.HasSuffix(line, "/") {
			r.dirOnly, line = true, strings.TrimRight(line, "/")
		}
		line = strings.TrimPrefix(line, "**/")
		if strings.Contains(line, "/") {
			r.anchored, line = true, strings.TrimPrefix(line, "/")
		}
		if _, err := path.Match(line, ""); err != nil {
			return nil, fmt.Errorf("line %d: bad pattern %q", n, line)
		}
		r.pattern = line
		rules = append(rules, r)
	}
	return rules, sc.Err()
}

// ignored reports whether rel (slash-separated, relative to the root) is left out.
func ignored(rules []ignoreRule, rel string, isDir bool) bool {
	for _, r := range rules {
		if r.dirOnly && !isDir {
			continue
		}
		subject := path.Base(rel)
		if r.anchored {
			subject = rel
		}
		if ok, _ := path.Match(r.pattern, subject); ok {
			return true
		}
	}
	return false
}

// ZipStats describes a zip made by ZipDir.
type ZipStats struct {
	Files   int
	Skipped []string // symlinks to directories outside the tree, which are not followed
	// LeftOut lists what dir/.nimbusignore (or ZipOptions.LeaveOut) kept out of the zip,
	// directories with a trailing "/" and not what is under them; LeftOutAlways what
	// alwaysIgnored did.
	LeftOut, LeftOutAlways []string
}

// ZipOptions are ZipDir's extras; the zero value zips the directory alone.
type ZipOptions struct {
	// Extra is a second directory whose files join the zip at the same relative paths (the
	// dependencies deploy installed); where both have a file, dir's is kept.
	Extra string
	// LeaveOut are more ignore patterns for dir (not for Extra).
	LeaveOut []string
}

// ZipDir writes a zip of the files under dir to w: regular files with their executable bit
// (as mode 0755 or 0644, so the function can read them whatever user runs it), symbolic links
// that stay inside the tree as links, and the content of those that point outside it. What
// alwaysIgnored and dir/.nimbusignore list is left out.
func ZipDir(dir string, w io.Writer, opts ZipOptions) (ZipStats, error) {
	var stats ZipStats
	always, _ := parseIgnore(strings.NewReader(strings.Join(alwaysIgnored, "\n")))
	rules, _ := parseIgnore(strings.NewReader(strings.Join(opts.LeaveOut, "\n")))
	if f, err := os.Open(filepath.Join(dir, IgnoreFile)); err == nil {
		more, err := parseIgnore(f)
		f.Close()
		if err != nil {
			return stats, &UserError{Msg: fmt.Sprintf("%s: %v: fix or remove that line", filepath.Join(dir, IgnoreFile), err)}
		}
		rules = append(rules, more...)
	}
	zw := zip.NewWriter(w)
	written := map[string]bool{}
	if err := zipTree(zw, dir, always, rules, written, &stats); err != nil {
		return stats, err
	}
	if opts.Extra != "" {
		var extraStats ZipStats // what is left out of the extra files is not the user's doing
		if err := zipTree(zw, opts.Extra, always, nil, written, &extraStats); err != nil {
			return stats, err
		}
		stats.Files += extraStats.Files
	}
	return stats, zw.Close()
}

// zipTree adds the files under dir to zw, but those always or rules leave out and those
// already written.
func zipTree(zw *zip.Writer, dir string, always, rules []ignoreRule, written map[string]bool, stats *ZipStats) error {
	root, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return err
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		leftOut := &stats.LeftOut
		if ignored(always, rel, d.IsDir()) {
			leftOut = &stats.LeftOutAlways
		}
		if leftOut == &stats.LeftOutAlways || ignored(rules, rel, d.IsDir()) {
			if d.IsDir() {
				*leftOut = append(*leftOut, rel+"/")
				return filepath.SkipDir
			}
			if rel != IgnoreFile {
				*leftOut = append(*leftOut, rel)
			}
			return nil
		}
		if written[rel] {
			return nil
		}
		if !d.IsDir() {
			written[rel] = true
		}
		switch {
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			return zipSymlink(zw, root, p, rel, stats)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			stats.Files++
			return zipFile(zw, p, rel, info.Mode())
		}
		return nil // sockets, pipes and devices have no place in a function
	})
	if err != nil {
		return fmt.Errorf("zipping %s: %w", dir, err)
	}
	return nil
}

func zipFile(zw *zip.Writer, p, rel string, mode fs.FileMode) error {
	h := &zip.FileHeader{Name: rel, Method: zip.Deflate, Modified: zipTime}
	if mode&0o111 != 0 {
		h.SetMode(0o755)
	} else {
		h.SetMode(0o644)
	}
	out, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(out, f)
	return err
}

func zipSymlink(zw *zip.Writer, root, p, rel string, stats *ZipStats) error {
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			stats.Skipped = append(stats.Skipped, rel)
			return nil // dangling
		}
		return err
	}
	info, err := os.Stat(resolved)
	if err != nil {
		return err
	}
	inside, err := filepath.Rel(root, resolved)
	if err == nil && inside != ".." && !strings.HasPrefix(inside, ".."+string(filepath.Separator)) {
		// Inside the tree: keep it a link, relative, as the server accepts.
		target, err := filepath.Rel(filepath.Dir(filepath.Join(root, filepath.FromSlash(rel))), resolved)
		if err != nil {
			return err
		}
		h := &zip.FileHeader{Name: rel, Method: zip.Store, Modified: zipTime}
		h.SetMode(fs.ModeSymlink | 0o777)
		out, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		_, err = io.WriteString(out, filepath.ToSlash(target))
		stats.Files++
		return err
	}
	if info.IsDir() {
		stats.Skipped = append(stats.Skipped, rel)
		return nil
	}
	stats.Files++
	return zipFile(zw, resolved, rel, info.Mode())
}

// zipEntries lists the names and modes of a zip's files, for inferring how to run it.
func zipEntries(data []byte) (map[string]fs.FileMode, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	out := make(map[string]fs.FileMode, len(zr.File))
	for _, f := range zr.File {
		out[strings.TrimPrefix(f.Name, "./")] = f.Mode()
	}
	return out, nil
}

// zipReadFile returns one file of a zip.
func zipReadFile(data []byte, name string) ([]byte, bool) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, false
	}
	f, err := zr.Open(name)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	return b, err == nil
}
