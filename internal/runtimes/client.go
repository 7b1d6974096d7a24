package runtimes

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The runtime clients' entry points, in the runtime directory.
const (
	pythonBootstrap = "bootstrap.py"
	pythonClient    = "nimbus_runtime.py"
	nodeBootstrap   = "bootstrap.cjs"
)

//go:embed client/bootstrap.py client/nimbus_runtime.py client/bootstrap.cjs
var clients embed.FS

// FS returns the sources of the runtime directory: the clients of every runtime.
func FS() fs.FS {
	sub, err := fs.Sub(clients, "client")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// WriteRuntimeDir fills dir, which must exist, with the runtime directory to mount read-only
// at RuntimeDir: the clients, and the Python client's bytecode compiled by every Python of
// the catalogue (compiling it at each cold start would cost a few milliseconds). It replaces
// what an earlier call wrote.
func (c *Catalog) WriteRuntimeDir(ctx context.Context, dir string) error {
	if err := os.RemoveAll(filepath.Join(dir, "__pycache__")); err != nil {
		return fmt.Errorf("writing runtime dir: %w", err)
	}
	err := fs.WalkDir(FS(), ".", func(path string, d fs.DirEntry, err error) error {
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
			return err
		}
		if err := os.Rename(tmp, dst); err != nil {
			os.Remove(tmp)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing runtime dir: %w", err)
	}
	for _, r := range c.byName {
		if r.Family != Python {
			continue
		}
		// Hash-based and unchecked: the bytecode is used without looking at the source's
		// timestamp, which bind mounts and copies may not keep.
		_, err := probe(ctx, r.Interpreter, "-S", "-c", `import py_compile, sys
py_compile.compile(sys.argv[1], dfile=sys.argv[2], doraise=True,
    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)`,
			filepath.Join(dir, pythonClient), RuntimeDir+"/"+pythonClient)
		if err != nil {
			return fmt.Errorf("compiling the python client for %s: %w", r.Name, err)
		}
	}
	return nil
}
