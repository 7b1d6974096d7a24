package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/middleware"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// asyncScale runs Lambda's async delays a thousand times faster: 1 min → 60 ms, 2 min → 120
// ms, MaximumEventAgeInSeconds 60 → 60 ms.
var asyncScale = []string{"--async-time-scale", "0.001"}

// invokeEvent queues an event with the Go SDK and returns its request id.
func invokeEvent(t *testing.T, c *lambdasdk.Client, name, payload string) string {
	t.Helper()
	out, err := c.Invoke(context.Background(), &lambdasdk.InvokeInput{FunctionName: aws.String(name),
		InvocationType: types.InvocationTypeEvent, Payload: []byte(payload)})
	if err != nil {
		t.Fatalf("Invoke(%s, Event) = %v", name, err)
	}
	if out.StatusCode != 202 || len(out.Payload) != 0 {
		t.Fatalf("Invoke(%s, Event) = %d %q, want 202 and no body", name, out.StatusCode, out.Payload)
	}
	id, ok := middleware.GetRequestIDMetadata(out.ResultMetadata)
	if !ok || id == "" {
		t.Fatalf("Invoke(%s, Event) has no request id", name)
	}
	return id
}

// asyncRecord is a destination record as the recorder function printed it.
type asyncRecord struct {
	Version        string `json:"version"`
	Timestamp      string `json:"timestamp"`
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionArn            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	RequestPayload  json.RawMessage `json:"requestPayload"`
	ResponseContext *struct {
		StatusCode      int    `json:"statusCode"`
		ExecutedVersion string `json:"executedVersion"`
		FunctionError   string `json:"functionError"`
	} `json:"responseContext"`
	ResponsePayload json.RawMessage `json:"responsePayload"`
}

var recordLine = regexp.MustCompile(`RECORD (\{.*\})`)

// waitRecord waits until the recorder function has logged the record of request id.
func waitRecord(t *testing.T, s *testServer, recorder, id string) asyncRecord {
	t.Helper()
	logs := waitForLog(t, s, recorder, `"requestId":"`+id+`"`)
	for _, m := range recordLine.FindAllStringSubmatch(logs, -1) {
		var r asyncRecord
		if err := json.Unmarshal([]byte(m[1]), &r); err != nil {
			t.Fatalf("record %s: %v", m[1], err)
		}
		if r.RequestContext.RequestID == id {
			return r
		}
	}
	t.Fatalf("no record of %s in:\n%s", id, logs)
	return asyncRecord{}
}

func putConfig(t *testing.T, c *lambdasdk.Client, in *lambdasdk.PutFunctionEventInvokeConfigInput) {
	t.Helper()
	if _, err := c.PutFunctionEventInvokeConfig(context.Background(), in); err != nil {
		t.Fatalf("PutFunctionEventInvokeConfig(%s) = %v", aws.ToString(in.FunctionName), err)
	}
}

func onFailure(arn string) *types.DestinationConfig {
	return &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String(arn)}}
}

