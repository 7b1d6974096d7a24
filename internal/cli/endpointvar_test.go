package cli

import "testing"

func TestOldEndpointClientVersions(t *testing.T) {
	for _, tc := range []struct {
		out  string
		old  bool
		want string
	}{
		{"aws-cli/2.9.19 Python/3.11.2 Linux/6.1 source/x86_64.debian.12 prompt/off\n", true, "2.13"},
		{"aws-cli/2.13.0 Python/3.11.4 Linux/6.1 exe/x86_64.ubuntu.22\n", false, ""},
		{"aws-cli/2.22.5 Python/3.12.6 Linux/6.1 exe/x86_64.debian.12\n", false, ""},
		{"aws-cli/1.27.1 Python/3.11.2 Linux/6.1 botocore/1.29.1\n", true, "1.29"},
		{"aws-cli/1.29.0 Python/3.11.2 Linux/6.1 botocore/1.31.0\n", false, ""},
		{"aws-cli/1.45.11 Python/3.11.7 Linux/6.18 botocore/1.43.11\n", false, ""},
		{"command not found\n", false, ""},
	} {
		c := oldAWSCLI("/usr/bin/aws", tc.out)
		if (c != nil) != tc.old || c != nil && c.Needs != tc.want {
			t.Errorf("oldAWSCLI(%q) = %+v, want old=%v needing %s", tc.out, c, tc.old, tc.want)
		}
	}
	for _, tc := range []struct {
		out string
		old bool
	}{
		{"botocore 1.29.27 boto3 1.26.27\n", true},
		{"botocore 1.31.0 boto3 1.28.0\n", false},
		{"botocore 1.43.11 boto3 1.43.11\n", false},
	} {
		if c := oldBoto3("/usr/bin/python3", tc.out); (c != nil) != tc.old {
			t.Errorf("oldBoto3(%q) = %+v, want old=%v", tc.out, c, tc.old)
		}
	}
}
