// Package benchserver runs a real `nimbus server` process for the bench commands: it builds
// the binary, starts it on a port-0 listener with its own data dir, waits for the log line
// that says it serves, and gives its endpoint, its admin credentials, an AWS SDK client and
// the /proc figures (resident memory, CPU time) the benchmarks report; and the commands'
// common main and nearest-rank percentile.
package benchserver

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/nimbusfaas/nimbus/internal/auth"
)

// Region is the region the server signs for by default, and so the clients' region.
const Region = "us-east-1"

// Main runs a bench command: run gets a context that ends on SIGINT or SIGTERM (so that the
// server it started is stopped), the arguments and the standard streams. An error other than
// -h's is printed as "name: error"; any error exits 1.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, name+":", err)
		}
		os.Exit(1)
	}
}

// Percentile is the nearest-rank percentile p (0–100) of d; 0 when d is empty. With 30
// samples p99 is the largest: say so when reporting it.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// Build builds the nimbus command of the module at root ("" for the current directory)
// into dir/nimbus and returns its path.
func Build(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "nimbus")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/nimbus")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building nimbus: %w\n%s", err, out)
	}
	return bin, nil
}

// Config says which server to start.
type Config struct {
	Bin     string   // the nimbus binary
	DataDir string   // its --data-dir; a server started again on it finds its functions
	LogPath string   // the server's stdout and stderr go here
	Args    []string // more `nimbus server` flags
	// Command makes the process; nil is exec.Command. bench/invoke pins it with taskset.
	Command func(name string, args ...string) *exec.Cmd
}

// Server is a running `nimbus server`.
type Server struct {
	Cmd      *exec.Cmd
	Bin      string
	DataDir  string
	LogPath  string
	Endpoint string          // http://127.0.0.1:PORT
	Runtimes []string        // as the server announced them
	Creds    aws.Credentials // the admin key of its data dir

	log *os.File
}

// signer signs every server's requests; it keeps no state between them.
var signer = v4.NewSigner()

// Start starts the server and returns once it serves (at most 60 s), or when ctx ends.
func Start(ctx context.Context, c Config) (*Server, error) {
	logFile, err := os.Create(c.LogPath)
	if err != nil {
		return nil, err
	}
	command := c.Command
	if command == nil {
		command = exec.Command
	}
	cmd := command(c.Bin, append([]string{"server", "--listen", "127.0.0.1:0", "--data-dir", c.DataDir}, c.Args...)...)
	cmd.Stdout = logFile
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	s := &Server{Cmd: cmd, Bin: c.Bin, DataDir: c.DataDir, LogPath: c.LogPath, log: logFile}
	type announced struct{ endpoint, runtimes string }
	ready := make(chan announced, 1)
	go func() {
		// The log goes on to the file after the ready line, so that the server never blocks
		// on a full pipe.
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			// The server's log says when it serves: msg="serving the Lambda API"
			// endpoint=URL runtimes=a,b,c data_dir=DIR.
			if !strings.Contains(line, ` msg="serving the Lambda API" `) {
				continue
			}
			var a announced
			for _, field := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(field, "endpoint="); ok {
					a.endpoint = v
				}
				if v, ok := strings.CutPrefix(field, "runtimes="); ok {
					a.runtimes = v
				}
			}
			ready <- a
		}
	}()
	select {
	case a := <-ready:
		s.Endpoint = a.endpoint
		s.Runtimes = strings.Split(a.runtimes, ",")
	case <-time.After(60 * time.Second):
		s.Stop()
		return nil, fmt.Errorf("nimbus server did not start in 60 s; see %s", c.LogPath)
	case <-ctx.Done():
		s.Stop()
		return nil, ctx.Err()
	}
	key, err := auth.LoadOrCreateAdmin(c.DataDir)
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("reading the admin key: %w", err)
	}
	s.Creds = aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}
	return s, nil
}

// PID is the server process's id.
func (s *Server) PID() int { return s.Cmd.Process.Pid }

// Stop ends the server with SIGTERM, and kills it if it has not stopped in 20 s.
func (s *Server) Stop() {
	s.Cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.Cmd.Process.Kill()
		<-done
	}
	s.log.Close()
}

