package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzParseAuthorization feeds arbitrary Authorization headers to the parser and to Verify. Neither
// may panic; Verify must answer every one with an *Error of status 400 or 403; and whatever the
// parser accepts must survive a round trip through its canonical rendering.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260314/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=host,Signature=0",
		"AWS4-HMAC-SHA256",
		"Bearer x",
		"AWS4-HMAC-SHA256 Credential==, SignedHeaders=;;, Signature==",
		"  AWS4-HMAC-SHA256   Credential=x/y   ,,, Signature",
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260314/us-east-1/lambda/aws4_request/, SignedHeaders=Host, Signature=z",
		"\x00\xff",
	} {
		f.Add(s)
	}
	v, err := NewVerifier(Config{Credentials: NewCredentials(testKey)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, h string) {
		p, perr := parseAuthorization(h, true)
		if perr == nil {
			if p.Credential == "" || p.Signature == "" || p.SignedHeaders == "" {
				t.Fatalf("parseAuthorization(%q) accepted empty parameters: %+v", h, p)
			}
			if strings.Join(p.Headers, ";") != p.SignedHeaders {
				t.Fatalf("parseAuthorization(%q) headers %q do not rebuild %q", h, p.Headers, p.SignedHeaders)
			}
			if !strings.ContainsAny(p.Credential+p.Signature+p.SignedHeaders, ", \t") && p.Algorithm != "" && !strings.ContainsAny(p.Algorithm, " ") {
				again, aerr := parseAuthorization(p.Algorithm+" Credential="+p.Credential+", SignedHeaders="+p.SignedHeaders+", Signature="+p.Signature, true)
				if aerr != nil || again.Credential != p.Credential || again.SignedHeaders != p.SignedHeaders || again.Signature != p.Signature {
					t.Fatalf("round trip of %q: %+v, %v; want %+v", h, again, aerr, p)
				}
			}
		} else if perr.Code != CodeIncompleteSignature || perr.Status != http.StatusBadRequest {
			t.Fatalf("parseAuthorization(%q) error %+v, want IncompleteSignatureException/400", h, perr)
		}

		req := httptest.NewRequest("GET", "/2015-03-31/functions/", nil)
		req.Header.Set("Authorization", h)
		req.Header.Set("X-Amz-Date", "20260314T150926Z")
		_, err := v.Verify(req, EmptyPayloadSHA256)
		var ae *Error
		if strings.TrimSpace(h) == "" {
			if !errors.Is(err, ErrMissingAuthenticationToken) {
				t.Fatalf("Verify(empty Authorization) = %v, want MissingAuthenticationTokenException", err)
			}
			return
		}
		if !errors.As(err, &ae) || (ae.Status != 400 && ae.Status != 403) || ae.Message == "" {
			t.Fatalf("Verify(Authorization %q) = %v, want an *auth.Error with status 400/403", h, err)
		}
	})
}
