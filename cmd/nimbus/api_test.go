package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

func codeOf(zip []byte) *types.FunctionCode { return &types.FunctionCode{ZipFile: zip} }

func waitActive(t *testing.T, c *lambdasdk.Client, name string) {
	t.Helper()
	w := lambdasdk.NewFunctionActiveV2Waiter(c, func(o *lambdasdk.FunctionActiveV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(context.Background(), &lambdasdk.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("waiting for %s to be Active: %v", name, err)
	}
}

func waitUpdated(t *testing.T, c *lambdasdk.Client, name string) {
	t.Helper()
	w := lambdasdk.NewFunctionUpdatedV2Waiter(c, func(o *lambdasdk.FunctionUpdatedV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(context.Background(), &lambdasdk.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("waiting for %s's update: %v", name, err)
	}
}

// apiCode is the AWS error code of err, or "" when err is not an API error.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func b64sha256(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func download(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET Code.Location = %d %s", resp.StatusCode, body)
	}
	return body
}

func TestFunctionLifecycleGoSDK(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	ctx := context.Background()
	zip := zipOf(t, map[string]string{"lambda_function.py": pythonHello})

	created, err := c.CreateFunction(ctx, &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String("hello"),
		Runtime:      pythonRuntime(t),
		Role:         aws.String("arn:aws:iam::000000000000:role/lambda-role"),
		Handler:      aws.String("lambda_function.handler"),
		Code:         codeOf(zip),
		Description:  aws.String("says hello"),
		MemorySize:   aws.Int32(256),
		Timeout:      aws.Int32(5),
		Environment:  &types.Environment{Variables: map[string]string{"GREETING": "hi"}},
		Tags:         map[string]string{"team": "core"},
	})
	if err != nil {
		t.Fatalf("CreateFunction = %v", err)
	}
	if got, want := aws.ToString(created.CodeSha256), b64sha256(zip); got != want {
		t.Errorf("CodeSha256 = %s, want %s", got, want)
	}
	if created.CodeSize != int64(len(zip)) || created.State != types.StatePending ||
		aws.ToString(created.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:hello" {
		t.Errorf("CreateFunction = size %d state %s arn %s", created.CodeSize, created.State, aws.ToString(created.FunctionArn))
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000-0700", aws.ToString(created.LastModified)); err != nil {
		t.Errorf("LastModified %q: %v", aws.ToString(created.LastModified), err)
	}
	waitActive(t, c, "hello")

	// Every name form reaches the same function.
	for _, name := range []string{"hello", "hello:$LATEST", "000000000000:function:hello",
		"arn:aws:lambda:us-east-1:000000000000:function:hello", "arn:aws:lambda:us-east-1:000000000000:function:hello:$LATEST"} {
		got, err := c.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String(name)})
		if err != nil {
			t.Fatalf("GetFunction(%q) = %v", name, err)
		}
		cfg := got.Configuration
		if cfg.State != types.StateActive || cfg.LastUpdateStatus != types.LastUpdateStatusSuccessful || aws.ToString(cfg.Description) != "says hello" ||
			aws.ToInt32(cfg.MemorySize) != 256 || cfg.Environment.Variables["GREETING"] != "hi" || got.Tags["team"] != "core" {
			t.Errorf("GetFunction(%q) = %+v", name, cfg)
		}
		if !bytes.Equal(download(t, aws.ToString(got.Code.Location)), zip) {
			t.Errorf("Code.Location of %q does not give back the zip", name)
		}
	}

	// A stale RevisionId is refused; the current one is accepted.
	conf, err := c.GetFunctionConfiguration(ctx, &lambdasdk.GetFunctionConfigurationInput{FunctionName: aws.String("hello")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("hello"), Timeout: aws.Int32(10), RevisionId: aws.String("00000000-0000-0000-0000-000000000000"),
	})
	var pf *types.PreconditionFailedException
	if !errors.As(err, &pf) || !strings.Contains(aws.ToString(pf.Message), "Revision Id provided does not match") {
		t.Fatalf("UpdateFunctionConfiguration with a stale RevisionId = %v, want PreconditionFailedException", err)
	}
	updated, err := c.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("hello"), Timeout: aws.Int32(10), RevisionId: conf.RevisionId,
	})
	if err != nil || aws.ToInt32(updated.Timeout) != 10 || aws.ToString(updated.RevisionId) == aws.ToString(conf.RevisionId) {
		t.Fatalf("UpdateFunctionConfiguration = %+v, %v", updated, err)
	}
	waitUpdated(t, c, "hello")

	zip2 := zipOf(t, map[string]string{"lambda_function.py": pythonHello + "\n# v2\n"})
	code, err := c.UpdateFunctionCode(ctx, &lambdasdk.UpdateFunctionCodeInput{FunctionName: aws.String("hello"), ZipFile: zip2})
	if err != nil || aws.ToString(code.CodeSha256) != b64sha256(zip2) {
		t.Fatalf("UpdateFunctionCode = %+v, %v", code, err)
	}
	waitUpdated(t, c, "hello")

	// Tags.
	arn := "arn:aws:lambda:us-east-1:000000000000:function:hello"
	if _, err := c.TagResource(ctx, &lambdasdk.TagResourceInput{Resource: aws.String(arn), Tags: map[string]string{"env": "test"}}); err != nil {
		t.Fatalf("TagResource = %v", err)
	}
	if _, err := c.UntagResource(ctx, &lambdasdk.UntagResourceInput{Resource: aws.String(arn), TagKeys: []string{"team"}}); err != nil {
		t.Fatalf("UntagResource = %v", err)
	}
	tags, err := c.ListTags(ctx, &lambdasdk.ListTagsInput{Resource: aws.String(arn)})
	if err != nil || len(tags.Tags) != 1 || tags.Tags["env"] != "test" {
		t.Fatalf("ListTags = %+v, %v", tags, err)
	}

	settings, err := c.GetAccountSettings(ctx, &lambdasdk.GetAccountSettingsInput{})
	if err != nil || settings.AccountUsage.FunctionCount != 1 || settings.AccountLimit.CodeSizeZipped != 52428800 {
		t.Fatalf("GetAccountSettings = %+v, %v", settings, err)
	}

	// Duplicate create, then delete, then not found, each with its typed error.
	_, err = c.CreateFunction(ctx, &lambdasdk.CreateFunctionInput{FunctionName: aws.String("hello"), Runtime: pythonRuntime(t),
		Role: aws.String("arn:aws:iam::000000000000:role/r"), Handler: aws.String("lambda_function.handler"), Code: codeOf(zip)})
	var rc *types.ResourceConflictException
	if !errors.As(err, &rc) || aws.ToString(rc.Message) != "Function already exist: hello" {
		t.Fatalf("duplicate CreateFunction = %v, want ResourceConflictException", err)
	}
	if _, err := c.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("hello")}); err != nil {
		t.Fatalf("DeleteFunction = %v", err)
	}
	_, err = c.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("hello")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || aws.ToString(nf.Message) != "Function not found: "+arn {
		t.Fatalf("GetFunction after delete = %v, want ResourceNotFoundException with Lambda's message", err)
	}
}