func TestAsyncInvokeRetriesAndDestinations(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "", asyncScale...)
	c := s.client()
	ctx := context.Background()
	createGo(t, c, "recorder", nil)
	createGo(t, c, "worker", nil)
	recorderARN := "arn:aws:lambda:us-east-1:000000000000:function:recorder"
	putConfig(t, c, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("worker"),
		MaximumRetryAttempts: aws.Int32(2),
		DestinationConfig: &types.DestinationConfig{OnSuccess: &types.OnSuccess{Destination: aws.String(recorderARN)},
			OnFailure: &types.OnFailure{Destination: aws.String(recorderARN)}}})

	t.Run("success", func(t *testing.T) {
		id := invokeEvent(t, c, "worker", `{"action":"hello","name":"ada"}`)
		r := waitRecord(t, s, "recorder", id)
		if r.Version != "1.0" || r.RequestContext.Condition != "Success" || r.RequestContext.ApproximateInvokeCount != 1 ||
			r.RequestContext.FunctionArn != "arn:aws:lambda:us-east-1:000000000000:function:worker:$LATEST" ||
			r.ResponseContext == nil || r.ResponseContext.StatusCode != 200 || r.ResponseContext.ExecutedVersion != "$LATEST" ||
			r.ResponseContext.FunctionError != "" || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(r.Timestamp) {
			t.Errorf("success record = %+v", r)
		}
		if !strings.Contains(string(r.RequestPayload), `"name":"ada"`) || !strings.Contains(string(r.ResponsePayload), `"hello":"ada"`) {
			t.Errorf("success record payloads = %s → %s", r.RequestPayload, r.ResponsePayload)
		}
		waitForLog(t, s, "worker", "hello from go to ada")
	})

	t.Run("retries exhausted", func(t *testing.T) {
		id := invokeEvent(t, c, "worker", `{"action":"error"}`)
		r := waitRecord(t, s, "recorder", id)
		if r.RequestContext.Condition != "RetriesExhausted" || r.RequestContext.ApproximateInvokeCount != 3 ||
			r.ResponseContext == nil || r.ResponseContext.FunctionError != "Unhandled" ||
			!strings.Contains(string(r.ResponsePayload), `"errorMessage":"something went wrong"`) {
			t.Errorf("failure record = %+v, payload %s", r, r.ResponsePayload)
		}
		logs := s.must("logs", "worker", "--since", "0").stdout
		if n := strings.Count(logs, "START RequestId: "+id); n != 3 {
			t.Errorf("the logs show %d attempts of %s, want 3 with the same request id:\n%s", n, id, logs)
		}
		if n := strings.Count(logs, "REPORT RequestId: "+id); n != 3 {
			t.Errorf("the logs show %d REPORT lines of %s, want 3", n, id)
		}
	})

	t.Run("event age exceeded while throttled", func(t *testing.T) {
		createGo(t, c, "throttled", nil)
		if _, err := c.PutFunctionConcurrency(ctx, &lambdasdk.PutFunctionConcurrencyInput{FunctionName: aws.String("throttled"),
			ReservedConcurrentExecutions: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
		putConfig(t, c, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("throttled"),
			MaximumEventAgeInSeconds: aws.Int32(60), DestinationConfig: onFailure(recorderARN)})
		// A synchronous call holds the function's only slot while the event waits.
		held := make(chan struct{})
		go func() {
			defer close(held)
			c.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String("throttled"),
				Payload: []byte(`{"action":"mark","name":"hold","millis":2500}`)})
		}()
		waitForLog(t, s, "throttled", "MARK hold")
		id := invokeEvent(t, c, "throttled", `{"action":"hello","name":"late"}`)
		r := waitRecord(t, s, "recorder", id)
		if r.RequestContext.Condition != "EventAgeExceeded" || r.RequestContext.ApproximateInvokeCount != 0 || r.ResponseContext != nil {
			t.Errorf("failure record = %+v", r)
		}
		<-held
	})

	t.Run("zero reserved concurrency", func(t *testing.T) {
		createGo(t, c, "stopped", nil)
		if _, err := c.PutFunctionConcurrency(ctx, &lambdasdk.PutFunctionConcurrencyInput{FunctionName: aws.String("stopped"),
			ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
			t.Fatal(err)
		}
		putConfig(t, c, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("stopped"), DestinationConfig: onFailure(recorderARN)})
		id := invokeEvent(t, c, "stopped", `{"action":"hello","name":"nobody"}`)
		r := waitRecord(t, s, "recorder", id)
		if r.RequestContext.Condition != "ZeroReservedConcurrency" || r.RequestContext.ApproximateInvokeCount != 0 {
			t.Errorf("failure record = %+v", r)
		}
	})

	t.Run("recursive loop stopped", func(t *testing.T) {
		// loop's success record goes to loop itself, which succeeds again, and so on.
		createGo(t, c, "loop", nil)
		loopARN := "arn:aws:lambda:us-east-1:000000000000:function:loop"
		putConfig(t, c, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("loop"),
			DestinationConfig: &types.DestinationConfig{OnSuccess: &types.OnSuccess{Destination: aws.String(loopARN)},
				OnFailure: &types.OnFailure{Destination: aws.String(recorderARN)}}})
		invokeEvent(t, c, "loop", `{"action":"hello","name":"loop"}`)
		waitForLog(t, s, "recorder", `"condition":"RecursiveInvocationLoop"`)
		logs := s.must("logs", "loop", "--since", "0").stdout
		if n := strings.Count(logs, "START RequestId: "); n != 16 {
			t.Errorf("loop ran %d times, want 16 before the loop was stopped", n)
		}
	})

	t.Run("nimbus invoke --async and nimbus queue", func(t *testing.T) {
		out := s.must("invoke", "--async", "worker", "--payload", `{"action":"hello","name":"cli"}`).stdout
		if !strings.Contains(out, "queued: request id ") {
			t.Errorf("nimbus invoke --async printed %q", out)
		}
		waitForLog(t, s, "worker", "hello from go to cli")
		var fns []struct {
			FunctionName string
			Received     int64
			Succeeded    int64
			Dropped      int64
		}
		parseJSON(t, "nimbus queue", s.must("queue", "--output", "json").stdout, &fns)
		got := map[string]int64{}
		for _, f := range fns {
			got[f.FunctionName+" dropped"] = f.Dropped
			got[f.FunctionName+" received"] = f.Received
		}
		if got["worker received"] < 3 || got["worker dropped"] != 1 || got["stopped dropped"] != 1 {
			t.Errorf("nimbus queue = %+v", fns)
		}
	})
}

