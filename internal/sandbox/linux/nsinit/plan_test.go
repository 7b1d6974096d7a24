package nsinit

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlanRoundTrip(t *testing.T) {
	p := &Plan{
		Ops: []Op{
			{Kind: OpMount, Source: "tmpfs", Path: "/run/root", FSType: "tmpfs", Flags: 6, Data: "size=1m"},
			{Kind: OpMknod, Path: "/run/root/dev/null", Mode: 0o20666, Dev: 259},
			{Kind: OpWriteFile, Path: "/run/root/etc/hosts", Mode: 0o644, Data: "127.0.0.1 localhost\n"},
			{Kind: OpPivotRoot, Path: "/run/root"},
		},
		Hostname: "localhost", UID: 993, GID: 990, NoFile: 1024,
		Seccomp: []byte{1, 2, 3, 4, 5, 6, 7, 8},
		Dir:     "/var/task", Path: "/var/task/bootstrap",
		Args: []string{"/var/task/bootstrap", ""}, Env: []string{"A=b"},
		Stdout: 1, Stderr: 1,
	}
	got, err := Decode(p.Encode(nil))
	if err != nil {
		t.Fatalf("Decode(Encode(p)) = %v", err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	b := (&Plan{Ops: []Op{{Kind: OpMkdir, Path: "/x"}}, Args: []string{"a"}}).Encode(nil)
	for n := range len(b) {
		if _, err := Decode(b[:n]); err == nil {
			t.Errorf("Decode of the first %d of %d bytes succeeded", n, len(b))
		}
	}
	if _, err := Decode(append(b, 0)); err == nil {
		t.Error("Decode with a trailing byte succeeded")
	}
	huge := putU32(nil, 1<<31)
	if _, err := Decode(huge); err == nil {
		t.Error("Decode of an absurd op count succeeded")
	}
}
