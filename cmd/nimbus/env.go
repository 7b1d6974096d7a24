package main

import (
	"encoding/json"
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
	output := fs.String("output", "shell", "output format: shell (exports) or json")
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
	if *output == "json" {
		return writeEnvJSON(stdout, map[string]string{
			"AWS_ENDPOINT_URL": info.Endpoint, "AWS_ACCESS_KEY_ID": key.AccessKeyID,
			"AWS_SECRET_ACCESS_KEY": key.SecretAccessKey, "AWS_REGION": info.Region, "AWS_DEFAULT_REGION": info.Region,
		})
	}
	// A session token or profile left from real AWS would be sent along with our key, or
	// picked instead of it.
	fmt.Fprintln(stdout, "unset AWS_SESSION_TOKEN AWS_PROFILE")
	fmt.Fprintf(stdout, "export AWS_ENDPOINT_URL=%s\n", info.Endpoint)
	fmt.Fprintf(stdout, "export AWS_ACCESS_KEY_ID=%s\n", key.AccessKeyID)
	fmt.Fprintf(stdout, "export AWS_SECRET_ACCESS_KEY=%s\n", key.SecretAccessKey)
	fmt.Fprintf(stdout, "export AWS_REGION=%s\n", info.Region)
	fmt.Fprintf(stdout, "export AWS_DEFAULT_REGION=%s\n", info.Region)
	return nil
}

func writeEnvJSON(w io.Writer, vars map[string]string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(vars)
}
