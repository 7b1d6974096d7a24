// Package natsd gives Nimbus its NATS connection: either an embedded nats-server with JetStream,
// running in this process with its file store under the data directory, or a connection to an
// external NATS deployment. Everything above this package sees the same *nats.Conn and
// jetstream.JetStream either way, so single-node and cluster mode share one code path.
package natsd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says where the NATS connection comes from.
type Config struct {
	// DataDir holds the embedded server's JetStream file store, under DataDir/jetstream, and
	// its lock, DataDir/nimbus.lock: a second embedded server on the same DataDir fails with
	// ErrDataDirInUse before it opens anything. Required unless URL is set.
	DataDir string

	// URL, when set, connects to an external NATS server or cluster (comma-separated URLs
	// allowed) instead of embedding one; DataDir, Listen and SyncAlways are then ignored.
	URL string

	// Listen is an optional host:port on which the embedded server also accepts NATS clients
	// (port 0 picks a free port; see Server.ClientURL). Empty means no listener at all: the
	// only client is this process, connected in-process.
	Listen string

	// SyncAlways makes the embedded store fsync every write. Off, an acknowledged write
	// survives a crash of this process (it has reached the kernel) but not necessarily a
	// power loss; on, it survives both at the cost of write latency.
	SyncAlways bool

	// ServerName names the embedded server. Empty means "nimbus".
	ServerName string

	// StartTimeout bounds how long Start waits for the embedded server to be ready or the
	// external one to answer. Zero means 10 seconds.
	StartTimeout time.Duration

	// Logger receives the server's and connection's log lines. Nil discards them.
	Logger *slog.Logger
}

// Server is a live NATS connection, with the embedded server behind it when there is one.
type Server struct {
	log    *slog.Logger
	srv    *server.Server // nil when connected to an external NATS
	nc     *nats.Conn
	js     jetstream.JetStream
	closed chan struct{} // closed by the connection's ClosedHandler
	url    string        // Config.URL
	opts   func(name string) []nats.Option
	lock   *os.File // the data dir's lock while the embedded server runs; nil otherwise

	closeOnce sync.Once
}

// Start embeds a NATS server with JetStream (or connects to cfg.URL) and returns once a
// JetStream-capable connection is ready.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.StartTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	s := &Server{log: log, closed: make(chan struct{}), url: cfg.URL}
	s.opts = func(name string) []nats.Option {
		opts := []nats.Option{
			nats.Name(name),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil {
					log.Warn("nats disconnected", "conn", name, "err", err)
				}
			}),
			nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "conn", name, "url", nc.ConnectedUrl()) }),
			nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
				subject := ""
				if sub != nil {
					subject = sub.Subject
				}
				log.Error("nats async error", "conn", name, "subject", subject, "err", err)
			}),
		}
		if cfg.URL != "" {
			// An external cluster may be briefly unreachable; keep reconnecting rather than
			// letting the whole node die with the connection.
			opts = append(opts, nats.MaxReconnects(-1), nats.Timeout(timeout))
		}
		return opts
	}
	opts := append(s.opts("nimbus"), nats.ClosedHandler(func(*nats.Conn) { close(s.closed) }))

	if cfg.URL != "" {
		nc, err := nats.Connect(cfg.URL, opts...)
		if err != nil {
			return nil, fmt.Errorf("connect to nats %s: %w", cfg.URL, err)
		}
		s.nc = nc
	} else {
		if cfg.DataDir == "" {
			return nil, errors.New("natsd: DataDir is required for the embedded server")
		}
		lock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		srv, err := startEmbedded(cfg, log, timeout)
		if err != nil {
			lock.Close()
			return nil, err
		}
		s.lock = lock
		s.srv = srv
		nc, err := nats.Connect("", append(opts, nats.InProcessServer(srv))...)
		if err != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
			lock.Close()
			return nil, fmt.Errorf("connect in-process to embedded nats: %w", err)
		}
		s.nc = nc
	}

	js, err := jetstream.New(s.nc)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("jetstream context: %w", err)
	}
	s.js = js
	if cfg.URL != "" {
		// Fail at start, not at the first request, when the external NATS lacks JetStream.
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if _, err := js.AccountInfo(actx); err != nil {
			s.Close()
			return nil, fmt.Errorf("jetstream on %s: %w", cfg.URL, err)
		}
	}
	return s, nil
}

// MaxPayload is the largest message the embedded server accepts. An external cluster must
// allow as much (max_payload) for asynchronous invocations of up to 1 MB.
const MaxPayload = 8 << 20