// TestAsyncBadInput needs no root: the queue takes events whether or not this node runs them.
func TestAsyncBadInput(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	ctx := context.Background()
	createPython(t, c, "fn")
	createPython(t, c, "other")
	arn := func(name string) string { return "arn:aws:lambda:us-east-1:000000000000:function:" + name }
	big := []byte(`"` + strings.Repeat("x", 1<<20) + `"`)
	for _, tc := range []struct {
		name     string
		call     func() error
		code     string
		contains string
	}{
		{"payload over 1 MB", func() error {
			_, err := c.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String("fn"), InvocationType: types.InvocationTypeEvent, Payload: big})
			return err
		}, "RequestEntityTooLargeException", fmt.Sprintf("%d byte payload is too large for the Event invocation type (limit 1048576 bytes)", len(big))},
		{"payload not JSON", func() error {
			_, err := c.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String("fn"), InvocationType: types.InvocationTypeEvent, Payload: []byte("{nope")})
			return err
		}, "InvalidRequestContentException", "Could not parse request body into json"},
		{"missing function", func() error {
			_, err := c.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String("nope"), InvocationType: types.InvocationTypeEvent})
			return err
		}, "ResourceNotFoundException", "Function not found: " + arn("nope") + ":$LATEST"},
		{"missing qualifier", func() error {
			_, err := c.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String("fn"), Qualifier: aws.String("7"), InvocationType: types.InvocationTypeEvent})
			return err
		}, "ResourceNotFoundException", "Function not found: " + arn("fn") + ":7"},
		{"InvokeAsync over 256 KB", func() error {
			_, err := c.InvokeAsync(ctx, &lambdasdk.InvokeAsyncInput{FunctionName: aws.String("fn"), InvokeArgs: bytes.NewReader(big[:300000])})
			return err
		}, "RequestEntityTooLargeException", "Request must be smaller than 262144 bytes for the InvokeAsync operation"},
		{"retry attempts over 2", func() error {
			_, err := c.PutFunctionEventInvokeConfig(ctx, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("fn"), MaximumRetryAttempts: aws.Int32(3)})
			return err
		}, "ValidationException", "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2"},
		{"event age under 60 and retries under 0", func() error {
			_, err := c.PutFunctionEventInvokeConfig(ctx, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("fn"),
				MaximumRetryAttempts: aws.Int32(-1), MaximumEventAgeInSeconds: aws.Int32(59)})
			return err
		}, "ValidationException", "2 validation errors detected: Value '-1' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value greater than or equal to 0; Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60"},
		{"event age over 21600", func() error {
			_, err := c.UpdateFunctionEventInvokeConfig(ctx, &lambdasdk.UpdateFunctionEventInvokeConfigInput{FunctionName: aws.String("fn"), MaximumEventAgeInSeconds: aws.Int32(21601)})
			return err
		}, "ValidationException", "Member must have value less than or equal to 21600"},
		{"nothing to configure", func() error {
			_, err := c.PutFunctionEventInvokeConfig(ctx, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("fn")})
			return err
		}, "InvalidParameterValueException", "You must specify at least one of error handling or destination setting."},
		{"destination not an ARN", func() error {
			_, err := c.PutFunctionEventInvokeConfig(ctx, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("fn"),
				DestinationConfig: &types.DestinationConfig{OnSuccess: &types.OnSuccess{Destination: aws.String("invalid")}}})
			return err
		}, "ValidationException", "Value 'invalid' at 'destinationConfig.onSuccess.destination' failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"SQS destination", func() error {
			_, err := c.PutFunctionEventInvokeConfig(ctx, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("fn"),
				DestinationConfig: onFailure("arn:aws:sqs:us-east-1:000000000000:failures")})
			return err
		}, "InvalidParameterValueException", "The destination ARN arn:aws:sqs:us-east-1:000000000000:failures is invalid. Nimbus has no SQS queues yet"},
		{"missing destination function", func() error {
			_, err := c.PutFunctionEventInvokeConfig(ctx, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("fn"),
				DestinationConfig: onFailure(arn("nope"))})
			return err
		}, "InvalidParameterValueException", "The destination ARN " + arn("nope") + " is invalid."},
		{"config of a missing function", func() error {
			_, err := c.PutFunctionEventInvokeConfig(ctx, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("nope"), MaximumRetryAttempts: aws.Int32(1)})
			return err
		}, "ResourceNotFoundException", "Function not found: " + arn("nope")},
		{"config of a missing qualifier", func() error {
			_, err := c.PutFunctionEventInvokeConfig(ctx, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("fn"), Qualifier: aws.String("live"), MaximumRetryAttempts: aws.Int32(1)})
			return err
		}, "ResourceNotFoundException", "Function not found: " + arn("fn") + ":live"},
		{"get a config never put", func() error {
			_, err := c.GetFunctionEventInvokeConfig(ctx, &lambdasdk.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("other")})
			return err
		}, "ResourceNotFoundException", "The function " + arn("other") + ":$LATEST doesn't have an EventInvokeConfig"},
		{"update a config never put", func() error {
			_, err := c.UpdateFunctionEventInvokeConfig(ctx, &lambdasdk.UpdateFunctionEventInvokeConfigInput{FunctionName: aws.String("other"), MaximumRetryAttempts: aws.Int32(1)})
			return err
		}, "ResourceNotFoundException", "doesn't have an EventInvokeConfig"},
		{"list with MaxItems 51", func() error {
			_, err := c.ListFunctionEventInvokeConfigs(ctx, &lambdasdk.ListFunctionEventInvokeConfigsInput{FunctionName: aws.String("fn"), MaxItems: aws.Int32(51)})
			return err
		}, "ValidationException", "Value '51' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 50"},
		{"dead-letter queue", func() error {
			_, err := c.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"),
				DeadLetterConfig: &types.DeadLetterConfig{TargetArn: aws.String("arn:aws:sqs:us-east-1:000000000000:dlq")}})
			return err
		}, "InvalidParameterValueException", "a dead-letter queue is an SQS queue or SNS topic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code || !strings.Contains(ae.ErrorMessage(), tc.contains) {
				t.Errorf("got %v, want %s containing %q", err, tc.code, tc.contains)
			}
		})
	}

	t.Run("config lifecycle", func(t *testing.T) {
		put, err := c.PutFunctionEventInvokeConfig(ctx, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("fn"),
			MaximumRetryAttempts: aws.Int32(1), DestinationConfig: onFailure(arn("other"))})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(put.FunctionArn) != arn("fn")+":$LATEST" || aws.ToInt32(put.MaximumRetryAttempts) != 1 || put.LastModified == nil ||
			aws.ToString(put.DestinationConfig.OnFailure.Destination) != arn("other") {
			t.Errorf("Put = %+v", put)
		}
		upd, err := c.UpdateFunctionEventInvokeConfig(ctx, &lambdasdk.UpdateFunctionEventInvokeConfigInput{FunctionName: aws.String("fn"),
			MaximumEventAgeInSeconds: aws.Int32(120)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt32(upd.MaximumRetryAttempts) != 1 || aws.ToInt32(upd.MaximumEventAgeInSeconds) != 120 ||
			aws.ToString(upd.DestinationConfig.OnFailure.Destination) != arn("other") {
			t.Errorf("Update merged into %+v", upd)
		}
		if _, err := c.PutFunctionEventInvokeConfig(ctx, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("fn"),
			MaximumEventAgeInSeconds: aws.Int32(300)}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetFunctionEventInvokeConfig(ctx, &lambdasdk.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("fn")})
		if err != nil {
			t.Fatal(err)
		}
		if got.MaximumRetryAttempts != nil || aws.ToInt32(got.MaximumEventAgeInSeconds) != 300 || got.DestinationConfig.OnFailure.Destination != nil {
			t.Errorf("Put did not replace: %+v", got)
		}
		list, err := c.ListFunctionEventInvokeConfigs(ctx, &lambdasdk.ListFunctionEventInvokeConfigsInput{FunctionName: aws.String("fn")})
		if err != nil || len(list.FunctionEventInvokeConfigs) != 1 {
			t.Fatalf("List = %+v, %v", list, err)
		}
		if _, err := c.DeleteFunctionEventInvokeConfig(ctx, &lambdasdk.DeleteFunctionEventInvokeConfigInput{FunctionName: aws.String("fn")}); err != nil {
			t.Fatal(err)
		}
		if list, err := c.ListFunctionEventInvokeConfigs(ctx, &lambdasdk.ListFunctionEventInvokeConfigsInput{FunctionName: aws.String("fn")}); err != nil || len(list.FunctionEventInvokeConfigs) != 0 {
			t.Errorf("List after Delete = %+v, %v", list, err)
		}
	})

	t.Run("InvokeAsync", func(t *testing.T) {
		out, err := c.InvokeAsync(ctx, &lambdasdk.InvokeAsyncInput{FunctionName: aws.String("fn"), InvokeArgs: strings.NewReader(`{"a":1}`)})
		if err != nil || out.Status != 202 {
			t.Errorf("InvokeAsync = %+v, %v; want Status 202", out, err)
		}
	})
}

