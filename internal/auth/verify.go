package auth

import (
	"crypto/hmac"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SecretStore looks up the secret of an access key. *Credentials implements it.
type SecretStore interface {
	Secret(accessKeyID string) (secret string, ok bool)
}

// Config configures a Verifier.
type Config struct {
	// Credentials holds the keys requests may be signed with. Required.
	Credentials SecretStore
	// Now is the clock. Zero means time.Now.
	Now func() time.Time
	// MaxSkew is how far X-Amz-Date may be from Now, either way. Zero means 5 minutes, as AWS.
	MaxSkew time.Duration
	// Region, if set, is the only region a credential scope may name.
	Region string
	// Services, if set, are the signing names a credential scope may name (e.g. "lambda",
	// "logs"); the first one is named in the error. Empty accepts any and leaves the check to the
	// caller, who sees the service in Identity.
	Services []string
}

// Identity is who signed a request that verified, and how.
type Identity struct {
	AccessKeyID string
	Region      string    // from the credential scope
	Service     string    // signing name from the credential scope
	SignedAt    time.Time // X-Amz-Date (or Date)
	Presigned   bool      // signed in the query string rather than the Authorization header
}

// Verifier checks SigV4 signatures against a set of credentials.
type Verifier struct {
	cfg  Config
	keys *signingKeyCache
}

// NewVerifier returns a Verifier; it fails only if cfg has no Credentials.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Credentials == nil {
		return nil, fmt.Errorf("auth: Config.Credentials is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = 5 * time.Minute
	}
	return &Verifier{cfg: cfg, keys: &signingKeyCache{}}, nil
}

// ForService returns a Verifier that accepts only signatures scoped to service, the signing
// name of the service the request is routed to ("lambda", "logs"); others are refused with
// AWS's "Credential should be scoped to correct service" message. It shares v's credentials,
// region, clock and signing-key cache.
func (v *Verifier) ForService(service string) *Verifier {
	cfg := v.cfg
	cfg.Services = []string{service}
	return &Verifier{cfg: cfg, keys: v.keys}
}

// maxPresignExpiry is SigV4's longest presigned-URL lifetime (seven days), as S3 enforces it.
const maxPresignExpiry = 7 * 24 * time.Hour

// Verify checks the SigV4 signature of r, whose body has the hex SHA-256 payloadSHA256 (use
// PayloadSHA256 on the buffered body, or hash while streaming; EmptyPayloadSHA256 for no body).
// It is VerifyHeaders and Pending.Verify in one step, for callers that have the body already.
//
// Failures are *Error values carrying AWS's code, message and status. Only a malformed
// payloadSHA256 (a caller bug) gives a plain error.
func (v *Verifier) Verify(r *http.Request, payloadSHA256 string) (Identity, error) {
	if !isHexSHA256(payloadSHA256) {
		return Identity{}, fmt.Errorf("auth: payload hash %q is not a lower-case hex sha256", payloadSHA256)
	}
	p, err := v.VerifyHeaders(r)
	if err != nil {
		return Identity{}, err
	}
	return p.Verify(payloadSHA256)
}

// VerifyHeaders checks everything about r's signature that does not need its body, so that a
// request that cannot be authentic is refused before its body is read. The path is taken as it
// came over the wire (r.RequestURI, else r.URL.EscapedPath), never the decoded r.URL.Path,
// because that is what the client signed.
//
// Presigned requests (X-Amz-Algorithm in the query) are checked with UnsignedPayload and must be
// used before X-Amz-Expires runs out; header-signed ones must carry a date within MaxSkew of now.
// A header-signed request with an X-Amz-Content-Sha256 header is checked here against the hash
// it claims, which Pending.Verify then compares with the body's. Without that header the
// signature covers the body's hash, so only the credentials, date and scope can be checked
// before the body is read: the signature itself is checked by Pending.Verify. As on AWS's
// services other than S3, a payload is always signed: X-Amz-Content-Sha256: UNSIGNED-PAYLOAD
// is refused.
//
// Failures are *Error values carrying AWS's code, message and status.
func (v *Verifier) VerifyHeaders(r *http.Request) (*Pending, error) {
	p, err := v.verifyHeaders(r)
	if err != nil {
		return nil, err // keep a nil *Error from becoming a non-nil error
	}
	return p, nil
}

// Pending is a request whose headers passed VerifyHeaders; Verify completes the check once the
// body's hash is known.
type Pending struct {
	id Identity
	// claimed is the payload hash the (already verified) signature covers, from the
	// X-Amz-Content-Sha256 header; empty when the signature is still to be checked against the
	// body's hash, or covers no payload (presigned).
	claimed  string
	verified bool
	sig      signatureCheck
}

// Verify completes the verification of a request with the hex SHA-256 of the body it carried.
// It returns who signed the request.
func (p *Pending) Verify(payloadSHA256 string) (Identity, error) {
	if !isHexSHA256(payloadSHA256) {
		return Identity{}, fmt.Errorf("auth: payload hash %q is not a lower-case hex sha256", payloadSHA256)
	}
	if p.claimed != "" && p.claimed != payloadSHA256 {
		return Identity{}, invalidSignature("The provided 'x-amz-content-sha256' header does not match what was computed.",
			fmt.Sprintf("header %q, body %s", p.claimed, payloadSHA256))
	}
	if !p.verified {
		if e := p.sig.check(payloadSHA256); e != nil {
			return Identity{}, e
		}
	}
	return p.id, nil
}

