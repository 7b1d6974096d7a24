//go:build !linux

package codezip

import (
	"fmt"
	"io/fs"
	"os"
)

// renameNoReplace without renameat2: check, then rename.
func renameNoReplace(from, to string) error {
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("%s: %w", to, fs.ErrExist)
	}
	return os.Rename(from, to)
}
