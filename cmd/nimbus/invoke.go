package main

import (
	"context"
	"io"

	"github.com/nimbusfaas/nimbus/internal/cli"
)

func runInvoke(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newClientCommand("invoke", "NAME [--payload JSON|@file|-] [--qualifier Q] [--logs] [--async]", stderr)
	var o cli.InvokeOptions
	c.fs.StringVar(&o.Payload, "payload", "", "the event: JSON, @file for a file's content, - for standard input (default {})")
	c.fs.StringVar(&o.Qualifier, "qualifier", "", "the version or alias to invoke (default $LATEST); NAME:QUALIFIER says the same")
	c.fs.BoolVar(&o.Logs, "logs", false, "print the invocation's log tail to stderr (with --output json it is the LogResult member instead)")
	c.fs.BoolVar(&o.Async, "async", false, "queue the event (InvocationType Event) and print its request id")
	pos, err := c.parse(args, 1)
	if err != nil {
		return err
	}
	o.Name = pos[0]
	app, err := c.app(ctx, stdin, stdout, stderr)
	if err != nil {
		return err
	}
	return clientResult(app.Invoke(ctx, o))
}

func runQueue(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newClientCommand("queue", "", stderr)
	if _, err := c.parse(args, 0); err != nil {
		return err
	}
	app, err := c.app(ctx, stdin, stdout, stderr)
	if err != nil {
		return err
	}
	return clientResult(app.Queue(ctx))
}
