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
	// about is printed after the flags by -h: what the command does beyond its flags.
	about string
}

func newClientCommand(name, args string, stderr io.Writer) *clientCommand {
	c := &clientCommand{}
	c.fs = newFlagSet(name, args, stderr, func() string { return c.about })
	c.flags.Register(c.fs, defaultDataDir())
	return c
}

// newFlagSet is the flag set of every subcommand: its usage says "Usage: nimbus NAME ARGS",
// the flags, then about(), if any.
func newFlagSet(name, args string, stderr io.Writer, about func() string) *flag.FlagSet {
	fs := flag.NewFlagSet("nimbus "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: nimbus %s %s\n\nFlags:\n", name, args)
		fs.PrintDefaults()
		if a := about(); a != "" {
			fmt.Fprintf(stderr, "\n%s", a)
		}
	}
	return fs
}

// parseFlags parses args: -h and --help print the usage and end the command with status 0,
// other mistakes with status 2 (the flag package has said what was wrong).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitError(0)
		}
		return exitError(2)
	}
	return nil
}

// parse parses flags placed before, between or after the positional arguments, which it
// returns; it wants exactly n of them (n < 0: any number).
func (c *clientCommand) parse(args []string, n int) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(c.fs, args); err != nil {
			return nil, err
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
