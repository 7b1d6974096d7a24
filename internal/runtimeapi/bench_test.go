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
