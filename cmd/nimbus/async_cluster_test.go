package main

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

var markLine = regexp.MustCompile(`MARK (ev-\d+) `)

// marks counts, per event name, the MARK lines the function has logged: each is one run.
func marks(s *testServer, name string) map[string]int {
	r := s.nimbus("logs", name, "--since", "0")
	got := map[string]int{}
	for _, m := range markLine.FindAllStringSubmatch(r.stdout, -1) {
		got[m[1]]++
	}
	return got
}

// sendMarks queues n events named ev-0 … ev-(n-1), eight callers at a time.
func sendMarks(t *testing.T, c *lambdasdk.Client, name string, n, millis int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				_, err := c.Invoke(context.Background(), &lambdasdk.InvokeInput{FunctionName: aws.String(name),
					InvocationType: types.InvocationTypeEvent, Payload: fmt.Appendf(nil, `{"action":"mark","name":"ev-%d","millis":%d}`, i, millis)})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Invoke(Event) = %v", err)
	}
}

// waitAllMarked waits until every one of the n events has run at least once.
func waitAllMarked(t *testing.T, s *testServer, name string, n int, timeout time.Duration) map[string]int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := marks(s, name)
		if len(got) == n {
			return got
		}
		if time.Now().After(deadline) {
			var missing []string
			for i := range n {
				if got[fmt.Sprintf("ev-%d", i)] == 0 {
					missing = append(missing, fmt.Sprintf("ev-%d", i))
				}
			}
			t.Fatalf("%d of %d events ran; missing %v\nserver log:\n%s", len(got), n, missing, s.output)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func duplicates(got map[string]int) int {
	d := 0
	for _, k := range got {
		d += k - 1
	}
	return d
}

// TestAsyncEventsSurviveKill9: events answered 202 are stored; killing the server while they
// drain and starting it again on the same data dir runs every one of them at least once.
func TestAsyncEventsSurviveKill9(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "", "--async-time-scale", "0.01", "--async-per-function", "4")
	c := s.client()
	createGo(t, c, "slow", nil)
	const n = 300
	sendMarks(t, c, "slow", n, 40)
	deadline := time.Now().Add(30 * time.Second)
	for len(marks(s, "slow")) < n/5 {
		if time.Now().After(deadline) {
			t.Fatalf("the events did not start to drain; server log:\n%s", s.output)
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := len(marks(s, "slow"))
	s.stop(syscall.SIGKILL)
	s.start()
	got := waitAllMarked(t, s, "slow", n, 60*time.Second)
	t.Logf("%d events: %d had run before kill -9, all %d ran after the restart, %d duplicate runs", n, before, len(got), duplicates(got))
}

// TestAsyncTwoServersShareTheBacklog: two servers on one NATS both run the queue's events,
// each event once.
func TestAsyncTwoServersShareTheBacklog(t *testing.T) {
	requireRoot(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsAddr := l.Addr().String()
	l.Close()
	a := startServer(t, "", "--nats-listen", natsAddr, "--async-per-function", "2")
	b := startServer(t, "", "--nats-url", "nats://"+natsAddr, "--async-per-function", "2")
	createGo(t, a.client(), "shared", nil)
	waitActive(t, b.client(), "shared")
	const n = 100
	sendMarks(t, a.client(), "shared", n, 30)
	got := waitAllMarked(t, a, "shared", n, 60*time.Second)
	if d := duplicates(got); d != 0 {
		t.Errorf("%d events ran more than once", d)
	}
	ran := func(s *testServer) int64 {
		var fns []struct {
			FunctionName string
			Succeeded    int64
		}
		parseJSON(t, "nimbus queue", s.must("queue", "--output", "json").stdout, &fns)
		for _, f := range fns {
			if f.FunctionName == "shared" {
				return f.Succeeded
			}
		}
		return 0
	}
	ra, rb := ran(a), ran(b)
	t.Logf("server a ran %d events, server b %d", ra, rb)
	if ra+rb != n || ra == 0 || rb == 0 {
		t.Errorf("server a ran %d events and b %d; want %d in all, on both", ra, rb, n)
	}
}
