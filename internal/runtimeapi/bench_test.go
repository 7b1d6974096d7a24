package runtimeapi

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkInvokeGoFunction measures a warm invocation round trip through the endpoint and a
// real aws-lambda-go function running as a host process: Invoke → /next → handler →
// /response → Invoke returns. It reports the latency percentiles besides ns/op.
func BenchmarkInvokeGoFunction(b *testing.B) {
	e, _ := startGoFunc(b, Config{})
	ctx := context.Background()
	payload := []byte(`{"op":"echo","msg":"hello"}`)
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = "bench-" + strconv.Itoa(i)
	}
	in := Invocation{Payload: payload, Deadline: time.Now().Add(time.Hour)}
	// Warm up the connections and the function.
	for i := range 100 {
		in.RequestID = ids[i%len(ids)]
		if _, err := e.Invoke(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in.RequestID = ids[i%len(ids)]
		start := time.Now()
		resp, err := e.Invoke(ctx, in)
		lat = append(lat, time.Since(start))
		if err != nil || resp.FunctionError {
			b.Fatalf("Invoke = %+v, %v", resp, err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkColdStartGoFunction measures the aws-lambda-go function started as a plain host
// process (no sandbox): process start to its first /next (Init done), and to the answer of
// the first invocation.
func BenchmarkColdStartGoFunction(b *testing.B) {
	bin := buildGoFunc(b)
	var initD, firstD []time.Duration
	for b.Loop() {
		b.StopTimer()
		e, addr := startEndpoint(b, Config{})
		b.StartTimer()
		start := time.Now()
		p := startProcess(b, addr, nil, bin)
		if err := e.WaitInit(context.Background()); err != nil {
			b.Fatal(err)
		}
		initD = append(initD, time.Since(start))
		if _, err := e.Invoke(context.Background(), inv("cold", `{"op":"echo"}`)); err != nil {
			b.Fatal(err)
		}
		firstD = append(firstD, time.Since(start))
		b.StopTimer()
		_ = p.cmd.Process.Kill()
		<-p.exited
		e.Close()
		b.StartTimer()
	}
	report(b, "init", initD)
	report(b, "first-response", firstD)
}

func report(b *testing.B, name string, ds []time.Duration) {
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, name+"-p50-ms")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, name+"-p99-ms")
}
