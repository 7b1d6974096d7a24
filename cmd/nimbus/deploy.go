package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/nimbusfaas/nimbus/internal/cli"
)

// envFlags collects repeated --env K=V flags.
type envFlags map[string]string

func (e envFlags) String() string { return "" }

func (e envFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	e[k] = val
	return nil
}

func runDeploy(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newClientCommand("deploy", "PATH [flags]", stderr)
	var o cli.DeployOptions
	var description string
	env := envFlags{}
	c.fs.StringVar(&o.Name, "name", "", "function name (default: the directory or zip's base name)")
	c.fs.StringVar(&o.Runtime, "runtime", "", "runtime, e.g. python3.11 (default: inferred from the code)")
	c.fs.StringVar(&o.Handler, "handler", "", "handler, e.g. lambda_function.lambda_handler (default: inferred)")
	c.fs.IntVar(&o.MemoryMB, "memory", 0, "memory in MB (default: 128 on create, unchanged on update)")
	c.fs.IntVar(&o.TimeoutSec, "timeout", 0, "timeout in seconds (default: 3 on create, unchanged on update)")
	c.fs.Var(env, "env", "environment variable KEY=VALUE (repeatable; replaces the function's variables)")
	c.fs.StringVar(&description, "description", "", "description")
	pos, err := c.parse(args, 1)
	if err != nil {
		return err
	}
	o.Path = pos[0]
	c.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "description":
			o.Description = &description
		case "env":
			o.Env = env
		}
	})
	app, err := c.app(ctx, stdin, stdout, stderr)
	if err != nil {
		return err
	}
	return clientResult(app.Deploy(ctx, o))
}
