package codezip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Validate reads the whole archive — every check Extract makes, every byte inflated and every
// checksum compared — without writing anything. Use it to refuse an upload before storing it.
func Validate(ctx context.Context, zipBytes []byte, lim Limits) (Summary, error) {
	p, err := prepare(zipBytes, lim)
	if err != nil {
		return Summary{}, err
	}
	return p.run(ctx, nil)
}

// Extract checks the archive and writes its tree to destDir, which must not exist yet (its parent
// is created if needed). The tree is built in a temporary directory beside destDir and renamed
// into place only when complete, so destDir never holds a partial tree, whenever the process
// dies; on any error the temporary directory is removed. If destDir already exists the error
// wraps fs.ErrExist — callers that key directories by content hash can treat that as done.
//
// The tree is not fsynced: syncing costs a cold start seconds on a busy disk, and the tree is a
// cache of a durable zip. After an operating-system crash, files renamed into place may have lost
// their contents, so a cache owner that cannot tell a clean shutdown should discard its trees at
// startup (and RemoveStaleTemp the leftovers of extractions cut short).
//
// Refusals wrap ErrInvalidZip or ErrUnzippedTooLarge; other errors (disk full, permissions) are
// the server's problem, not the archive's.
func Extract(ctx context.Context, zipBytes []byte, destDir string, lim Limits) (sum Summary, err error) {
	p, err := prepare(zipBytes, lim)
	if err != nil {
		return Summary{}, err
	}
	destDir = filepath.Clean(destDir)
	if _, err := os.Lstat(destDir); err == nil {
		return Summary{}, fmt.Errorf("extract to %s: %w", destDir, fs.ErrExist)
	}
	parent := filepath.Dir(destDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Summary{}, fmt.Errorf("create parent of %s: %w", destDir, err)
	}
	tmp, err := os.MkdirTemp(parent, tempPrefix+filepath.Base(destDir)+"-*")
	if err != nil {
		return Summary{}, fmt.Errorf("create temporary directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return Summary{}, fmt.Errorf("open temporary directory: %w", err)
	}
	sum, err = p.run(ctx, root)
	if cerr := root.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close temporary directory: %w", cerr)
	}
	if err != nil {
		return Summary{}, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Summary{}, fmt.Errorf("chmod temporary directory: %w", err)
	}
	if err := renameNoReplace(tmp, destDir); err != nil {
		return Summary{}, fmt.Errorf("move extracted tree to %s: %w", destDir, err)
	}
	return sum, nil
}

// tempPrefix starts the names of Extract's temporary directories.
const tempPrefix = ".codezip-"

// RemoveStaleTemp deletes temporary directories that Extract left in dir when the process died
// mid-extraction. Call it at startup, before any Extract into dir runs.
func RemoveStaleTemp(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), tempPrefix) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("remove stale %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}

func prepare(zipBytes []byte, lim Limits) (*plan, error) {
	lim = lim.withDefaults()
	p, err := newPlan(zipBytes, lim)
	if err != nil {
		return nil, err
	}
	if err := p.checkSymlinks(); err != nil {
		return nil, err
	}
	return p, nil
}

// run inflates every member, into root when it is not nil. Directories come first, parents
// before children; then files, each created with O_EXCL (a name that already exists — even a
// symlink — fails rather than being followed); symlinks last, so nothing is ever written through
// one. os.Root refuses any path that would leave the temporary directory.
func (p *plan) run(ctx context.Context, root *os.Root) (Summary, error) {
	var sum Summary
	budget := p.lim.MaxUnzipped
	buf := make([]byte, 32*1024)

	dirs := make([]*entry, 0)
	for _, e := range p.entries {
		if e.kind == kindDir {
			dirs = append(dirs, e)
		}
	}
	sort.Slice(dirs, func(i, j int) bool { return dirs[i].name < dirs[j].name })
	for _, e := range dirs {
		if root != nil {
			if err := root.MkdirAll(e.name, 0o755); err != nil {
				return Summary{}, fmt.Errorf("create directory %q: %w", e.name, err)
			}
		}
		sum.Dirs++
	}

	for _, e := range p.entries {
		if e.kind != kindFile {
			continue
		}
		if err := ctx.Err(); err != nil {
			return Summary{}, err
		}
		n, err := p.writeFile(ctx, root, e, &budget, buf)
		if err != nil {
			return Summary{}, err
		}
		sum.Files++
		sum.Size += n
	}

	if root != nil {
		// MkdirAll honoured the umask and made implied parents too; set every directory to 0755
		// now, while the tree still holds no symlink to be followed.
		if err := fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || name == "." {
				return err
			}
			return root.Chmod(name, 0o755)
		}); err != nil {
			return Summary{}, fmt.Errorf("set directory modes: %w", err)
		}
	}

	for _, e := range p.entries {
		if e.kind != kindSymlink {
			continue
		}
		if root != nil {
			if err := mkParent(root, e.name); err != nil {
				return Summary{}, err
			}
			if err := root.Symlink(e.target, e.name); err != nil {
				return Summary{}, fmt.Errorf("create symlink %q: %w", e.name, err)
			}
		}
		sum.Symlinks++
	}
	return sum, nil
}

func mkParent(root *os.Root, name string) error {
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create directory %q: %w", dir, err)
		}
	}
	return nil
}

// writeFile inflates one member into root (or nowhere), counting bytes against budget as they
// come out of the decompressor rather than trusting the declared size.
func (p *plan) writeFile(ctx context.Context, root *os.Root, e *entry, budget *int64, buf []byte) (int64, error) {
	rc, err := e.f.Open()
	if err != nil {
		return 0, invalid("open %q: %v", e.f.Name, err)
	}
	defer rc.Close()
	var dst io.Writer = io.Discard
	var out *os.File
	if root != nil {
		if err := mkParent(root, e.name); err != nil {
			return 0, err
		}
		out, err = root.OpenFile(e.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, e.perm)
		if err != nil {
			return 0, fmt.Errorf("create %q: %w", e.name, err)
		}
		defer out.Close()
		dst = out
	}
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		m, rerr := rc.Read(buf)
		if m > 0 {
			if int64(m) > *budget {
				return 0, tooLarge("inflated content passes %d bytes at %q", p.lim.MaxUnzipped, e.f.Name)
			}
			*budget -= int64(m)
			n += int64(m)
			if _, err := dst.Write(buf[:m]); err != nil {
				return 0, fmt.Errorf("write %q: %w", e.name, err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, invalid("inflate %q: %v", e.f.Name, rerr)
		}
	}
	if out != nil {
		// The umask may have narrowed the mode given to open; set it exactly.
		if err := out.Chmod(e.perm); err != nil {
			return 0, fmt.Errorf("chmod %q: %w", e.name, err)
		}
		if err := out.Close(); err != nil {
			return 0, fmt.Errorf("close %q: %w", e.name, err)
		}
		if mt := e.f.Modified; !mt.IsZero() {
			if err := root.Chtimes(e.name, mt, mt); err != nil {
				return 0, fmt.Errorf("set times of %q: %w", e.name, err)
			}
		}
	}
	return n, nil
}
