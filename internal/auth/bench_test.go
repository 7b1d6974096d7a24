package auth

import (
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkVerify measures verifying one SDK-signed Invoke request (the per-request cost the
// edge adds), body hashing excluded.
func BenchmarkVerify(b *testing.B) {
	body := []byte(`{"key":"value"}`)
	req := httptest.NewRequest("POST", "http://127.0.0.1:9000/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations?Qualifier=1", nil)
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = int64(len(body))
	sdkSign(b, req, body, signOpts{})
	v, err := NewVerifier(Config{Credentials: NewCredentials(testKey), Now: func() time.Time { return testNow }})
	if err != nil {
		b.Fatal(err)
	}
	hash := PayloadSHA256(body)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(req, hash); err != nil {
			b.Fatal(err)
		}
	}
}