func TestListFunctionsPaging(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	ctx := context.Background()
	zip := zipOf(t, map[string]string{"lambda_function.py": pythonHello})
	const n = 57
	for i := 0; i < n; i++ {
		_, err := c.CreateFunction(ctx, &lambdasdk.CreateFunctionInput{FunctionName: aws.String(fmt.Sprintf("fn-%02d", i)),
			Runtime: pythonRuntime(t), Role: aws.String("arn:aws:iam::000000000000:role/r"),
			Handler: aws.String("lambda_function.handler"), Code: codeOf(zip)})
		if err != nil {
			t.Fatal(err)
		}
	}
	first, err := c.ListFunctions(ctx, &lambdasdk.ListFunctionsInput{MaxItems: aws.Int32(1000)})
	if err != nil || len(first.Functions) != 50 || first.NextMarker == nil {
		t.Fatalf("ListFunctions(MaxItems 1000) = %d functions, marker %v, %v; want 50 and a marker", len(first.Functions), first.NextMarker, err)
	}
	seen := map[string]bool{}
	p := lambdasdk.NewListFunctionsPaginator(c, &lambdasdk.ListFunctionsInput{MaxItems: aws.Int32(7)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Functions) > 7 {
			t.Fatalf("page of %d functions, want at most 7", len(page.Functions))
		}
		for _, f := range page.Functions {
			if seen[*f.FunctionName] {
				t.Fatalf("%s listed twice", *f.FunctionName)
			}
			seen[*f.FunctionName] = true
		}
	}
	if len(seen) != n {
		t.Fatalf("paginator saw %d functions, want %d", len(seen), n)
	}
}

