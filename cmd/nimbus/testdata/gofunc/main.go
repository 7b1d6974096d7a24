// Command gofunc is an unmodified aws-lambda-go function that the tests build, zip and run
// through Nimbus. The event's "action" picks what it does.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Action string `json:"action"`
	Name   string `json:"name"`
	MB     int    `json:"mb"`
	Millis int    `json:"millis"`
}

// initID tells environments apart: each Init gets its own.
var (
	initID      = fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	invocations int
)

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var ev event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	invocations++
	lc, _ := lambdacontext.FromContext(ctx)
	if ev.Action == "" && bytes.Contains(raw, []byte(`"requestContext"`)) {
		// An asynchronous invocation record, from a destination.
		var b bytes.Buffer
		json.Compact(&b, raw)
		fmt.Println("RECORD " + b.String())
		return "recorded", nil
	}
	switch ev.Action {
	case "mark":
		// Says which event ran, then takes its time.
		fmt.Println("MARK", ev.Name, lc.AwsRequestID)
		time.Sleep(time.Duration(ev.Millis) * time.Millisecond)
		return "marked", nil
	case "hello":
		fmt.Println("hello from go to", ev.Name)
		return map[string]any{"hello": ev.Name, "requestId": lc.AwsRequestID, "arn": lc.InvokedFunctionArn}, nil
	case "error":
		return nil, errors.New("something went wrong")
	case "panic":
		panic("boom")
	case "deadline":
		d, ok := ctx.Deadline()
		return map[string]any{"hasDeadline": ok, "remainingMs": time.Until(d).Milliseconds()}, nil
	case "clientcontext":
		return map[string]any{"custom": lc.ClientContext.Custom, "client": lc.ClientContext.Client.AppTitle}, nil
	case "sleep":
		time.Sleep(time.Duration(ev.Millis) * time.Millisecond)
		return map[string]any{"init": initID, "invocations": invocations}, nil
	case "version":
		// Which code and which version ran, as the function sees them: marker.txt is in
		// the zip of each version's code.
		marker, _ := os.ReadFile(os.Getenv("LAMBDA_TASK_ROOT") + "/marker.txt")
		return map[string]any{"marker": strings.TrimSpace(string(marker)), "version": lambdacontext.FunctionVersion,
			"envVersion": os.Getenv("AWS_LAMBDA_FUNCTION_VERSION"), "arn": lc.InvokedFunctionArn}, nil
	case "noop":
		return nil, nil
	case "init":
		return map[string]any{"init": initID, "invocations": invocations}, nil
	case "env":
		return map[string]any{"function": os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), "memory": os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
			"logGroup": os.Getenv("AWS_LAMBDA_LOG_GROUP_NAME"), "home": os.Getenv("HOME")}, nil
	case "oom":
		var hoard [][]byte
		for i := 0; i < ev.MB; i++ {
			b := make([]byte, 1<<20)
			for j := range b {
				b[j] = byte(j)
			}
			hoard = append(hoard, b)
		}
		return len(hoard), nil
	case "crash":
		fmt.Println("crashing now")
		os.Exit(3)
	case "big":
		return strings.Repeat("x", ev.MB<<20), nil
	}
	return nil, fmt.Errorf("unknown action %q", ev.Action)
}

func main() {
	// A bootstrap that fails before it asks for work: Lambda reports Runtime.ExitError.
	if msg := os.Getenv("FAIL_INIT"); msg != "" {
		fmt.Println(msg)
		os.Exit(1)
	}
	var opts []lambda.Option
	if os.Getenv("ENABLE_SIGTERM") != "" {
		opts = append(opts, lambda.WithEnableSIGTERM(func() { fmt.Println("SIGTERM received, cleaning up") }))
	}
	lambda.StartWithOptions(handle, opts...)
}
