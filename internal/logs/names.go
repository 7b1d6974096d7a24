package logs

import (
	"errors"
	"strings"
	"time"
)

// GroupName is the log group of a function: "/aws/lambda/<function>".
func GroupName(function string) string {
	return "/aws/lambda/" + function
}

// StreamName is the log stream of an execution environment: "YYYY/MM/DD/[<version>]<id>",
// dated (UTC) when the environment was created, as Lambda names them and puts in
// AWS_LAMBDA_LOG_STREAM_NAME.
func StreamName(created time.Time, version, environmentID string) string {
	b := make([]byte, 0, 13+len(version)+len(environmentID))
	b = created.UTC().AppendFormat(b, "2006/01/02")
	b = append(b, "/["...)
	b = append(b, version...)
	b = append(b, ']')
	b = append(b, environmentID...)
	return string(b)
}

// NATS subject tokens cannot hold '.', '*', '>' or white space, and log group and stream
// names hold '/', '[', ']' and '$' (which would read as wildcards or token separators, or
// look like a system subject). Each name becomes one token in which every byte outside
// [A-Za-z0-9_-] is written as %XX: reversible, safe for any name, and still readable in
// `nats stream subjects` ("%2Faws%2Flambda%2Fhello").

// encodeToken returns name as a single NATS subject token.
func encodeToken(name string) string {
	n := 0
	for i := 0; i < len(name); i++ {
		if !plainByte(name[i]) {
			n++
		}
	}
	if n == 0 && name != "" {
		return name
	}
	if name == "" {
		// An empty token would make an invalid subject ("a..b"); "%" alone never comes out
		// of encoding a non-empty name, so it stands for "".
		return "%"
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(name)+2*n)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if plainByte(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&0xf])
	}
	return string(b)
}

var errBadToken = errors.New("malformed subject token")

// decodeToken reverses encodeToken.
func decodeToken(tok string) (string, error) {
	if tok == "%" {
		return "", nil
	}
	if !strings.Contains(tok, "%") {
		return tok, nil
	}
	b := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(tok) {
			return "", errBadToken
		}
		hi, ok1 := unhex(tok[i+1])
		lo, ok2 := unhex(tok[i+2])
		if !ok1 || !ok2 {
			return "", errBadToken
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return string(b), nil
}

func plainByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// subjects builds and parses the subjects of one JetStream stream: <prefix>.<group>.<stream>.
type subjects struct{ prefix string }

func (s subjects) all() string { return s.prefix + ".>" }

func (s subjects) group(group string) string { return s.prefix + "." + encodeToken(group) + ".*" }

func (s subjects) stream(group, stream string) string {
	return s.prefix + "." + encodeToken(group) + "." + encodeToken(stream)
}

// parse returns the log group and stream of a subject.
func (s subjects) parse(subject string) (group, stream string, err error) {
	rest, ok := strings.CutPrefix(subject, s.prefix+".")
	if !ok {
		return "", "", errBadToken
	}
	g, st, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(st, ".") {
		return "", "", errBadToken
	}
	if group, err = decodeToken(g); err != nil {
		return "", "", err
	}
	if stream, err = decodeToken(st); err != nil {
		return "", "", err
	}
	return group, stream, nil
}
