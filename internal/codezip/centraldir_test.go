package codezip

import (
	"archive/zip"
	"bytes"
	"testing"
)

// TestCountCentralDirectoryMatchesArchiveZip checks the pre-count agrees with what
// archive/zip's NewReader loads, including the cases where the archive's own count lies.
func TestCountCentralDirectoryMatchesArchiveZip(t *testing.T) {
	small := makeZip(t, member{name: "a", body: "1"}, member{name: "d/"}, member{name: "d/b", body: "2"})
	var commented bytes.Buffer
	zw := zip.NewWriter(&commented)
	zw.SetComment("a comment that ends with PK\x05\x06 inside it")
	w, _ := zw.Create("x")
	w.Write([]byte("y"))
	zw.Close()
	tests := []struct {
		name string
		b    []byte
	}{
		{"small", small},
		{"empty", makeZip(t)},
		{"self-extracting prefix", append([]byte("#!/bin/sh\nexit 0\n"), small...)},
		{"comment", commented.Bytes()},
		{"zip64", manyEmptyEntries(70000, true)},
		{"65541 entries, end record says 5", manyEmptyEntries(65541, false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			zr, err := zip.NewReader(bytes.NewReader(tt.b), int64(len(tt.b)))
			if err != nil {
				t.Fatalf("zip.NewReader = %v", err)
			}
			n, ok := countCentralDirectory(tt.b, 1<<30)
			if !ok || n != len(zr.File) {
				t.Errorf("countCentralDirectory = %d, %v; archive/zip loads %d", n, ok, len(zr.File))
			}
			if tt.name == "65541 entries, end record says 5" && len(zr.File) != 65541 {
				t.Errorf("archive/zip loaded %d entries; the test relies on it loading all 65541", len(zr.File))
			}
			if len(zr.File) > 10 {
				if n, ok := countCentralDirectory(tt.b, 10); !ok || n != 11 {
					t.Errorf("countCentralDirectory(limit 10) = %d, %v; want it to stop at 11", n, ok)
				}
			}
		})
	}
}
