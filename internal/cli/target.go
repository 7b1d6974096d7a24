package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/nimbusfaas/nimbus/internal/auth"
)

// Flags are the options every client command takes.
type Flags struct {
	Endpoint string
	Region   string
	DataDir  string
	Output   string
}

// Register adds the flags to fs; defaultDataDir is the data dir used when --data-dir is not
// given.
func (f *Flags) Register(fs *flag.FlagSet, defaultDataDir string) {
	fs.StringVar(&f.Endpoint, "endpoint", "", "the server's URL (default: $AWS_ENDPOINT_URL, else the local server's)")
	fs.StringVar(&f.Region, "region", "", "the region to sign requests for (default: $AWS_REGION, else the local server's)")
	fs.StringVar(&f.DataDir, "data-dir", defaultDataDir, "the local server's data directory, where its address and admin key are found")
	fs.StringVar(&f.Output, "output", "table", "output format: table or json")
}

// Format is how a command prints its results.
type Format int

// Formats.
const (
	Table Format = iota // aligned, human-readable text
	JSON                // JSON for scripts
)

// ParseFormat reads the --output flag.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "table", "text":
		return Table, nil
	case "json":
		return JSON, nil
	}
	return Table, &UserError{Msg: fmt.Sprintf("--output %s is not a format: use table or json", s)}
}

// Source says where a target's endpoint came from, for error messages.
type Source int

// Sources of an endpoint.
const (
	FromFlag Source = iota
	FromEnv
	FromDataDir
)

// Target is the server the command talks to and how it signs its requests.
type Target struct {
	// Endpoint is the base URL of the Lambda API; LogsEndpoint that of the CloudWatch Logs API
	// (the same server, unless AWS_ENDPOINT_URL_CLOUDWATCH_LOGS says otherwise).
	Endpoint     string
	LogsEndpoint string
	Region       string
	// AccountID is the server's account, used in the role ARN of new functions.
	AccountID   string
	Credentials aws.CredentialsProvider
	// Source is where Endpoint came from; DataDir and PID describe the local server when it
	// came from the data dir.
	Source  Source
	DataDir string
	PID     int
}

// ServerInfo is what a running server writes to server.json in its data dir.
type ServerInfo struct {
	Endpoint  string `json:"endpoint"`
	Region    string `json:"region"`
	AccountID string `json:"accountId"`
	PID       int    `json:"pid"`
}

// ServerInfoFile is the name of the server's address file in its data dir.
const ServerInfoFile = "server.json"

// DefaultAccountID is the account of a server that does not say otherwise.
const DefaultAccountID = "000000000000"

// Resolve finds the server and credentials: each setting from the flags first, then the
// environment (getenv: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and friends, AWS_PROFILE), then
// the local server's data dir (server.json and its admin key).
func Resolve(ctx context.Context, f Flags, getenv func(string) string) (Target, error) {
	t := Target{DataDir: f.DataDir, AccountID: DefaultAccountID}
	var info *ServerInfo
	if f.DataDir != "" {
		b, err := os.ReadFile(filepath.Join(f.DataDir, ServerInfoFile))
		switch {
		case err == nil:
			info = &ServerInfo{}
			if err := json.Unmarshal(b, info); err != nil {
				return t, &UserError{Msg: fmt.Sprintf("%s is damaged (%v): restart the server with `nimbus server` to rewrite it", filepath.Join(f.DataDir, ServerInfoFile), err)}
			}
			t.PID = info.PID
			if info.AccountID != "" {
				t.AccountID = info.AccountID
			}
		case !errors.Is(err, fs.ErrNotExist):
			return t, fmt.Errorf("reading the local server's address: %w", err)
		}
	}

	switch {
	case f.Endpoint != "":
		t.Endpoint, t.Source = f.Endpoint, FromFlag
	case getenv("AWS_ENDPOINT_URL_LAMBDA") != "":
		t.Endpoint, t.Source = getenv("AWS_ENDPOINT_URL_LAMBDA"), FromEnv
	case getenv("AWS_ENDPOINT_URL") != "":
		t.Endpoint, t.Source = getenv("AWS_ENDPOINT_URL"), FromEnv
	case info != nil && info.Endpoint != "":
		t.Endpoint, t.Source = info.Endpoint, FromDataDir
	default:
		return t, &UserError{Msg: fmt.Sprintf("no Nimbus server found (nothing in %s): start one with `nimbus server`, or point at yours with --endpoint or AWS_ENDPOINT_URL", f.DataDir)}
	}
	t.Endpoint = strings.TrimSuffix(t.Endpoint, "/")
	if !strings.HasPrefix(t.Endpoint, "http://") && !strings.HasPrefix(t.Endpoint, "https://") {
		return t, &UserError{Msg: fmt.Sprintf("endpoint %q is not a URL: write it as http://host:port", t.Endpoint)}
	}
	t.LogsEndpoint = t.Endpoint
	if e := getenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"); e != "" && f.Endpoint == "" {
		t.LogsEndpoint = strings.TrimSuffix(e, "/")
	}

	switch {
	case f.Region != "":
		t.Region = f.Region
	// A server found through the data dir answers only for its own region: an AWS_REGION meant
	// for real AWS would get every request refused as scoped to another region.
	case t.Source == FromDataDir && info.Region != "":
		t.Region = info.Region
	case getenv("AWS_REGION") != "":
		t.Region = getenv("AWS_REGION")
	case getenv("AWS_DEFAULT_REGION") != "":
		t.Region = getenv("AWS_DEFAULT_REGION")
	case info != nil && info.Region != "":
		t.Region = info.Region
	default:
		t.Region = "us-east-1"
	}

	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	switch {
	case id != "" && secret != "":
		t.Credentials = credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN"))
	case id != "" || secret != "":
		return t, &UserError{Msg: "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set: set both (`nimbus env` prints them on the server's machine), or unset both to use the local server's key"}
	case getenv("AWS_PROFILE") != "":
		cfg, err := config.LoadDefaultConfig(ctx, config.WithSharedConfigProfile(getenv("AWS_PROFILE")))
		if err != nil {
			return t, &UserError{Msg: fmt.Sprintf("cannot load AWS_PROFILE %s (%v): fix ~/.aws/config or unset AWS_PROFILE", getenv("AWS_PROFILE"), err)}
		}
		t.Credentials = cfg.Credentials
	default:
		// Never create a key here: LoadOrCreateAdmin would mint one the server does not know.
		path := filepath.Join(f.DataDir, auth.CredentialsFile)
		if _, err := os.Stat(path); err != nil {
			return t, &UserError{Msg: fmt.Sprintf("no credentials for %s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (`nimbus env` prints them on the server's machine)", t.Endpoint)}
		}
		key, err := auth.LoadOrCreateAdmin(f.DataDir)
		if err != nil {
			return t, &UserError{Msg: fmt.Sprintf("cannot read the local server's admin key: %v", err)}
		}
		t.Credentials = credentials.NewStaticCredentialsProvider(key.AccessKeyID, key.SecretAccessKey, "")
	}
	return t, nil
}
