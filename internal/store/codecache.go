package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nimbusfaas/nimbus/internal/codezip"
)

// CodeCacheConfig configures a node-local cache of extracted code.
type CodeCacheConfig struct {
	// Dir holds one directory per code SHA-256. Required; created when missing.
	Dir string
	// Fetch returns the zip with this hex SHA-256, normally Store.GetCode. Required.
	Fetch func(ctx context.Context, sha256hex string) ([]byte, error)
	// Limits bound extraction; the zero value is Lambda's limits. Code was validated on
	// upload, so these only matter if the store was tampered with.
	Limits codezip.Limits
}

// CodeCache extracts each code zip once per node into Dir/<sha256hex> and remembers the
// result, so that a cold start finds its code on disk without fetching or unzipping, and a
// warm lookup touches neither disk nor network. Reclaim removes the trees nothing uses.
type CodeCache struct {
	cfg     CodeCacheConfig
	flights flight

	mu    sync.Mutex
	ready map[string]bool // extracted into place
	// users counts the environments running on each tree (Acquire without its release):
	// a tree in use is never reclaimed, whatever the catalog says.
	users map[string]int
	// used is when each tree was last put, acquired or released by this process; trees
	// from an earlier run are aged by their directory's modification time.
	used map[string]time.Time
}

// NewCodeCache creates Dir if needed and removes half-done extractions a crash left behind.
func NewCodeCache(cfg CodeCacheConfig) (*CodeCache, error) {
	if cfg.Dir == "" || cfg.Fetch == nil {
		return nil, errors.New("code cache: Dir and Fetch are required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("code cache: %w", err)
	}
	if err := codezip.RemoveStaleTemp(cfg.Dir); err != nil {
		return nil, fmt.Errorf("code cache: %w", err)
	}
	if err := removeReclaimed(cfg.Dir); err != nil {
		return nil, fmt.Errorf("code cache: %w", err)
	}
	return &CodeCache{cfg: cfg, ready: map[string]bool{}, users: map[string]int{}, used: map[string]time.Time{}}, nil
}

// Acquire is Path for an environment that runs on the tree: the tree stays until release is
// called (once, when the environment is gone), even if no function references it any more.
func (c *CodeCache) Acquire(ctx context.Context, sha256hex string) (dir string, release func(), err error) {
	c.mu.Lock()
	c.users[sha256hex]++
	c.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.users[sha256hex]--; c.users[sha256hex] <= 0 {
				delete(c.users, sha256hex)
			}
			c.used[sha256hex] = time.Now()
		})
	}
	dir, err = c.Path(ctx, sha256hex)
	if err != nil {
		release()
		return "", nil, err
	}
	return dir, release, nil
}

// Path returns the directory holding the extracted code with this hex SHA-256, fetching and
// extracting it first when this node does not have it yet. Concurrent calls for one sha
// share one extraction. The directory must not be modified. Reclaim may remove it at any time:
// an environment that runs on it uses Acquire instead.
func (c *CodeCache) Path(ctx context.Context, sha256hex string) (string, error) {
	if !validSHA256Hex(sha256hex) { // it becomes a path: refuse anything but 64 hex digits
		return "", fmt.Errorf("code cache: bad code sha256 %q", sha256hex)
	}
	dir := filepath.Join(c.cfg.Dir, sha256hex)
	c.mu.Lock()
	ok := c.ready[sha256hex]
	c.mu.Unlock()
	if ok {
		return dir, nil
	}
	if err := c.flights.do(sha256hex, func() error { return c.fill(ctx, sha256hex, dir) }); err != nil {
		return "", err
	}
	return dir, nil
}

// Put extracts an uploaded zip into the cache before it is stored, so that CreateFunction and
// UpdateFunctionCode refuse a hostile zip (codezip's ErrInvalidZip or ErrUnzippedTooLarge)
// without leaving anything behind, and a first invoke finds the code ready. It returns the
// zip's hex SHA-256.
func (c *CodeCache) Put(ctx context.Context, zip []byte) (string, error) {
	sum := sha256.Sum256(zip)
	sha := hex.EncodeToString(sum[:])
	dir := filepath.Join(c.cfg.Dir, sha)
	err := c.flights.do(sha, func() error {
		c.mu.Lock()
		ok := c.ready[sha]
		c.mu.Unlock()
		if ok {
			return nil
		}
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			c.markReady(sha)
			return nil
		}
		if _, err := codezip.Extract(ctx, zip, dir, c.cfg.Limits); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		c.markReady(sha)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("code cache: extract %s: %w", sha, err)
	}
	return sha, nil
}

