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
// The path is taken as it came over the wire (r.RequestURI, else r.URL.EscapedPath), never the
// decoded r.URL.Path, because that is what the client signed.
//
// Presigned requests (X-Amz-Algorithm in the query) are checked with UnsignedPayload and must be
// used before X-Amz-Expires runs out; header-signed ones must carry a date within MaxSkew of now.
// An X-Amz-Content-Sha256 header, if present, must equal payloadSHA256.
//
// Failures are *Error values carrying AWS's code, message and status. Only a malformed
// payloadSHA256 (a caller bug) gives a plain error.
func (v *Verifier) Verify(r *http.Request, payloadSHA256 string) (Identity, error) {
	if !isHexSHA256(payloadSHA256) {
		return Identity{}, fmt.Errorf("auth: payload hash %q is not a lower-case hex sha256", payloadSHA256)
	}
	id, err := v.verify(r, payloadSHA256)
	if err != nil {
		return Identity{}, err // keep a nil *Error from becoming a non-nil error
	}
	return id, nil
}

func (v *Verifier) verify(r *http.Request, payloadSHA256 string) (Identity, *Error) {
	authz := r.Header.Values("Authorization")
	query, _ := url.ParseQuery(r.URL.RawQuery)
	presigned := query.Has("X-Amz-Algorithm")
	switch {
	case len(authz) > 0 && presigned:
		return Identity{}, &Error{Code: CodeInvalidSignature, Status: http.StatusBadRequest,
			Message: "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."}
	case len(authz) > 1:
		return Identity{}, incompleteSignature("Request has more than one Authorization header.")
	case (len(authz) == 0 || strings.TrimSpace(authz[0]) == "") && !presigned:
		return Identity{}, missingToken()
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
		return Identity{}, perr
	}
	signedAt, err := time.Parse(amzDateFormat, rawDate)
	if err != nil {
		return Identity{}, incompleteSignature(fmt.Sprintf("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", rawDate))
	}
	if e := v.checkTime(signedAt, presigned, query); e != nil {
		return Identity{}, e
	}
	if e := p.checkSignedHeaders(); e != nil {
		return Identity{}, e
	}
	if p.Algorithm != algorithm {
		return Identity{}, incompleteSignature(fmt.Sprintf("Unsupported AWS 'algorithm': '%s' (only AWS4-HMAC-SHA256 for now). ", p.Algorithm))
	}
	sc, e := parseScope(p.Credential)
	if e != nil {
		return Identity{}, e
	}
	if e := v.checkScope(sc, signedAt); e != nil {
		return Identity{}, e
	}
	secret, ok := v.cfg.Credentials.Secret(sc.AccessKeyID)
	if !ok {
		return Identity{}, unrecognizedClient("unknown access key " + sc.AccessKeyID)
	}
	// Nimbus issues no temporary credentials, so a session token can only be stale or forged;
	// AWS refuses a long-term key presented with one the same way.
	if r.Header.Get("X-Amz-Security-Token") != "" || query.Get("X-Amz-Security-Token") != "" {
		return Identity{}, unrecognizedClient("session token sent with long-term key " + sc.AccessKeyID)
	}

	payload := UnsignedPayload
	if !presigned {
		payload = payloadSHA256
		if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" && claimed != payloadSHA256 {
			return Identity{}, invalidSignature("The provided 'x-amz-content-sha256' header does not match what was computed.",
				fmt.Sprintf("header %q, body %s", claimed, payloadSHA256))
		}
	}
	skip := ""
	if presigned {
		skip = "X-Amz-Signature"
	}
	cq := canonicalQuery(query, skip)
	ch := canonicalHeaders(r, p.Headers)
	scopeStr := credentialScope(sc.Date, sc.Region, sc.Service)
	key := v.keys.get(secret, sc.Date, sc.Region, sc.Service)
	var first, firstToSign string
	for _, uri := range canonicalURIs(wirePath(r), sc.Service) {
		creq := canonicalRequest(r.Method, uri, cq, ch, p.SignedHeaders, payload)
		toSign := stringToSign(signedAt, scopeStr, creq)
		if hmac.Equal([]byte(signature(key, toSign)), []byte(p.Signature)) {
			return Identity{AccessKeyID: sc.AccessKeyID, Region: sc.Region, Service: sc.Service, SignedAt: signedAt, Presigned: presigned}, nil
		}
		if first == "" {
			first, firstToSign = creq, toSign
		}
	}
	return Identity{}, invalidSignature(msgSignatureMismatch,
		fmt.Sprintf("access key %s; canonical request %q; string to sign %q", sc.AccessKeyID, first, firstToSign))
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
