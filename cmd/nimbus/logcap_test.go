package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
)

// floodPython prints event["mb"] MB of 1 KB lines, then a line that names the invocation.
const floodPython = `import sys
def handler(event, context):
    line = "x" * 1023 + "\n"
    for _ in range(event["mb"] * 1024):
        sys.stdout.write(line)
    print("done", event["n"], flush=True)
    return {"requestId": context.aws_request_id}
`

// TestLogStoreIsCapped has a function print five times --log-max-mb: the log store keeps at
// most that much, dropping the oldest lines, and the newest stay readable.
func TestLogStoreIsCapped(t *testing.T) {
	requireRoot(t)
	// 10 MB in a few seconds is over the default log rate, which other tests cover.
	s := startServer(t, "", "--log-max-mb", "2", "--log-rate-kb", "1000000")
	c := s.client()
	create(t, c, &lambdasdk.CreateFunctionInput{FunctionName: aws.String("flood"), Runtime: pythonRuntime(t), MemorySize: aws.Int32(512),
		Handler: aws.String("app.handler"), Code: codeOf(zipOf(t, map[string]string{"app.py": floodPython}))})
	var lastID string
	for n := 1; n <= 5; n++ {
		out := invoke(t, c, "flood", fmt.Sprintf(`{"mb": 2, "n": %d}`, n))
		if out.FunctionError != nil {
			t.Fatalf("invoke %d: %s", n, out.Payload)
		}
		lastID, _ = decode(t, out.Payload)["requestId"].(string)
	}

	logsClient := cwl.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: c.Options().Credentials},
		func(o *cwl.Options) { o.BaseEndpoint = aws.String(s.endpoint) })
	// The last lines reach the store within the publisher's linger: wait for the last
	// invocation's REPORT line, then read everything once, when nothing moves any more.
	for attempt := 0; ; attempt++ {
		out, err := logsClient.FilterLogEvents(context.Background(), &cwl.FilterLogEventsInput{
			LogGroupName: aws.String("/aws/lambda/flood"), FilterPattern: aws.String("REPORT")})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(out.Events); n > 0 && strings.Contains(aws.ToString(out.Events[n-1].Message), lastID) {
			break
		}
		if attempt == 100 {
			t.Fatalf("the last invocation's REPORT line is not stored after 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var stored int
	var text strings.Builder
	pages := cwl.NewFilterLogEventsPaginator(logsClient, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/flood")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Events {
			msg := aws.ToString(ev.Message)
			stored += len(msg)
			if !strings.HasPrefix(msg, "xxx") {
				text.WriteString(msg)
			}
		}
	}
	if stored > 2<<20 {
		t.Errorf("the log store holds %d bytes of events, over --log-max-mb 2", stored)
	}
	if !strings.Contains(text.String(), "done 5") || strings.Contains(text.String(), "done 1") {
		t.Errorf("the store should keep the newest lines and drop the oldest; its non-flood lines:\n%s", text.String())
	}
}

// floodWithBackground writes 64 KB lines for event["seconds"] seconds and leaves a thread
// that keeps writing 64 KB bursts while the environment is idle (issue 9.4's function).
const floodWithBackground = `import sys, threading, time
line = "b" * (64 * 1024 - 1) + "\n"
def background():
    while True:
        for _ in range(4):
            sys.stdout.write(line)
        time.sleep(0.01)
started = False
def handler(event, context):
    global started
    if not started:
        threading.Thread(target=background, daemon=True).start()
        started = True
    end = time.time() + event["seconds"]
    while time.time() < end:
        sys.stdout.write(line)
    return {}
`

// quietLines prints three numbered lines.
const quietLines = `def handler(event, context):
    for k in range(3):
        print("quiet", event["n"], k)
    return {}
`

// TestFloodCostsOtherFunctionsNothing (issues 9.3 and 9.4): functions flooding stdout, during
// their invocations and from a background thread while idle, over a small log rate, cost a
// quiet function none of its lines, and every invocation keeps its START, END and REPORT.
func TestFloodCostsOtherFunctionsNothing(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "", "--log-rate-kb", "64")
	c := s.client()
	const flooders, quietN = 3, 30
	for i := range flooders {
		create(t, c, &lambdasdk.CreateFunctionInput{FunctionName: aws.String(fmt.Sprintf("flood%d", i)), Runtime: pythonRuntime(t),
			Handler: aws.String("app.handler"), Timeout: aws.Int32(10), Code: codeOf(zipOf(t, map[string]string{"app.py": floodWithBackground}))})
	}
	create(t, c, &lambdasdk.CreateFunctionInput{FunctionName: aws.String("quiet"), Runtime: pythonRuntime(t),
		Handler: aws.String("app.handler"), Code: codeOf(zipOf(t, map[string]string{"app.py": quietLines}))})

	var wg sync.WaitGroup
	floodIDs := make([][]string, flooders)
	for i := range flooders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2 {
				out, err := c.Invoke(context.Background(), &lambdasdk.InvokeInput{FunctionName: aws.String(fmt.Sprintf("flood%d", i)),
					Payload: []byte(`{"seconds": 1}`)})
				if err != nil || out.FunctionError != nil {
					t.Errorf("Invoke(flood%d) = %v", i, err)
					return
				}
				floodIDs[i] = append(floodIDs[i], requestIDOf(out))
			}
		}()
	}
	var quietIDs []string
	for n := range quietN {
		out, err := c.Invoke(context.Background(), &lambdasdk.InvokeInput{FunctionName: aws.String("quiet"), Payload: []byte(fmt.Sprintf(`{"n": %d}`, n))})
		if err != nil || out.FunctionError != nil {
			t.Fatalf("Invoke(quiet) = %v", err)
		}
		quietIDs = append(quietIDs, requestIDOf(out))
	}
	wg.Wait()

	log := storedLog(t, s, "quiet", "REPORT RequestId: "+quietIDs[quietN-1])
	for n, id := range quietIDs {
		want := fmt.Sprintf("START RequestId: %s Version: $LATEST\nquiet %d 0\nquiet %d 1\nquiet %d 2\nEND RequestId: %s\nREPORT RequestId: %s\t", id, n, n, n, id, id)
		if !strings.Contains(log, want) {
			t.Errorf("the quiet function's log lacks invocation %d:\n%s", n, want)
		}
	}
	for i, ids := range floodIDs {
		if len(ids) == 0 {
			continue
		}
		log := storedLog(t, s, fmt.Sprintf("flood%d", i), "REPORT RequestId: "+ids[len(ids)-1])
		for _, id := range ids {
			for _, w := range []string{"START RequestId: " + id, "END RequestId: " + id + "\n", "REPORT RequestId: " + id + "\t"} {
				if !strings.Contains(log, w) {
					t.Errorf("flood%d's log lacks %q", i, w)
				}
			}
		}
	}
}

// requestIDOf is the request id Invoke answered with, from the response's metadata.
func requestIDOf(out *lambdasdk.InvokeOutput) string {
	id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	return id
}
