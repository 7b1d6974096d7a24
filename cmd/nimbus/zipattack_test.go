package main

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// attackZip builds a zip from raw headers, so that names, modes and sizes can lie.
func attackZip(t *testing.T, entries ...func(*zip.Writer)) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		e(zw)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func entry(name string, mode os.FileMode, body string) func(*zip.Writer) {
	return func(zw *zip.Writer) {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(mode)
		w, _ := zw.CreateHeader(h)
		w.Write([]byte(body))
	}
}

// TestZipAttacksThroughTheAPI sends hostile zips through CreateFunction and UpdateFunctionCode:
// each is refused with Lambda's error and leaves nothing in the store or the code cache. The
// full corpus (57 cases) is internal/codezip's; these are its classes, end to end.
func TestZipAttacksThroughTheAPI(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	ctx := context.Background()
	createPython(t, c, "victim")
	cacheDir := filepath.Join(s.dataDir, "code")
	before, _ := os.ReadDir(cacheDir)

	bomb := func(zw *zip.Writer) {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "bomb", Method: zip.Deflate})
		chunk := make([]byte, 1<<20)
		for i := 0; i < 300; i++ { // 300 MB of zeros, a few hundred KB zipped
			w.Write(chunk)
		}
	}
	corrupt := zipOf(t, map[string]string{"lambda_function.py": strings.Repeat("print(1)\n", 200)})
	corrupt[len(corrupt)/3] ^= 0xff
	attacks := map[string][]byte{
		"traversal":        attackZip(t, entry("../../escape.py", 0o644, "x")),
		"absolute":         attackZip(t, entry("/etc/cron.d/evil", 0o644, "x")),
		"symlink out":      attackZip(t, entry("link", os.ModeSymlink|0o777, "/etc/shadow")),
		"symlink up":       attackZip(t, entry("a/link", os.ModeSymlink|0o777, "../../..")),
		"device":           attackZip(t, entry("dev", os.ModeDevice|0o644, "")),
		"fifo":             attackZip(t, entry("fifo", os.ModeNamedPipe|0o644, "")),
		"setuid":           attackZip(t, entry("bootstrap", os.ModeSetuid|0o755, "x")),
		"zip bomb":         attackZip(t, bomb),
		"corrupt":          corrupt,
		"truncated":        zipOf(t, map[string]string{"a.py": "x"})[:40],
		"backslash escape": attackZip(t, entry(`..\..\escape`, 0o644, "x")),
	}
	for name, zipBytes := range attacks {
		t.Run(name, func(t *testing.T) {
			_, err := c.CreateFunction(ctx, &lambdasdk.CreateFunctionInput{FunctionName: aws.String("evil"),
				Runtime: pythonRuntime(t), Role: aws.String("arn:aws:iam::000000000000:role/r"),
				Handler: aws.String("lambda_function.handler"), Code: codeOf(zipBytes)})
			var ipv *types.InvalidParameterValueException
			if !errors.As(err, &ipv) {
				t.Fatalf("CreateFunction(%s) = %v, want InvalidParameterValueException", name, err)
			}
			msg := aws.ToString(ipv.Message)
			if msg != "Could not unzip uploaded file. Please check your file, then try to upload again." &&
				msg != "Unzipped size must be smaller than 262144000 bytes" {
				t.Errorf("CreateFunction(%s) message = %q", name, msg)
			}
			_, err = c.UpdateFunctionCode(ctx, &lambdasdk.UpdateFunctionCodeInput{FunctionName: aws.String("victim"), ZipFile: zipBytes})
			if !errors.As(err, &ipv) {
				t.Fatalf("UpdateFunctionCode(%s) = %v, want InvalidParameterValueException", name, err)
			}
		})
	}
	after, _ := os.ReadDir(cacheDir)
	if len(after) != len(before) {
		t.Errorf("the code cache went from %d to %d entries: refused zips left something", len(before), len(after))
	}
	fns, err := c.ListFunctions(ctx, &lambdasdk.ListFunctionsInput{})
	if err != nil || len(fns.Functions) != 1 {
		t.Fatalf("ListFunctions = %d functions, %v; want only the victim", len(fns.Functions), err)
	}
	for _, p := range []string{"/etc/cron.d/evil", filepath.Join(s.dataDir, "escape.py"), filepath.Join(filepath.Dir(s.dataDir), "escape.py")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("an attack wrote %s", p)
		}
	}
	settings, err := c.GetAccountSettings(ctx, &lambdasdk.GetAccountSettingsInput{})
	if err != nil || settings.AccountUsage.FunctionCount != 1 {
		t.Errorf("GetAccountSettings = %+v, %v", settings, err)
	}
}
