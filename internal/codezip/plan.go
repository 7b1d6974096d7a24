package codezip

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"sort"
	"strings"
	"unicode/utf8"
)

type kind int

const (
	kindFile kind = iota
	kindDir
	kindSymlink
)

// entry is one archive member after its name and type were checked.
type entry struct {
	f      *zip.File
	name   string // cleaned: slash-separated, relative, no "." or ".." or empty segments
	kind   kind
	perm   fs.FileMode
	target string // symlink target
}

// plan is an archive whose directory passed every check that needs no file data.
type plan struct {
	entries []*entry          // in archive order, minus the root entry some tools add ("./")
	byName  map[string]*entry //
	lim     Limits
}

const (
	maxNameLen      = 4095 // PATH_MAX - 1
	maxComponentLen = 255  // NAME_MAX
	maxDepth        = 128
	maxLinkTarget   = 4095
	maxLinkHops     = 40  // Linux MAXSYMLINKS
	maxResolveSteps = 512 // path components walked while resolving one symlink
)

// newPlan reads the archive's central directory and checks names, types, modes and declared
// sizes. Symlink targets, which live in file data, are checked by checkSymlinks.
func newPlan(b []byte, lim Limits) (*plan, error) {
	if n, ok := countCentralDirectory(b, lim.MaxEntries); ok && n > lim.MaxEntries {
		return nil, invalid("more than %d entries", lim.MaxEntries)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, invalid("read archive: %v", err)
	}
	if len(zr.File) > lim.MaxEntries {
		return nil, invalid("%d entries, more than %d", len(zr.File), lim.MaxEntries)
	}
	p := &plan{byName: make(map[string]*entry, len(zr.File)), lim: lim}
	var declared uint64
	for _, f := range zr.File {
		e, err := checkEntry(f)
		if err != nil {
			return nil, err
		}
		if e == nil {
			continue // the archive's own root, "./"
		}
		if prev, dup := p.byName[e.name]; dup {
			return nil, invalid("duplicate entry %q (also %q)", f.Name, prev.f.Name)
		}
		p.byName[e.name] = e
		p.entries = append(p.entries, e)
		if e.kind == kindFile {
			declared += f.UncompressedSize64
			if declared > uint64(lim.MaxUnzipped) {
				return nil, tooLarge("declared sizes exceed %d bytes", lim.MaxUnzipped)
			}
		}
	}
	for _, e := range p.entries {
		// Every parent must be a directory: a file cannot hold entries, and an entry beneath a
		// symlink would be written through it.
		for i := strings.IndexByte(e.name, '/'); i >= 0; i = next(e.name, i) {
			if parent, ok := p.byName[e.name[:i]]; ok && parent.kind != kindDir {
				return nil, invalid("entry %q lies beneath non-directory %q", e.f.Name, parent.f.Name)
			}
		}
	}
	if err := checkOverlap(p.entries); err != nil {
		return nil, err
	}
	return p, nil
}

