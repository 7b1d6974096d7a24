package runtimes

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The runtime clients, as written to the runtime directory.
const (
	pythonBootstrap = "bootstrap.py"
	nodeBootstrap   = "bootstrap.cjs"
)

//go:embed client/bootstrap.py client/bootstrap.cjs
var clients embed.FS

// FS returns the files of the runtime directory (the clients of every runtime), to be
// mounted read-only at RuntimeDir.
func FS() fs.FS {
	sub, err := fs.Sub(clients, "client")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// WriteRuntimeDir writes the runtime directory's files into dir, which must exist. Files are
// written read-only; existing ones are replaced.
func WriteRuntimeDir(dir string) error {
	return fs.WalkDir(FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(FS(), path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, path)
		tmp := dst + ".tmp"
		if err := os.WriteFile(tmp, data, 0o444); err != nil {
			return fmt.Errorf("writing runtime dir: %w", err)
		}
		if err := os.Rename(tmp, dst); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("writing runtime dir: %w", err)
		}
		return nil
	})
}
