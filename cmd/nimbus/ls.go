package main

import (
	"context"
	"io"
)

func runList(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newClientCommand("ls", "[-q]", stderr)
	quiet := c.fs.Bool("q", false, "print function names only")
	if _, err := c.parse(args, 0); err != nil {
		return err
	}
	app, err := c.app(ctx, stdin, stdout, stderr)
	if err != nil {
		return err
	}
	return clientResult(app.List(ctx, *quiet))
}