func startEmbedded(cfg Config, log *slog.Logger, timeout time.Duration) (*server.Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("natsd: DataDir is required for the embedded server")
	}
	name := cfg.ServerName
	if name == "" {
		name = "nimbus"
	}
	opts := &server.Options{
		ServerName: name,
		JetStream:  true,
		// nats-server appends "jetstream" to StoreDir itself.
		StoreDir:   cfg.DataDir,
		SyncAlways: cfg.SyncAlways,
		DontListen: cfg.Listen == "",
		// Signals belong to cmd/, not to a library.
		NoSigs: true,
		// A queued asynchronous invocation carries up to 1 MB of payload plus its envelope,
		// and a destination record up to twice that; NATS's default limit is 1 MB.
		MaxPayload: MaxPayload,
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("natsd: listen address %q: %w", cfg.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("natsd: listen address %q: bad port", cfg.Listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT // nats-server reads port 0 as "the default 4222"
		}
		if host == "" {
			host = "0.0.0.0"
		}
		opts.Host, opts.Port = host, p
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsd: new server: %w", err)
	}
	sl := &serverLog{log: log.With("component", "nats-server")}
	srv.SetLoggerV2(sl, false, false, false)
	srv.Start()
	// Poll in short steps so that a fatal start error (port in use) fails Start at once
	// instead of after the whole timeout.
	for deadline := time.Now().Add(timeout); !srv.ReadyForConnections(5 * time.Millisecond); {
		msg := sl.fatal()
		if msg == "" && time.Now().Before(deadline) {
			continue
		}
		srv.Shutdown()
		srv.WaitForShutdown()
		if msg != "" {
			return nil, fmt.Errorf("natsd: embedded server failed: %s", msg)
		}
		return nil, fmt.Errorf("natsd: embedded server not ready after %s", timeout)
	}
	// ReadyForConnections does not wait for JetStream; a fatal error enabling it (bad store
	// dir, no space) is only logged, so check explicitly.
	if !srv.JetStreamEnabled() {
		msg := sl.fatal()
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("natsd: jetstream not enabled in %s: %s", cfg.DataDir, msg)
	}
	return srv, nil
}

// Connect opens another connection to the same NATS, named name, with the same handlers.
// Give a connection of its own to traffic that must not queue in front of the rest: each
// connection has its own socket (or in-process pipe), buffers and flow control, so a flood of
// function logs on one never delays, or disconnects, the catalog's requests on another. The
// caller closes it (Drain) before Close.
func (s *Server) Connect(name string) (*nats.Conn, jetstream.JetStream, error) {
	opts := s.opts(name)
	url := s.url
	if s.srv != nil {
		opts, url = append(opts, nats.InProcessServer(s.srv)), ""
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect %s to nats: %w", name, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream context for %s: %w", name, err)
	}
	return nc, js, nil
}

// Conn is the NATS connection.
func (s *Server) Conn() *nats.Conn { return s.nc }

// JetStream is the JetStream context on Conn.
func (s *Server) JetStream() jetstream.JetStream { return s.js }

// Embedded reports whether this process runs the NATS server.
func (s *Server) Embedded() bool { return s.srv != nil }

// ClientURL is the nats:// URL of the embedded server's client listener, or "" when it has
// none (Config.Listen empty) or the server is external.
func (s *Server) ClientURL() string {
	if s.srv == nil || s.srv.Addr() == nil {
		return ""
	}
	return s.srv.ClientURL()
}

// Close drains the connection (pending publishes and subscriptions finish), then shuts the
// embedded server down and waits for it. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		if s.nc != nil {
			if err := s.nc.Drain(); err != nil {
				s.nc.Close()
			}
			select {
			case <-s.closed:
			case <-time.After(5 * time.Second):
				s.log.Warn("nats drain did not finish; closing")
				s.nc.Close()
			}
		}
		if s.srv != nil {
			s.srv.Shutdown()
			s.srv.WaitForShutdown()
		}
		if s.lock != nil {
			s.lock.Close()
		}
	})
}

// serverLog adapts nats-server's printf-style logger to slog and remembers the last fatal
// message: with our logger nats-server does not exit on a fatal error, it only reports it.
type serverLog struct {
	log *slog.Logger

	mu        sync.Mutex
	lastFatal string
}

// Noticef is nats-server's start-up banner and routine chatter: debug for Nimbus.
func (l *serverLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *serverLog) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLog) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }

func (l *serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg, "fatal", true)
	l.mu.Lock()
	l.lastFatal = msg
	l.mu.Unlock()
}

func (l *serverLog) fatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastFatal
}

// Interface guards.
var _ server.Logger = (*serverLog)(nil)
