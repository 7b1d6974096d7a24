package logsapi

import (
	"strings"
)

// pattern is a CloudWatch Logs term filter pattern: a message matches when it contains every
// plain term, none of the -terms, and, when there are ?terms, at least one of them. Matching
// is case-sensitive, as in CloudWatch. JSON ({ $.x = … }), space-delimited ([a, b]) and regular
// expression (%…%) patterns are refused rather than misread as terms.
type pattern struct {
	all, none, any []string
}

// parsePattern parses a filter pattern; the empty pattern matches everything.
func parsePattern(s string) (pattern, error) {
	var p pattern
	s = strings.TrimSpace(s)
	if s == "" {
		return p, nil
	}
	switch s[0] {
	case '{', '[', '%':
		return p, invalidParameter("Invalid filter pattern: Nimbus supports term patterns only (words, \"quoted phrases\", -excluded and ?alternative terms), not JSON, space-delimited or regular expression patterns.")
	}
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			break
		}
		kind := byte(0)
		if s[0] == '-' || s[0] == '?' {
			kind, s = s[0], s[1:]
		}
		var term string
		if strings.HasPrefix(s, `"`) {
			end := closingQuote(s)
			if end < 0 {
				return p, invalidParameter("Invalid filter pattern: unterminated quoted term.")
			}
			term = strings.ReplaceAll(s[1:end], `\"`, `"`)
			s = s[end+1:]
		} else {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			term, s = s[:end], s[end:]
		}
		if term == "" {
			continue
		}
		switch kind {
		case '-':
			p.none = append(p.none, term)
		case '?':
			p.any = append(p.any, term)
		default:
			p.all = append(p.all, term)
		}
	}
	return p, nil
}

// closingQuote returns the index of the quote closing the one at s[0], or -1.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

func (p pattern) match(msg string) bool {
	for _, t := range p.all {
		if !strings.Contains(msg, t) {
			return false
		}
	}
	for _, t := range p.none {
		if strings.Contains(msg, t) {
			return false
		}
	}
	if len(p.any) == 0 {
		return true
	}
	for _, t := range p.any {
		if strings.Contains(msg, t) {
			return true
		}
	}
	return false
}
