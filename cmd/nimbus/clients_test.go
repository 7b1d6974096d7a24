package main

import (
	"os"
	"os/exec"
	"testing"
)

// pythonWithBoto3 finds a Python that has boto3, as the test script installs it.
func pythonWithBoto3(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import boto3").Run() == nil {
			return py
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no python3 with boto3; scripts/test installs python3-boto3")
	}
	t.Skip("no python3 with boto3 (scripts/test installs it)")
	return ""
}

func invokesHere() string {
	if os.Geteuid() == 0 {
		return "invoke"
	}
	return ""
}

func TestAWSCLILifecycle(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no aws CLI; scripts/test installs it")
		}
		t.Skip("no aws CLI (scripts/test installs it)")
	}
	s := startServer(t, "")
	cmd := exec.Command("bash", "testdata/cli_lifecycle.sh", t.TempDir(), string(pythonRuntime(t)), invokesHere())
	cmd.Env = s.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cli_lifecycle.sh: %v\n%s\nserver log:\n%s", err, out, s.output)
	}
}

func TestBoto3Lifecycle(t *testing.T) {
	py := pythonWithBoto3(t)
	s := startServer(t, "")
	cmd := exec.Command(py, "testdata/boto3_lifecycle.py", string(pythonRuntime(t)), invokesHere())
	cmd.Env = s.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("boto3_lifecycle.py: %v\n%s\nserver log:\n%s", err, out, s.output)
	}
}
