// Package nimbus_test checks the shape of the code base: which packages may import which, and
// that every package says what it is for.
package nimbus_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/nimbusfaas/nimbus"

type goPackage struct {
	ImportPath string
	Doc        string
	Imports    []string
	Standard   bool
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(out)
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// forbidden lists, for each package (prefix), the project packages it must not import.
var forbidden = map[string][]string{
	// The domain vocabulary stands on the standard library alone (checked below).
	"internal/lambda": {"internal/"},
	// Drivers know nothing of what runs in them.
	"internal/sandbox":    {"internal/api", "internal/store", "internal/invoker", "internal/environment", "internal/runtimeapi", "internal/runtimes", "internal/logs", "internal/lambda"},
	"internal/runtimeapi": {"internal/api", "internal/store", "internal/invoker", "internal/environment", "internal/sandbox"},
	"internal/runtimes":   {"internal/api", "internal/store", "internal/invoker", "internal/environment", "internal/sandbox"},
	"internal/logs":       {"internal/"},
	"internal/codezip":    {"internal/"},
	"internal/auth":       {"internal/"},
	"internal/httplimit":  {"internal/"},
	// The edge only dispatches; it may read a request's signing scope and nothing else.
	"internal/edge": {"internal/api", "internal/logsapi", "internal/store", "internal/invoker", "internal/environment", "internal/sandbox", "internal/async", "internal/logs"},
	// The invoker is scheduling logic; what it schedules is behind its interfaces.
	"internal/invoker": {"internal/api", "internal/store", "internal/environment", "internal/sandbox", "internal/runtimeapi", "internal/logs"},
	// The API reaches functions only through its Catalog and Invoker interfaces.
	"internal/api": {"internal/invoker", "internal/environment", "internal/sandbox", "internal/runtimeapi", "internal/natsd"},
	// The async queue reaches functions through its Functions and Invoker interfaces.
	"internal/async": {"internal/api", "internal/store", "internal/invoker", "internal/environment", "internal/sandbox", "internal/runtimeapi", "internal/logs"},
	"internal/store": {"internal/api", "internal/invoker", "internal/environment", "internal/sandbox"},

	// The benchmarks' server runs Nimbus as a process and reaches it as a client does.
	"bench/internal/benchserver": {"internal/api", "internal/store", "internal/invoker", "internal/environment", "internal/sandbox", "internal/runtimeapi", "internal/async", "internal/logs", "internal/natsd"},
}

func TestDependencyDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/cmd") && !strings.HasPrefix(rel, "cmd/") {
				t.Errorf("%s imports %s: nothing imports a command", rel, imp)
			}
			impRel, ours := strings.CutPrefix(imp, module+"/")
			for prefix, bans := range forbidden {
				if rel != prefix && !strings.HasPrefix(rel, prefix+"/") {
					continue
				}
				for _, ban := range bans {
					if ours && strings.HasPrefix(impRel, ban) && !strings.HasPrefix(impRel, prefix) {
						t.Errorf("%s imports %s, which it must not", rel, impRel)
					}
				}
			}
		}
		if rel == "internal/lambda" {
			for _, imp := range p.Imports {
				if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
					t.Errorf("internal/lambda imports %s; it must use the standard library only", imp)
				}
			}
		}
	}
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.Doc == "" && p.ImportPath != module {
			t.Errorf("package %s has no package doc comment", p.ImportPath)
		}
	}
}
