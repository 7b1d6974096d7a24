// Package runtimes is the catalogue of the runtimes Nimbus runs functions on, and the runtime
// clients it ships for them.
//
// provided.al2023 and provided.al2 run the function's own bootstrap executable. python3.N and
// nodejsN.x run the host's interpreters (one runtime per interpreter found, real binaries
// only, never shims) with our own runtime clients, written in plain Python and JavaScript,
// embedded in the binary and written to a runtime directory that the sandbox mounts at
// /var/runtime. For each runtime the catalogue gives the command to run inside the sandbox,
// its environment, and the host files the sandbox must mount read-only for the interpreter to
// run there: the interpreter, its standard library and the shared libraries they load.
package runtimes

import (
	"errors"
	"maps"
	"slices"
)

// Paths inside an execution environment.
const (
	TaskDir    = "/var/task"
	RuntimeDir = "/var/runtime"
	OptDir     = "/opt"
)

// Family groups runtimes that share a client.
type Family string

// Runtime families.
const (
	Provided Family = "provided"
	Python   Family = "python"
	Node     Family = "nodejs"
)

// Mount is a host file or directory the sandbox must bind read-only at Target.
type Mount struct {
	// Source is the host path, symbolic links resolved.
	Source string
	// Target is where the environment's programs look for it. For a shared library that is
	// the library's soname in a directory the dynamic loader searches.
	Target string
}

// Runtime describes one runtime.
type Runtime struct {
	// Name is Lambda's runtime identifier: "provided.al2023", "python3.11", "nodejs20.x".
	Name   string
	Family Family
	// Version is the interpreter's version ("3.11.2", "20.20.2"); empty for provided runtimes.
	Version string
	// Interpreter is the interpreter's host path, symbolic links resolved; empty for provided.
	Interpreter string
	// Argv starts the runtime inside the environment; empty for provided runtimes, whose
	// command depends on the function's code (see Command).
	Argv []string
	// Env is the runtime's own environment, to which the invoker adds Lambda's reserved
	// variables and the function's. Function variables may override PATH and the like.
	Env map[string]string
	// Mounts are what the sandbox must mount for Argv to run.
	Mounts []Mount
}

// ProvidedBootstraps are where provided runtimes look for the function's executable, in
// order, like Lambda.
var ProvidedBootstraps = []string{TaskDir + "/bootstrap", OptDir + "/bootstrap"}

// InvalidEntrypointMessage is Lambda's message for a provided function without a bootstrap;
// it goes with the error type Runtime.InvalidEntrypoint.
const InvalidEntrypointMessage = "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"

// ErrNoBootstrap is returned by Command when no bootstrap exists.
var ErrNoBootstrap = errors.New("no bootstrap in /var/task or /opt")

// Command returns the argv that starts r inside an environment. For provided runtimes it is
// the first of ProvidedBootstraps for which exists reports true; exists is given paths inside
// the environment.
func (r Runtime) Command(exists func(path string) bool) ([]string, error) {
	if len(r.Argv) > 0 {
		return slices.Clone(r.Argv), nil
	}
	for _, p := range ProvidedBootstraps {
		if exists(p) {
			return []string{p}, nil
		}
	}
	return nil, ErrNoBootstrap
}

// Catalog is the set of runtimes available on this host.
type Catalog struct {
	byName map[string]Runtime
	names  []string
}

// Available returns every runtime, provided ones first, then by name.
func (c *Catalog) Available() []Runtime {
	out := make([]Runtime, 0, len(c.names))
	for _, n := range c.names {
		out = append(out, c.byName[n].clone())
	}
	return out
}

// Lookup returns the runtime called name.
func (c *Catalog) Lookup(name string) (Runtime, bool) {
	r, ok := c.byName[name]
	if !ok {
		return Runtime{}, false
	}
	return r.clone(), true
}

// Names returns the names of every runtime, as in Available.
func (c *Catalog) Names() []string { return slices.Clone(c.names) }

func (r Runtime) clone() Runtime {
	r.Argv = slices.Clone(r.Argv)
	r.Env = maps.Clone(r.Env)
	r.Mounts = slices.Clone(r.Mounts)
	return r
}

func newCatalog(rs []Runtime) *Catalog {
	c := &Catalog{byName: map[string]Runtime{}}
	for _, r := range rs {
		if _, dup := c.byName[r.Name]; dup {
			continue
		}
		c.byName[r.Name] = r
		c.names = append(c.names, r.Name)
	}
	return c
}

// PythonFlags are the interpreter flags of the Python runtimes: no site (no scan of the
// host's site-packages, ~9 ms of every cold start), no bytecode writes (the code is
// read-only), unbuffered stdout and stderr (print lands in the log at once, as on Lambda).
// Environment variables such as PYTHONPATH still apply, as on Lambda.
var PythonFlags = []string{"-S", "-B", "-u"}

// Lambda's defaults for the environment's search paths.
const (
	defaultPATH = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
	// The code's and the layers' own libraries come first, as on Lambda.
	defaultLibraryPath = "/var/task:/var/task/lib:/opt/lib"
)

func providedRuntimes() []Runtime {
	env := map[string]string{"PATH": defaultPATH, "LD_LIBRARY_PATH": defaultLibraryPath}
	return []Runtime{
		{Name: "provided.al2023", Family: Provided, Env: maps.Clone(env)},
		{Name: "provided.al2", Family: Provided, Env: maps.Clone(env)},
	}
}
