package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/nimbusfaas/nimbus/internal/auth"
)

// dataDir makes a data dir as a running server leaves it: server.json and the admin key.
func dataDir(t *testing.T, info ServerInfo) (string, auth.Key) {
	t.Helper()
	dir := t.TempDir()
	b, _ := json.Marshal(info)
	if err := os.WriteFile(filepath.Join(dir, ServerInfoFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := auth.LoadOrCreateAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, key
}

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func creds(t *testing.T, tg Target) aws.Credentials {
	t.Helper()
	c, err := tg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	return c
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	dir, key := dataDir(t, ServerInfo{Endpoint: "http://127.0.0.1:9320", Region: "eu-west-1", AccountID: "123456789012", PID: 42})

	// Everything from the data dir.
	tg, err := Resolve(ctx, Flags{DataDir: dir}, envOf())
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if tg.Endpoint != "http://127.0.0.1:9320" || tg.LogsEndpoint != tg.Endpoint || tg.Region != "eu-west-1" ||
		tg.AccountID != "123456789012" || tg.Source != FromDataDir || tg.PID != 42 {
		t.Errorf("Resolve(data dir) = %+v", tg)
	}
	if c := creds(t, tg); c.AccessKeyID != key.AccessKeyID || c.SecretAccessKey != key.SecretAccessKey {
		t.Errorf("Resolve(data dir) credentials = %s, want the admin key %s", c.AccessKeyID, key.AccessKeyID)
	}

	// A region meant for real AWS does not apply to the local server, which answers for its own.
	tg, err = Resolve(ctx, Flags{DataDir: dir}, envOf("AWS_REGION", "ap-south-1", "AWS_DEFAULT_REGION", "us-west-2"))
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if tg.Region != "eu-west-1" {
		t.Errorf("Resolve(data dir, AWS_REGION=ap-south-1).Region = %q, want the local server's eu-west-1", tg.Region)
	}

	// The environment over the data dir, flags over the environment.
	env := envOf("AWS_ENDPOINT_URL", "https://nimbus.example.com/", "AWS_REGION", "ap-south-1",
		"AWS_ACCESS_KEY_ID", "AKIDENV", "AWS_SECRET_ACCESS_KEY", "secret", "AWS_SESSION_TOKEN", "tok",
		"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "https://logs.example.com")
	tg, err = Resolve(ctx, Flags{DataDir: dir}, env)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if tg.Endpoint != "https://nimbus.example.com" || tg.LogsEndpoint != "https://logs.example.com" || tg.Region != "ap-south-1" || tg.Source != FromEnv {
		t.Errorf("Resolve(env) = %+v", tg)
	}
	if c := creds(t, tg); c.AccessKeyID != "AKIDENV" || c.SessionToken != "tok" {
		t.Errorf("Resolve(env) credentials = %+v", c)
	}
	tg, err = Resolve(ctx, Flags{DataDir: dir, Endpoint: "http://10.0.0.1:9320", Region: "us-west-2"}, env)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if tg.Endpoint != "http://10.0.0.1:9320" || tg.LogsEndpoint != tg.Endpoint || tg.Region != "us-west-2" || tg.Source != FromFlag {
		t.Errorf("Resolve(flags) = %+v", tg)
	}

	// Failures say what to do.
	empty := t.TempDir()
	for _, tc := range []struct {
		name  string
		flags Flags
		env   func(string) string
		want  string
	}{
		{"no server", Flags{DataDir: empty}, envOf(), "no Nimbus server found"},
		{"no key for a remote server", Flags{DataDir: empty, Endpoint: "http://10.0.0.1:1"}, envOf(), "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{"half a key", Flags{DataDir: dir}, envOf("AWS_ACCESS_KEY_ID", "AKID"), "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{"not a URL", Flags{DataDir: dir, Endpoint: "localhost:9320"}, envOf(), "is not a URL"},
	} {
		_, err := Resolve(ctx, tc.flags, tc.env)
		var ue *UserError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Resolve(%s) = %v, want a UserError saying %q", tc.name, err, tc.want)
		}
	}
	// Resolving never creates a key in a data dir that has none.
	if _, err := os.Stat(filepath.Join(empty, auth.CredentialsFile)); err == nil {
		t.Error("Resolve created credentials in an empty data dir")
	}
}

func TestExplainConnectionRefused(t *testing.T) {
	// A port nobody listens on: listen, note it, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close()
	dir, _ := dataDir(t, ServerInfo{Endpoint: endpoint, Region: "us-east-1", PID: 1 << 30})
	tg, err := Resolve(context.Background(), Flags{DataDir: dir}, envOf())
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{Target: tg, Stdout: &strings.Builder{}, Stderr: &strings.Builder{}})
	err = a.List(context.Background(), false)
	want := "the Nimbus server recorded in " + filepath.Join(dir, ServerInfoFile) + " (pid 1073741824) is not running: start it with `nimbus server`"
	if err == nil || err.Error() != want {
		t.Errorf("List with the server gone = %v, want %q", err, want)
	}

	tg.Source = FromFlag
	a = New(Config{Target: tg, Stdout: &strings.Builder{}, Stderr: &strings.Builder{}})
	err = a.Get(context.Background(), "x")
	if err == nil || !strings.HasPrefix(err.Error(), "no Nimbus server is answering at "+endpoint+": check --endpoint") {
		t.Errorf("Get with nothing at --endpoint = %v", err)
	}
}
