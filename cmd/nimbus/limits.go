package main

import (
	"log/slog"
	"net/http"
	"syscall"
	"time"

	"github.com/nimbusfaas/nimbus/internal/httplimit"
	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/runtimeapi"
)

// How the server's file descriptors are shared out. Every environment costs the server a
// bounded number of descriptors (its Runtime API listener and at most
// runtimeapi.DefaultMaxConnections connections, its log pipe, its sandbox's handles), so
// the environments the memory budget allows can never take what the API, NATS and the log
// store need; the API's connections are bounded by what is left.
const (
	// fdsPerEnvironment is an upper estimate of one environment's descriptors: an idle
	// Python environment with its runtime's one connection holds 8 (measured: 24 descriptors
	// with no environment, 64 with five), and at most 15 more connections can come.
	fdsPerEnvironment = runtimeapi.DefaultMaxConnections + 16
	// fdsReserved is kept for NATS and JetStream's files, the log store, code extraction and
	// the server's own files.
	fdsReserved = 1024
	// maxAPIConnections is the most connections the API holds at once, however many
	// descriptors there are; beyond it new ones wait in the kernel's accept queue.
	maxAPIConnections = 4096
	minAPIConnections = 64
)

// Timeouts of the API's connections.
const (
	// headerTimeout bounds how long a client takes to send a request's headers, and so how
	// long an unauthenticated connection lasts: refused requests close their connection.
	headerTimeout = 10 * time.Second
	// defaultIdleTimeout closes keep-alive connections nobody uses; it is longer than the 90 s
	// after which the Go SDK and botocore drop idle connections themselves, so clients, not
	// the server, close them in the normal case.
	defaultIdleTimeout = 2 * time.Minute
	// defaultBodyTimeout, plus a second per bodyMinRate bytes the body announces, is how long
	// a request body may take to arrive; a 70 MB CreateFunction gets about 5 minutes.
	defaultBodyTimeout = 30 * time.Second
	bodyMinRate        = 256 << 10
)

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit and returns it. Go's runtime
// does this at start on Linux already; this covers runtimes that do not, and says what the
// limit is.
func raiseFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = raised.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		}
	}
	return lim.Cur
}

// apiConnectionLimit is how many connections the API may hold with fileLimit descriptors when
// up to maxEnvironments environments run.
func apiConnectionLimit(fileLimit uint64, maxEnvironments int, log *slog.Logger) int {
	left := int64(fileLimit) - fdsReserved - int64(maxEnvironments)*fdsPerEnvironment
	n := int(min(max(left, 0)/2, maxAPIConnections)) // half of what is left: room to spare
	if n < minAPIConnections {
		log.Warn("the descriptor limit is low for the memory budget: raise `ulimit -n` (the hard limit)",
			"limit", fileLimit, "environments", maxEnvironments, "per_environment", fdsPerEnvironment)
		n = minAPIConnections
	}
	return n
}

// maxEnvironments is how many environments a memory budget holds at most.
func maxEnvironments(budgetMB int) int { return budgetMB / lambda.MinMemoryMB }

// newHTTPServer is the API's http.Server. No ReadTimeout or WriteTimeout: an Invoke may run
// for 900 s and a log stream may be followed for hours; bodies get their own deadline
// (httplimit.BodyDeadline), lifted once read, and idle connections are closed.
func newHTTPServer(h http.Handler, idleTimeout, bodyTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           httplimit.BodyDeadline(h, bodyTimeout, bodyMinRate, lambda.MaxCreateRequestSize),
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       idleTimeout,
	}
}
