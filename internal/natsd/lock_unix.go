//go:build unix

package natsd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrDataDirInUse is returned by Start when another process runs an embedded server on the
// same data directory.
var ErrDataDirInUse = errors.New("data dir in use")

// lockFile is the data directory's lock: held, with the holder's pid in it, for as long as an
// embedded server uses the store. Two servers on one store would each recover it as if the
// other had crashed, so the lock is taken before the store is opened at all.
const lockFile = "nimbus.lock"

// lockDataDir takes the data directory's lock without waiting, and returns the file that
// holds it: closing the file releases the lock (so does the process's death).
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("natsd: creating data dir: %w", err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("natsd: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = fmt.Sprintf(" (pid %d)", pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &inUseError{fmt.Sprintf("another Nimbus server%s is using the data dir %s: stop it, or give this one its own --data-dir", holder, dir)}
		}
		return nil, fmt.Errorf("natsd: locking %s: %w", path, err)
	}
	// The pid is only for the message above; the lock itself is the flock.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// inUseError says who holds the lock; it is ErrDataDirInUse for errors.Is.
type inUseError struct{ msg string }

func (e *inUseError) Error() string        { return e.msg }
func (e *inUseError) Is(target error) bool { return target == ErrDataDirInUse }