// Kill ends the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	s.Cmd.Process.Kill()
	s.Cmd.Wait()
	s.log.Close()
}

// Runtime is the first runtime the server offers whose name starts with prefix.
func (s *Server) Runtime(prefix string) (string, bool) {
	for _, r := range s.Runtimes {
		if strings.HasPrefix(r, prefix) {
			return r, true
		}
	}
	return "", false
}

// AWSConfig is an SDK config with the server's admin credentials.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{Region: Region, Credentials: credentials.StaticCredentialsProvider{Value: s.Creds}}
}

// Lambda is an SDK Lambda client of the server; opts change its options after the endpoint
// is set.
func (s *Server) Lambda(opts ...func(*lambdasdk.Options)) *lambdasdk.Client {
	return lambdasdk.NewFromConfig(s.AWSConfig(), append([]func(*lambdasdk.Options){func(o *lambdasdk.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint)
	}}, opts...)...)
}

// NoRetry is a Lambda client option for measurements: a retried call would hide an error
// inside a slow sample.
func NoRetry(o *lambdasdk.Options) { o.RetryMaxAttempts = 1 }

// Create makes a function with c and waits until it is ready. A nil Role is filled in: Nimbus
// takes any role ARN.
func Create(ctx context.Context, c *lambdasdk.Client, in *lambdasdk.CreateFunctionInput) error {
	if in.Role == nil {
		in.Role = aws.String("arn:aws:iam::000000000000:role/lambda-role")
	}
	if _, err := c.CreateFunction(ctx, in); err != nil {
		return fmt.Errorf("CreateFunction(%s): %w", aws.ToString(in.FunctionName), err)
	}
	return WaitReady(ctx, c, aws.ToString(in.FunctionName))
}

// WaitReady polls until the function is Active and its last update has finished, for at
// most 30 s.
func WaitReady(ctx context.Context, c *lambdasdk.Client, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.GetFunctionConfiguration(ctx, &lambdasdk.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if err != nil {
			return err
		}
		if out.State == types.StateActive && (out.LastUpdateStatus == "" || out.LastUpdateStatus == types.LastUpdateStatusSuccessful) {
			return nil
		}
		if out.State == types.StateFailed || out.LastUpdateStatus == types.LastUpdateStatusFailed {
			return fmt.Errorf("function %s failed: %s %s", name, aws.ToString(out.StateReason), aws.ToString(out.LastUpdateStatusReason))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("function %s not ready after 30 s (state %s, last update %s)", name, out.State, out.LastUpdateStatus)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Sign signs req for the server with its admin key; payloadHash is PayloadHash of its body.
func (s *Server) Sign(ctx context.Context, req *http.Request, payloadHash string) error {
	return signer.SignHTTP(ctx, s.Creds, req, payloadHash, "lambda", Region, time.Now())
}

// PayloadHash is the hex SHA-256 of a request body, as SigV4 signs it.
func PayloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Memory is a figure of /proc/PID/status, such as "VmRSS" or "VmHWM", in bytes; 0 when it
// cannot be read.
func Memory(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// CPU is the CPU time a process has used (user and system; its children are not counted),
// from /proc/PID/stat; 0 when it cannot be read.
func CPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// PeakRSS keeps the peak resident memory (VmRSS) of a process, sampled until ctx ends.
type PeakRSS struct {
	every time.Duration
	peak  atomic.Int64
}

// SampleRSS samples pid's VmRSS now and every interval until ctx ends.
func SampleRSS(ctx context.Context, pid int, every time.Duration) *PeakRSS {
	r := &PeakRSS{every: every}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if v := Memory(pid, "VmRSS"); v > r.peak.Load() {
				r.peak.Store(v)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return r
}

// Reset starts a new peak.
func (r *PeakRSS) Reset() { r.peak.Store(0) }

// Peak is the peak since the last Reset, after one more sample has been taken.
func (r *PeakRSS) Peak() int64 {
	time.Sleep(r.every + r.every/2)
	return r.peak.Load()
}
