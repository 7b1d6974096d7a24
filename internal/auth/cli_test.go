package auth

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVerifyAcceptsAWSCLI signs requests with the real aws CLI (botocore's signer, which
// normalizes paths differently from the Go SDK) and checks the verifier agrees with it.
func TestVerifyAcceptsAWSCLI(t *testing.T) {
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed; install it (apt-get install awscli) to run this test")
	}
	srv, ch := newTestServer(t, Config{Now: time.Now, Region: "us-east-1", Services: []string{"lambda"}})
	dir := t.TempDir()
	run := func(t *testing.T, key Key, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(awsBin, append(args, "--endpoint-url", srv.URL, "--region", "us-east-1", "--output", "json")...)
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "AWS_") {
				env = append(env, kv)
			}
		}
		cmd.Env = append(env,
			"AWS_ACCESS_KEY_ID="+key.AccessKeyID,
			"AWS_SECRET_ACCESS_KEY="+key.SecretAccessKey,
			"AWS_CONFIG_FILE="+filepath.Join(dir, "no-config"),
			"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "no-credentials"),
			"AWS_MAX_ATTEMPTS=1",
		)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	verdictOf := func(t *testing.T) verdict {
		t.Helper()
		select {
		case vd := <-ch:
			return vd
		case <-time.After(10 * time.Second):
			t.Fatal("aws CLI request never reached the server")
			return verdict{}
		}
	}
	arn := "arn:aws:lambda:us-east-1:123456789012:function:my-fn"
	for _, tc := range []struct {
		name     string
		args     []string
		wantPath string
	}{
		{"list-functions", []string{"lambda", "list-functions", "--max-items", "5"}, "/2015-03-31/functions"},
		{"get-function by arn", []string{"lambda", "get-function", "--function-name", arn, "--qualifier", "$LATEST"}, "/2015-03-31/functions/" + arn},
		{"invoke with payload", []string{"lambda", "invoke", "--function-name", arn + ":$LATEST", "--payload", `{"k": "v w"}`, filepath.Join(dir, "out.json")}, "/2015-03-31/functions/" + arn + ":$LATEST/invocations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, testKey, tc.args...)
			vd := verdictOf(t)
			if vd.err != nil {
				t.Fatalf("Verify(aws %s) = %v\nCLI output: %s", strings.Join(tc.args, " "), vd.err, out)
			}
			if err != nil {
				t.Fatalf("aws %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			}
			if vd.path != tc.wantPath {
				t.Errorf("server saw path %q, want %q", vd.path, tc.wantPath)
			}
		})
	}
	for _, tc := range []struct {
		name string
		key  Key
		code string
	}{
		{"wrong secret", Key{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: "wrong"}, CodeInvalidSignature},
		{"unknown key", Key{AccessKeyID: "AKIAUNKNOWNUNKNOWN00", SecretAccessKey: "x"}, CodeUnrecognizedClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, tc.key, "lambda", "get-function", "--function-name", arn)
			vd := verdictOf(t)
			checkAuthError(t, vd.err, tc.code, 403, "")
			if err == nil || !strings.Contains(out, "("+tc.code+")") {
				t.Errorf("aws CLI exit %v, output %q; want a failure naming %s", err, out, tc.code)
			}
		})
	}
}
