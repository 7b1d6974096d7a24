// Command nimbus is the Nimbus server and its command line: `nimbus server` runs the platform,
// the other subcommands talk to a running server through the public Lambda API.
//
// The same binary is the init of every execution environment: the sandbox re-executes it, and
// the sandbox/linux/nsinit package takes over that process while packages initialise, before
// main runs.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(int(ee))
		}
		fmt.Fprintln(os.Stderr, "nimbus:", err)
		os.Exit(1)
	}
}

// exitError ends the process with a status and no further message (the command has already
// said what went wrong).
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usage = `Nimbus runs AWS Lambda functions on your own machines.

Usage:
  nimbus server [flags]          start the server (Lambda and CloudWatch Logs APIs, invoker, store)
  nimbus deploy PATH [flags]     create or update a function from a directory or a zip
  nimbus invoke NAME [flags]     invoke a function (NAME:VERSION or NAME:ALIAS too) and print its response
  nimbus queue                   show the async queue: events waiting per function, oldest age
  nimbus logs NAME [-f]          print a function's logs (--follow to keep printing)
  nimbus ls                      list functions
  nimbus get NAME[:QUALIFIER]    show a function's configuration, versions and aliases
  nimbus publish NAME            publish $LATEST as a new version
  nimbus alias NAME ALIAS VER    point an alias at a version (--weight V2=0.1 sends 10% to V2)
  nimbus rm NAME...              delete functions
  nimbus env                     print the exports that point the aws CLI, boto3 and SDKs at Nimbus
  nimbus completion SHELL        print the bash, zsh or fish completion script

The client commands find the server from --endpoint, else AWS_ENDPOINT_URL, else the local
server's data dir (--data-dir, $NIMBUS_DATA_DIR or ~/.local/share/nimbus); they print tables,
or JSON with --output json.

Run "nimbus <command> -h" for a command's flags.
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError(2)
	}
	switch args[0] {
	case "server":
		return runServer(ctx, args[1:], stderr)
	case "env":
		return runEnv(ctx, args[1:], stdout, stderr)
	case "deploy":
		return runDeploy(ctx, args[1:], stdin, stdout, stderr)
	case "invoke":
		return runInvoke(ctx, args[1:], stdin, stdout, stderr)
	case "queue":
		return runQueue(ctx, args[1:], stdin, stdout, stderr)
	case "logs":
		return runLogs(ctx, args[1:], stdin, stdout, stderr)
	case "ls", "list":
		return runList(ctx, args[1:], stdin, stdout, stderr)
	case "get":
		return runGet(ctx, args[1:], stdin, stdout, stderr)
	case "publish":
		return runPublish(ctx, args[1:], stdin, stdout, stderr)
	case "alias":
		return runAlias(ctx, args[1:], stdin, stdout, stderr)
	case "rm", "delete":
		return runRemove(ctx, args[1:], stdin, stdout, stderr)
	case "completion":
		return runCompletion(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "nimbus: unknown command %q\n\n%s", args[0], usage)
	return exitError(2)
}
