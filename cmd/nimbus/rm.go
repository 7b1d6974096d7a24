package main

import (
	"context"
	"io"
)

func runRemove(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newClientCommand("rm", "NAME...", stderr)
	pos, err := c.parse(args, -1)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		c.fs.Usage()
		return exitError(2)
	}
	app, err := c.app(ctx, stdin, stdout, stderr)
	if err != nil {
		return err
	}
	return clientResult(app.Remove(ctx, pos))
}
