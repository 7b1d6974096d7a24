package main

import (
	"context"
	"flag"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

var forkBombInvokes = flag.Int("forkbombs", 2, "invocations of the fork bomb in TestInvokeForkBombTimesOut")

// pythonForkBomb forks for ever, as `while True: os.fork()` does, its children larger than the
// runtime so that the OOM killer, busy at the memory limit, takes them rather than the runtime.
const pythonForkBomb = `import os

def handler(event, context):
    ballast = None
    while True:
        try:
            if os.fork() == 0:
                ballast = bytearray(2 << 20)
        except OSError:
            pass
`

// TestInvokeForkBombTimesOut: a Python function at 128 MB that forks without end is answered
// Sandbox.Timedout at its timeout, not when its last process has died (which took minutes),
// every time. With -forkbombs N it prints how long after the timeout the answers came: the
// client's time less the REPORT's Init Duration and the timeout, which leaves the answer's
// delay plus the request's own few milliseconds.
//
//	go test -count=1 -run TestInvokeForkBombTimesOut -v ./cmd/nimbus -args -forkbombs 100
func TestInvokeForkBombTimesOut(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "")
	c := s.client()
	create(t, c, &lambdasdk.CreateFunctionInput{FunctionName: aws.String("bomb"), Runtime: pythonRuntime(t),
		Handler: aws.String("app.handler"), Timeout: aws.Int32(1), MemorySize: aws.Int32(128),
		Code: codeOf(zipOf(t, map[string]string{"app.py": pythonForkBomb}))})
	initDuration := regexp.MustCompile(`Init Duration: ([0-9.]+) ms`)
	var late []time.Duration
	for range *forkBombInvokes {
		// Not a measurement: a bound far above the answer's milliseconds and far below the
		// tens of seconds an answer waited for the fork bomb's end.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t0 := time.Now()
		out, err := c.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String("bomb"), Payload: []byte(`{}`),
			LogType: types.LogTypeTail})
		elapsed := time.Since(t0)
		cancel()
		if err != nil {
			t.Fatalf("Invoke(bomb) = %v after %v", err, elapsed)
		}
		wantFunctionError(t, out, "Sandbox.Timedout", "Task timed out after 1.00 seconds")
		if m := initDuration.FindStringSubmatch(logTail(t, out)); m != nil {
			ms, _ := strconv.ParseFloat(m[1], 64)
			late = append(late, elapsed-time.Second-time.Duration(ms*float64(time.Millisecond)))
		}
	}
	if len(late) > 0 {
		slices.Sort(late)
		t.Logf("%d fork bombs answered after their timeout: p50 %v, p99 %v, max %v", len(late),
			late[len(late)/2].Round(time.Millisecond), late[len(late)*99/100].Round(time.Millisecond),
			late[len(late)-1].Round(time.Millisecond))
	}
}
