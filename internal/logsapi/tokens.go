package logsapi

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/nimbusfaas/nimbus/internal/logs"
)

// Paging tokens are opaque to clients. Those of the Describe and Filter operations are
// base64 of "<kind>:<value>", so a token of one operation is refused by another; those of
// GetLogEvents keep CloudWatch's visible "f/" (forward) and "b/" (backward) prefixes, which
// some tools show.

func encodeToken(kind, value string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + value))
}

func decodeToken(kind, token string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", errBadToken
	}
	v, ok := strings.CutPrefix(string(raw), kind+":")
	if !ok {
		return "", errBadToken
	}
	return v, nil
}

func formatCursor(c logs.Cursor) string { return fmt.Sprintf("%d.%d", c.Seq, c.Index) }

func parseCursor(s string) (logs.Cursor, error) {
	seq, idx, ok := strings.Cut(s, ".")
	if !ok {
		return logs.Cursor{}, errBadToken
	}
	q, err1 := strconv.ParseUint(seq, 10, 64)
	i, err2 := strconv.Atoi(idx)
	if err1 != nil || err2 != nil || i < 0 {
		return logs.Cursor{}, errBadToken
	}
	return logs.Cursor{Seq: q, Index: i}, nil
}

// cursorLess orders cursors as the events they point at were stored.
func cursorLess(a, b logs.Cursor) bool {
	return a.Seq < b.Seq || a.Seq == b.Seq && a.Index < b.Index
}

// after is the cursor of the event stored right after the one at c: reading from it skips c.
func after(c logs.Cursor) logs.Cursor { return logs.Cursor{Seq: c.Seq, Index: c.Index + 1} }

// eventID is FilterLogEvents' eventId: unique per event and stable across reads, in the
// all-digits form CloudWatch's ids have. An index never reaches 10^7: a stored batch is at
// most a NATS message of a few MB, and every event costs more than one byte of it.
func eventID(c logs.Cursor) string { return fmt.Sprintf("%d%07d", c.Seq, c.Index) }
