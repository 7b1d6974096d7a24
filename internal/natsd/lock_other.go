//go:build !unix

package natsd

import (
	"errors"
	"os"
)

// ErrDataDirInUse is returned by Start when another process runs an embedded server on the
// same data directory.
var ErrDataDirInUse = errors.New("data dir in use")

// lockDataDir is a no-op where flock does not exist: only one server per data dir, please.
func lockDataDir(dir string) (*os.File, error) { return nil, os.MkdirAll(dir, 0o700) }
