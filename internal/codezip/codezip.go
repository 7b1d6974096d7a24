package codezip

import (
	"errors"
	"fmt"
)

// Errors callers map to Lambda's answers. Every refusal wraps one of them with detail for logs.
var (
	// ErrInvalidZip: the archive is malformed or unsafe. Lambda answers InvalidParameterValueException
	// "Could not unzip uploaded file. Please check your file, then try to upload again."
	ErrInvalidZip = errors.New("invalid zip")
	// ErrUnzippedTooLarge: the archive inflates beyond Limits.MaxUnzipped. Lambda answers
	// InvalidParameterValueException "Unzipped size must be smaller than 262144000 bytes".
	ErrUnzippedTooLarge = errors.New("unzipped size too large")
)

// Limits bounds what an archive may contain.
type Limits struct {
	// MaxUnzipped is the most bytes all files together may inflate to. Zero means 262144000
	// (Lambda's 250 MB).
	MaxUnzipped int64
	// MaxEntries is the most entries (files, directories and symlinks) an archive may hold. Zero
	// means 20000. It also bounds the memory spent reading the archive's directory.
	MaxEntries int
}

// DefaultMaxUnzipped is Lambda's limit on the unzipped size of a function's code.
const DefaultMaxUnzipped = 262144000

func (l Limits) withDefaults() Limits {
	if l.MaxUnzipped <= 0 {
		l.MaxUnzipped = DefaultMaxUnzipped
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = 20000
	}
	return l
}

// Summary describes an archive that passed.
type Summary struct {
	Files    int
	Dirs     int // directory entries in the archive (parents it only implies are not counted)
	Symlinks int
	Size     int64 // bytes of file content after inflating
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidZip}, args...)...)
}

func tooLarge(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnzippedTooLarge}, args...)...)
}
