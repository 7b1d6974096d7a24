package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/nimbusfaas/nimbus/internal/auth"
)

// runEnv prints shell exports so that `eval "$(nimbus env)"` points the aws CLI, boto3 and the
// SDKs at the local server with its admin key.
func runEnv(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("nimbus env", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", defaultDataDir(), "the server's data directory")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	info, err := readServerInfo(*dataDir)
	if err != nil {
		return err
	}
	key, err := auth.LoadOrCreateAdmin(*dataDir)
	if err != nil {
		return fmt.Errorf("reading the admin key: %w", err)
	}
	fmt.Fprintf(stdout, "export AWS_ENDPOINT_URL=%s\n", info.Endpoint)
	fmt.Fprintf(stdout, "export AWS_ACCESS_KEY_ID=%s\n", key.AccessKeyID)
	fmt.Fprintf(stdout, "export AWS_SECRET_ACCESS_KEY=%s\n", key.SecretAccessKey)
	fmt.Fprintf(stdout, "export AWS_REGION=%s\n", info.Region)
	fmt.Fprintf(stdout, "export AWS_DEFAULT_REGION=%s\n", info.Region)
	return nil
}
