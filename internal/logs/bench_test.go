package logs

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// The per-invocation cost of logging on the warm path: Begin, three lines from the function,
// End with its REPORT and the tail, with the publisher storing everything in an embedded
// JetStream meanwhile. "dropped/op" shows whether the store kept up.
func BenchmarkInvocation(b *testing.B) {
	for _, tail := range []bool{false, true} {
		b.Run(fmt.Sprintf("writer/tail=%v", tail), func(b *testing.B) {
			benchInvocations(b, tail, func(st *Stream) io.Writer { return st.Writer() })
		})
	}
	b.Run("pipe/tail=true", func(b *testing.B) {
		benchInvocations(b, true, func(st *Stream) io.Writer {
			w, err := st.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { w.Close() })
			return w
		})
	})
}

func benchInvocations(b *testing.B, tail bool, output func(*Stream) io.Writer) {
	s, _ := newService(b, Config{})
	st := s.NewStream("bench", "$LATEST", "4f5a0c1e9b2d4e6f8a7b3c2d1e0f9a8b")
	defer st.Close()
	out := output(st)
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("8f5fd9b1-3c4e-4b9a-9d2e-%012d", i)
	}
	lines := [][]byte{
		[]byte("2026-05-06T07:08:09.123Z\t8f5fd9b1-3c4e-4b9a-9d2e-2f0c1e7a6b55\tINFO\tprocessing event\n"),
		[]byte("{\"level\":\"info\",\"msg\":\"fetched 3 items\",\"duration_ms\":1.25}\n"),
		[]byte("done\n"),
	}
	report := Report{Duration: 1234 * time.Microsecond, MemorySizeMB: 128, MaxMemoryUsed: 18 << 20}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		st.Begin(ids[i%len(ids)], tail)
		for _, l := range lines {
			out.Write(l)
		}
		st.End(report)
	}
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	stats := s.Stats()
	b.ReportMetric(float64(stats.Dropped)/float64(b.N), "dropped/op")
}

// The same with 8 environments logging at once, as under 8 concurrent invocations.
func BenchmarkInvocationParallel(b *testing.B) {
	s, _ := newService(b, Config{})
	b.SetParallelism(4) // 8 goroutines on 2 CPUs
	report := Report{Duration: 1234 * time.Microsecond, MemorySizeMB: 128, MaxMemoryUsed: 18 << 20}
	line := []byte("2026-05-06T07:08:09.123Z\t8f5fd9b1-3c4e-4b9a-9d2e-2f0c1e7a6b55\tINFO\tprocessing event\n")
	var env atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		st := s.NewStream("bench", "$LATEST", fmt.Sprintf("env%d", env.Add(1)))
		defer st.Close()
		out := st.Writer()
		for i := 0; pb.Next(); i++ {
			st.Begin("8f5fd9b1-3c4e-4b9a-9d2e-2f0c1e7a6b55", true)
			out.Write(line)
			out.Write(line)
			out.Write(line)
			st.End(report)
		}
	})
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(s.Stats().Dropped)/float64(b.N), "dropped/op")
}

// End-to-end storage cost per line: lines are written as fast as JetStream stores them (the
// benchmark waits when the queue is half full instead of letting lines drop), so ns/op is
// the time to capture, batch, publish and store one 80-byte line.
func BenchmarkStoreLine(b *testing.B) {
	s, _ := newService(b, Config{})
	st := s.NewStream("bench", "$LATEST", "env")
	defer st.Close()
	out := st.Writer()
	line := []byte("2026-05-06T07:08:09.123Z\t8f5fd9b1-3c4e-4b9a-9d2e-2f0c1e7a6b55\tINFO\tprocessing\n")
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	for b.Loop() {
		for s.buffered.Load() > s.streamBuffer/2 {
			runtime.Gosched()
		}
		out.Write(line)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if d := s.Stats().Dropped; d != 0 {
		b.Fatalf("%d lines dropped", d)
	}
}
