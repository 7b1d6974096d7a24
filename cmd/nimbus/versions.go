package main

import (
	"context"
	"io"

	"github.com/nimbusfaas/nimbus/internal/cli"
)

func runPublish(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newClientCommand("publish", "NAME [--description D]", stderr)
	c.about = "Publishes the function's $LATEST as a new version, numbered after the last one ever published;\n" +
		"a $LATEST unchanged since the last version gives that version again.\n"
	description := c.fs.String("description", "", "the version's description (default: $LATEST's)")
	pos, err := c.parse(args, 1)
	if err != nil {
		return err
	}
	app, err := c.app(ctx, stdin, stdout, stderr)
	if err != nil {
		return err
	}
	return clientResult(app.Publish(ctx, pos[0], *description))
}

func runAlias(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newClientCommand("alias", "NAME ALIAS VERSION [--weight V=SHARE] [--description D]", stderr)
	c.about = "Creates the alias, or points it at VERSION ($LATEST or a published version). With --weight,\n" +
		"a share of its invocations (0 to 1) goes to one other published version: --weight 2=0.1.\n" +
		"Invoke it with `nimbus invoke NAME:ALIAS`.\n"
	weight := c.fs.String("weight", "", "send a share of the invocations to another version: VERSION=SHARE, such as 2=0.1")
	description := c.fs.String("description", "", "the alias's description")
	pos, err := c.parse(args, 3)
	if err != nil {
		return err
	}
	o := cli.AliasOptions{Function: pos[0], Name: pos[1], Version: pos[2], Description: *description}
	if *weight != "" {
		if o.Weights, err = cli.ParseWeight(*weight); err != nil {
			return clientResult(err)
		}
	}
	app, err := c.app(ctx, stdin, stdout, stderr)
	if err != nil {
		return err
	}
	return clientResult(app.Alias(ctx, o))
}
