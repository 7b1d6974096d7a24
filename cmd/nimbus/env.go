package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/nimbusfaas/nimbus/internal/auth"
	"github.com/nimbusfaas/nimbus/internal/cli"
)

// runEnv prints shell exports so that `eval "$(nimbus env)"` points the aws CLI, boto3 and the
// SDKs at the local server with its admin key.
func runEnv(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("env", "[--data-dir DIR] [--output shell|json]", stderr, func() string { return envAbout })
	dataDir := fs.String("data-dir", defaultDataDir(), "the server's data directory")
	output := fs.String("output", "shell", "output format: shell (exports) or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
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
	old := cli.OldEndpointClients(ctx, os.Getenv("PATH"))
	for _, c := range old {
		_, note := cli.EndpointWorkaround(c)
		fmt.Fprintf(stderr, "nimbus env: %s\n", note)
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
	// Clients older than AWS_ENDPOINT_URL would take the exports above to AWS itself: say so,
	// and give the shell what makes the aws CLI come here.
	for _, c := range old {
		if shell, _ := cli.EndpointWorkaround(c); shell != "" {
			fmt.Fprintf(stdout, "# %s %s ignores AWS_ENDPOINT_URL: this function passes it as --endpoint-url\n%s\n", c.Path, c.Version, shell)
		}
	}
	return nil
}

const envAbout = `Print the exports that point the aws CLI, boto3 and the SDKs at the local server:

  eval "$(nimbus env)"

An aws CLI older than 2.13 (or 1.29), such as Debian 12's 2.9, and boto3 older than 1.28
ignore AWS_ENDPOINT_URL and would send their requests to AWS itself. When the aws or python3
on PATH is one of those, nimbus env says so on stderr; for the aws CLI its output also
defines a shell function aws that adds --endpoint-url "$AWS_ENDPOINT_URL", for boto3 pass
endpoint_url=os.environ["AWS_ENDPOINT_URL"] to boto3.client().
`

func writeEnvJSON(w io.Writer, vars map[string]string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(vars)
}
