package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// installed is what installDeps put in a staging directory, to zip along with the code.
type installed struct {
	// Dir holds the installed files at the paths they take in the zip; "" when nothing was
	// installed.
	Dir string
	// LeaveOut are ignore patterns for the code's own directory: what the installed files
	// replace (a node_modules left from development, with its devDependencies).
	LeaveOut []string
}

// installDeps installs the dependencies that the code in dir declares, the way `sam build`
// does: requirements.txt with the function's Python (`python3.X -m pip install -r
// requirements.txt -t STAGING`), package.json with npm (`npm ci --omit=dev` when there is a
// lock file, else `npm install --omit=dev`). It says what it runs and what it installed on
// Stderr, where the tools' own output goes too. A missing tool or a failed install is an
// error: the function would fail at its first import. The caller removes in.Dir.
func (a *App) installDeps(ctx context.Context, dir, runtime string) (in installed, err error) {
	fam := FamilyOf(runtime)
	switch {
	case fam == Python && fileExists(filepath.Join(dir, "requirements.txt")):
		return a.pipInstall(ctx, dir, runtime)
	case fam == Node && fileExists(filepath.Join(dir, "package.json")):
		return a.npmInstall(ctx, dir)
	}
	return installed{}, nil
}

func (a *App) pipInstall(ctx context.Context, dir, runtime string) (installed, error) {
	// The function's Python: python3.12 for python3.12, so that compiled packages fit it.
	python, err := exec.LookPath(runtime)
	if err != nil {
		return installed{}, &UserError{Err: err, Msg: fmt.Sprintf("%s has a requirements.txt, and installing it needs %s (the function's runtime) with pip, which is not on PATH: install it, or pass --no-deps and put the packages in the folder yourself",
			dir, runtime)}
	}
	staging, err := os.MkdirTemp("", "nimbus-deps-")
	if err != nil {
		return installed{}, err
	}
	args := []string{"-m", "pip", "install", "-r", "requirements.txt", "--target", staging,
		"--no-compile", "--disable-pip-version-check", "--no-input", "--quiet"}
	fmt.Fprintf(a.Stderr, "installing %s: %s %s\n", filepath.Join(dir, "requirements.txt"), runtime, strings.Join(args, " "))
	if err := a.runTool(ctx, dir, python, args); err != nil {
		os.RemoveAll(staging)
		return installed{}, a.toolFailed(err, "pip install -r requirements.txt", dir, "fix requirements.txt (pip reads PIP_INDEX_URL, PIP_FIND_LINKS and pip.conf for other package indexes)")
	}
	a.sayInstalled(staging, "requirements.txt")
	return installed{Dir: staging}, nil
}

func (a *App) npmInstall(ctx context.Context, dir string) (installed, error) {
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return installed{}, err
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return installed{}, &UserError{Err: err, Msg: fmt.Sprintf("%s is not valid JSON (%v): fix it, or pass --no-deps", filepath.Join(dir, "package.json"), err)}
	}
	if len(pkg.Dependencies) == 0 {
		fmt.Fprintf(a.Stderr, "%s lists no dependencies: nothing to install\n", filepath.Join(dir, "package.json"))
		return installed{}, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return installed{}, &UserError{Err: err, Msg: fmt.Sprintf("%s has a package.json with dependencies, and installing them needs npm, which is not on PATH: install Node.js with npm, or pass --no-deps and put node_modules in the folder yourself", dir)}
	}
	// npm works in a copy of the manifest, so that the folder's own node_modules (with its
	// devDependencies) is neither changed nor shipped.
	staging, err := os.MkdirTemp("", "nimbus-deps-")
	if err != nil {
		return installed{}, err
	}
	args := []string{"install", "--omit=dev", "--no-package-lock"}
	for _, name := range []string{"package.json", "package-lock.json", "npm-shrinkwrap.json", ".npmrc"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(staging, name), b, 0o644)
		}
		if err != nil {
			os.RemoveAll(staging)
			return installed{}, err
		}
		if name == "package-lock.json" || name == "npm-shrinkwrap.json" {
			args = []string{"ci", "--omit=dev"}
		}
	}
	args = append(args, "--no-audit", "--no-fund", "--loglevel=error")
	fmt.Fprintf(a.Stderr, "installing the dependencies of %s: npm %s\n", filepath.Join(dir, "package.json"), strings.Join(args, " "))
	if err := a.runTool(ctx, staging, npm, args); err != nil {
		os.RemoveAll(staging)
		return installed{}, a.toolFailed(err, "npm "+args[0], dir, "fix package.json")
	}
	// Only node_modules joins the code; the manifests are the folder's own.
	for _, name := range []string{"package.json", "package-lock.json", "npm-shrinkwrap.json", ".npmrc"} {
		os.Remove(filepath.Join(staging, name))
	}
	a.sayInstalled(filepath.Join(staging, "node_modules"), "package.json")
	return installed{Dir: staging, LeaveOut: []string{"/node_modules/"}}, nil
}

// runTool runs a package tool in dir with its output on Stderr.
func (a *App) runTool(ctx context.Context, dir, bin string, args []string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = a.environ()
	cmd.Stdout, cmd.Stderr = a.Stderr, a.Stderr
	return cmd.Run()
}

func (a *App) toolFailed(err error, what, dir, fix string) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &UserError{Err: err, Msg: fmt.Sprintf("%s failed in %s (its errors are above): %s, or pass --no-deps to deploy the folder as it is", what, dir, fix)}
	}
	return fmt.Errorf("running %s: %w", what, err)
}

// sayInstalled names the packages now in dir: pip's NAME-VERSION.dist-info directories, or
// npm's package directories (@scope/name counted as one).
func (a *App) sayInstalled(dir, from string) {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		n := e.Name()
		switch {
		case !e.IsDir() || strings.HasPrefix(n, "."):
		case strings.HasSuffix(n, ".dist-info"):
			names = append(names, strings.Replace(strings.TrimSuffix(n, ".dist-info"), "-", " ", 1))
		case strings.HasPrefix(n, "@"):
			scoped, _ := os.ReadDir(filepath.Join(dir, n))
			for _, s := range scoped {
				names = append(names, n+"/"+s.Name())
			}
		case filepath.Base(dir) == "node_modules":
			names = append(names, n)
		}
	}
	slices.Sort(names)
	fmt.Fprintf(a.Stderr, "installed %d packages from %s into the zip: %s\n", len(names), from, strings.Join(names, ", "))
}

func fileExists(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular()
}
