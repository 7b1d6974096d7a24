package logs

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A function's output reaches us through a pipe, and the function may post its response to
// the Runtime API before we have read what it printed just before. To put every such line
// before END without sleeping, each pipe read happens under the stream's lock, and End (and
// Begin) read the pipe themselves, non-blocking, until it is empty: anything the function
// wrote before it called the Runtime API is in the pipe by then (a write to a pipe is done
// when write(2) returns), so it is in the log before END. That costs one read(2) returning
// EAGAIN per pipe on the warm path. The runtime clients must not buffer stdout (or must flush
// it before posting the response); what a background thread writes later goes to the store
// untagged with this invocation.

// pipe is the read end of one pipe feeding a stream.
type pipe struct {
	f    *os.File
	rc   syscall.RawConn
	src  source
	eof  bool // guarded by the stream's mu
	quit chan struct{}
	done chan struct{}
}

// drainMax bounds how much Begin and End read from one pipe: more than a pipe holds, so
// everything written before the call is read, but a function writing without pause cannot
// keep End from finishing.
const drainMax = 1 << 20

var readBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Pipe returns the write end of a new pipe whose output becomes lines of this stream. Give it
// to the function's process as both stdout and stderr (one pipe for both, like Lambda merges
// them) and close your copy once the process has started: the stream stores the last
// unfinished line when every write end is closed. A stream may have several pipes over its
// life, e.g. a new one each time its environment's runtime is restarted.
func (st *Stream) Pipe() (*os.File, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("create log pipe: %w", os.NewSyscallError("pipe2", err))
	}
	// Only our end is non-blocking (O_NONBLOCK belongs to the open file, which the function
	// shares for its end): the runtime poller then waits for it, and End can read it without
	// blocking, while the function's writes still block when the pipe is full.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, fmt.Errorf("create log pipe: %w", os.NewSyscallError("fcntl", err))
	}
	r := os.NewFile(uintptr(fds[0]), "log pipe")
	w := os.NewFile(uintptr(fds[1]), "log pipe")
	rc, err := r.SyscallConn()
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("create log pipe: %w", err)
	}
	p := &pipe{f: r, rc: rc, quit: make(chan struct{}), done: make(chan struct{})}
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		r.Close()
		w.Close()
		return nil, fmt.Errorf("create log pipe: %w", errStreamClosed)
	}
	st.pipes = append(st.pipes, p)
	st.sources = append(st.sources, &p.src)
	st.mu.Unlock()
	go st.readPipe(p)
	return w, nil
}

// readPipe takes in the pipe's output until every write end is closed or the stream is.
//
// A function writing faster than its log rate is slowed down rather than cut: the reader
// stops reading its pipe until the rate allows a whole line again, so the function's writes
// wait, as writes to a full pipe do, and neither its output nor the server's CPU is spent on
// lines that would be dropped. Begin and End still take in what the pipe holds, and drop what
// is over the rate.
func (st *Stream) readPipe(p *pipe) {
	defer close(p.done)
	for {
		var wait time.Duration
		// The error is the end of the pipe or its closing by Stream.Close; either way we're done.
		err := p.rc.Read(func(fd uintptr) bool {
			for {
				st.mu.Lock()
				if p.eof || st.closed {
					st.mu.Unlock()
					return true
				}
				if wait = st.throttleLocked(); wait > 0 {
					st.mu.Unlock()
					return true
				}
				_, eof, again := st.readOnceLocked(p, int(fd))
				st.mu.Unlock()
				// Only stop at EAGAIN: the runtime poller is edge-triggered, so waiting with data
				// still in the pipe could wait forever.
				if eof {
					return true
				}
				if again {
					return false
				}
			}
		})
		if err != nil || wait == 0 {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.quit:
			t.Stop()
		}
	}
	st.mu.Lock()
	st.detachLocked(&p.src, st.svc.now().UnixNano())
	st.pipes = slices.DeleteFunc(st.pipes, func(q *pipe) bool { return q == p })
	st.mu.Unlock()
	p.f.Close()
}

// readOnceLocked reads the pipe once and feeds what came; it reports the bytes read, whether
// the pipe has ended, and whether it is empty for now.
func (st *Stream) readOnceLocked(p *pipe, fd int) (n int, eof, again bool) {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	n, err := unix.Read(fd, *bp)
	switch {
	case n > 0:
		st.feedLocked(&p.src, (*bp)[:n], st.svc.now().UnixNano())
		return n, false, false
	case err == unix.EINTR:
		return 0, false, false
	case err == unix.EAGAIN:
		return 0, false, true
	default: // n == 0 is the end of the pipe; any other error ends it too
		p.eof = true
		return 0, true, false
	}
}

// drainLocked reads every open pipe until it is empty (or drainMax bytes came).
func (st *Stream) drainLocked() {
	for _, p := range st.pipes {
		if p.eof {
			continue
		}
		// Control keeps the descriptor open while we use it, even if Close runs meanwhile.
		_ = p.rc.Control(func(fd uintptr) {
			for total := 0; total < drainMax; {
				n, eof, again := st.readOnceLocked(p, int(fd))
				if eof || again {
					return
				}
				total += n
			}
		})
	}
}

// close closes the read end and waits for its reader to finish.
func (p *pipe) close() {
	close(p.quit)
	p.f.Close()
	<-p.done
}
