package httplimit

import (
	"net"
	"sync"
)

// Listener returns a listener that holds at most max connections open at once: Accept waits
// for one to close before it accepts another. Connections beyond the bound wait in the
// kernel's accept queue, where they cost the process no descriptor and no CPU, and once that
// queue is full new ones are not answered. Closing the listener ends a waiting Accept.
func Listener(l net.Listener, max int) net.Listener {
	if max < 1 {
		max = 1
	}
	return &limitListener{Listener: l, slots: make(chan struct{}, max), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	slots     chan struct{} // one token per open connection
	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, free: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, on its first Close.
type limitConn struct {
	net.Conn
	once sync.Once
	free func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.free)
	return err
}