func TestInvalidInputGetsLambdaErrors(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	ctx := context.Background()
	zip := zipOf(t, map[string]string{"lambda_function.py": pythonHello})
	base := func() *lambdasdk.CreateFunctionInput {
		return &lambdasdk.CreateFunctionInput{FunctionName: aws.String("f"), Runtime: pythonRuntime(t),
			Role: aws.String("arn:aws:iam::000000000000:role/r"), Handler: aws.String("lambda_function.handler"), Code: codeOf(zip)}
	}
	tests := []struct {
		name     string
		change   func(in *lambdasdk.CreateFunctionInput)
		wantCode string
		wantMsg  string
	}{
		{"bad name", func(in *lambdasdk.CreateFunctionInput) { in.FunctionName = aws.String("my-function!") }, "ValidationException", "failed to satisfy constraint"},
		{"memory too small", func(in *lambdasdk.CreateFunctionInput) { in.MemorySize = aws.Int32(64) }, "ValidationException", "memorySize"},
		{"memory too big", func(in *lambdasdk.CreateFunctionInput) { in.MemorySize = aws.Int32(10241) }, "ValidationException", "memorySize"},
		{"timeout zero", func(in *lambdasdk.CreateFunctionInput) { in.Timeout = aws.Int32(0) }, "ValidationException", "timeout"},
		{"timeout too long", func(in *lambdasdk.CreateFunctionInput) { in.Timeout = aws.Int32(901) }, "ValidationException", "timeout"},
		{"ephemeral too small", func(in *lambdasdk.CreateFunctionInput) {
			in.EphemeralStorage = &types.EphemeralStorage{Size: aws.Int32(100)}
		}, "ValidationException", "ephemeralStorage"},
		{"unknown runtime", func(in *lambdasdk.CreateFunctionInput) { in.Runtime = "cobol1.0" }, "InvalidParameterValueException", "Member must satisfy enum value set"},
		{"no handler", func(in *lambdasdk.CreateFunctionInput) { in.Handler = nil }, "InvalidParameterValueException", "Handler"},
		{"handler with space", func(in *lambdasdk.CreateFunctionInput) { in.Handler = aws.String("a b") }, "ValidationException", "handler"},
		// A NUL cannot reach a process: accepted, it made every invocation fail with a 500.
		{"NUL in handler", func(in *lambdasdk.CreateFunctionInput) { in.Handler = aws.String("lambda_function.handler\x00") }, "ValidationException", "handler"},
		{"NUL in env value", func(in *lambdasdk.CreateFunctionInput) {
			in.Environment = &types.Environment{Variables: map[string]string{"GREETING": "hi\x00there"}}
		}, "InvalidParameterValueException", "NUL character"},
		{"long description", func(in *lambdasdk.CreateFunctionInput) { in.Description = aws.String(strings.Repeat("d", 257)) }, "ValidationException", "description"},
		{"reserved env", func(in *lambdasdk.CreateFunctionInput) {
			in.Environment = &types.Environment{Variables: map[string]string{"AWS_REGION": "x"}}
		}, "InvalidParameterValueException", "reserved keys"},
		{"env too big", func(in *lambdasdk.CreateFunctionInput) {
			in.Environment = &types.Environment{Variables: map[string]string{"BIG": strings.Repeat("x", 5000)}}
		}, "InvalidParameterValueException", "exceeded the 4KB limit"},
		{"bad role", func(in *lambdasdk.CreateFunctionInput) { in.Role = aws.String("admin") }, "ValidationException", "role"},
		{"not a zip", func(in *lambdasdk.CreateFunctionInput) { in.Code = codeOf([]byte("hello")) }, "InvalidParameterValueException", "Could not unzip uploaded file. Please check your file, then try to upload again."},
		// What Nimbus does not do is refused, not accepted and ignored.
		{"JSON logs", func(in *lambdasdk.CreateFunctionInput) {
			in.LoggingConfig = &types.LoggingConfig{LogFormat: types.LogFormatJson}
		}, "InvalidParameterValueException", "LogFormat JSON is not available"},
		{"custom log group", func(in *lambdasdk.CreateFunctionInput) {
			in.LoggingConfig = &types.LoggingConfig{LogGroup: aws.String("/custom/group")}
		}, "InvalidParameterValueException", "LogGroup /custom/group is not available"},
		{"vpc", func(in *lambdasdk.CreateFunctionInput) {
			in.VpcConfig = &types.VpcConfig{SubnetIds: []string{"subnet-1"}}
		}, "InvalidParameterValueException", "VpcConfig is not available"},
		{"kms key", func(in *lambdasdk.CreateFunctionInput) {
			in.KMSKeyArn = aws.String("arn:aws:kms:us-east-1:000000000000:key/k")
		}, "InvalidParameterValueException", "KMSKeyArn is not available"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base()
			tt.change(in)
			_, err := c.CreateFunction(ctx, in)
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tt.wantCode || !strings.Contains(ae.ErrorMessage(), tt.wantMsg) {
				t.Fatalf("CreateFunction = %v, want %s containing %q", err, tt.wantCode, tt.wantMsg)
			}
		})
	}
	if _, err := c.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("f"), Qualifier: aws.String("2")}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("GetFunction of a missing function = %v", err)
	}
	_, err := c.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("arn:aws:lambda:eu-west-1:000000000000:function:f")})
	if apiCode(err) != "ResourceNotFoundException" || !strings.Contains(err.Error(), "not reachable in this region") {
		t.Errorf("GetFunction of another region = %v", err)
	}
	fns, err := c.ListFunctions(ctx, &lambdasdk.ListFunctionsInput{})
	if err != nil || len(fns.Functions) != 0 {
		t.Fatalf("after refused creates ListFunctions = %d functions, %v; want none", len(fns.Functions), err)
	}
	// Lambda's defaults for those settings, as infrastructure tools send them, are accepted.
	in := base()
	in.FunctionName = aws.String("defaults")
	in.LoggingConfig = &types.LoggingConfig{LogFormat: types.LogFormatText, LogGroup: aws.String("/aws/lambda/defaults")}
	in.VpcConfig = &types.VpcConfig{SubnetIds: []string{}, SecurityGroupIds: []string{}}
	in.SnapStart = &types.SnapStart{ApplyOn: types.SnapStartApplyOnNone}
	if _, err := c.CreateFunction(ctx, in); err != nil {
		t.Errorf("CreateFunction with Lambda's default settings = %v", err)
	}
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{FunctionName: aws.String("defaults"),
		LoggingConfig: &types.LoggingConfig{LogFormat: types.LogFormatJson}}); apiCode(err) != "InvalidParameterValueException" {
		t.Errorf("UpdateFunctionConfiguration to JSON logs = %v, want InvalidParameterValueException", err)
	}
}

