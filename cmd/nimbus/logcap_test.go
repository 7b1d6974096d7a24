package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

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
    return {"ok": True}
`

// TestLogStoreIsCapped has a function print five times --log-max-mb: the log store keeps at
// most that much, dropping the oldest lines, and the newest stay readable.
func TestLogStoreIsCapped(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "", "--log-max-mb", "2")
	c := s.client()
	create(t, c, &lambdasdk.CreateFunctionInput{FunctionName: aws.String("flood"), Runtime: pythonRuntime(t), MemorySize: aws.Int32(512),
		Handler: aws.String("app.handler"), Code: codeOf(zipOf(t, map[string]string{"app.py": floodPython}))})
	for n := 1; n <= 5; n++ {
		if out := invoke(t, c, "flood", fmt.Sprintf(`{"mb": 2, "n": %d}`, n)); out.FunctionError != nil {
			t.Fatalf("invoke %d: %s", n, out.Payload)
		}
	}

	logsClient := cwl.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: c.Options().Credentials},
		func(o *cwl.Options) { o.BaseEndpoint = aws.String(s.endpoint) })
	var stored int
	var text strings.Builder
	// The last lines are stored within the publisher's linger; poll until the last one is in.
	for attempt := 0; ; attempt++ {
		stored = 0
		text.Reset()
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
		if strings.Contains(text.String(), "done 5") || attempt == 50 {
			break
		}
	}
	if stored > 2<<20 {
		t.Errorf("the log store holds %d bytes of events, over --log-max-mb 2", stored)
	}
	if !strings.Contains(text.String(), "done 5") || strings.Contains(text.String(), "done 1") {
		t.Errorf("the store should keep the newest lines and drop the oldest; its non-flood lines:\n%s", text.String())
	}
}
