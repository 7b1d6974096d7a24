package main

import (
	"context"
	"io"
	"time"

	"github.com/nimbusfaas/nimbus/internal/cli"
)

func runLogs(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newClientCommand("logs", "NAME [--follow] [--since 10m] [--filter PATTERN]", stderr)
	var o cli.LogsOptions
	var since string
	c.fs.BoolVar(&o.Follow, "follow", false, "keep printing new log events (Ctrl-C stops)")
	c.fs.BoolVar(&o.Follow, "f", false, "shorthand for --follow")
	c.fs.StringVar(&since, "since", "10m", "show events from this long ago (10m, 2h, 3d), or this time (2026-01-02T15:04:05Z); 0 for all")
	c.fs.StringVar(&o.Filter, "filter", "", "only events matching this CloudWatch term pattern (ERROR, \"a phrase\", -excluded, ?either)")
	pos, err := c.parse(args, 1)
	if err != nil {
		return err
	}
	o.Name = pos[0]
	if o.Since, err = cli.ParseSince(since, time.Now()); err != nil {
		return err
	}
	app, err := c.app(ctx, stdin, stdout, stderr)
	if err != nil {
		return err
	}
	return clientResult(app.Logs(ctx, o))
}