func TestAuthenticationRefusals(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	_, err := s.clientWith(s.key.AccessKeyID, "wrong-secret").ListFunctions(ctx, &lambdasdk.ListFunctionsInput{})
	if apiCode(err) != "InvalidSignatureException" {
		t.Errorf("ListFunctions with a wrong secret = %v, want InvalidSignatureException", err)
	}
	_, err = s.clientWith("AKIAUNKNOWNUNKNOWN00", "secret").ListFunctions(ctx, &lambdasdk.ListFunctionsInput{})
	if apiCode(err) != "UnrecognizedClientException" {
		t.Errorf("ListFunctions with an unknown key = %v, want UnrecognizedClientException", err)
	}
	resp, err := http.Get(s.endpoint + "/2015-03-31/functions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned ListFunctions = %d %s, want 403 MissingAuthenticationTokenException", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	if _, err := s.client().ListFunctions(ctx, &lambdasdk.ListFunctionsInput{}); err != nil {
		t.Errorf("ListFunctions with the admin key = %v", err)
	}
}

// TestSignatureScopeIsChecked signs with the right key for the wrong region or the wrong
// service: each API accepts only its own service's signing name, in the server's region.
func TestSignatureScopeIsChecked(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider(s.key.AccessKeyID, s.key.SecretAccessKey, "")
	lambdaClient := func(region string, opts ...func(*lambdasdk.Options)) *lambdasdk.Client {
		opts = append(opts, func(o *lambdasdk.Options) { o.BaseEndpoint = aws.String(s.endpoint) })
		return lambdasdk.NewFromConfig(aws.Config{Region: region, Credentials: creds}, opts...)
	}
	logsClient := func(opts ...func(*cwl.Options)) *cwl.Client {
		opts = append(opts, func(o *cwl.Options) { o.BaseEndpoint = aws.String(s.endpoint) })
		return cwl.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: creds}, opts...)
	}
	wantRefusal := func(what string, err error, msg string) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" || ae.ErrorMessage() != msg {
			t.Errorf("%s = %v, want InvalidSignatureException %q", what, err, msg)
		}
	}
	_, err := lambdaClient("eu-west-1").ListFunctions(ctx, &lambdasdk.ListFunctionsInput{})
	wantRefusal("ListFunctions signed for eu-west-1", err, "Credential should be scoped to a valid region, not 'eu-west-1'. ")
	for _, service := range []string{"s3", "iam", "logs"} {
		_, err = lambdaClient("us-east-1", lambdasdk.WithSigV4SigningName(service)).ListFunctions(ctx, &lambdasdk.ListFunctionsInput{})
		wantRefusal("ListFunctions signed for "+service, err, "Credential should be scoped to correct service: 'lambda'. ")
	}
	_, err = logsClient(cwl.WithSigV4SigningName("lambda")).DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{})
	wantRefusal("DescribeLogGroups signed for lambda", err, "Credential should be scoped to correct service: 'logs'. ")
	if _, err := lambdaClient("us-east-1").ListFunctions(ctx, &lambdasdk.ListFunctionsInput{}); err != nil {
		t.Errorf("ListFunctions signed for lambda in us-east-1 = %v", err)
	}
	if _, err := logsClient().DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{}); err != nil {
		t.Errorf("DescribeLogGroups signed for logs = %v", err)
	}
}

// TestTrailingSlashAndEscapedNames sends requests the way older SDK generations and other
// clients do: trailing slashes, percent-encoded ARNs.
func TestTrailingSlashAndEscapedNames(t *testing.T) {
	s := startServer(t, "")
	createPython(t, s.client(), "slash")
	signer := v4.NewSigner()
	creds := aws.Credentials{AccessKeyID: s.key.AccessKeyID, SecretAccessKey: s.key.SecretAccessKey}
	for _, path := range []string{
		"/2015-03-31/functions/",
		"/2016-08-19/account-settings/",
		"/2015-03-31/functions/slash/",
		"/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aslash",
		"/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aslash/configuration/",
		"/2015-03-31/functions/slash%3A%24LATEST/configuration",
	} {
		req, err := http.NewRequest(http.MethodGet, s.endpoint+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		emptySum := sha256.Sum256(nil)
		if err := signer.SignHTTP(context.Background(), creds, req, hex.EncodeToString(emptySum[:]), "lambda", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d %s", path, resp.StatusCode, body)
		}
	}
}
