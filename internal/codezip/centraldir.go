package codezip

import "encoding/binary"

// countCentralDirectory counts the central-directory records archive/zip's NewReader will load,
// stopping as soon as the count passes limit. NewReader allocates a File for every record it
// finds, and it reads records until one does not parse (the record count in the archive is only
// compared modulo 65536), so a 50 MB upload could make it allocate a million Files. Counting
// first, with the same rules, keeps that memory bounded. ok is false when the layout cannot be
// read; NewReader then refuses the archive as well.
func countCentralDirectory(b []byte, limit int) (n int, ok bool) {
	const (
		eocdLen     = 22
		loc64Len    = 20
		eocd64Len   = 56
		cdHeaderLen = 46
	)
	size := int64(len(b))
	end := int64(-1)
	for i, blockLen := range []int64{1024, 65 * 1024} {
		if blockLen > size {
			blockLen = size
		}
		if p := findEOCD(b[size-blockLen:]); p >= 0 {
			end = size - blockLen + int64(p)
			break
		}
		if i == 1 || blockLen == size {
			return 0, false
		}
	}
	d := b[end+4:]
	dirSize := uint64(binary.LittleEndian.Uint32(d[8:]))
	dirOff := uint64(binary.LittleEndian.Uint32(d[12:]))
	records := uint64(binary.LittleEndian.Uint16(d[6:]))
	// archive/zip compares the size with 0xffff, not 0xffffffff; mirror it.
	if records == 0xffff || dirSize == 0xffff || dirOff == 0xffffffff {
		if loc := end - loc64Len; loc >= 0 &&
			binary.LittleEndian.Uint32(b[loc:]) == 0x07064b50 &&
			binary.LittleEndian.Uint32(b[loc+4:]) == 0 &&
			binary.LittleEndian.Uint32(b[loc+16:]) == 1 {
			// archive/zip ignores a locator whose offset is negative as an int64.
			if p := binary.LittleEndian.Uint64(b[loc+8:]); int64(p) >= 0 {
				if p > uint64(size) || uint64(size)-p < eocd64Len {
					return 0, false
				}
				e := b[p:]
				if binary.LittleEndian.Uint32(e) != 0x06064b50 {
					return 0, false
				}
				end = int64(p)
				dirSize = binary.LittleEndian.Uint64(e[40:])
				dirOff = binary.LittleEndian.Uint64(e[48:])
			}
		}
	}
	const maxInt64 = 1<<63 - 1
	if dirSize > maxInt64 || dirOff > maxInt64 {
		return 0, false
	}
	base := end - int64(dirSize) - int64(dirOff)
	if o := base + int64(dirOff); o < 0 || o >= size {
		return 0, false
	}
	if base > 0 {
		// archive/zip falls back to offset 0 when a header parses there.
		if _, ok := headerAt(b, int64(dirOff)); ok {
			base = 0
		}
	}
	for off := base + int64(dirOff); ; {
		l, ok := headerAt(b, off)
		if !ok {
			return n, true
		}
		n++
		if n > limit {
			return n, true
		}
		off += l
	}
}

// headerAt returns the length of the central-directory record at off, if one parses there.
func headerAt(b []byte, off int64) (int64, bool) {
	const cdHeaderLen = 46
	if off < 0 || off > int64(len(b)) || int64(len(b))-off < cdHeaderLen {
		return 0, false
	}
	h := b[off:]
	if binary.LittleEndian.Uint32(h) != 0x02014b50 {
		return 0, false
	}
	l := int64(cdHeaderLen) + int64(binary.LittleEndian.Uint16(h[28:])) +
		int64(binary.LittleEndian.Uint16(h[30:])) + int64(binary.LittleEndian.Uint16(h[32:]))
	if l > int64(len(h)) {
		return 0, false
	}
	return l, true
}

// findEOCD is archive/zip's findSignatureInBlock: the last end-of-central-directory signature
// whose comment fits in the block.
func findEOCD(b []byte) int {
	const eocdLen = 22
	for i := len(b) - eocdLen; i >= 0; i-- {
		if b[i] == 'P' && b[i+1] == 'K' && b[i+2] == 0x05 && b[i+3] == 0x06 {
			n := int(b[i+eocdLen-2]) | int(b[i+eocdLen-1])<<8
			if n+eocdLen+i > len(b) {
				return -1
			}
			return i
		}
	}
	return -1
}
