package logs_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbusfaas/nimbus/internal/logs"
)

func ExampleAppendReport() {
	line := logs.AppendReport(nil, logs.Report{
		RequestID:     "8f5fd9b1-3c4e-4b9a-9d2e-2f0c1e7a6b55",
		Duration:      2900 * time.Microsecond,
		MemorySizeMB:  128,
		MaxMemoryUsed: 36 << 20,
		InitDuration:  110100 * time.Microsecond, // first invocation of the environment
	})
	fmt.Printf("%q\n", line)
	// Output:
	// "REPORT RequestId: 8f5fd9b1-3c4e-4b9a-9d2e-2f0c1e7a6b55\tDuration: 2.90 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tInit Duration: 110.10 ms\t\n"
}

// How the invoker uses a log stream: one per execution environment, a pipe for the
// function's output, Begin and End around each invocation.
func ExampleStream() {
	dir, _ := os.MkdirTemp("", "logs-example")
	defer os.RemoveAll(dir)
	srv, _ := server.NewServer(&server.Options{DontListen: true, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	srv.Start()
	defer srv.Shutdown()
	srv.ReadyForConnections(10 * time.Second)
	nc, _ := nats.Connect("", nats.InProcessServer(srv))
	defer nc.Close()
	js, _ := jetstream.New(nc)

	ctx := context.Background()
	svc, err := logs.New(ctx, logs.Config{JetStream: js})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close(ctx)

	st := svc.NewStream("hello", "$LATEST", "env1")
	defer st.Close()
	out, _ := st.Pipe() // the function's stdout and stderr
	defer out.Close()

	st.Begin("req-1", true)
	fmt.Fprintln(out, "hello from the handler")
	tail := st.End(logs.Report{Duration: 1200 * time.Microsecond, MemorySizeMB: 128, MaxMemoryUsed: 17 << 20})

	header := base64.StdEncoding.EncodeToString(tail) // X-Amz-Log-Result
	decoded, _ := base64.StdEncoding.DecodeString(header)
	for _, line := range strings.SplitAfter(string(decoded), "\n") {
		if line != "" {
			fmt.Printf("%q\n", line) // quoted: REPORT ends with a tab
		}
	}

	svc.Flush(ctx)
	page, _ := svc.Read(ctx, st.Group(), time.Time{}, logs.ReadOptions{})
	fmt.Println(len(page.Events), "events in", st.Group())
	// Output:
	// "START RequestId: req-1 Version: $LATEST\n"
	// "hello from the handler\n"
	// "END RequestId: req-1\n"
	// "REPORT RequestId: req-1\tDuration: 1.20 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 17 MB\t\n"
	// 4 events in /aws/lambda/hello
}
