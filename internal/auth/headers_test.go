package auth

import (
	"testing"
	"time"
)

// TestVerifyHeadersBeforeTheBody checks what can be refused before a body is read, and that
// the signature is still checked against the body that arrives.
func TestVerifyHeadersBeforeTheBody(t *testing.T) {
	v, err := NewVerifier(Config{Credentials: NewCredentials(testKey), Now: func() time.Time { return testNow }, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	v = v.ForService("lambda")
	const url = "http://127.0.0.1:9320/2015-03-31/functions"
	body := []byte(`{"FunctionName":"f"}`)

	// Refused from the headers alone: nothing needs the body.
	refusals := []struct{ name, code string }{
		{"unsigned", CodeMissingAuthenticationToken},
		{"unknown key", CodeUnrecognizedClient},
		{"other service", CodeInvalidSignature},
		{"unsigned payload", CodeInvalidSignature},
		{"claimed hash, wrong secret", CodeInvalidSignature},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, "POST", url, body)
			switch tt.name {
			case "unknown key":
				sdkSign(t, req, body, signOpts{key: Key{AccessKeyID: "AKIAUNKNOWN", SecretAccessKey: "x"}})
			case "other service":
				sdkSign(t, req, body, signOpts{service: "s3"})
			case "unsigned payload":
				req.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
				sdkSign(t, req, body, signOpts{})
			case "claimed hash, wrong secret":
				req.Header.Set("X-Amz-Content-Sha256", PayloadSHA256(body))
				sdkSign(t, req, body, signOpts{key: Key{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: "wrong"}})
			}
			_, err := v.VerifyHeaders(req)
			checkAuthError(t, err, tt.code, 403, "")
		})
	}

	// Without X-Amz-Content-Sha256 the signature covers the body: a wrong secret is found once
	// the body's hash is known, and a body other than the one signed is refused.
	req := newRequest(t, "POST", url, body)
	sdkSign(t, req, body, signOpts{key: Key{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: "wrong"}})
	p, err := v.VerifyHeaders(req)
	if err != nil {
		t.Fatalf("VerifyHeaders of a request signed with a wrong secret and no payload header = %v, want it left to the body check", err)
	}
	_, err = p.Verify(PayloadSHA256(body))
	checkAuthError(t, err, CodeInvalidSignature, 403, msgSignatureMismatch)

	req = newRequest(t, "POST", url, body)
	sdkSign(t, req, body, signOpts{})
	if p, err = v.VerifyHeaders(req); err != nil {
		t.Fatal(err)
	}
	_, err = p.Verify(PayloadSHA256([]byte("another body")))
	checkAuthError(t, err, CodeInvalidSignature, 403, msgSignatureMismatch)
	if id, err := p.Verify(PayloadSHA256(body)); err != nil || id.Service != "lambda" {
		t.Fatalf("Verify of the signed body = %+v, %v", id, err)
	}

	// With a claimed hash the signature is checked at once and the body compared after.
	req = newRequest(t, "POST", url, body)
	req.Header.Set("X-Amz-Content-Sha256", PayloadSHA256(body))
	sdkSign(t, req, body, signOpts{})
	if p, err = v.VerifyHeaders(req); err != nil {
		t.Fatal(err)
	}
	_, err = p.Verify(PayloadSHA256([]byte("another body")))
	checkAuthError(t, err, CodeInvalidSignature, 403, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	if _, err := p.Verify(PayloadSHA256(body)); err != nil {
		t.Fatalf("Verify of the claimed body = %v", err)
	}
}
