// Package edge is the one front of the server: it sends each request to the part of Nimbus
// it is for, by what the request says it is. Front doors (function URLs, API Gateway APIs)
// are chosen by Host or by their path form; then fixed paths (the console, /metrics); then the
// AWS APIs, by the service named in the request's SigV4 credential scope, or, for an unsigned
// request, by its X-Amz-Target prefix, so that it is refused in its own service's words.
// Everything else goes to the Lambda API, which refuses what it does not know.
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
	// TargetPrefix, when set, also picks unsigned requests whose X-Amz-Target starts with
	// it (e.g. "Logs_20140328."), so they are refused in the service's own error shape.
	TargetPrefix string
	Handler      http.Handler
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
	if h, ok := e.bySigning[auth.SigningService(r)]; ok {
		return h
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		for _, s := range e.cfg.Services {
			if s.TargetPrefix != "" && strings.HasPrefix(target, s.TargetPrefix) {
				return s.Handler
			}
		}
	}
	return e.cfg.Default
}
