package runtimes

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDetectHost(t *testing.T) {
	c := hostCatalog(t)
	names := c.Names()
	if len(names) < 2 || names[0] != "provided.al2023" || names[1] != "provided.al2" {
		t.Fatalf("Names() = %v, want the provided runtimes first", names)
	}
	r, ok := c.Lookup("provided.al2023")
	if !ok || r.Family != Provided || len(r.Argv) != 0 || r.Env["AWS_EXECUTION_ENV"] != "" {
		t.Errorf("Lookup(provided.al2023) = %+v, %v", r, ok)
	}
	if _, ok := c.Lookup("python2.7"); ok {
		t.Error("Lookup(python2.7) found a runtime")
	}
	for _, r := range c.Available() {
		if r.Family == Provided {
			continue
		}
		t.Run(r.Name, func(t *testing.T) {
			if real, err := filepath.EvalSymlinks(r.Interpreter); err != nil || real != r.Interpreter || !isELF(real) {
				t.Errorf("Interpreter %q is not a resolved ELF executable", r.Interpreter)
			}
			if r.Env["AWS_EXECUTION_ENV"] != "AWS_Lambda_"+r.Name || r.Env["PATH"] == "" || !strings.HasPrefix(r.Env["LD_LIBRARY_PATH"], "/var/task:") {
				t.Errorf("Env = %v", r.Env)
			}
			if r.Argv[0] != r.Interpreter || !strings.HasPrefix(r.Argv[len(r.Argv)-1], RuntimeDir+"/bootstrap.") {
				t.Errorf("Argv = %v", r.Argv)
			}
			targets := map[string]bool{}
			for _, m := range r.Mounts {
				if _, err := os.Stat(m.Source); err != nil || !filepath.IsAbs(m.Target) || targets[m.Target] {
					t.Errorf("mount %+v: source %v, or target not absolute or repeated", m, err)
				}
				targets[m.Target] = true
			}
			if !targets[r.Interpreter] {
				t.Errorf("Mounts lack the interpreter %s", r.Interpreter)
			}
			if r.Family == Python && !slices.ContainsFunc(r.Mounts, func(m Mount) bool {
				_, err := os.Stat(filepath.Join(m.Source, "os.py"))
				return err == nil
			}) {
				t.Errorf("Mounts lack the standard library: %v", r.Mounts)
			}
		})
	}
	// The catalogue hands out copies.
	if len(c.Available()) > 2 {
		r := c.Available()[2]
		r.Env["X"] = "y"
		r.Argv[0] = "changed"
		if again := c.Available()[2]; again.Env["X"] != "" || again.Argv[0] == "changed" {
			t.Error("Available returns runtimes that share state with the catalogue")
		}
	}
}

// Shims are refused; symbolic links to real interpreters are followed.
func TestDetectSkipsShims(t *testing.T) {
	real, err := filepath.EvalSymlinks("/usr/bin/python3")
	if err != nil || !isELF(real) {
		t.Skip("no real /usr/bin/python3 on this host")
	}
	dir := t.TempDir()
	shim := "#!/bin/sh\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "python3.99"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "node"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(real) // python3.N
	if err := os.Symlink(real, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	c, err := Detect(context.Background(), Config{SearchPath: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"provided.al2023", "provided.al2", name}; !cmp.Equal(want, c.Names()) {
		t.Errorf("Names() = %v, want %v", c.Names(), want)
	}
	if r, _ := c.Lookup(name); r.Interpreter != real {
		t.Errorf("Interpreter = %q, want the resolved %q", r.Interpreter, real)
	}
}

func TestCommand(t *testing.T) {
	provided := Runtime{Name: "provided.al2023", Family: Provided}
	tests := []struct {
		present []string
		want    []string
		err     error
	}{
		{[]string{"/var/task/bootstrap", "/opt/bootstrap"}, []string{"/var/task/bootstrap"}, nil},
		{[]string{"/opt/bootstrap"}, []string{"/opt/bootstrap"}, nil},
		{nil, nil, ErrNoBootstrap},
	}
	for _, tt := range tests {
		got, err := provided.Command(func(p string) bool { return slices.Contains(tt.present, p) })
		if !cmp.Equal(tt.want, got) || !errors.Is(err, tt.err) {
			t.Errorf("Command with %v = %v, %v; want %v, %v", tt.present, got, err, tt.want, tt.err)
		}
	}
	py := Runtime{Argv: []string{"/usr/bin/python3.11", "-S", "/var/runtime/bootstrap.py"}}
	got, err := py.Command(nil)
	if err != nil || !cmp.Equal(py.Argv, got) {
		t.Errorf("Command = %v, %v; want %v", got, err, py.Argv)
	}
	got[0] = "changed"
	if py.Argv[0] == "changed" {
		t.Error("Command returned the runtime's own slice")
	}
}

func TestWriteRuntimeDir(t *testing.T) {
	c := hostCatalog(t)
	dir := t.TempDir()
	for range 2 { // a second write replaces the read-only files
		if err := c.WriteRuntimeDir(context.Background(), dir); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	err := fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bootstrap.cjs", "bootstrap.py", "nimbus_runtime.py"}
	for _, r := range c.Available() {
		if r.Family == Python {
			want = append(want, "__pycache__/nimbus_runtime.cpython-3"+strings.TrimPrefix(r.Name, "python3.")+".pyc")
		}
	}
	slices.Sort(want)
	if !cmp.Equal(want, names) {
		t.Errorf("runtime dir holds %v, want %v", names, want)
	}
	for _, n := range []string{"bootstrap.cjs", "bootstrap.py", "nimbus_runtime.py"} {
		if fi, err := os.Stat(filepath.Join(dir, n)); err != nil || fi.Mode().Perm() != 0o444 {
			t.Errorf("%s: mode %v, %v; want read-only", n, fi.Mode(), err)
		}
	}
	// The clients are at least syntactically valid for the interpreters of this host.
	for _, r := range c.Available() {
		var check *exec.Cmd
		switch r.Family {
		case Python:
			check = exec.Command(r.Interpreter, "-S", "-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())", filepath.Join(dir, pythonClient))
		case Node:
			check = exec.Command(r.Interpreter, "--check", filepath.Join(dir, nodeBootstrap))
		default:
			continue
		}
		check.Env = []string{}
		if out, err := check.CombinedOutput(); err != nil {
			t.Errorf("%s rejects its client: %v\n%s", r.Name, err, out)
		}
	}
}

// The Python client runs from its precompiled bytecode: with its source broken, it still
// starts.
func TestPythonClientRunsFromBytecode(t *testing.T) {
	r := family(t, Python)
	f := startFunction(t, r, fnOptions{handler: "app.handler", files: map[string]string{"app.py": pythonApp},
		beforeStart: func(rtDir string) {
			src := filepath.Join(rtDir, pythonClient)
			os.Chmod(src, 0o644)
			if err := os.WriteFile(src, []byte("this is not python\n"), 0o444); err != nil {
				t.Fatal(err)
			}
		}})
	if err := f.waitInit(t); err != nil {
		t.Fatalf("WaitInit = %v; the client was not loaded from its bytecode", err)
	}
	if resp := f.invoke(t, "req", `{"op":"echo"}`); resp.FunctionError {
		t.Errorf("invoke = %s", resp.Payload)
	}
}
