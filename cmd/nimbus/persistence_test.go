package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func TestFunctionsSurviveRestart(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	ctx := context.Background()
	createPython(t, c, "durable")
	before, err := c.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("durable")})
	if err != nil {
		t.Fatal(err)
	}
	zip := download(t, aws.ToString(before.Code.Location))

	s.restart()
	c = s.client()
	after, err := c.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("durable")})
	if err != nil {
		t.Fatalf("GetFunction after restart = %v", err)
	}
	if aws.ToString(after.Configuration.RevisionId) != aws.ToString(before.Configuration.RevisionId) ||
		aws.ToString(after.Configuration.CodeSha256) != aws.ToString(before.Configuration.CodeSha256) {
		t.Errorf("after restart the configuration changed: %+v, was %+v", after.Configuration, before.Configuration)
	}
	if !bytes.Equal(download(t, aws.ToString(after.Code.Location)), zip) {
		t.Error("after restart the code is not byte-identical")
	}
}

// TestKilledMidCreateLeavesWholeFunctionsOrNothing SIGKILLs the server while creates are in
// flight; after a restart each function is either absent or complete, with code that downloads.
func TestKilledMidCreateLeavesWholeFunctionsOrNothing(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Each zip differs, so every create uploads new code.
				zip := zipOf(t, map[string]string{"lambda_function.py": fmt.Sprintf("%s\n# %d %d\n", pythonHello, w, i)})
				c.CreateFunction(ctx, &lambdasdk.CreateFunctionInput{FunctionName: aws.String(fmt.Sprintf("k-%d-%d", w, i)),
					Runtime: pythonRuntime(t), Role: aws.String("arn:aws:iam::000000000000:role/r"),
					Handler: aws.String("lambda_function.handler"), Code: codeOf(zip)})
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	s.stop(syscall.SIGKILL)
	close(stop)
	wg.Wait()

	s.start()
	c = s.client()
	p := lambdasdk.NewListFunctionsPaginator(c, &lambdasdk.ListFunctionsInput{})
	count := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page.Functions {
			count++
			waitActive(t, c, *f.FunctionName)
			got, err := c.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: f.FunctionName})
			if err != nil {
				t.Fatalf("GetFunction(%s) = %v", *f.FunctionName, err)
			}
			if b64sha256(download(t, aws.ToString(got.Code.Location))) != aws.ToString(f.CodeSha256) {
				t.Errorf("%s: code does not match its CodeSha256", *f.FunctionName)
			}
		}
	}
	if count == 0 {
		t.Fatal("no function was created before the kill; the test proves nothing")
	}
	t.Logf("%d functions survived the kill whole", count)
}

// TestSecondServerOnTheFirstServersNATS runs two servers on one JetStream, the second through
// --nats-url: what one creates, the other serves.
func TestSecondServerOnTheFirstServersNATS(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsAddr := l.Addr().String()
	l.Close()
	a := startServer(t, "", "--nats-listen", natsAddr)
	b := startServer(t, "", "--nats-url", "nats://"+natsAddr)
	createPython(t, a.client(), "shared")
	// The second server learns of writes through its KV watch, a moment later (Lambda's
	// control plane is eventually consistent too): wait for it to see the function Active.
	ctx := context.Background()
	var state types.State
	for deadline := time.Now().Add(30 * time.Second); state != types.StateActive && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got, err := b.client().GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("shared")})
		if err != nil && apiCode(err) != "ResourceNotFoundException" {
			t.Fatalf("GetFunction on the second server = %v", err)
		}
		if err == nil {
			state = got.Configuration.State
		}
	}
	if state != types.StateActive {
		t.Errorf("second server sees state %q after 30 s", state)
	}
	if _, err := b.client().DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("shared")}); err != nil {
		t.Fatalf("DeleteFunction on the second server = %v", err)
	}
	waitGone(t, a, "shared")
}

// waitGone polls until the server no longer has the function: another server's write reaches
// its catalog through the KV watch.
func waitGone(t *testing.T, s *testServer, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.client().GetFunction(context.Background(), &lambdasdk.GetFunctionInput{FunctionName: aws.String(name)})
		if apiCode(err) == "ResourceNotFoundException" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still there: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
