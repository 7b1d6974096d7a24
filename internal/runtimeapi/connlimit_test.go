package runtimeapi

import (
	"bufio"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// countingListener counts the connections the server has taken from the kernel.
type countingListener struct {
	net.Listener
	accepted atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// TestConnectionsPerEnvironmentAreBounded opens many connections to one Runtime API, as a
// function forking connection-hungry children does: the endpoint takes at most MaxConnections
// of them from the kernel (each is a descriptor of the server's), and takes the next only when
// one closes.
func TestConnectionsPerEnvironmentAreBounded(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: l}
	e := New(Config{})
	served := make(chan error, 1)
	go func() { served <- e.Serve(cl) }()
	defer func() {
		e.Close()
		<-served
	}()

	const hogs = 200
	conns := make([]net.Conn, 0, hogs)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range hogs {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
	}
	// The first connections (the kernel hands them over in order) are served.
	for i := range DefaultMaxConnections {
		if !answers(t, conns[i]) {
			t.Fatalf("connection %d got no answer", i)
		}
	}
	// The server had time to take more from the kernel if it would: it must not have.
	time.Sleep(200 * time.Millisecond)
	if n := cl.accepted.Load(); n != DefaultMaxConnections {
		t.Fatalf("endpoint accepted %d of %d connections, want %d", n, hogs, DefaultMaxConnections)
	}
	// Closing one lets the next in.
	conns[0].Close()
	waitFor(t, func() bool { return cl.accepted.Load() == DefaultMaxConnections+1 }, "the next connection to be accepted")
	if !answers(t, conns[DefaultMaxConnections]) {
		t.Fatal("the connection let in got no answer")
	}
}

// answers sends a request to an unknown path on c and reports whether a response came.
func answers(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
