// Package edge is the one front of the server: it sends each request to the part of Nimbus
// it is for, by what the request says it is. Front doors (function URLs, API Gateway APIs)
// are chosen by Host or by their path form; then fixed paths (the console, /metrics); then the
// AWS APIs: by X-Amz-Target prefix (JSON protocols name their operation), by path (REST
// protocols, such as the Lambda API's dated paths), and only then by the service named in the
// request's SigV4 credential scope (query protocols all POST to "/"). A request whose
// signature names another service than the one it addresses therefore reaches the service
// it addresses, which refuses the signature's scope in its own words, as AWS's endpoints do.
// Everything else goes to the default, the Lambda API, which refuses what it does not know.
//
// The edge only dispatches: every service verifies the signature itself, before it reads
// the body.
package edge

import (
	"net/http"
	"strings"

	"github.com/nimbusfaas/nimbus/internal/auth"
)

// FrontDoor is a public endpoint that is not an AWS API, such as function URLs.
type FrontDoor struct {
	// HostInfix picks requests whose Host contains it, e.g. ".lambda-url.".
	HostInfix string
	// PathPrefix picks requests whose path starts with it, e.g. "/lambda-url/": the form
	// that works with plain curl and no DNS.
	PathPrefix string
	Handler    http.Handler
}

// Service is an AWS-compatible API.
type Service struct {
	// SigningName is the service in the credential scope: "lambda", "logs", "sqs", …
	SigningName string
	// TargetPrefix, when set, picks requests whose X-Amz-Target starts with it
	// (e.g. "Logs_20140328.").
	TargetPrefix string
	// Path, when set, picks requests whose path it matches (REST protocols).
	Path    func(path string) bool
	Handler http.Handler
}

// Config lists what the edge dispatches to.
type Config struct {
	FrontDoors []FrontDoor
	// Paths are fixed path prefixes served before the AWS APIs ("/console", "/metrics").
	Paths    map[string]http.Handler
	Services []Service
	// Default serves everything else: the Lambda API.
	Default http.Handler
}

// LambdaPath reports whether path is one of the Lambda API's: they all start with the date of
// their API version, such as /2015-03-31/functions or /2019-09-25/functions/F/event-invoke-config.
func LambdaPath(path string) bool {
	// "/YYYY-MM-DD/"
	if len(path) < 12 || path[0] != '/' || path[5] != '-' || path[8] != '-' || path[11] != '/' {
		return false
	}
	for _, i := range []int{1, 2, 3, 4, 6, 7, 9, 10} {
		if path[i] < '0' || path[i] > '9' {
			return false
		}
	}
	return true
}

// New returns the edge handler.
func New(cfg Config) http.Handler {
	e := &edge{cfg: cfg, bySigning: map[string]http.Handler{}}
	for _, s := range cfg.Services {
		e.bySigning[s.SigningName] = s.Handler
	}
	return e
}

type edge struct {
	cfg       Config
	bySigning map[string]http.Handler
}

func (e *edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.route(r).ServeHTTP(w, r)
}

func (e *edge) route(r *http.Request) http.Handler {
	for _, fd := range e.cfg.FrontDoors {
		if fd.HostInfix != "" && strings.Contains(r.Host, fd.HostInfix) {
			return fd.Handler
		}
		if fd.PathPrefix != "" && strings.HasPrefix(r.URL.Path, fd.PathPrefix) {
			return fd.Handler
		}
	}
	for prefix, h := range e.cfg.Paths {
		if r.URL.Path == prefix || strings.HasPrefix(r.URL.Path, prefix+"/") {
			return h
		}
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		for _, s := range e.cfg.Services {
			if s.TargetPrefix != "" && strings.HasPrefix(target, s.TargetPrefix) {
				return s.Handler
			}
		}
	}
	for _, s := range e.cfg.Services {
		if s.Path != nil && s.Path(r.URL.Path) {
			return s.Handler
		}
	}
	if h, ok := e.bySigning[auth.SigningService(r)]; ok {
		return h
	}
	return e.cfg.Default
}
