package auth

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	idPattern     = regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`)
	secretPattern = regexp.MustCompile(`^[A-Za-z0-9]{40}$`)
)

func TestGenerateKey(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		k, err := GenerateKey(testNow)
		if err != nil {
			t.Fatal(err)
		}
		if !idPattern.MatchString(k.AccessKeyID) || !secretPattern.MatchString(k.SecretAccessKey) {
			t.Fatalf("GenerateKey() = %q/%q, want AKIA+16 upper alnum and 40 alnum", k.AccessKeyID, k.SecretAccessKey)
		}
		if seen[k.AccessKeyID] || seen[k.SecretAccessKey] {
			t.Fatalf("GenerateKey() repeated a value after %d keys", i)
		}
		seen[k.AccessKeyID], seen[k.SecretAccessKey] = true, true
	}
}

func TestLoadOrCreateAdmin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	k, err := LoadOrCreateAdmin(dir)
	if err != nil {
		t.Fatalf("LoadOrCreateAdmin(new dir) = %v", err)
	}
	if !idPattern.MatchString(k.AccessKeyID) || !secretPattern.MatchString(k.SecretAccessKey) || k.Created.IsZero() {
		t.Fatalf("admin key = %+v, want a generated key", k)
	}
	fi, err := os.Stat(filepath.Join(dir, CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("credentials file mode = %#o, want 0600", perm)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("data dir mode = %#o, want 0700", perm)
	}
	again, err := LoadOrCreateAdmin(dir)
	if err != nil {
		t.Fatalf("LoadOrCreateAdmin(second start) = %v", err)
	}
	if again != k {
		t.Errorf("second start key = %+v, want the first %+v", again, k)
	}
	assertOnlyCredentialsFile(t, dir)

	// The stored key is a working credential for the verifier.
	if s, ok := NewCredentials(again).Secret(k.AccessKeyID); !ok || s != k.SecretAccessKey {
		t.Errorf("Credentials(admin).Secret = %q, %v", s, ok)
	}
}

func assertOnlyCredentialsFile(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != CredentialsFile {
		t.Errorf("data dir holds %v, want only %s (no temporary files)", names, CredentialsFile)
	}
}

func TestLoadOrCreateAdminConcurrentStarts(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	keys := make([]Key, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = LoadOrCreateAdmin(dir)
		}()
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("start %d: %v", i, errs[i])
		}
		if keys[i] != keys[0] {
			t.Fatalf("start %d got key %s, start 0 got %s: concurrent starts disagree", i, keys[i].AccessKeyID, keys[0].AccessKeyID)
		}
	}
	assertOnlyCredentialsFile(t, dir)
}

func TestLoadOrCreateAdminRefusesBadFiles(t *testing.T) {
	valid := `{"Version":1,"Admin":{"AccessKeyId":"AKIAABCDEFGHIJKLMNOP","SecretAccessKey":"0123456789012345678901234567890123456789","Created":"2026-01-01T00:00:00Z"}}`
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{"readable by others", valid, 0o644, "readable by others"},
		{"not json", "AKIA...", 0o600, "decode"},
		{"no key", `{"Version":1}`, 0o600, "no valid admin key"},
		{"lower-case id", strings.Replace(valid, "AKIAABCDEFGHIJKLMNOP", "akiaabcdefghijklmnop", 1), 0o600, "no valid admin key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, CredentialsFile)
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateAdmin(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadOrCreateAdmin = %v, want error containing %q", err, tt.wantErr)
			}
			// A bad file is reported, never replaced: replacing it would silently change the key.
			if got, _ := os.ReadFile(path); string(got) != tt.content {
				t.Errorf("credentials file was rewritten to %q", got)
			}
		})
	}
	t.Run("valid file is used", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, CredentialsFile), []byte(valid), 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := LoadOrCreateAdmin(dir)
		if err != nil {
			t.Fatal(err)
		}
		want := Key{AccessKeyID: "AKIAABCDEFGHIJKLMNOP", SecretAccessKey: "0123456789012345678901234567890123456789", Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		if k != want {
			t.Errorf("LoadOrCreateAdmin = %+v, want %+v", k, want)
		}
	})
}
