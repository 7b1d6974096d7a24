package main

import (
	"io"

	"github.com/nimbusfaas/nimbus/internal/cli"
)

// clientFlags are the flags every client command takes.
var clientFlags = []string{"endpoint", "region", "data-dir", "output"}

// commands lists the subcommands for shell completion.
var commands = []cli.Command{
	{Name: "server", Help: "start the server", Flags: []string{"listen", "data-dir", "region", "account-id", "nats-url", "nats-listen", "memory-budget", "keep-warm", "log-retention", "log-max-mb", "async-concurrency", "async-per-function", "async-time-scale", "access-log", "log-rate-kb", "max-connections", "idle-timeout", "body-timeout", "v"}},
	{Name: "deploy", Help: "create or update a function from a directory or zip", Args: "path",
		Flags: append([]string{"name", "runtime", "handler", "memory", "timeout", "env", "description", "no-deps"}, clientFlags...)},
	{Name: "invoke", Help: "invoke a function and print its response", Args: "function",
		Flags: append([]string{"payload", "qualifier", "logs", "async"}, clientFlags...)},
	{Name: "queue", Help: "show the async queue per function", Flags: clientFlags},
	{Name: "logs", Help: "print a function's logs", Args: "function", Flags: append([]string{"follow", "since", "filter"}, clientFlags...)},
	{Name: "ls", Help: "list functions", Flags: append([]string{"q"}, clientFlags...)},
	{Name: "get", Help: "show a function's configuration, versions and aliases", Args: "function", Flags: clientFlags},
	{Name: "publish", Help: "publish $LATEST as a new version", Args: "function", Flags: append([]string{"description"}, clientFlags...)},
	{Name: "alias", Help: "point an alias at a version, with an optional weighted second version", Args: "function",
		Flags: append([]string{"weight", "description"}, clientFlags...)},
	{Name: "rm", Help: "delete functions", Args: "function", Flags: clientFlags},
	{Name: "env", Help: "print exports for the aws CLI and SDKs", Flags: []string{"data-dir", "output"}},
	{Name: "completion", Help: "print a shell completion script", Args: "shell"},
	{Name: "help", Help: "show help"},
}

const completionUsage = "Usage: nimbus completion bash|zsh|fish\n\n" +
	"  bash: source <(nimbus completion bash)     (or save it in /etc/bash_completion.d/nimbus)\n" +
	"  zsh:  source <(nimbus completion zsh)\n" +
	"  fish: nimbus completion fish | source      (or save it in ~/.config/fish/completions/nimbus.fish)\n"

func runCompletion(args []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		io.WriteString(stderr, completionUsage)
		return exitError(0)
	}
	if len(args) != 1 {
		io.WriteString(stderr, completionUsage)
		return exitError(2)
	}
	return cli.Completion(stdout, args[0], commands)
}
