package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string
		want    Detection
		wantErr string
	}{
		{"console default", map[string]string{"lambda_function.py": "def lambda_handler(event, context):\n    pass\n"},
			Detection{Family: Python, Handler: "lambda_function.lambda_handler", Reason: "found lambda_function.py"}, ""},
		{"handler named handler", map[string]string{"lambda_function.py": "import json\ndef handler(event, context):\n    pass\n"},
			Detection{Family: Python, Handler: "lambda_function.handler", Reason: "found lambda_function.py"}, ""},
		{"lambda_function.py without a def", map[string]string{"lambda_function.py": "from impl import *\n"},
			Detection{Family: Python, Handler: "lambda_function.lambda_handler", Reason: "found lambda_function.py"}, ""},
		{"app.py", map[string]string{"app.py": "def helper(): pass\n\ndef lambda_handler(e, c):\n    return helper()\n"},
			Detection{Family: Python, Handler: "app.lambda_handler", Reason: "found app.py"}, ""},
		{"handler.py with main", map[string]string{"handler.py": "def main(event, context):\n    pass\n"},
			Detection{Family: Python, Handler: "handler.main", Reason: "found handler.py"}, ""},
		{"app.py that is not a handler", map[string]string{"app.py": "print('flask app')\n"}, Detection{}, ""},
		{"index.mjs", map[string]string{"index.mjs": "export const handler = async () => 1;"},
			Detection{Family: Node, Handler: "index.handler", Reason: "found index.mjs"}, ""},
		{"index.js", map[string]string{"index.js": "exports.handler = async () => 1;", "package.json": "{}"},
			Detection{Family: Node, Handler: "index.handler", Reason: "found index.js"}, ""},
		{"go module", map[string]string{"go.mod": "module x", "main.go": "package main"},
			Detection{Family: Provided, Handler: "bootstrap", Build: true, Reason: "found go.mod"}, ""},
		{"bootstrap", map[string]string{"bootstrap*": "#!/bin/sh"},
			Detection{Family: Provided, Handler: "bootstrap", Reason: "found an executable bootstrap"}, ""},
		{"bootstrap that is not executable", map[string]string{"bootstrap": "#!/bin/sh"}, Detection{}, ""},
		{"nothing", map[string]string{"README.md": "hi"}, Detection{}, ""},
		{"ambiguous", map[string]string{"lambda_function.py": "def lambda_handler(e, c): pass", "index.js": "x"},
			Detection{}, "the code holds lambda_function.py and index.js, so it is not clear how to run it: pass --runtime and --handler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := detect(dirFiles(tree(t, tc.files)), true)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("detect = %v, want error %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("detect: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("detect (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFamilyOfHandler(t *testing.T) {
	f := dirFiles(tree(t, map[string]string{"app.py": "", "lib/web.mjs": ""}))
	for handler, want := range map[string]Family{
		"app.main": Python, "lib/web.handler": Node, "bootstrap": Provided, "missing.handler": "", "nodot": "",
	} {
		if got := familyOfHandler(f, handler); got != want {
			t.Errorf("familyOfHandler(%q) = %q, want %q", handler, got, want)
		}
	}
}

func TestPickRuntime(t *testing.T) {
	available := []string{"provided.al2", "provided.al2023", "nodejs18.x", "nodejs20.x", "python3.9", "python3.12", "python3.11"}
	for fam, want := range map[Family]string{Python: "python3.12", Node: "nodejs20.x", Provided: "provided.al2023"} {
		if got, ok := pickRuntime(available, fam); !ok || got != want {
			t.Errorf("pickRuntime(%s) = %q, %v; want %q", fam, got, ok, want)
		}
	}
	if got, ok := pickRuntime([]string{"provided.al2023"}, Python); ok {
		t.Errorf("pickRuntime(python) without Python = %q, want none", got)
	}
}

func TestParseRuntimeList(t *testing.T) {
	msg := "Value nimbus.probe at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [provided.al2023, provided.al2, nodejs20.x, python3.11] or be a valid ARN"
	want := []string{"provided.al2023", "provided.al2", "nodejs20.x", "python3.11"}
	if diff := cmp.Diff(want, parseRuntimeList(msg)); diff != "" {
		t.Errorf("parseRuntimeList (-want +got):\n%s", diff)
	}
	msg = "The runtime python3.12 is not installed on this Nimbus server, which runs: [provided.al2023, provided.al2, nodejs20.x, python3.11]. Install its interpreter on the server's machine and restart the server, or use one of those."
	if diff := cmp.Diff(want, parseRuntimeList(msg)); diff != "" {
		t.Errorf("parseRuntimeList(not installed) (-want +got):\n%s", diff)
	}
	if got := parseRuntimeList("Function not found"); got != nil {
		t.Errorf("parseRuntimeList(unrelated) = %v, want nil", got)
	}
}

func TestDefaultName(t *testing.T) {
	for in, want := range map[string]string{
		"examples/python-http": "python-http", "build/my fn.zip": "my-fn", "./x.y/": "x-y", "hello.world": "hello-world",
	} {
		if got := defaultName(in); got != want {
			t.Errorf("defaultName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"0":                    {},
		"10m":                  now.Add(-10 * time.Minute),
		"1h30m":                now.Add(-90 * time.Minute),
		"3d":                   now.Add(-72 * time.Hour),
		"1w":                   now.Add(-7 * 24 * time.Hour),
		"2026-01-02T03:04:05Z": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	} {
		got, err := ParseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseSince("yesterday", now); err == nil || !strings.Contains(err.Error(), "--since yesterday") {
		t.Errorf("ParseSince(yesterday) = %v, want an error naming it", err)
	}
}

func TestDescribeFunctionError(t *testing.T) {
	for _, tc := range []struct{ payload, want string }{
		{`{"errorType":"UnknownOperation","errorMessage":"unknown operation \"x\""}`, `UnknownOperation: unknown operation "x"`},
		{`{"errorMessage":"boom"}`, "Unhandled: boom"},
		{`not json`, "Unhandled function error: not json"},
	} {
		if got := describeFunctionError("Unhandled", []byte(tc.payload)); got != tc.want {
			t.Errorf("describeFunctionError(%s) = %q, want %q", tc.payload, got, tc.want)
		}
	}
}

func TestCheckHandlerFile(t *testing.T) {
	dir := tree(t, map[string]string{
		"lambda_function.py": "def lambda_handler(e, c): pass",
		"pkg/app.py":         "def main(e, c): pass",
		"lib/__init__.py":    "def run(e, c): pass",
		"src/index.mjs":      "export const handler = async () => 1;",
	})
	f := dirFiles(dir)
	det := Detection{Family: Python, Handler: "lambda_function.lambda_handler", Reason: "found lambda_function.py"}
	for _, tc := range []struct {
		runtime, handler, wantErr string
	}{
		{"python3.11", "lambda_function.lambda_handler", ""},
		{"python3.11", "pkg.app.main", ""},
		{"python3.11", "pkg/app.main", ""},
		{"python3.11", "lib.run", ""},
		{"python3.11", "app.lambda_handler", "has no app.py or app/__init__.py (found lambda_function.py: did you mean --handler lambda_function.lambda_handler?)"},
		{"nodejs20.x", "src/index.handler", ""},
		{"nodejs20.x", "src/index.nested.handler", ""},
		{"nodejs20.x", "index.handler", "has no index.js or index.mjs or index.cjs: pass"},
		{"provided.al2023", "anything", ""},
	} {
		err := checkHandlerFile(f, "code", tc.runtime, tc.handler, det)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("checkHandlerFile(%s, %s) = %v, want %q", tc.runtime, tc.handler, err, tc.wantErr)
		}
	}
}
