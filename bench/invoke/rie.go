package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rieModule is the AWS Lambda Runtime Interface Emulator's command, installed with the Go
// module proxy like any Go tool.
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// installRIE installs the emulator at version into gobin and says how it got it. When that
// version does not resolve it tries @latest.
func installRIE(ctx context.Context, gobin, version string) (bin, how string, err error) {
	var errs []string
	for _, v := range []string{version, "latest"} {
		cmd := exec.CommandContext(ctx, "go", "install", rieModule+"@"+v)
		// Outside any module, so that our go.mod has no say in the emulator's dependencies.
		cmd.Dir = gobin
		cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=", "GO111MODULE=on")
		out, err := cmd.CombinedOutput()
		if err == nil {
			return filepath.Join(gobin, "aws-lambda-rie"), "go install " + rieModule + "@" + v, nil
		}
		errs = append(errs, fmt.Sprintf("@%s: %v: %s", v, err, out))
		if v == "latest" {
			break
		}
	}
	return "", "", fmt.Errorf("installing the emulator: %s", strings.Join(errs, "; "))
}

// rie is a running emulator serving one bootstrap, invoked over plain HTTP as its users do.
type rie struct {
	cmd     *exec.Cmd
	log     *os.File
	logPath string
	url     string
	http    *http.Client
	exited  chan struct{} // closed when the emulator has exited, whatever the cause
}

// startRIE runs `aws-lambda-rie ./bootstrap` in the bootstrap's directory on free loopback
// ports and waits until it accepts connections. The emulator starts the bootstrap on the
// first invocation.
func startRIE(ctx context.Context, pin bool, bin, bootstrapDir, logPath string, memoryMB int) (*rie, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := platformCommand(pin, bin, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr, "./bootstrap")
	cmd.Dir = bootstrapDir
	// The emulator passes its whole environment to the function: give it what Lambda would,
	// with the same memory size (which it does not enforce) and timeout as the Nimbus function.
	cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + bootstrapDir, "LANG=en_US.UTF-8", "TZ=:UTC",
		"AWS_LAMBDA_FUNCTION_NAME=bench-hello", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(memoryMB),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=3", "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDBENCH", "AWS_SECRET_ACCESS_KEY=bench", "AWS_SESSION_TOKEN=bench",
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so that stopping it also stops the bootstrap it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting the emulator: %w", err)
	}
	r := &rie{
		cmd: cmd, log: logFile, logPath: logPath, exited: make(chan struct{}),
		url:  "http://" + addr + "/2015-03-31/functions/function/invocations",
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
	go func() { cmd.Wait(); close(r.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return r, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.stop()
			return nil, fmt.Errorf("the emulator does not listen on %s: %w; see %s", addr, err, logPath)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func (r *rie) pid() int { return r.cmd.Process.Pid }

// crashed says whether the emulator has exited by itself, and with what panic if its log
// has one.
func (r *rie) crashed() (bool, string) {
	select {
	case <-r.exited:
	default:
		return false, ""
	}
	b, _ := os.ReadFile(r.logPath)
	if _, after, ok := strings.Cut(string(b), "panic: "); ok {
		msg, _, _ := strings.Cut(after, "\n")
		return true, "panic: " + msg
	}
	return true, "see " + r.logPath
}

// stop kills the emulator and its bootstrap and waits for the emulator.
func (r *rie) stop() {
	syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	<-r.exited
	r.http.CloseIdleConnections()
	r.log.Close()
}

// invoker returns an invokeFunc that posts payload and checks that the answer says hello to want.
func (r *rie) invoker(payload []byte, want string) invokeFunc {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		return postAndCheck(r.http, req, want)
	}
}

// postAndCheck sends req and checks that the answer is a successful invocation that says
// hello to want.
func postAndCheck(client *http.Client, req *http.Request, want string) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	return checkAnswer(int32(resp.StatusCode), resp.Header.Get("X-Amz-Function-Error"), body, want)
}

// freeAddr is a loopback address with a port nobody listens on at the moment.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
