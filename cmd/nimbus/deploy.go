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
	c.fs.BoolVar(&o.NoDeps, "no-deps", false, "zip the directory as it is: do not install what requirements.txt or package.json lists")
	c.about = deployAbout
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

const deployAbout = `PATH is a directory or a .zip. A directory is zipped, or built when it is a Go module (go
build for linux/amd64 into an executable bootstrap, as sam build does). The runtime and
handler are inferred from its top level when not given: lambda_function.py, app.py,
handler.py or main.py (Python), index.mjs, index.js or index.cjs (Node), go.mod, or an
executable bootstrap. The function is named after the directory or zip (characters a name
cannot hold become dashes) unless --name says otherwise.

Dependencies are installed into the zip as sam build does, unless --no-deps: with a
requirements.txt, "python3.X -m pip install -r requirements.txt -t" with the function's
Python (pip reads PIP_INDEX_URL, PIP_FIND_LINKS and pip.conf); with a package.json that
lists dependencies, "npm ci --omit=dev" when there is a package-lock.json, else "npm install
--omit=dev", and the folder's own node_modules is left out. A missing tool or a failed
install stops the deploy.

Left out of a directory's zip: .git/, __pycache__/, node_modules/.cache/, and what the
directory's .nimbusignore lists, one gitignore-style pattern a line:
  README.md       a name, at any depth
  events/         a directory (and everything in it)
  /docs           from the top only
  tests/*.py      *, ? and [a-z] within a name; **/ for any depth
Lines starting with # are comments; negations (!) are not supported. The summary says what
was left out.
`
