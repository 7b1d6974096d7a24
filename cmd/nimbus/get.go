package main

import (
	"context"
	"io"
)

func runGet(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newClientCommand("get", "NAME", stderr)
	pos, err := c.parse(args, 1)
	if err != nil {
		return err
	}
	app, err := c.app(ctx, stdin, stdout, stderr)
	if err != nil {
		return err
	}
	return clientResult(app.Get(ctx, pos[0]))
}
