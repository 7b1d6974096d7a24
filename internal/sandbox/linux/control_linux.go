package linux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// control is the parent's end of the control socket.
type control struct {
	conn *net.UnixConn
	buf  [512]byte
	oob  []byte
}

func (c *control) open(fd int) error {
	f := os.NewFile(uintptr(fd), "control")
	defer f.Close()
	conn, err := net.FileConn(f)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	c.conn = conn.(*net.UnixConn)
	c.oob = make([]byte, unix.CmsgSpace(4))
	return nil
}

func (c *control) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// deadline makes ctx's deadline and cancellation interrupt blocked reads and writes.
func (c *control) deadline(ctx context.Context) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(dl)
	} else {
		c.conn.SetDeadline(time.Time{})
	}
	conn := c.conn
	return context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
}

func (c *control) send(ctx context.Context, b, oob []byte) error {
	if c.conn == nil {
		return errors.New("control socket closed")
	}
	defer c.deadline(ctx)()
	_, _, err := c.conn.WriteMsgUnix(b, oob, nil)
	return c.ctxErr(ctx, err)
}

// recv reads one message and any descriptors passed with it; io.EOF means the init closed
// its end (by exec or exit).
func (c *control) recv(ctx context.Context) ([]byte, []int, error) {
	if c.conn == nil {
		return nil, nil, errors.New("control socket closed")
	}
	defer c.deadline(ctx)()
	n, oobn, _, _, err := c.conn.ReadMsgUnix(c.buf[:], c.oob)
	if err != nil {
		return nil, nil, c.ctxErr(ctx, err)
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(c.oob[:oobn])
		if err == nil {
			for _, m := range msgs {
				if rights, err := unix.ParseUnixRights(&m); err == nil {
					fds = append(fds, rights...)
				}
			}
		}
	}
	if n == 0 && len(fds) == 0 {
		return nil, nil, fmt.Errorf("init exited: %w", io.EOF)
	}
	return append([]byte(nil), c.buf[:n]...), fds, nil
}

func (c *control) ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
