package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/nimbusfaas/nimbus/internal/cli"
)

// clientCommand is the shared part of the commands that talk to a server: their flag set,
// with --endpoint, --region, --data-dir and --output.
type clientCommand struct {
	fs    *flag.FlagSet
	flags cli.Flags
}

func newClientCommand(name, args string, stderr io.Writer) *clientCommand {
	c := &clientCommand{fs: flag.NewFlagSet("nimbus "+name, flag.ContinueOnError)}
	c.fs.SetOutput(stderr)
	c.fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: nimbus %s %s\n\nFlags:\n", name, args)
		c.fs.PrintDefaults()
	}
	c.flags.Register(c.fs, defaultDataDir())
	return c
}

// parse parses flags placed before, between or after the positional arguments, which it
// returns; it wants exactly n of them (n < 0: any number).
func (c *clientCommand) parse(args []string, n int) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitError(0)
			}
			return nil, exitError(2)
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	if n >= 0 && len(pos) != n {
		c.fs.Usage()
		return nil, exitError(2)
	}
	return pos, nil
}

// app resolves the server and credentials and returns the client.
func (c *clientCommand) app(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) (*cli.App, error) {
	format, err := cli.ParseFormat(c.flags.Output)
	if err != nil {
		return nil, err
	}
	target, err := cli.Resolve(ctx, c.flags, os.Getenv)
	if err != nil {
		return nil, err
	}
	return cli.New(cli.Config{Target: target, Stdin: stdin, Stdout: stdout, Stderr: stderr, Format: format}), nil
}

// clientResult turns the client's "already reported" status into the process's exit status.
func clientResult(err error) error {
	var st cli.ExitStatus
	if errors.As(err, &st) {
		return exitError(int(st))
	}
	return err
}
