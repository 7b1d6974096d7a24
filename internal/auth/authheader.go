package auth

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// sigParams is what a request says about its own signature, from either the Authorization
// header or a presigned URL's query string.
type sigParams struct {
	Algorithm     string
	Credential    string   // keyid/date/region/service/terminator, as sent
	SignedHeaders string   // as sent, e.g. "host;x-amz-date"
	Headers       []string // SignedHeaders split on ';'
	Signature     string
}

// scope is the Credential split into its parts.
type scope struct {
	AccessKeyID, Date, Region, Service, Terminator string
}

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…".
// Like AWS it accepts commas, spaces or both between the parameters. hasDate says whether the
// request carries an X-Amz-Date or Date header, which AWS reports in the same message as missing
// parameters.
func parseAuthorization(h string, hasDate bool) (sigParams, *Error) {
	var p sigParams
	alg, rest, _ := strings.Cut(strings.TrimLeft(h, " "), " ")
	p.Algorithm = alg
	seen := map[string]bool{}
	for _, part := range strings.FieldsFunc(rest, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return p, incompleteSignature(fmt.Sprintf("'%s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'.", part, h))
		}
		if seen[k] {
			return p, incompleteSignature(fmt.Sprintf("Authorization header has duplicate '%s' parameter: '%s'.", k, h))
		}
		seen[k] = true
		switch k {
		case "Credential":
			p.Credential = v
		case "SignedHeaders":
			p.SignedHeaders = v
		case "Signature":
			p.Signature = v
		}
	}
	var msg strings.Builder
	for _, req := range []struct{ name, val string }{
		{"Credential", p.Credential}, {"Signature", p.Signature}, {"SignedHeaders", p.SignedHeaders},
	} {
		if req.val == "" {
			fmt.Fprintf(&msg, "Authorization header requires '%s' parameter. ", req.name)
		}
	}
	if !hasDate {
		msg.WriteString("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")
	}
	if msg.Len() > 0 {
		return p, incompleteSignature(msg.String() + "Authorization=" + h)
	}
	p.Headers = strings.Split(p.SignedHeaders, ";")
	return p, nil
}

// parsePresigned reads the X-Amz-* parameters of a presigned URL.
func parsePresigned(q url.Values) (sigParams, *Error) {
	p := sigParams{
		Algorithm:     q.Get("X-Amz-Algorithm"),
		Credential:    q.Get("X-Amz-Credential"),
		SignedHeaders: q.Get("X-Amz-SignedHeaders"),
		Signature:     q.Get("X-Amz-Signature"),
	}
	var msg strings.Builder
	for _, req := range []struct{ name, val string }{
		{"X-Amz-Algorithm", p.Algorithm}, {"X-Amz-Credential", p.Credential}, {"X-Amz-Signature", p.Signature},
		{"X-Amz-SignedHeaders", p.SignedHeaders}, {"X-Amz-Date", q.Get("X-Amz-Date")},
	} {
		if req.val == "" {
			fmt.Fprintf(&msg, "AWS query-string parameters must include '%s'. ", req.name)
		}
	}
	if msg.Len() > 0 {
		return p, incompleteSignature(msg.String() + "Re-examine the query-string parameters.")
	}
	p.Headers = strings.Split(p.SignedHeaders, ";")
	return p, nil
}

// checkSignedHeaders insists on host being signed (otherwise a signature could be replayed
// against another server sharing the key) and on well-formed names.
func (p sigParams) checkSignedHeaders() *Error {
	host := false
	for _, h := range p.Headers {
		if h == "" || strings.ToLower(h) != h || strings.ContainsAny(h, " \t:") {
			return incompleteSignature(fmt.Sprintf("SignedHeaders '%s' must be a ';'-separated list of lower-case header names.", p.SignedHeaders))
		}
		if h == "host" {
			host = true
		}
	}
	if !host {
		return invalidSignature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", "")
	}
	return nil
}

// parseScope splits a Credential into its five parts.
func parseScope(cred string) (scope, *Error) {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" {
		return scope{}, incompleteSignature(fmt.Sprintf("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", cred))
	}
	return scope{AccessKeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3], Terminator: parts[4]}, nil
}

// SigningService is the service named in a request's credential scope (Authorization header
// or presigned X-Amz-Credential), or "" when the request carries neither or a malformed one.
// It says which service a request is for; it proves nothing until Verify has checked the
// signature.
func SigningService(r *http.Request) string {
	var cred string
	if strings.Contains(r.URL.RawQuery, "X-Amz-Credential") {
		cred = r.URL.Query().Get("X-Amz-Credential")
	}
	if h := r.Header.Get("Authorization"); h != "" {
		_, rest, ok := strings.Cut(h, "Credential=")
		if !ok {
			return ""
		}
		cred, _, _ = strings.Cut(rest, ",")
		cred = strings.TrimSpace(cred)
	}
	sc, err := parseScope(cred)
	if err != nil {
		return ""
	}
	return sc.Service
}
