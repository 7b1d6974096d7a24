package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The pieces of SigV4 that the verifier and the presigner share. They follow the AWS SDK for Go
// v2 signer (aws/signer/v4 and its internal package) byte for byte, because what matters is not
// the specification's prose but what real clients compute.

const (
	algorithm       = "AWS4-HMAC-SHA256"
	terminator      = "aws4_request"
	amzDateFormat   = "20060102T150405Z"
	scopeDateFormat = "20060102"

	// UnsignedPayload stands in for the payload hash in presigned URLs, as S3 does: a URL handed
	// to a third party covers method, path, query and host, not a body.
	UnsignedPayload = "UNSIGNED-PAYLOAD"

	// EmptyPayloadSHA256 is the hex SHA-256 of an empty body, for requests without one.
	EmptyPayloadSHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// PayloadSHA256 returns the hex SHA-256 of body, the value Verify wants.
func PayloadSHA256(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// canonicalURIs returns the canonical URI(s) a client may have signed for the escaped wire path.
// Every service but S3 escapes the already-escaped path again (so %3A becomes %253A); S3 signs it
// as sent. The AWS SDK for Go v2 signs the path as it is; botocore (the aws CLI, boto3) first
// removes dot segments and collapses repeated slashes. Both are accepted: they cover the same
// request, so accepting either gives an attacker nothing.
func canonicalURIs(escapedPath, service string) []string {
	if escapedPath == "" {
		escapedPath = "/"
	}
	if service == "s3" {
		return []string{escapedPath}
	}
	first := escapePath(escapedPath)
	if norm := escapePath(normalizePath(escapedPath)); norm != first {
		return []string{first, norm}
	}
	return []string{first}
}

// escapePath percent-encodes every byte except RFC 3986 unreserved characters and '/', with
// upper-case hex (smithy-go httpbinding.EscapePath(path, false)).
func escapePath(p string) string {
	var b strings.Builder
	b.Grow(len(p) + 8)
	const hexUpper = "0123456789ABCDEF"
	for i := 0; i < len(p); i++ {
		c := p[i]
		if isUnreserved(c) || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexUpper[c>>4])
		b.WriteByte(hexUpper[c&15])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// normalizePath is botocore's remove_dot_segments: it drops empty and "." segments, resolves
// "..", and keeps a leading and (for a non-empty result) a trailing slash.
func normalizePath(p string) string {
	if p == "" {
		return "/"
	}
	var out []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	var b strings.Builder
	if p[0] == '/' {
		b.WriteByte('/')
	}
	b.WriteString(strings.Join(out, "/"))
	if p[len(p)-1] == '/' && len(out) > 0 {
		b.WriteByte('/')
	}
	return b.String()
}

// canonicalQuery sorts the decoded parameters by encoded key, then encoded value, and encodes
// each with RFC 3986 rules (space as %20), skipping the key named skip (X-Amz-Signature when
// verifying a presigned URL).
func canonicalQuery(q url.Values, skip string) string {
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(q))
	for k, vs := range q {
		if k == skip {
			continue
		}
		ek := queryEscape(k)
		for _, v := range vs {
			pairs = append(pairs, pair{ek, queryEscape(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// canonicalHeaders renders the signed headers of r in the order given. Host comes from r.Host
// (Go moves it out of r.Header), Content-Length and Transfer-Encoding from their fields when the
// server has taken them out of the header map.
func canonicalHeaders(r *http.Request, names []string) string {
	var b strings.Builder
	for _, name := range names {
		b.WriteString(name)
		b.WriteByte(':')
		switch name {
		case "host":
			host := r.Host
			if host == "" {
				host = r.URL.Host
			}
			b.WriteString(stripExcessSpaces(host))
		default:
			vals := r.Header.Values(name)
			if len(vals) == 0 {
				switch name {
				case "content-length":
					if r.ContentLength > 0 {
						vals = []string{strconv.FormatInt(r.ContentLength, 10)}
					}
				case "transfer-encoding":
					vals = r.TransferEncoding
				}
			}
			for i, v := range vals {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strings.TrimSpace(stripExcessSpaces(v)))
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// stripExcessSpaces trims leading and trailing spaces and collapses runs of spaces to one.
func stripExcessSpaces(s string) string {
	s = strings.Trim(s, " ")
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

func canonicalRequest(method, uri, query, headers, signedHeaders, payloadHash string) string {
	return method + "\n" + uri + "\n" + query + "\n" + headers + "\n" + signedHeaders + "\n" + payloadHash
}

func stringToSign(t time.Time, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return algorithm + "\n" + t.UTC().Format(amzDateFormat) + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

func credentialScope(date, region, service string) string {
	return date + "/" + region + "/" + service + "/" + terminator
}

// signingKey derives kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, terminator)
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func signature(key []byte, toSign string) string {
	return hex.EncodeToString(hmacSHA256(key, toSign))
}
