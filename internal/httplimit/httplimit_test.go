package httplimit

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestListenerCloseEndsWaitingAccept(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listener(inner, 1)
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }() // waits: the one slot is taken
	l.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
	}
	first.Close()
	first.Close() // a second Close must not free a second slot
	if n := len(l.(*limitListener).slots); n != 0 {
		t.Fatalf("%d slots held after the connection closed twice, want 0", n)
	}
}

func TestBudget(t *testing.T) {
	ctx := context.Background()
	b := NewBudget(100)
	if err := b.Acquire(ctx, 60); err != nil {
		t.Fatal(err)
	}
	granted := make(chan struct{})
	go func() {
		if err := b.Acquire(ctx, 60); err == nil {
			close(granted)
		}
	}()
	// Someone queued behind is not overtaken by a smaller share that would fit.
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.waiters) == 1 })
	short, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Acquire(short, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire behind a waiter with a cancelled context = %v, want context.Canceled", err)
	}
	b.Release(60)
	<-granted
	if b.Held() != 60 {
		t.Fatalf("Held = %d, want 60", b.Held())
	}
	b.Release(60)
	// A share larger than the whole budget goes through alone.
	if err := b.Acquire(ctx, 500); err != nil || b.Held() != 500 {
		t.Fatalf("Acquire(500) of 100 = %v, held %d", err, b.Held())
	}
	b.Release(500)
}

// slowBody sends part of a body and then stalls.
type slowBody struct{ sent bool }

func (s *slowBody) Read(p []byte) (int, error) {
	if !s.sent {
		s.sent = true
		return copy(p, "{"), nil
	}
	time.Sleep(time.Hour)
	return 0, io.EOF
}

func TestBodyDeadline(t *testing.T) {
	var readErr error
	handlerDone := make(chan struct{}, 1)
	h := BodyDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, readErr = io.ReadAll(r.Body)
		if readErr == nil {
			// A handler that takes longer than the body deadline, after reading the body,
			// is not cut off (a slow Invoke).
			select {
			case <-time.After(300 * time.Millisecond):
			case <-r.Context().Done():
				readErr = r.Context().Err()
			}
			io.WriteString(w, "done")
		}
		handlerDone <- struct{}{}
	}), 100*time.Millisecond, 1<<20, 1<<20)
	srv := httptest.NewServer(h)
	defer srv.Close()

	// A stalled body is cut off.
	req, _ := http.NewRequest("POST", srv.URL, &slowBody{})
	req.ContentLength = 10
	go http.DefaultClient.Do(req)
	<-handlerDone
	var ne net.Error
	if !errors.As(readErr, &ne) || !ne.Timeout() {
		t.Fatalf("reading a stalled body = %v, want a timeout", readErr)
	}
	// A complete body lifts the deadline.
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	<-handlerDone
	if readErr != nil || string(b) != "done" {
		t.Fatalf("slow handler after a complete body = %q, %v", b, readErr)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond)
	}
}