// signatureCheck is the canonical request of a signed request but for its payload hash.
type signatureCheck struct {
	method, query, headers, signedHeaders string
	uris                                  []string // the forms a client may have signed
	key                                   []byte
	scope                                 string
	signedAt                              time.Time
	signature, accessKeyID                string
}

func (c *signatureCheck) check(payload string) *Error {
	var first, firstToSign string
	for _, uri := range c.uris {
		creq := canonicalRequest(c.method, uri, c.query, c.headers, c.signedHeaders, payload)
		toSign := stringToSign(c.signedAt, c.scope, creq)
		if hmac.Equal([]byte(signature(c.key, toSign)), []byte(c.signature)) {
			return nil
		}
		if first == "" {
			first, firstToSign = creq, toSign
		}
	}
	return invalidSignature(msgSignatureMismatch,
		fmt.Sprintf("access key %s; canonical request %q; string to sign %q", c.accessKeyID, first, firstToSign))
}

func (v *Verifier) verifyHeaders(r *http.Request) (*Pending, *Error) {
	authz := r.Header.Values("Authorization")
	query, _ := url.ParseQuery(r.URL.RawQuery)
	presigned := query.Has("X-Amz-Algorithm")
	switch {
	case len(authz) > 0 && presigned:
		return nil, &Error{Code: CodeInvalidSignature, Status: http.StatusBadRequest,
			Message: "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."}
	case len(authz) > 1:
		return nil, incompleteSignature("Request has more than one Authorization header.")
	case (len(authz) == 0 || strings.TrimSpace(authz[0]) == "") && !presigned:
		return nil, missingToken()
	}

	var (
		p       sigParams
		perr    *Error
		rawDate string
	)
	if presigned {
		p, perr = parsePresigned(query)
		rawDate = query.Get("X-Amz-Date")
	} else {
		rawDate = r.Header.Get("X-Amz-Date")
		dateHeader := r.Header.Get("Date")
		p, perr = parseAuthorization(authz[0], rawDate != "" || dateHeader != "")
		if rawDate == "" && perr == nil {
			// AWS accepts an HTTP Date header when X-Amz-Date is absent.
			if t, err := http.ParseTime(dateHeader); err == nil {
				rawDate = t.UTC().Format(amzDateFormat)
			} else {
				rawDate = dateHeader
			}
		}
	}
	if perr != nil {
		return nil, perr
	}
	signedAt, err := time.Parse(amzDateFormat, rawDate)
	if err != nil {
		return nil, incompleteSignature(fmt.Sprintf("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", rawDate))
	}
	if e := v.checkTime(signedAt, presigned, query); e != nil {
		return nil, e
	}
	if e := p.checkSignedHeaders(); e != nil {
		return nil, e
	}
	if p.Algorithm != algorithm {
		return nil, incompleteSignature(fmt.Sprintf("Unsupported AWS 'algorithm': '%s' (only AWS4-HMAC-SHA256 for now). ", p.Algorithm))
	}
	sc, e := parseScope(p.Credential)
	if e != nil {
		return nil, e
	}
	if e := v.checkScope(sc, signedAt); e != nil {
		return nil, e
	}
	secret, ok := v.cfg.Credentials.Secret(sc.AccessKeyID)
	if !ok {
		return nil, unrecognizedClient("unknown access key " + sc.AccessKeyID)
	}
	// Nimbus issues no temporary credentials, so a session token can only be stale or forged;
	// AWS refuses a long-term key presented with one the same way.
	if r.Header.Get("X-Amz-Security-Token") != "" || query.Get("X-Amz-Security-Token") != "" {
		return nil, unrecognizedClient("session token sent with long-term key " + sc.AccessKeyID)
	}

	skip := ""
	if presigned {
		skip = "X-Amz-Signature"
	}
	pending := &Pending{
		id: Identity{AccessKeyID: sc.AccessKeyID, Region: sc.Region, Service: sc.Service, SignedAt: signedAt, Presigned: presigned},
		sig: signatureCheck{
			method: r.Method, query: canonicalQuery(query, skip), headers: canonicalHeaders(r, p.Headers),
			signedHeaders: p.SignedHeaders, uris: canonicalURIs(wirePath(r), sc.Service),
			key: v.keys.get(secret, sc.Date, sc.Region, sc.Service), scope: credentialScope(sc.Date, sc.Region, sc.Service),
			signedAt: signedAt, signature: p.Signature, accessKeyID: sc.AccessKeyID,
		},
	}
	claimed := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case presigned:
		// A presigned URL covers method, path, query and host, not a body.
		if e := pending.sig.check(UnsignedPayload); e != nil {
			return nil, e
		}
		pending.verified = true
	case claimed == "":
		// The signature covers the body's hash: Pending.Verify checks it.
	case isHexSHA256(claimed):
		if e := pending.sig.check(claimed); e != nil {
			return nil, e
		}
		pending.claimed, pending.verified = claimed, true
	default:
		// UNSIGNED-PAYLOAD, or anything else that no body hashes to: services other than S3
		// sign the payload, so the client's signature cannot match.
		return nil, invalidSignature(msgSignatureMismatch, fmt.Sprintf("access key %s; x-amz-content-sha256 %q is not a payload hash", sc.AccessKeyID, claimed))
	}
	return pending, nil
}

