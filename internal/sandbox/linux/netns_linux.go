package linux

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// newNetns creates a network namespace, with loopback up, and returns a handle to it.
func newNetns() (*os.File, error) {
	// On a goroutine of its own: if the thread cannot return to the host's namespace, the
	// goroutine ends still locked to it and Go retires the thread.
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		f, err := newNetnsLocked()
		ch <- result{f, err}
	}()
	r := <-ch
	return r.f, r.err
}

func newNetnsLocked() (*os.File, error) {
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
		// This thread is stuck in the wrong namespace: stay locked, so that it is retired
		// when the goroutine ends instead of running other goroutines.
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
