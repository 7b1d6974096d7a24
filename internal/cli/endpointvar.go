package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OldClient is an AWS client on this machine that predates AWS_ENDPOINT_URL: it ignores the
// variable and sends its requests, signed with Nimbus's key, to AWS itself.
type OldClient struct {
	// Name is "aws" (the CLI) or "boto3".
	Name string
	// Path is the aws executable, or the python3 that imports boto3.
	Path    string
	Version string
	// Needs is the first version that reads AWS_ENDPOINT_URL.
	Needs string
}

// The first versions that read AWS_ENDPOINT_URL (botocore 1.31.0, July 2023, which aws CLI
// 1.29.0 and boto3 1.28.0 ship with; aws CLI v2 gained it in 2.13.0).
var (
	awsV1Min    = []int{1, 29, 0}
	awsV2Min    = []int{2, 13, 0}
	botocoreMin = []int{1, 31, 0}
)

var (
	awsVersionRE      = regexp.MustCompile(`aws-cli/(\d+(?:\.\d+)*)`)
	botocoreVersionRE = regexp.MustCompile(`^botocore (\d+(?:\.\d+)*) boto3 (\S+)`)
)

// OldEndpointClients runs `aws --version` and asks `python3` for its botocore's version,
// with path as PATH ("" means the process's), and returns those that ignore
// AWS_ENDPOINT_URL. A client that is not installed, or does not answer within a few
// seconds, is left out.
func OldEndpointClients(ctx context.Context, path string) []OldClient {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var (
		wg       sync.WaitGroup
		cli, py  *OldClient
		lookPath = func(name string) (string, error) { return lookPathIn(name, path) }
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		bin, err := lookPath("aws")
		if err != nil {
			return
		}
		out, _ := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
		cli = oldAWSCLI(bin, string(out))
	}()
	go func() {
		defer wg.Done()
		bin, err := lookPath("python3")
		if err != nil {
			return
		}
		out, err := exec.CommandContext(ctx, bin, "-c",
			"import botocore, boto3; print('botocore', botocore.__version__, 'boto3', boto3.__version__)").Output()
		if err != nil {
			return // no boto3 there
		}
		py = oldBoto3(bin, string(out))
	}()
	wg.Wait()
	var old []OldClient
	for _, c := range []*OldClient{cli, py} {
		if c != nil {
			old = append(old, *c)
		}
	}
	return old
}

// oldAWSCLI reads `aws --version` ("aws-cli/2.9.19 Python/3.11.2 …") and returns the CLI
// if it is too old for AWS_ENDPOINT_URL.
func oldAWSCLI(bin, versionOutput string) *OldClient {
	m := awsVersionRE.FindStringSubmatch(versionOutput)
	if m == nil {
		return nil
	}
	v := parseVersion(m[1])
	minimum, needs := awsV1Min, "1.29"
	if len(v) > 0 && v[0] >= 2 {
		minimum, needs = awsV2Min, "2.13"
	}
	if compareVersions(v, minimum) >= 0 {
		return nil
	}
	return &OldClient{Name: "aws", Path: bin, Version: m[1], Needs: needs}
}

// oldBoto3 reads "botocore 1.29.27 boto3 1.26.27" and returns boto3 if its botocore is too
// old for AWS_ENDPOINT_URL.
func oldBoto3(python, out string) *OldClient {
	m := botocoreVersionRE.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil || compareVersions(parseVersion(m[1]), botocoreMin) >= 0 {
		return nil
	}
	return &OldClient{Name: "boto3", Path: python, Version: m[2], Needs: "1.28"}
}

// EndpointWorkaround is what makes an old client use the endpoint: a shell line to add to
// `nimbus env`'s exports (empty when the shell cannot help), and a note for the user.
func EndpointWorkaround(c OldClient) (shell, note string) {
	switch c.Name {
	case "aws":
		return `aws() { command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }`,
			fmt.Sprintf("aws-cli %s (%s) ignores AWS_ENDPOINT_URL (it needs %s or later), so it would send requests to AWS itself: these exports define a shell function aws that passes --endpoint-url \"$AWS_ENDPOINT_URL\"; elsewhere pass --endpoint-url yourself", c.Version, c.Path, c.Needs)
	case "boto3":
		return "", fmt.Sprintf("boto3 %s (of %s) ignores AWS_ENDPOINT_URL (it needs %s or later): pass endpoint_url=os.environ[\"AWS_ENDPOINT_URL\"] to boto3.client()", c.Version, c.Path, c.Needs)
	}
	return "", ""
}

func parseVersion(s string) []int {
	var v []int
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			break
		}
		v = append(v, n)
	}
	return v
}

func compareVersions(a, b []int) int {
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// lookPathIn is exec.LookPath over the given PATH ("" means the process's).
func lookPathIn(name, path string) (string, error) {
	if path == "" {
		return exec.LookPath(name)
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}