// TestAsyncAWSCLIAndBoto3 queues events and manages event invoke configs with the aws CLI and
// boto3, as users do.
func TestAsyncAWSCLIAndBoto3(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "")
	c := s.client()
	createGo(t, c, "fn", nil)
	createGo(t, c, "dest", nil)
	dest := "arn:aws:lambda:us-east-1:000000000000:function:dest"

	t.Run("aws CLI", func(t *testing.T) {
		if _, err := exec.LookPath("aws"); err != nil {
			t.Skip("no aws CLI (scripts/test installs it)")
		}
		aws := func(args ...string) (string, error) {
			cmd := exec.Command("aws", append([]string{"lambda"}, args...)...)
			cmd.Env = s.env()
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		payload := t.TempDir() + "/payload.json"
		os.WriteFile(payload, []byte(`{"action":"hello","name":"awscli"}`), 0o644)
		out, err := aws("invoke", "--function-name", "fn", "--invocation-type", "Event", "--payload", "fileb://"+payload, os.DevNull)
		if err != nil || !strings.Contains(out, `"StatusCode": 202`) {
			t.Fatalf("aws lambda invoke --invocation-type Event = %v\n%s", err, out)
		}
		waitForLog(t, s, "fn", "hello from go to awscli")
		out, err = aws("put-function-event-invoke-config", "--function-name", "fn", "--maximum-retry-attempts", "1",
			"--destination-config", `{"OnSuccess":{"Destination":"`+dest+`"}}`)
		if err != nil || !strings.Contains(out, `"MaximumRetryAttempts": 1`) || !strings.Contains(out, dest) {
			t.Fatalf("put-function-event-invoke-config = %v\n%s", err, out)
		}
		out, err = aws("put-function-event-invoke-config", "--function-name", "fn", "--maximum-retry-attempts", "5")
		if err == nil || !strings.Contains(out, "An error occurred (ValidationException) when calling the PutFunctionEventInvokeConfig operation: 1 validation error detected: Value '5' at 'maximumRetryAttempts'") {
			t.Errorf("put-function-event-invoke-config --maximum-retry-attempts 5 = %v\n%s", err, out)
		}
		out, err = aws("delete-function-event-invoke-config", "--function-name", "fn")
		if err != nil {
			t.Errorf("delete-function-event-invoke-config = %v\n%s", err, out)
		}
	})

	t.Run("boto3", func(t *testing.T) {
		py := pythonWithBoto3(t)
		cmd := exec.Command(py, "testdata/async_boto3.py", "fn", dest)
		cmd.Env = s.env()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("async_boto3.py: %v\n%s%s", err, out, stderr.String())
		}
		id := strings.TrimSpace(string(out))
		waitForLog(t, s, "fn", "START RequestId: "+id)
		waitForLog(t, s, "fn", "hello from go to boto3")
	})
}
