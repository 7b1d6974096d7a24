package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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
