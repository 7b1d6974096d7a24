package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
)

// spinner starts busy background processes and reports the CPU time they used, read from
// their own /proc/PID/stat (utime + stime, in clock ticks): a counter, whatever the driver
// and the cgroup version.
const spinner = `import os

def handler(event, context):
    if event["action"] == "spin":
        pids = []
        for _ in range(event["n"]):
            pid = os.fork()
            if pid == 0:
                while True:
                    pass
            pids.append(pid)
        return {"pids": pids}
    ticks = 0
    for pid in event["pids"]:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return {"ticks": ticks, "hz": os.sysconf("SC_CLK_TCK")}
`

// TestIdleEnvironmentUsesNoCPU is issue 9's point 2: a function that leaves two busy
// processes behind kept both at 94% CPU while no invocation ran. Between invocations the
// environment is frozen: across an idle period its processes' CPU time does not grow, and
// the next invocations still reach them (the environment and its Runtime API connection
// survive the freeze).
func TestIdleEnvironmentUsesNoCPU(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "")
	c := s.client()
	// 1769 MB buys a whole CPU: unfrozen, the two spinners would use all of it.
	create(t, c, &lambdasdk.CreateFunctionInput{FunctionName: aws.String("spinner"), Runtime: pythonRuntime(t),
		Handler: aws.String("lambda_function.handler"), MemorySize: aws.Int32(1769), Timeout: aws.Int32(10),
		Code: codeOf(zipOf(t, map[string]string{"lambda_function.py": spinner}))})

	var spun struct{ Pids []int }
	if err := json.Unmarshal(invoke(t, c, "spinner", `{"action":"spin","n":2}`).Payload, &spun); err != nil || len(spun.Pids) != 2 {
		t.Fatalf("spin = %+v, %v", spun, err)
	}
	cpu := func() (ticks, hz int) {
		t.Helper()
		payload, _ := json.Marshal(map[string]any{"action": "cpu", "pids": spun.Pids})
		out := invoke(t, c, "spinner", string(payload))
		var got struct{ Ticks, Hz int }
		if err := json.Unmarshal(out.Payload, &got); err != nil || out.FunctionError != nil || got.Hz == 0 {
			t.Fatalf("cpu = %s (%v): the spinners' environment is gone or broken", out.Payload, err)
		}
		return got.Ticks, got.Hz
	}
	before, hz := cpu()
	// The idle period measured; nothing is awaited.
	const idle = 2 * time.Second
	time.Sleep(idle)
	after, _ := cpu()
	// Frozen, they run only in the few milliseconds around each invocation; running, they
	// would take up to a whole CPU: 200 ticks at 100 Hz (69 on a busy machine without
	// freezing, 0 with it). At most 5% of that is allowed.
	t.Logf("CPU time of the spinners across %v idle: %d ticks at %d Hz", idle, after-before, hz)
	if grown, most := after-before, int(idle.Seconds()*float64(hz)/20); grown > most {
		t.Errorf("the idle environment's processes used %d clock ticks (%d Hz) in %v, want at most %d: it was not frozen",
			grown, hz, idle, most)
	}
	if again, _ := cpu(); again < after {
		t.Errorf("CPU time went back from %d to %d ticks: not the same processes", after, again)
	}
}
