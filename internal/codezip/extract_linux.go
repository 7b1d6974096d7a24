package codezip

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace moves the finished tree into place atomically and never over an existing
// directory (plain rename(2) would silently replace an empty one).
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%s: %w", to, fs.ErrExist)
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
		// A filesystem without RENAME_NOREPLACE: check, then rename. The window between the two
		// only matters if two extractions of the same tree race, and they write the same bytes.
		if _, err := os.Lstat(to); err == nil {
			return fmt.Errorf("%s: %w", to, fs.ErrExist)
		}
		return os.Rename(from, to)
	default:
		return &os.LinkError{Op: "renameat2", Old: from, New: to, Err: err}
	}
}
