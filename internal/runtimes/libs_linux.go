package runtimes

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// libraries is the shared-library closure of a set of ELF files, as mounts.
type libraries struct {
	mounts []Mount
	// extraDirs are library directories outside the loader's built-in search path; without
	// the host's ld.so.cache the environment needs them in LD_LIBRARY_PATH.
	extraDirs []string
}

// sharedLibraries finds, the way the dynamic loader does, every shared library that the
// executables need (their program interpreter included), recursively. Every library of an
// executable must be found. Optional files (extension modules loaded on demand) contribute
// what can be found; a module whose library is missing would fail on the host too.
func sharedLibraries(executables, optional []string) (libraries, error) {
	r := &libResolver{visited: map[string]bool{}, targets: map[string]bool{}}
	for _, exe := range executables {
		if err := r.add(exe, true); err != nil {
			return libraries{}, err
		}
	}
	for _, f := range optional {
		_ = r.add(f, false)
	}
	return libraries{mounts: r.mounts, extraDirs: r.extraDirs}, nil
}

type libResolver struct {
	visited   map[string]bool // real paths already examined
	targets   map[string]bool
	mounts    []Mount
	extraDirs []string
	confDirs  []string // from /etc/ld.so.conf, read once
	confRead  bool
}

func (r *libResolver) add(path string, required bool) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", path, err)
	}
	if r.visited[real] {
		return nil
	}
	r.visited[real] = true
	f, err := elf.Open(real)
	if err != nil {
		return fmt.Errorf("reading %s: %w", real, err)
	}
	defer f.Close()

	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return fmt.Errorf("reading %s's interpreter: %w", real, err)
		}
		interp := strings.TrimRight(string(b), "\x00")
		src, err := filepath.EvalSymlinks(interp)
		if err != nil {
			return fmt.Errorf("%s's interpreter %s: %w", real, interp, err)
		}
		// The kernel opens the interpreter by the exact path written in the executable.
		r.mount(src, interp)
		if err := r.add(src, required); err != nil {
			return err
		}
	}

	needed, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("reading %s's libraries: %w", real, err)
	}
	if len(needed) == 0 {
		return nil
	}
	dirs := r.searchDirs(f, filepath.Dir(real))
	var missing []string
	for _, lib := range needed {
		dir, ok := findLibrary(lib, dirs, f.Class, f.Machine)
		if !ok {
			missing = append(missing, lib)
			continue
		}
		realDir, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return err
		}
		src, err := filepath.EvalSymlinks(filepath.Join(dir, lib))
		if err != nil {
			return err
		}
		// Mount under the soname in the real directory: the loader asks for the soname, and
		// the sandbox's tree has no symbolic links such as /lib -> usr/lib.
		r.mount(src, filepath.Join(realDir, lib))
		if !isSystemLibDir(realDir, f.Machine) && !slices.Contains(r.extraDirs, realDir) {
			r.extraDirs = append(r.extraDirs, realDir)
		}
		if err := r.add(src, required); err != nil && required {
			return err
		}
	}
	if len(missing) > 0 && required {
		return fmt.Errorf("%s needs %s, not found", real, strings.Join(missing, ", "))
	}
	return nil
}

func (r *libResolver) mount(src, target string) {
	if r.targets[target] {
		return
	}
	r.targets[target] = true
	r.mounts = append(r.mounts, Mount{Source: src, Target: target})
}

// searchDirs is the loader's order: DT_RPATH (when there is no DT_RUNPATH), DT_RUNPATH, the
// directories of ld.so.conf (what ld.so.cache indexes), then the built-in directories.
func (r *libResolver) searchDirs(f *elf.File, origin string) []string {
	var dirs []string
	expand := func(list []string) {
		for _, entry := range list {
			for _, d := range strings.Split(entry, ":") {
				d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin)
				if d != "" {
					dirs = append(dirs, d)
				}
			}
		}
	}
	runpath, _ := f.DynString(elf.DT_RUNPATH)
	if len(runpath) == 0 {
		rpath, _ := f.DynString(elf.DT_RPATH)
		expand(rpath)
	}
	expand(runpath)
	if !r.confRead {
		r.confRead = true
		r.confDirs = readLdSoConf("/etc/ld.so.conf", 0)
	}
	dirs = append(dirs, r.confDirs...)
	return append(dirs, systemLibDirs(f.Machine)...)
}

// findLibrary returns the first directory holding lib built for the same class and machine.
func findLibrary(lib string, dirs []string, class elf.Class, machine elf.Machine) (string, bool) {
	if strings.Contains(lib, "/") {
		return filepath.Dir(lib), matchesELF(lib, class, machine)
	}
	for _, d := range dirs {
		if matchesELF(filepath.Join(d, lib), class, machine) {
			return d, true
		}
	}
	return "", false
}

func matchesELF(path string, class elf.Class, machine elf.Machine) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Class == class && f.Machine == machine
}

// systemLibDirs are the directories glibc's loader searches when ld.so.cache does not help.
func systemLibDirs(machine elf.Machine) []string {
	var dirs []string
	if t := multiarchTriplet(machine); t != "" {
		dirs = append(dirs, "/lib/"+t, "/usr/lib/"+t)
	}
	return append(dirs, "/lib64", "/usr/lib64", "/lib", "/usr/lib")
}

func isSystemLibDir(realDir string, machine elf.Machine) bool {
	for _, d := range systemLibDirs(machine) {
		if d == realDir {
			return true
		}
		if r, err := filepath.EvalSymlinks(d); err == nil && r == realDir {
			return true
		}
	}
	return false
}

func multiarchTriplet(machine elf.Machine) string {
	switch machine {
	case elf.EM_X86_64:
		return "x86_64-linux-gnu"
	case elf.EM_AARCH64:
		return "aarch64-linux-gnu"
	case elf.EM_386:
		return "i386-linux-gnu"
	case elf.EM_ARM:
		return "arm-linux-gnueabihf"
	case elf.EM_RISCV:
		return "riscv64-linux-gnu"
	case elf.EM_PPC64:
		return "powerpc64le-linux-gnu"
	case elf.EM_S390:
		return "s390x-linux-gnu"
	}
	return ""
}

// readLdSoConf lists the directories of an ld.so.conf file, following include lines.
func readLdSoConf(path string, depth int) []string {
	if depth > 8 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var dirs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "include"):
			pattern := strings.TrimSpace(strings.TrimPrefix(line, "include"))
			if !filepath.IsAbs(pattern) {
				pattern = filepath.Join(filepath.Dir(path), pattern)
			}
			matches, _ := filepath.Glob(pattern)
			slices.Sort(matches)
			for _, m := range matches {
				dirs = append(dirs, readLdSoConf(m, depth+1)...)
			}
		case strings.HasPrefix(line, "/"):
			dirs = append(dirs, line)
		}
	}
	return dirs
}
