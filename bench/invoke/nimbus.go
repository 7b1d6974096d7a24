package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/nimbusfaas/nimbus/bench/internal/benchserver"
)

// nimbusServer is a `nimbus server` process on a port-0 listener with its own data dir, and
// two clients signed with its admin key: the AWS SDK for Go v2, and a plain net/http client
// signed by the SDK's SigV4 signer (the same HTTP client the emulator is called with).
type nimbusServer struct {
	*benchserver.Server
	client *lambdasdk.Client
	http   *http.Client
}

// startNimbus starts bin as a server on dataDir, pinned to platformCPU if pin is set; its log
// goes to logPath.
func startNimbus(ctx context.Context, pin bool, bin, dataDir, logPath string, extraArgs ...string) (*nimbusServer, error) {
	s, err := benchserver.Start(ctx, benchserver.Config{Bin: bin, DataDir: dataDir, LogPath: logPath, Args: extraArgs,
		Command: func(name string, args ...string) *exec.Cmd { return platformCommand(pin, name, args...) }})
	if err != nil {
		return nil, err
	}
	return &nimbusServer{Server: s, client: s.Lambda(benchserver.NoRetry),
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}, nil
}

// create makes a function and waits until it is Active.
func (s *nimbusServer) create(ctx context.Context, name, runtime, handler string, zip []byte, memoryMB int) error {
	return benchserver.Create(ctx, s.client, &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      types.Runtime(runtime),
		Handler:      aws.String(handler),
		Code:         &types.FunctionCode{ZipFile: zip},
		MemorySize:   aws.Int32(int32(memoryMB)),
		Environment:  &types.Environment{Variables: map[string]string{"BENCH_ROUND": "0"}},
	})
}

// forceCold changes an environment variable of the function, which retires its environments
// (the method of maxday/lambda-perf), and waits for the update to finish.
func (s *nimbusServer) forceCold(ctx context.Context, name string, round int) error {
	out, err := s.client.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{
		FunctionName: aws.String(name),
		Environment:  &types.Environment{Variables: map[string]string{"BENCH_ROUND": fmt.Sprint(round)}},
	})
	if err != nil {
		return fmt.Errorf("UpdateFunctionConfiguration(%s): %w", name, err)
	}
	if out.LastUpdateStatus == types.LastUpdateStatusSuccessful {
		return nil
	}
	return benchserver.WaitReady(ctx, s.client, name)
}

// invoker returns an invokeFunc that calls name with payload and checks that the answer
// says hello to want.
func (s *nimbusServer) invoker(name string, payload []byte, want string) invokeFunc {
	return func(ctx context.Context) error {
		out, err := s.client.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String(name), Payload: payload})
		if err != nil {
			return err
		}
		return checkAnswer(out.StatusCode, aws.ToString(out.FunctionError), out.Payload, want)
	}
}

// httpInvoker is invoker with the emulator's HTTP client instead of the SDK: each request is
// signed by the SDK's SigV4 signer and posted with net/http, so that both platforms are
// measured through the same client and only the signature is added.
func (s *nimbusServer) httpInvoker(name string, payload []byte, want string) invokeFunc {
	url := s.Endpoint + "/2015-03-31/functions/" + name + "/invocations"
	payloadHash := benchserver.PayloadHash(payload)
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		if err := s.Sign(ctx, req, payloadHash); err != nil {
			return err
		}
		return postAndCheck(s.http, req, want)
	}
}

// coldInvoke invokes name with the log tail and returns the client-measured time and the
// REPORT line's Init Duration; it fails when the invocation was warm.
func (s *nimbusServer) coldInvoke(ctx context.Context, name string, payload []byte, want string) (client, init time.Duration, err error) {
	start := time.Now()
	out, err := s.client.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String(name), Payload: payload, LogType: types.LogTypeTail})
	client = time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	if err := checkAnswer(out.StatusCode, aws.ToString(out.FunctionError), out.Payload, want); err != nil {
		return 0, 0, err
	}
	tail, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil {
		return 0, 0, fmt.Errorf("log tail is not base64: %w", err)
	}
	init, ok := initDuration(string(tail))
	if !ok {
		return 0, 0, fmt.Errorf("invocation of %s after a configuration change has no Init Duration (not a cold start?); log tail:\n%s", name, tail)
	}
	return client, init, nil
}

// checkAnswer fails unless the invocation succeeded with a JSON object whose "hello" is want.
func checkAnswer(status int32, functionError string, payload []byte, want string) error {
	var answer struct {
		Hello string `json:"hello"`
	}
	if status != 200 || functionError != "" || json.Unmarshal(payload, &answer) != nil || answer.Hello != want {
		return fmt.Errorf("invocation answered %d %q %s; want 200 with hello %q", status, functionError, payload, want)
	}
	return nil
}

// buildHello builds the aws-lambda-go hello function as Lambda's docs say (static, no RPC
// mode) into dir/bootstrap.
func buildHello(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-o", bin, "./bench/invoke/testdata/hello")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the hello function: %w\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot is the directory of the go.mod this benchmark belongs to.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the benchmark from inside the nimbus module (go run ./bench/invoke)")
	}
	return filepath.Dir(gomod), nil
}
