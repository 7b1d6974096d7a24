package codezip

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// member describes one archive entry for makeZip.
type member struct {
	name   string
	body   string
	mode   fs.FileMode // 0 leaves the header without Unix mode bits
	dos    bool        // made on Windows: MS-DOS creator, no Unix mode
	method uint16      // defaults to Deflate
	// raw, when set, writes the entry with CreateRaw using these header values verbatim
	// (declared sizes and CRC as given, body as the already-compressed bytes).
	raw   *zip.FileHeader
	mtime time.Time
}

func makeZip(t testing.TB, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		if m.raw != nil {
			w, err := zw.CreateRaw(m.raw)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte(m.body)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		method := m.method
		if method == 0 && !strings.HasSuffix(m.name, "/") {
			method = zip.Deflate
		}
		h := &zip.FileHeader{Name: m.name, Method: method, Modified: m.mtime}
		if m.mode != 0 {
			h.SetMode(m.mode)
		}
		if m.dos {
			h.CreatorVersion = 0<<8 | 20 // MS-DOS/FAT
			if strings.HasSuffix(m.name, "/") {
				h.ExternalAttrs = 0x10
			}
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(m.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// storedRaw is a header for CreateRaw of an uncompressed body with an honest CRC and the given
// declared size.
func storedRaw(name, body string, declared uint64) *zip.FileHeader {
	return &zip.FileHeader{
		Name: name, Method: zip.Store, CRC32: crc32.ChecksumIEEE([]byte(body)),
		CompressedSize64: uint64(len(body)), UncompressedSize64: declared,
	}
}

// patchCentral rewrites the central-directory record of the entry called name.
func patchCentral(t testing.TB, b []byte, name string, patch func(rec []byte)) []byte {
	t.Helper()
	b = bytes.Clone(b)
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte("PK\x01\x02"))
		if i < 0 {
			t.Fatalf("no central record for %q", name)
		}
		rec := b[off+i:]
		n := int(binary.LittleEndian.Uint16(rec[28:]))
		if string(rec[46:46+n]) == name {
			patch(rec)
			return b
		}
		off += i + 4
	}
}

// listTree describes everything under dir as "path mode [-> target | size]", sorted.
func listTree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := rel + " " + fi.Mode().String()
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " -> " + target
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
