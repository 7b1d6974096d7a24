// Command gofunc is an unmodified aws-lambda-go function the runtimeapi tests build and run as
// a bootstrap. The event's "op" picks what it does.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Op   string `json:"op"`
	Msg  string `json:"msg"`
	Size int    `json:"size"`
	MS   int    `json:"ms"`
}

type info struct {
	RequestID     string            `json:"requestId"`
	FunctionARN   string            `json:"functionArn"`
	DeadlineMS    int64             `json:"deadlineMs"`
	HasDeadline   bool              `json:"hasDeadline"`
	ClientCustom  map[string]string `json:"clientCustom"`
	ClientAppName string            `json:"clientAppTitle"`
	CognitoID     string            `json:"cognitoId"`
	TraceEnv      string            `json:"traceEnv"`
	Inits         int               `json:"inits"`
}

// failingReader yields some bytes, then an error, which aws-lambda-go reports in trailers.
type failingReader struct{ done bool }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.done {
		return 0, errors.New("reader broke")
	}
	r.done = true
	return copy(p, "partial"), nil
}

var inits int

func handle(ctx context.Context, ev event) (any, error) {
	switch ev.Op {
	case "echo":
		return ev, nil
	case "error":
		return nil, errors.New(ev.Msg)
	case "panic":
		panic("handler panicked: " + ev.Msg)
	case "exit":
		os.Exit(3)
	case "sleep":
		time.Sleep(time.Duration(ev.MS) * time.Millisecond)
		return "slept", nil
	case "reader":
		return strings.NewReader(strings.Repeat("r", ev.Size)), nil
	case "failreader":
		return io.Reader(&failingReader{}), nil
	case "info":
		lc, _ := lambdacontext.FromContext(ctx)
		dl, ok := ctx.Deadline()
		return info{
			RequestID:     lc.AwsRequestID,
			FunctionARN:   lc.InvokedFunctionArn,
			DeadlineMS:    dl.UnixMilli(),
			HasDeadline:   ok,
			ClientCustom:  lc.ClientContext.Custom,
			ClientAppName: lc.ClientContext.Client.AppTitle,
			CognitoID:     lc.Identity.CognitoIdentityID,
			TraceEnv:      os.Getenv("_X_AMZN_TRACE_ID"),
			Inits:         inits,
		}, nil
	}
	return nil, fmt.Errorf("unknown op %q", ev.Op)
}

func main() {
	inits++
	fmt.Println("gofunc init")
	lambda.StartWithOptions(handle, lambda.WithEnableSIGTERM(func() { fmt.Println("gofunc SIGTERM") }))
}