func next(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// checkEntry checks one member's name, type and mode. It returns nil, nil for a root entry.
func checkEntry(f *zip.File) (*entry, error) {
	if f.Flags&0x1 != 0 {
		return nil, invalid("entry %q is encrypted", f.Name)
	}
	if f.Method != zip.Store && f.Method != zip.Deflate {
		return nil, invalid("entry %q uses unsupported compression method %d", f.Name, f.Method)
	}
	name, err := cleanName(f.Name)
	if err != nil {
		return nil, err
	}
	e := &entry{f: f, name: name}
	dirName := strings.HasSuffix(f.Name, "/")
	var unixMode uint32
	switch f.CreatorVersion >> 8 {
	case 3, 19: // Unix, macOS: st_mode in the high 16 bits
		unixMode = f.ExternalAttrs >> 16
	}
	if unixMode&0o7000 != 0 {
		return nil, invalid("entry %q has setuid, setgid or sticky bits (mode %#o)", f.Name, unixMode)
	}
	switch unixMode & 0o170000 {
	case 0: // no Unix type: trust the name, or the MS-DOS directory attribute
		if dirName || f.ExternalAttrs&0x10 != 0 {
			e.kind = kindDir
		}
	case 0o100000: // regular; a trailing slash still makes it a directory, as unzip does
		if dirName {
			e.kind = kindDir
		}
	case 0o040000:
		e.kind = kindDir
	case 0o120000:
		if dirName {
			return nil, invalid("symlink entry %q is named like a directory", f.Name)
		}
		e.kind = kindSymlink
	default:
		return nil, invalid("entry %q is a device, FIFO, socket or unknown file type (mode %#o)", f.Name, unixMode)
	}
	switch e.kind {
	case kindDir:
		if f.UncompressedSize64 != 0 {
			return nil, invalid("directory entry %q has %d bytes of content", f.Name, f.UncompressedSize64)
		}
		e.perm = 0o755
		if name == "" {
			return nil, nil
		}
	case kindSymlink:
		if f.UncompressedSize64 == 0 || f.UncompressedSize64 > maxLinkTarget {
			return nil, invalid("symlink %q has a %d-byte target", f.Name, f.UncompressedSize64)
		}
	case kindFile:
		e.perm = 0o644
		if unixMode&0o111 != 0 {
			e.perm = 0o755
		}
	}
	if name == "" {
		return nil, invalid("entry %q has no name", f.Name)
	}
	return e, nil
}

// cleanName turns an archive name into a relative slash path, dropping "." and empty segments
// and refusing anything that could land outside the tree or confuse a later reader of the name.
func cleanName(raw string) (string, error) {
	if raw == "" {
		return "", invalid("entry with an empty name")
	}
	if !utf8.ValidString(raw) {
		return "", invalid("entry name %q is not valid UTF-8", raw)
	}
	for _, r := range raw {
		if r < 0x20 || r == 0x7f {
			return "", invalid("entry name %q contains a control character", raw)
		}
	}
	if strings.Contains(raw, `\`) {
		return "", invalid("entry name %q contains a backslash", raw)
	}
	if raw[0] == '/' {
		return "", invalid("entry name %q is absolute", raw)
	}
	var segs []string
	for _, s := range strings.Split(raw, "/") {
		switch {
		case s == "" || s == ".":
		case s == "..":
			return "", invalid("entry name %q contains '..'", raw)
		case len(s) > maxComponentLen:
			return "", invalid("entry name %q has a component longer than %d bytes", raw, maxComponentLen)
		default:
			segs = append(segs, s)
		}
	}
	if len(segs) > maxDepth {
		return "", invalid("entry name %q is nested deeper than %d", raw, maxDepth)
	}
	name := strings.Join(segs, "/")
	if len(name) > maxNameLen {
		return "", invalid("entry name %q is longer than %d bytes", raw, maxNameLen)
	}
	return name, nil
}

// checkOverlap refuses archives whose members share compressed bytes: no zip tool writes them,
// and they are how "overlapping" zip bombs fit many huge members into a small file.
func checkOverlap(entries []*entry) error {
	type span struct {
		start, end int64
		name       string
	}
	spans := make([]span, 0, len(entries))
	for _, e := range entries {
		if e.f.CompressedSize64 == 0 {
			continue
		}
		off, err := e.f.DataOffset()
		if err != nil {
			return invalid("entry %q: %v", e.f.Name, err)
		}
		if e.f.CompressedSize64 > 1<<62 {
			return invalid("entry %q declares %d compressed bytes", e.f.Name, e.f.CompressedSize64)
		}
		spans = append(spans, span{off, off + int64(e.f.CompressedSize64), e.f.Name})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end {
			return invalid("entries %q and %q overlap", spans[i-1].name, spans[i].name)
		}
	}
	return nil
}

// checkSymlinks reads every symlink's target and refuses targets that are absolute or that, once
// resolved through the archive's own symlinks, would leave the tree at any step.
func (p *plan) checkSymlinks() error {
	for _, e := range p.entries {
		if e.kind != kindSymlink {
			continue
		}
		rc, err := e.f.Open()
		if err != nil {
			return invalid("symlink %q: %v", e.f.Name, err)
		}
		t, err := io.ReadAll(io.LimitReader(rc, maxLinkTarget+1))
		rc.Close()
		if err != nil {
			return invalid("symlink %q: %v", e.f.Name, err)
		}
		target := string(t)
		if target == "" || !utf8.ValidString(target) || strings.ContainsFunc(target, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return invalid("symlink %q has an empty or malformed target %q", e.f.Name, target)
		}
		if strings.HasPrefix(target, "/") {
			return invalid("symlink %q points to absolute path %q", e.f.Name, target)
		}
		e.target = target
	}
	for _, e := range p.entries {
		if e.kind != kindSymlink {
			continue
		}
		budget := resolveBudget{hops: maxLinkHops, steps: maxResolveSteps}
		if _, err := p.resolve(parentSegs(e.name), e.target, &budget); err != nil {
			return invalid("symlink %q -> %q: %v", e.f.Name, e.target, err)
		}
	}
	return nil
}

type resolveBudget struct{ hops, steps int }

type resolveError string

func (e resolveError) Error() string { return string(e) }

// resolve walks target from dir the way the kernel would inside the extracted tree, following
// the archive's own symlinks, and fails if the walk ever climbs above the root. Names not in the
// archive are taken as plain directories: the kernel would stop there with ENOENT, harmlessly.
func (p *plan) resolve(dir []string, target string, b *resolveBudget) ([]string, error) {
	cur := append([]string(nil), dir...)
	for _, c := range strings.Split(target, "/") {
		if b.steps--; b.steps < 0 {
			return nil, resolveError("too many path steps")
		}
		switch c {
		case "", ".":
		case "..":
			if len(cur) == 0 {
				return nil, resolveError("resolves outside the tree")
			}
			cur = cur[:len(cur)-1]
		default:
			cur = append(cur, c)
			link, ok := p.byName[strings.Join(cur, "/")]
			if !ok || link.kind != kindSymlink {
				continue
			}
			if b.hops--; b.hops < 0 {
				return nil, resolveError("too many levels of symbolic links")
			}
			var err error
			if cur, err = p.resolve(cur[:len(cur)-1], link.target, b); err != nil {
				return nil, err
			}
		}
	}
	return cur, nil
}

func parentSegs(name string) []string {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return nil
	}
	return strings.Split(name[:i], "/")
}
