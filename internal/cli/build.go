package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// goBuildEnv is how a Go module is built for the provided runtimes, as `sam build` does it: a
// static linux/amd64 binary named bootstrap.
var goBuildEnv = []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"}

// buildGo builds the Go module in dir into a zip holding one executable, bootstrap. The
// compiler's output goes to a.Stderr.
func (a *App) buildGo(ctx context.Context, dir string) ([]byte, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return nil, &UserError{Err: err, Msg: "building a Go function needs the go command: install Go (https://go.dev/dl), or deploy a zip that holds a bootstrap executable"}
	}
	tmp, err := os.MkdirTemp("", "nimbus-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "bootstrap")
	cmd := exec.CommandContext(ctx, gobin, "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(append([]string{}, a.environ()...), goBuildEnv...)
	cmd.Stdout, cmd.Stderr = a.Stderr, a.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, &UserError{Err: err, Msg: fmt.Sprintf("go build failed in %s (its errors are above): fix them and deploy again", dir)}
		}
		return nil, fmt.Errorf("running go build: %w", err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: zipTime}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
