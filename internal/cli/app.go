package cli

import (
	"errors"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"golang.org/x/term"
)

// App runs the client commands against one Target.
type App struct {
	Target  Target
	Lambda  *lambdasdk.Client
	LogsAPI *cwl.Client
	// Stdout gets results, Stderr narration and function output; Stdin feeds `--payload -`.
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	Format         Format
	// Environ is the environment of the programs the commands run (go build); nil means the
	// current process's.
	Environ []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PollInterval is how often waiters and `logs --follow` ask the server; zero means one
	// second for logs and a quick backoff for waiters.
	PollInterval time.Duration
}

// Config configures New.
type Config struct {
	Target         Target
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	Format         Format
	Environ        []string
}

// New returns an App with SDK clients for cfg.Target.
func New(cfg Config) *App {
	t := cfg.Target
	awsCfg := aws.Config{
		Region:      t.Region,
		Credentials: t.Credentials,
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.MaxBackoff = time.Second
				// A server that is not running will not start between attempts: say so at once.
				o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
					if errors.Is(err, syscall.ECONNREFUSED) {
						return aws.FalseTernary
					}
					return aws.UnknownTernary
				})}, o.Retryables...)
			})
		},
	}
	return &App{
		Target:  t,
		Lambda:  lambdasdk.NewFromConfig(awsCfg, func(o *lambdasdk.Options) { o.BaseEndpoint = aws.String(t.Endpoint) }),
		LogsAPI: cwl.NewFromConfig(awsCfg, func(o *cwl.Options) { o.BaseEndpoint = aws.String(t.LogsEndpoint) }),
		Stdout:  cfg.Stdout, Stderr: cfg.Stderr, Stdin: cfg.Stdin,
		Format:  cfg.Format,
		Environ: cfg.Environ,
	}
}

func (a *App) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *App) environ() []string {
	if a.Environ != nil {
		return a.Environ
	}
	return os.Environ()
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}