// checkTime enforces the clock-skew window, and for presigned URLs their expiry.
func (v *Verifier) checkTime(signedAt time.Time, presigned bool, q url.Values) *Error {
	now := v.cfg.Now().UTC()
	skew := v.cfg.MaxSkew
	if signedAt.After(now.Add(skew)) {
		return invalidSignature(fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %s.)",
			signedAt.Format(amzDateFormat), now.Add(skew).Format(amzDateFormat), now.Format(amzDateFormat), skewString(skew)), "")
	}
	if !presigned {
		if signedAt.Before(now.Add(-skew)) {
			return invalidSignature(fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %s.)",
				signedAt.Format(amzDateFormat), now.Add(-skew).Format(amzDateFormat), now.Format(amzDateFormat), skewString(skew)), "")
		}
		return nil
	}
	expires := skew // without X-Amz-Expires a presigned URL lives as long as a signed header would
	if raw := q.Get("X-Amz-Expires"); raw != "" {
		secs, err := strconv.ParseInt(raw, 10, 64)
		switch {
		case err != nil || secs < 0:
			return incompleteSignature("X-Amz-Expires must be non-negative")
		case time.Duration(secs)*time.Second > maxPresignExpiry:
			return incompleteSignature("X-Amz-Expires must be less than a week (in seconds) that is 604800")
		}
		expires = time.Duration(secs) * time.Second
	}
	if now.After(signedAt.Add(expires)) {
		return invalidSignature("Request has expired", fmt.Sprintf("signed %s, expires after %s, now %s",
			signedAt.Format(amzDateFormat), expires, now.Format(amzDateFormat)))
	}
	return nil
}

func skewString(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min", int64(d/time.Minute))
	}
	return fmt.Sprintf("%d sec", int64(d/time.Second))
}

// checkScope compares the credential scope with the request date and the configured region and
// services, reporting every mismatch at once as AWS does: each of AWS's messages ends in ". ",
// so the whole message keeps a trailing space ("Credential should be scoped to correct service:
// 'lambda'. ", as real services send it).
func (v *Verifier) checkScope(sc scope, signedAt time.Time) *Error {
	var msgs []string
	if v.cfg.Region != "" && sc.Region != v.cfg.Region {
		msgs = append(msgs, fmt.Sprintf("Credential should be scoped to a valid region, not '%s'.", sc.Region))
	}
	if len(v.cfg.Services) > 0 && !contains(v.cfg.Services, sc.Service) {
		msgs = append(msgs, fmt.Sprintf("Credential should be scoped to correct service: '%s'.", v.cfg.Services[0]))
	}
	if sc.Terminator != terminator {
		msgs = append(msgs, fmt.Sprintf("Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", sc.Terminator))
	}
	if want := signedAt.Format(scopeDateFormat); sc.Date != want {
		msgs = append(msgs, fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			sc.Date, want, signedAt.Format(amzDateFormat)))
	}
	if sc.Region == "" || sc.Service == "" {
		msgs = append(msgs, "Credential should be scoped to a valid region and service.")
	}
	if len(msgs) > 0 {
		return invalidSignature(strings.Join(msgs, " ")+" ", fmt.Sprintf("credential scope %s/%s/%s/%s", sc.Date, sc.Region, sc.Service, sc.Terminator))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// wirePath is the path exactly as the client sent it. r.URL.EscapedPath would re-derive it from
// the decoded path whenever the raw form is not Go's preferred encoding (a literal '$' or '*',
// for instance), and the signature covers the bytes the client sent.
func wirePath(r *http.Request) string {
	if uri := r.RequestURI; strings.HasPrefix(uri, "/") {
		if i := strings.IndexByte(uri, '?'); i >= 0 {
			uri = uri[:i]
		}
		return uri
	}
	return r.URL.EscapedPath()
}

// signingKeyCache remembers derived signing keys. A key depends only on the secret, the day,
// the region and the service, and deriving it is four HMACs: most of a request's verification.
type signingKeyCache struct {
	mu   sync.Mutex
	keys map[string][]byte
}

// maxCachedKeys bounds the cache; it is emptied when full (days roll over, scopes vary).
const maxCachedKeys = 256

func (c *signingKeyCache) get(secret, date, region, service string) []byte {
	id := secret + "\x00" + date + "\x00" + region + "\x00" + service
	c.mu.Lock()
	defer c.mu.Unlock()
	if key, ok := c.keys[id]; ok {
		return key
	}
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = make(map[string][]byte)
	}
	key := signingKey(secret, date, region, service)
	c.keys[id] = key
	return key
}
