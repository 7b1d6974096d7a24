package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/middleware"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// InvokeOptions are the arguments of `nimbus invoke`.
type InvokeOptions struct {
	Name      string
	Qualifier string
	// Payload is the event: JSON, "@file" for a file's content, or "-" for standard input.
	// Empty means {}.
	Payload string
	// Logs prints the invocation's log tail to Stderr.
	Logs bool
	// Async queues the event (InvocationType Event) instead of waiting for the response.
	Async bool
}

// InvokeResult is what `nimbus invoke --output json` prints.
type InvokeResult struct {
	StatusCode      int32           `json:"StatusCode"`
	ExecutedVersion string          `json:"ExecutedVersion,omitempty"`
	FunctionError   string          `json:"FunctionError,omitempty"`
	Payload         json.RawMessage `json:"Payload"`
	LogResult       string          `json:"LogResult,omitempty"`
}

// Invoke calls a function synchronously and prints its response. A function error is
// printed to Stderr as "<errorType>: <errorMessage>" and returned as ExitStatus(1).
func (a *App) Invoke(ctx context.Context, o InvokeOptions) error {
	payload, err := a.payload(o.Payload)
	if err != nil {
		return err
	}
	in := &lambdasdk.InvokeInput{FunctionName: aws.String(o.Name), Payload: payload}
	if o.Qualifier != "" {
		in.Qualifier = aws.String(o.Qualifier)
	}
	if o.Async {
		return a.invokeAsync(ctx, in)
	}
	if o.Logs || a.Format == JSON {
		in.LogType = types.LogTypeTail
	}
	// One attempt: a retried invoke runs the function again.
	out, err := a.Lambda.Invoke(ctx, in, func(o *lambdasdk.Options) { o.RetryMaxAttempts = 1 })
	if err != nil {
		return a.explain(err, "function "+o.Name)
	}
	var tail string
	if out.LogResult != nil {
		if b, err := base64.StdEncoding.DecodeString(*out.LogResult); err == nil {
			tail = string(b)
		}
	}
	// In JSON the tail is the document's LogResult: printed once, there.
	if o.Logs && tail != "" && a.Format != JSON {
		io.WriteString(a.Stderr, tail)
		if !strings.HasSuffix(tail, "\n") {
			fmt.Fprintln(a.Stderr)
		}
	}
	fnErr := aws.ToString(out.FunctionError)
	if a.Format == JSON {
		res := InvokeResult{StatusCode: out.StatusCode, ExecutedVersion: aws.ToString(out.ExecutedVersion),
			FunctionError: fnErr, LogResult: tail, Payload: out.Payload}
		if !json.Valid(out.Payload) {
			res.Payload, _ = json.Marshal(string(out.Payload))
		}
		if err := writeJSON(a.Stdout, res); err != nil {
			return err
		}
	} else if fnErr == "" {
		a.Stdout.Write(out.Payload)
		if IsTerminal(a.Stdout) && !bytes.HasSuffix(out.Payload, []byte("\n")) {
			fmt.Fprintln(a.Stdout)
		}
	}
	if fnErr != "" {
		fmt.Fprintln(a.Stderr, describeFunctionError(fnErr, out.Payload))
		return ExitStatus(1)
	}
	return nil
}

// invokeAsync queues the event and prints its request id, which every attempt's log lines
// carry.
func (a *App) invokeAsync(ctx context.Context, in *lambdasdk.InvokeInput) error {
	in.InvocationType = types.InvocationTypeEvent
	out, err := a.Lambda.Invoke(ctx, in)
	if err != nil {
		return a.explain(err, "function "+aws.ToString(in.FunctionName))
	}
	id, _ := middleware.GetRequestIDMetadata(out.ResultMetadata)
	if a.Format == JSON {
		return writeJSON(a.Stdout, struct {
			StatusCode int32  `json:"StatusCode"`
			RequestID  string `json:"RequestId"`
		}{out.StatusCode, id})
	}
	fmt.Fprintf(a.Stdout, "queued: request id %s (see it run with `nimbus logs %s`)\n", id, aws.ToString(in.FunctionName))
	return nil
}

// describeFunctionError words a function error as "<errorType>: <errorMessage>", from the
// error body every runtime sends ({"errorType":…,"errorMessage":…}).
func describeFunctionError(kind string, payload []byte) string {
	var body struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(payload, &body) != nil || body.ErrorType == "" && body.ErrorMessage == "" {
		return fmt.Sprintf("%s function error: %s", kind, strings.TrimSpace(string(payload)))
	}
	return fmt.Sprintf("%s: %s", orDefault(body.ErrorType, kind), body.ErrorMessage)
}

func (a *App) payload(p string) ([]byte, error) {
	switch {
	case p == "":
		return []byte("{}"), nil
	case p == "-":
		if a.Stdin == nil {
			return nil, &UserError{Msg: "--payload - reads standard input, but there is none"}
		}
		return io.ReadAll(a.Stdin)
	case strings.HasPrefix(p, "@"):
		b, err := os.ReadFile(p[1:])
		if err != nil {
			return nil, &UserError{Err: err, Msg: fmt.Sprintf("cannot read the payload file %s: %v", p[1:], innermost(err))}
		}
		return b, nil
	}
	if !json.Valid([]byte(p)) {
		return nil, &UserError{Msg: fmt.Sprintf("--payload %s is not JSON: quote it, e.g. --payload '{\"name\": \"Ada\"}', or pass @file", p)}
	}
	return []byte(p), nil
}
