package auth

import (
	"net/http/httptest"
	"testing"
)

func TestSigningService(t *testing.T) {
	for _, c := range []struct{ auth, query, want string }{
		{"AWS4-HMAC-SHA256 Credential=AKID/20261202/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab", "", "sqs"},
		{"AWS4-HMAC-SHA256 Credential=AKID/20261202/us-east-1/logs/aws4_request,SignedHeaders=host,Signature=ab", "", "logs"},
		{"", "X-Amz-Credential=AKID%2F20261202%2Fus-east-1%2Flambda%2Faws4_request&X-Amz-Date=x", "lambda"},
		{"AWS4-HMAC-SHA256 Credential=AKID/20261202/us-east-1, Signature=ab", "", ""},
		{"Bearer token", "", ""},
		{"", "", ""},
	} {
		r := httptest.NewRequest("POST", "/?"+c.query, nil)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		if got := SigningService(r); got != c.want {
			t.Errorf("SigningService(%q, %q) = %q, want %q", c.auth, c.query, got, c.want)
		}
	}
}
