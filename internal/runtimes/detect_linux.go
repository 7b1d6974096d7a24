package runtimes

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// DefaultSearchPath is where Detect looks for interpreters by default. Home directories are
// left out on purpose: version managers put shims there, and the sandbox would have to mount
// the user's home.
var DefaultSearchPath = []string{"/usr/local/bin", "/usr/bin", "/bin"}

// Config configures Detect. Zero values take the documented defaults.
type Config struct {
	// SearchPath lists the directories searched for python3.N and node executables, in
	// order; the first interpreter of a given version wins. Default DefaultSearchPath.
	SearchPath []string
	// Logger receives the interpreters skipped and why, at info level. Default: discard.
	Logger *slog.Logger
}

// minPython is the oldest Python our client supports.
const minPython = 8

var pythonName = regexp.MustCompile(`^python3\.(\d+)$`)

// Detect builds the catalogue of this host: the provided runtimes, and one runtime for each
// Python 3 and Node.js major version found in the search path. Each interpreter is run once,
// to learn its version and library paths. Interpreters that are not real executables (shell
// script shims) or that fail are skipped.
func Detect(ctx context.Context, cfg Config) (*Catalog, error) {
	search := cfg.SearchPath
	if len(search) == 0 {
		search = DefaultSearchPath
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rs := providedRuntimes()
	var pythons, nodes []Runtime
	seen := map[string]bool{} // real paths already examined
	for _, dir := range search {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, ent := range entries {
			name := ent.Name()
			m := pythonName.FindStringSubmatch(name)
			isNode := name == "node" || name == "nodejs"
			if m == nil && !isNode {
				continue
			}
			real, ok := realExecutable(filepath.Join(dir, name), log)
			if !ok || seen[real] {
				continue
			}
			seen[real] = true
			if isNode {
				r, err := detectNode(ctx, real)
				if err != nil {
					log.Info("runtimes: skipping node", "path", real, "err", err)
					continue
				}
				nodes = append(nodes, r)
				continue
			}
			if minor, _ := strconv.Atoi(m[1]); minor < minPython {
				log.Info("runtimes: skipping python older than 3.8", "path", real)
				continue
			}
			r, err := detectPython(ctx, real)
			if err != nil {
				log.Info("runtimes: skipping python", "path", real, "err", err)
				continue
			}
			pythons = append(pythons, r)
		}
	}
	byName := func(a, b Runtime) int { return strings.Compare(a.Name, b.Name) }
	slices.SortStableFunc(pythons, byName)
	slices.SortStableFunc(nodes, byName)
	rs = append(rs, nodes...)
	rs = append(rs, pythons...)
	return newCatalog(rs), nil
}

// realExecutable resolves symbolic links and accepts only executable ELF files: a version
// manager's shim is a script that would look the real interpreter up at every start.
func realExecutable(path string, log *slog.Logger) (string, bool) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", false
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", false
	}
	if !isELF(real) {
		log.Info("runtimes: skipping an interpreter that is not an ELF executable (a shim?)", "path", real)
		return "", false
	}
	return real, true
}

const pythonProbe = `import sys, json
print(json.dumps({"version": "%d.%d.%d" % sys.version_info[:3], "path": [p for p in sys.path if p]}))`

func detectPython(ctx context.Context, interp string) (Runtime, error) {
	out, err := probe(ctx, interp, "-I", "-S", "-c", pythonProbe)
	if err != nil {
		return Runtime{}, err
	}
	var info struct {
		Version string   `json:"version"`
		Path    []string `json:"path"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return Runtime{}, fmt.Errorf("reading %s's probe %q: %w", interp, out, err)
	}
	parts := strings.Split(info.Version, ".")
	if len(parts) != 3 || parts[0] != "3" {
		return Runtime{}, fmt.Errorf("%s reports version %q", interp, info.Version)
	}
	name := "python3." + parts[1]

	// The standard library: every directory of sys.path that exists, outermost only.
	var libDirs, modules []string
	for _, p := range info.Path {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
			continue
		}
		// Extension modules load shared libraries of their own.
		so, _ := filepath.Glob(filepath.Join(real, "*.so"))
		modules = append(modules, so...)
		if !slices.ContainsFunc(libDirs, func(d string) bool { return within(real, d) }) {
			libDirs = append(libDirs, real)
		}
	}
	if len(libDirs) == 0 {
		return Runtime{}, fmt.Errorf("%s has no standard library directory", interp)
	}
	mounts := []Mount{{Source: interp, Target: interp}}
	for _, d := range libDirs {
		mounts = append(mounts, Mount{Source: d, Target: d})
	}
	libs, err := sharedLibraries([]string{interp}, modules)
	if err != nil {
		return Runtime{}, err
	}
	mounts = append(mounts, libs.mounts...)

	env := map[string]string{
		"PATH":              defaultPATH,
		"LD_LIBRARY_PATH":   libraryPath(libs.extraDirs),
		"AWS_EXECUTION_ENV": "AWS_Lambda_" + name,
	}
	argv := append([]string{interp}, PythonFlags...)
	argv = append(argv, RuntimeDir+"/"+pythonBootstrap)
	return Runtime{Name: name, Family: Python, Version: info.Version, Interpreter: interp,
		Argv: argv, Env: env, Mounts: sortMounts(mounts)}, nil
}

func detectNode(ctx context.Context, interp string) (Runtime, error) {
	out, err := probe(ctx, interp, "--version")
	if err != nil {
		return Runtime{}, err
	}
	version := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, _, _ := strings.Cut(version, ".")
	if n, err := strconv.Atoi(major); err != nil || n < 14 {
		return Runtime{}, fmt.Errorf("%s reports version %q", interp, out)
	}
	name := "nodejs" + major + ".x"
	libs, err := sharedLibraries([]string{interp}, nil)
	if err != nil {
		return Runtime{}, err
	}
	mounts := append([]Mount{{Source: interp, Target: interp}}, libs.mounts...)
	env := map[string]string{
		"PATH":              defaultPATH,
		"LD_LIBRARY_PATH":   libraryPath(libs.extraDirs),
		"AWS_EXECUTION_ENV": "AWS_Lambda_" + name,
		// Lambda's module search path for layers.
		"NODE_PATH": "/opt/nodejs/node" + major + "/node_modules:/opt/nodejs/node_modules:" + RuntimeDir + "/node_modules",
	}
	return Runtime{Name: name, Family: Node, Version: version, Interpreter: interp,
		Argv: []string{interp, RuntimeDir + "/" + nodeBootstrap}, Env: env, Mounts: sortMounts(mounts)}, nil
}

// libraryPath is Lambda's LD_LIBRARY_PATH plus the directories of libraries the dynamic
// loader would not find without the host's ld.so.cache.
func libraryPath(extra []string) string {
	return strings.Join(append([]string{defaultLibraryPath}, extra...), ":")
}

func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

func sortMounts(ms []Mount) []Mount {
	slices.SortFunc(ms, func(a, b Mount) int { return strings.Compare(a.Target, b.Target) })
	return slices.CompactFunc(ms, func(a, b Mount) bool { return a.Target == b.Target })
}
