// Package codezip checks and unpacks uploaded function code zips, which are hostile until proven
// otherwise. Validate reads an archive completely without touching the disk; Extract does the
// same checks while writing the tree into a temporary directory beside the destination and
// renames it into place, so the destination holds either the whole tree or nothing.
//
// Refused, with ErrInvalidZip: anything that is not a readable zip (corrupt, truncated, bad
// checksums, encrypted, unknown compression), names that are absolute, contain "..", backslashes,
// NUL or other control characters or invalid UTF-8, duplicate names, entries beneath a file or a
// symlink, symlinks whose target is absolute or resolves outside the tree, device, FIFO and socket
// entries, setuid/setgid/sticky bits, overlapping entries, and more entries than the limit.
// Archives that inflate beyond the size limit — by their declared sizes or by the bytes actually
// inflated — are refused with ErrUnzippedTooLarge.
//
// Written trees are normalized: directories 0755, files 0644, or 0755 when the archive gives the
// file any execute bit (so `bootstrap` stays executable; a zip made on Windows carries no Unix
// modes and so no execute bits). Modification times are kept, which lets Python trust the
// .pyc files shipped in a zip.
package codezip
