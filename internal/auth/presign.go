package auth

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Presign returns rawURL signed in its query string with key, valid from signedAt for expires
// (at most seven days), the way the AWS SDKs presign (X-Amz-Algorithm, X-Amz-Credential,
// X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders=host, X-Amz-Signature; payload UNSIGNED-PAYLOAD).
// A Verifier holding key accepts the URL for requests with that method sent to that host.
//
// rawURL must be absolute; the host is signed as written, so use the host:port clients will put
// in their Host header.
func Presign(method, rawURL string, key Key, region, service string, signedAt time.Time, expires time.Duration) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("presign: parse url: %w", err)
	}
	if !u.IsAbs() || u.Host == "" {
		return "", fmt.Errorf("presign: url %q is not absolute", rawURL)
	}
	if expires < time.Second || expires > maxPresignExpiry {
		return "", fmt.Errorf("presign: expiry %s is outside 1s to 7 days", expires)
	}
	if method == "" || region == "" || service == "" || key.AccessKeyID == "" {
		return "", fmt.Errorf("presign: method, region, service and access key are required")
	}
	signedAt = signedAt.UTC().Truncate(time.Second)
	date := signedAt.Format(scopeDateFormat)
	scopeStr := credentialScope(date, region, service)

	q := u.Query()
	q.Set("X-Amz-Algorithm", algorithm)
	q.Set("X-Amz-Credential", key.AccessKeyID+"/"+scopeStr)
	q.Set("X-Amz-Date", signedAt.Format(amzDateFormat))
	q.Set("X-Amz-Expires", strconv.FormatInt(int64(expires/time.Second), 10))
	q.Set("X-Amz-SignedHeaders", "host")
	q.Del("X-Amz-Signature")
	cq := canonicalQuery(q, "")

	uri := canonicalURIs(u.EscapedPath(), service)[0]
	creq := canonicalRequest(method, uri, cq, "host:"+stripExcessSpaces(u.Host)+"\n", "host", UnsignedPayload)
	sig := signature(signingKey(key.SecretAccessKey, date, region, service), stringToSign(signedAt, scopeStr, creq))
	u.RawQuery = cq + "&X-Amz-Signature=" + sig
	return u.String(), nil
}
