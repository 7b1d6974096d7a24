package auth

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const codePath = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/code?Qualifier=%24LATEST"

// TestPresignMatchesSDK checks Presign produces exactly the URL the SDK's PresignHTTP produces
// for the same inputs.
func TestPresignMatchesSDK(t *testing.T) {
	raw := "http://127.0.0.1:9000" + codePath
	got, err := Presign("GET", raw, testKey, "us-east-1", "lambda", testNow, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("GET", raw+"&X-Amz-Expires=600", nil)
	if err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: testKey.SecretAccessKey}
	want, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, UnsignedPayload, "lambda", "us-east-1", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Presign(...) =\n  %s\nSDK PresignHTTP =\n  %s", got, want)
	}
}

func TestPresignVerifies(t *testing.T) {
	srv, ch := newTestServer(t, Config{Region: "us-east-1"})
	presign := func(t *testing.T, at time.Time, expires time.Duration) string {
		t.Helper()
		u, err := Presign("GET", srv.URL+codePath, testKey, "us-east-1", "lambda", at, expires)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	t.Run("fresh", func(t *testing.T) {
		vd := send(t, newRequest(t, "GET", presign(t, testNow.Add(-9*time.Minute), 10*time.Minute), nil), ch)
		if vd.err != nil {
			t.Fatalf("Verify(presigned) = %v, want nil", vd.err)
		}
		if !vd.id.Presigned || vd.id.AccessKeyID != testKey.AccessKeyID || vd.id.Service != "lambda" {
			t.Errorf("identity = %+v, want presigned by %s for lambda", vd.id, testKey.AccessKeyID)
		}
		if want := "/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:f/code"; vd.path != want {
			t.Errorf("handler path = %q, want %q", vd.path, want)
		}
	})
	t.Run("expired", func(t *testing.T) {
		vd := send(t, newRequest(t, "GET", presign(t, testNow.Add(-11*time.Minute), 10*time.Minute), nil), ch)
		checkAuthError(t, vd.err, CodeInvalidSignature, 403, "Request has expired")
	})
	t.Run("not yet valid", func(t *testing.T) {
		vd := send(t, newRequest(t, "GET", presign(t, testNow.Add(time.Hour), 10*time.Minute), nil), ch)
		checkAuthError(t, vd.err, CodeInvalidSignature, 403, "")
	})
	t.Run("other method", func(t *testing.T) {
		vd := send(t, newRequest(t, "DELETE", presign(t, testNow, 10*time.Minute), nil), ch)
		checkAuthError(t, vd.err, CodeInvalidSignature, 403, msgSignatureMismatch)
	})
	t.Run("other host", func(t *testing.T) {
		req := newRequest(t, "GET", presign(t, testNow, 10*time.Minute), nil)
		req.Host = "attacker.example:80"
		vd := send(t, req, ch)
		checkAuthError(t, vd.err, CodeInvalidSignature, 403, msgSignatureMismatch)
	})
	t.Run("other function", func(t *testing.T) {
		u := strings.Replace(presign(t, testNow, 10*time.Minute), "function%3Af/", "function%3Ag/", 1)
		vd := send(t, newRequest(t, "GET", u, nil), ch)
		checkAuthError(t, vd.err, CodeInvalidSignature, 403, msgSignatureMismatch)
	})
	t.Run("expiry stretched", func(t *testing.T) {
		u := strings.Replace(presign(t, testNow.Add(-11*time.Minute), 10*time.Minute), "X-Amz-Expires=600", "X-Amz-Expires=6000", 1)
		vd := send(t, newRequest(t, "GET", u, nil), ch)
		checkAuthError(t, vd.err, CodeInvalidSignature, 403, msgSignatureMismatch)
	})
	t.Run("expiry over a week", func(t *testing.T) {
		u := strings.Replace(presign(t, testNow, 10*time.Minute), "X-Amz-Expires=600", "X-Amz-Expires=604801", 1)
		vd := send(t, newRequest(t, "GET", u, nil), ch)
		checkAuthError(t, vd.err, CodeIncompleteSignature, 400, "X-Amz-Expires must be less than a week (in seconds) that is 604800")
	})
	t.Run("signature missing", func(t *testing.T) {
		u, _ := url.Parse(presign(t, testNow, 10*time.Minute))
		q := u.Query()
		q.Del("X-Amz-Signature")
		u.RawQuery = q.Encode()
		vd := send(t, newRequest(t, "GET", u.String(), nil), ch)
		checkAuthError(t, vd.err, CodeIncompleteSignature, 400, "AWS query-string parameters must include 'X-Amz-Signature'. Re-examine the query-string parameters.")
	})
	t.Run("wrong key", func(t *testing.T) {
		u, err := Presign("GET", srv.URL+codePath, Key{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: "x"}, "us-east-1", "lambda", testNow, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		vd := send(t, newRequest(t, "GET", u, nil), ch)
		checkAuthError(t, vd.err, CodeInvalidSignature, 403, msgSignatureMismatch)
	})
}

func TestPresignArguments(t *testing.T) {
	for _, tc := range []struct {
		name, method, url, region, service string
		expires                            time.Duration
	}{
		{"relative url", "GET", "/x", "us-east-1", "lambda", time.Minute},
		{"zero expiry", "GET", "http://h/x", "us-east-1", "lambda", 0},
		{"too long", "GET", "http://h/x", "us-east-1", "lambda", 8 * 24 * time.Hour},
		{"no region", "GET", "http://h/x", "", "lambda", time.Minute},
		{"no method", "", "http://h/x", "us-east-1", "lambda", time.Minute},
		{"bad url", "GET", "http://h/%zz", "us-east-1", "lambda", time.Minute},
	} {
		if _, err := Presign(tc.method, tc.url, testKey, tc.region, tc.service, testNow, tc.expires); err == nil {
			t.Errorf("Presign(%s) succeeded, want error", tc.name)
		}
	}
}
