package linux

import (
	"fmt"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// netnsPool keeps a few fresh network namespaces, loopback already up, ready for new
// environments. Creating one costs ~0.7 ms of the creating thread (more than anything else in
// Create) and destroying one is asynchronous in the kernel, so making them ahead of time, on
// the other core, takes that off the cold-start path. Each namespace serves one environment
// and is never reused.
type netnsPool struct {
	spare chan *os.File
	wake  chan struct{}
	stop  chan struct{}
	wg    sync.WaitGroup
}

const netnsPoolSize = 4

func newNetnsPool() *netnsPool {
	p := &netnsPool{
		spare: make(chan *os.File, netnsPoolSize),
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
	}
	p.wg.Go(p.fill)
	return p
}

// get returns a namespace the caller owns (and must close), made now if none is spare.
func (p *netnsPool) get() (*os.File, error) {
	select {
	case p.wake <- struct{}{}:
	default:
	}
	select {
	case f := <-p.spare:
		return f, nil
	default:
		return newNetns()
	}
}

func (p *netnsPool) fill() {
	for {
		f, err := newNetns()
		if err != nil {
			// get makes its own and reports the error; wait for it to ask again.
			select {
			case <-p.wake:
				continue
			case <-p.stop:
				return
			}
		}
		select {
		case p.spare <- f:
		case <-p.stop:
			f.Close()
			return
		}
	}
}

func (p *netnsPool) close() {
	close(p.stop)
	p.wg.Wait()
	for {
		select {
		case f := <-p.spare:
			f.Close()
		default:
			return
		}
	}
}

// newNetns creates a network namespace on a thread of its own and returns a handle to it.
func newNetns() (*os.File, error) {
	runtime.LockOSThread()
	host, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("open network namespace: %w", err)
	}
	defer host.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("create network namespace: %w", err)
	}
	ns, err := os.Open("/proc/thread-self/ns/net")
	if err == nil {
		err = loopbackUp()
	}
	if serr := unix.Setns(int(host.Fd()), unix.CLONE_NEWNET); serr != nil {
		// This thread is stuck in the wrong namespace: stay locked so that Go retires it
		// when this goroutine ends, instead of running other goroutines on it.
		if ns != nil {
			ns.Close()
		}
		return nil, fmt.Errorf("return to host network namespace: %w", serr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		if ns != nil {
			ns.Close()
		}
		return nil, fmt.Errorf("set up network namespace: %w", err)
	}
	return ns, nil
}

// loopbackUp does `ip link set lo up` in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