func (c *CodeCache) fill(ctx context.Context, sha, dir string) error {
	c.mu.Lock()
	ok := c.ready[sha]
	c.mu.Unlock()
	if ok { // filled by the flight that just ended
		return nil
	}
	// Extracted by an earlier run: codezip only ever renames complete trees into place.
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		c.markReady(sha)
		return nil
	}
	zip, err := c.cfg.Fetch(ctx, sha)
	if err != nil {
		return fmt.Errorf("code cache: fetch %s: %w", sha, err)
	}
	if sum := sha256.Sum256(zip); hex.EncodeToString(sum[:]) != sha {
		return fmt.Errorf("code cache: fetched %s has sha256 %x", sha, sum)
	}
	// fs.ErrExist: another process sharing Dir extracted it first; same content, same name.
	if _, err := codezip.Extract(ctx, zip, dir, c.cfg.Limits); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("code cache: extract %s: %w", sha, err)
	}
	c.markReady(sha)
	return nil
}

func (c *CodeCache) markReady(sha string) {
	c.mu.Lock()
	c.ready[sha] = true
	c.used[sha] = time.Now()
	c.mu.Unlock()
}

// reclaimedPrefix names trees being removed; a crash can leave them, NewCodeCache removes them.
const reclaimedPrefix = ".reclaimed-"

// Reclaim removes the extracted trees that no environment of this node runs on, that nobody
// has put or acquired for minAge, and that referenced (called once the candidates are known,
// normally Catalog.CodeRefs) does not name; it returns their hex SHA-256s. minAge covers the
// moment between Put and the write of the function record that references the code. A tree
// reclaimed by mistake costs only a fetch and an extraction: Path fills it again.
func (c *CodeCache) Reclaim(minAge time.Duration, referenced func() map[string]bool) ([]string, error) {
	ents, err := os.ReadDir(c.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("code cache: reclaim: %w", err)
	}
	cutoff := time.Now().Add(-minAge)
	var old []string
	for _, e := range ents {
		sha := e.Name()
		if !e.IsDir() || !validSHA256Hex(sha) {
			continue
		}
		c.mu.Lock()
		last, known := c.used[sha]
		busy := c.users[sha] > 0
		c.mu.Unlock()
		if !known {
			if info, err := e.Info(); err == nil {
				last = info.ModTime()
			}
		}
		if !busy && last.Before(cutoff) {
			old = append(old, sha)
		}
	}
	if len(old) == 0 {
		return nil, nil
	}
	refs := referenced()
	var removed []string
	for _, sha := range old {
		if refs[sha] {
			continue
		}
		trash, ok, err := c.detach(sha, cutoff)
		if err != nil {
			return removed, err
		}
		if !ok {
			continue
		}
		if err := os.RemoveAll(trash); err != nil {
			return removed, fmt.Errorf("code cache: reclaim %s: %w", sha, err)
		}
		removed = append(removed, sha)
	}
	return removed, nil
}

// detach moves an unused tree out of its place, so that no new environment finds it, unless it
// was acquired or put since Reclaim looked. The rename happens under mu, where Acquire counts
// its users; a later Acquire extracts the tree again.
func (c *CodeCache) detach(sha string, cutoff time.Time) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users[sha] > 0 {
		return "", false, nil
	}
	if last, ok := c.used[sha]; ok && !last.Before(cutoff) {
		return "", false, nil
	}
	trash := filepath.Join(c.cfg.Dir, reclaimedPrefix+sha)
	if err := os.Rename(filepath.Join(c.cfg.Dir, sha), trash); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("code cache: reclaim %s: %w", sha, err)
	}
	delete(c.ready, sha)
	delete(c.used, sha)
	return trash, true, nil
}

// removeReclaimed deletes the trees a Reclaim cut short by a crash had begun to remove.
func removeReclaimed(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), reclaimedPrefix) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func validSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}
