package codezip

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
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

// manyEmptyEntries writes, by hand (archive/zip's Writer takes tens of seconds for this under
// the race detector), a zip of n empty stored files. Without zip64 the end record carries the
// entry count modulo 65536 — the archive/zip quirk an attacker would use to make NewReader load
// far more entries than the archive admits to. With zip64 it is what archive/zip's Writer makes
// for 65535 entries or more.
func manyEmptyEntries(n int, zip64 bool) []byte {
	var local, central bytes.Buffer
	le := binary.LittleEndian
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("f%06d", i)
		off := uint32(local.Len())
		var h [30]byte
		le.PutUint32(h[0:], 0x04034b50)
		le.PutUint16(h[4:], 20)
		le.PutUint16(h[12:], 0x21) // 1980-01-01
		le.PutUint16(h[26:], uint16(len(name)))
		local.Write(h[:])
		local.WriteString(name)
		var c [46]byte
		le.PutUint32(c[0:], 0x02014b50)
		le.PutUint16(c[4:], 20)
		le.PutUint16(c[6:], 20)
		le.PutUint16(c[14:], 0x21)
		le.PutUint16(c[28:], uint16(len(name)))
		le.PutUint32(c[42:], off)
		central.Write(c[:])
		central.WriteString(name)
	}
	out := append(local.Bytes(), central.Bytes()...)
	records, size, offset := uint16(n), uint32(central.Len()), uint32(local.Len())
	if zip64 {
		var e [56 + 20]byte
		le.PutUint32(e[0:], 0x06064b50)
		le.PutUint64(e[4:], 44)
		le.PutUint16(e[12:], 45)
		le.PutUint16(e[14:], 45)
		le.PutUint64(e[24:], uint64(n))
		le.PutUint64(e[32:], uint64(n))
		le.PutUint64(e[40:], uint64(size))
		le.PutUint64(e[48:], uint64(offset))
		le.PutUint32(e[56:], 0x07064b50)
		le.PutUint64(e[64:], uint64(len(out)))
		le.PutUint32(e[72:], 1)
		out = append(out, e[:]...)
		records, size, offset = 0xffff, 0xffffffff, 0xffffffff
	}
	var end [22]byte
	le.PutUint32(end[0:], 0x06054b50)
	le.PutUint16(end[8:], records)
	le.PutUint16(end[10:], records)
	le.PutUint32(end[12:], size)
	le.PutUint32(end[16:], offset)
	return append(out, end[:]...)
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
