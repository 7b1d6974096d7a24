package main

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"golang.org/x/sys/unix"
)

// connectionHog forks children that each open as many connections to the function's own
// Runtime API as their descriptor limit allows, and keep them open.
const connectionHog = `
import os, socket, time
def handler(event, context):
    children, per = event["children"], event["per"]
    r, w = os.pipe()
    for _ in range(children):
        if os.fork() == 0:
            socks = []
            for _ in range(per):
                s = socket.socket()
                s.settimeout(2)
                try:
                    s.connect(("127.0.0.1", 9001))
                except OSError:
                    break
                socks.append(s)
            os.write(w, b"%d\n" % len(socks))
            time.sleep(3600)
            os._exit(0)
    f = os.fdopen(r)
    return {"connected": sum(int(f.readline()) for _ in range(children))}
`

// openFDs counts the descriptors process pid holds.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestRuntimeAPIConnectionFloodLeavesOthersAlone is issue 9's descriptor exhaustion: a function
// whose children open thousands of connections to its Runtime API. The server takes only a
// handful of them, so other functions' cold and warm starts and the API carry on.
func TestRuntimeAPIConnectionFloodLeavesOthersAlone(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "")
	c := s.client()
	ctx := context.Background()
	createPython(t, c, "bystander")
	invoke(t, c, "bystander", `{}`)
	create(t, c, &lambdasdk.CreateFunctionInput{FunctionName: aws.String("hog"), Runtime: pythonRuntime(t),
		Handler: aws.String("lambda_function.handler"), Timeout: aws.Int32(60),
		Code: codeOf(zipOf(t, map[string]string{"lambda_function.py": connectionHog}))})
	invoke(t, c, "hog", `{"children": 0, "per": 0}`) // its environment exists before counting
	before := openFDs(t, s.cmd.Process.Pid)
	// A descriptor limit the flood would exhaust if the server accepted it (as the 20,000 of the
	// machine where it was found), with room for everything else.
	lim := unix.Rlimit{Cur: uint64(before) + 1500, Max: uint64(before) + 1500}
	if err := unix.Prlimit(s.cmd.Process.Pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		t.Fatal(err)
	}

	const children, per = 3, 900
	out := invoke(t, c, "hog", fmt.Sprintf(`{"children": %d, "per": %d}`, children, per))
	if out.FunctionError != nil {
		t.Fatalf("hog = %s", out.Payload)
	}
	connected := int(decode(t, out.Payload)["connected"].(float64))
	during := openFDs(t, s.cmd.Process.Pid)
	t.Logf("hog holds %d connections to its Runtime API; server descriptors %d -> %d", connected, before, during)
	// Past the server's bound, connections wait in the kernel's accept queue until it is full.
	if connected < 10*16 {
		t.Fatalf("hog opened only %d connections; the test needs many more than the bound", connected)
	}
	if during-before > 100 {
		t.Errorf("server descriptors grew by %d while a function held %d Runtime API connections, want a handful", during-before, connected)
	}
	// Everyone else is served: the API, a warm function, and a cold start (which needs new
	// descriptors: a log pipe, a Runtime API listener).
	if _, err := c.ListFunctions(ctx, &lambdasdk.ListFunctionsInput{}); err != nil {
		t.Errorf("ListFunctions during the flood = %v", err)
	}
	if out := invoke(t, c, "bystander", `{"name": "warm"}`); out.FunctionError != nil {
		t.Errorf("warm bystander = %s", out.Payload)
	}
	createPython(t, c, "newcomer")
	if out := invoke(t, c, "newcomer", `{}`); out.FunctionError != nil {
		t.Errorf("cold newcomer = %s", out.Payload)
	}
	if _, err := c.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("hog")}); err != nil {
		t.Fatal(err)
	}
}
