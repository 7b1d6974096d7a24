package cli

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hostPython is a python3.X on PATH with pip, as a runtime name, or skips the test.
func hostPython(t *testing.T) string {
	t.Helper()
	for minor := 14; minor >= 8; minor-- {
		name := fmt.Sprintf("python3.%d", minor)
		if _, err := exec.LookPath(name); err != nil {
			continue
		}
		if exec.Command(name, "-m", "pip", "--version").Run() == nil {
			return name
		}
	}
	t.Skip("no python3.X with pip on PATH")
	return ""
}

// writeWheel writes a pure-Python wheel of package name (one module whose greet() says
// greeting) into dir, the way a local package index holds it: this machine cannot reach PyPI.
func writeWheel(t *testing.T, dir, name, version, greeting string) {
	t.Helper()
	files := map[string]string{
		name + "/__init__.py":                        fmt.Sprintf("def greet(who):\n    return %q + who\n", greeting),
		name + "-" + version + ".dist-info/METADATA": fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version),
		name + "-" + version + ".dist-info/WHEEL":    "Wheel-Version: 1.0\nGenerator: nimbus-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
	}
	var record strings.Builder
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for p, content := range files {
		w, _ := zw.Create(p)
		w.Write([]byte(content))
		sum := sha256.Sum256([]byte(content))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", p, base64.RawURLEncoding.EncodeToString(sum[:]), len(content))
	}
	recordPath := name + "-" + version + ".dist-info/RECORD"
	fmt.Fprintf(&record, "%s,,\n", recordPath)
	w, _ := zw.Create(recordPath)
	w.Write([]byte(record.String()))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%s-py3-none-any.whl", name, version)), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDeployInstallsRequirements(t *testing.T) {
	runtime := hostPython(t)
	index := t.TempDir()
	writeWheel(t, index, "nimbusgreet", "1.0", "Hello, ")
	dir := tree(t, map[string]string{
		"lambda_function.py": "import nimbusgreet\ndef lambda_handler(e, c):\n    return nimbusgreet.greet('Ada')\n",
		"requirements.txt":   "nimbusgreet==1.0\n",
	})
	var stderr strings.Builder
	a := &App{Stderr: &stderr, Environ: append(os.Environ(), "PIP_NO_INDEX=1", "PIP_FIND_LINKS="+index)}
	zipped, leftOut, err := a.zipDir(context.Background(), DeployOptions{Path: dir}, runtime)
	if err != nil {
		t.Fatalf("zipDir = %v; stderr:\n%s", err, stderr.String())
	}
	got := unzip(t, zipped)
	for _, want := range []string{"lambda_function.py", "requirements.txt", "nimbusgreet/__init__.py", "nimbusgreet-1.0.dist-info/METADATA"} {
		if _, ok := got[want]; !ok {
			t.Errorf("the zip has no %s; it has %v", want, keys(got))
		}
	}
	if len(leftOut) != 0 {
		t.Errorf("left out %v, want nothing", leftOut)
	}
	if !strings.Contains(stderr.String(), runtime+" -m pip install -r requirements.txt --target ") ||
		!strings.Contains(stderr.String(), "installed 1 packages from requirements.txt into the zip: nimbusgreet 1.0") {
		t.Errorf("deploy did not say what it installed:\n%s", stderr.String())
	}
	// The same requirements make the same zip: a redeploy is recognised as unchanged.
	again, _, err := a.zipDir(context.Background(), DeployOptions{Path: dir}, runtime)
	if err != nil || !bytes.Equal(again, zipped) {
		t.Errorf("zipping the same folder again gave another zip (err %v)", err)
	}
	// --no-deps ships the folder as it is.
	plain, _, err := a.zipDir(context.Background(), DeployOptions{Path: dir, NoDeps: true}, runtime)
	if _, ok := unzip(t, plain)["nimbusgreet/__init__.py"]; err != nil || ok {
		t.Errorf("zipDir --no-deps = %v, with the package %v", err, ok)
	}

	// A requirement pip cannot find stops the deploy with pip's own errors above the message.
	os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("nimbus-no-such-package==9\n"), 0o644)
	stderr.Reset()
	_, _, err = a.zipDir(context.Background(), DeployOptions{Path: dir}, runtime)
	if err == nil || !strings.HasPrefix(err.Error(), "pip install -r requirements.txt failed in "+dir) || !strings.Contains(stderr.String(), "nimbus-no-such-package") {
		t.Errorf("zipDir with a missing requirement = %v; stderr:\n%s", err, stderr.String())
	}
	// So does a runtime whose Python is not here.
	_, _, err = a.zipDir(context.Background(), DeployOptions{Path: dir}, "python3.99")
	if err == nil || !strings.Contains(err.Error(), "needs python3.99 (the function's runtime) with pip, which is not on PATH") {
		t.Errorf("zipDir for python3.99 = %v", err)
	}
}

// writeNpmTarball writes an npm package tarball (package/package.json, package/index.js)
// and returns its path, for a file: dependency: no registry needed.
func writeNpmTarball(t *testing.T, dir, name string) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for p, content := range map[string]string{
		"package/package.json": fmt.Sprintf(`{"name": %q, "version": "1.0.0", "main": "index.js"}`, name),
		"package/index.js":     fmt.Sprintf("exports.name = %q;\n", name),
	} {
		tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
		tw.Write([]byte(content))
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(dir, name+"-1.0.0.tgz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDeployInstallsNodeDependencies(t *testing.T) {
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("no npm on PATH")
	}
	pkgs := t.TempDir()
	dir := tree(t, map[string]string{
		"index.mjs": "import greet from 'greet';\nexport const handler = async () => greet.name;\n",
		"package.json": fmt.Sprintf(`{"name": "fn", "dependencies": {"greet": "file:%s"}, "devDependencies": {"devonly": "file:%s"}}`,
			writeNpmTarball(t, pkgs, "greet"), writeNpmTarball(t, pkgs, "devonly")),
		"node_modules/stale/index.js": "left from development",
	})
	var stderr strings.Builder
	a := &App{Stderr: &stderr, Environ: append(os.Environ(), "npm_config_cache="+t.TempDir(), "npm_config_offline=true")}
	zipped, leftOut, err := a.zipDir(context.Background(), DeployOptions{Path: dir}, "nodejs20.x")
	if err != nil {
		t.Fatalf("zipDir = %v; stderr:\n%s", err, stderr.String())
	}
	got := unzip(t, zipped)
	if got["node_modules/greet/index.js"].content != "exports.name = \"greet\";\n" {
		t.Errorf("the zip has no node_modules/greet/index.js; it has %v", keys(got))
	}
	for _, unwanted := range []string{"node_modules/devonly/index.js", "node_modules/stale/index.js", "package-lock.json"} {
		if _, ok := got[unwanted]; ok {
			t.Errorf("the zip holds %s", unwanted)
		}
	}
	if len(leftOut) != 0 {
		t.Errorf("left out %v, want nothing (the folder's node_modules is replaced, not the user's choice)", leftOut)
	}
	if !strings.Contains(stderr.String(), "npm install --omit=dev --no-package-lock") || !strings.Contains(stderr.String(), "installed 1 packages from package.json into the zip: greet") {
		t.Errorf("deploy did not say what it installed:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "greet")); err == nil {
		t.Errorf("npm installed into the folder itself")
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
