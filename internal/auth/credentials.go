package auth

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Key is an access key: the public id a client puts in its Credential scope and the secret both
// sides derive signing keys from.
type Key struct {
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	Created         time.Time `json:"Created"`
}

// Credentials is the set of access keys the server accepts, safe for concurrent use.
type Credentials struct {
	mu   sync.RWMutex
	keys map[string]string // access key id → secret
}

// NewCredentials returns a store holding keys.
func NewCredentials(keys ...Key) *Credentials {
	c := &Credentials{keys: make(map[string]string, len(keys))}
	for _, k := range keys {
		c.keys[k.AccessKeyID] = k.SecretAccessKey
	}
	return c
}

// Add accepts k from now on, replacing any key with the same id.
func (c *Credentials) Add(k Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys[k.AccessKeyID] = k.SecretAccessKey
}

// Remove stops accepting the key with the given id.
func (c *Credentials) Remove(accessKeyID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.keys, accessKeyID)
}

// Secret returns the secret for accessKeyID and whether the key is known.
func (c *Credentials) Secret(accessKeyID string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.keys[accessKeyID]
	return s, ok
}

const (
	idAlphabet     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// GenerateKey makes a new random key shaped like an AWS long-term key: a 20-character id starting
// with AKIA and a 40-character secret. The secret is alphanumeric only (AWS also uses + and /) so
// it can be pasted into a shell without quoting surprises; 40 characters of 62 is ~238 bits.
func GenerateKey(now time.Time) (Key, error) {
	id, err := randomString(idAlphabet, 16)
	if err != nil {
		return Key{}, err
	}
	secret, err := randomString(secretAlphabet, 40)
	if err != nil {
		return Key{}, err
	}
	return Key{AccessKeyID: "AKIA" + id, SecretAccessKey: secret, Created: now.UTC().Truncate(time.Second)}, nil
}

// randomString draws n characters uniformly from alphabet (rejection sampling: no modulo bias).
func randomString(alphabet string, n int) (string, error) {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("read random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// CredentialsFile is the name of the file, inside the data directory, that holds the admin key.
const CredentialsFile = "credentials.json"

type credentialsFile struct {
	Version int `json:"Version"`
	Admin   Key `json:"Admin"`
}

// LoadOrCreateAdmin returns the admin key stored in dataDir, creating it on first start. The file
// is written with mode 0600 (the directory, if it has to be made, 0700) via a temporary file that
// is linked into place, so a crash never leaves a half-written file and two servers starting at
// once agree on one key. An existing file that others can read is refused rather than used: a
// secret that may have leaked should be rotated, not silently trusted.
func LoadOrCreateAdmin(dataDir string) (Key, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return Key{}, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dataDir, CredentialsFile)
	k, err := loadAdmin(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	k, err = GenerateKey(time.Now())
	if err != nil {
		return Key{}, err
	}
	data, err := json.MarshalIndent(credentialsFile{Version: 1, Admin: k}, "", "  ")
	if err != nil {
		return Key{}, fmt.Errorf("encode credentials: %w", err)
	}
	switch err := writeNew(path, append(data, '\n')); {
	case err == nil:
		return k, nil
	case errors.Is(err, fs.ErrExist):
		// Another process created it between our read and our link: theirs wins.
		return loadAdmin(path)
	default:
		return Key{}, err
	}
}

func loadAdmin(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("open credentials: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("stat credentials: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Key{}, fmt.Errorf("credentials file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Key{}, fmt.Errorf("credentials file %s has mode %#o, readable by others; run chmod 600 on it (and consider it leaked)", path, perm)
	}
	var cf credentialsFile
	dec := json.NewDecoder(f)
	if err := dec.Decode(&cf); err != nil {
		return Key{}, fmt.Errorf("decode credentials %s: %w", path, err)
	}
	k := cf.Admin
	if !validAccessKeyID(k.AccessKeyID) || len(k.SecretAccessKey) < 16 {
		return Key{}, fmt.Errorf("credentials file %s holds no valid admin key", path)
	}
	return k, nil
}

func validAccessKeyID(id string) bool {
	if len(id) < 16 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// writeNew writes data to path only if path does not exist yet: the data goes to a temporary file
// in the same directory, is synced, and is hard-linked to path (link fails with EEXIST instead of
// replacing, unlike rename), then the directory is synced so the new name survives a power cut.
func writeNew(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary credentials file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod temporary credentials file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write temporary credentials file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync temporary credentials file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close temporary credentials file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("install credentials file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("sync data dir: %w", err)
		}
	}
	return nil
}
