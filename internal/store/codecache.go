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
	"sync"

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
// warm lookup touches neither disk nor network.
type CodeCache struct {
	cfg     CodeCacheConfig
	flights flight

	mu    sync.Mutex
	ready map[string]bool // extracted into place
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
	return &CodeCache{cfg: cfg, ready: map[string]bool{}}, nil
}

// Path returns the directory holding the extracted code with this hex SHA-256, fetching and
// extracting it first when this node does not have it yet. Concurrent calls for one sha
// share one extraction. The directory must not be modified.
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
	c.mu.Unlock()
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
