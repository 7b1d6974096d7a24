package sandboxtest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nimbusfaas/nimbus/internal/sandbox"
)

// firstByte records when the first byte of output arrives.
type firstByte struct {
	once sync.Once
	at   chan time.Time
}

func (f *firstByte) Write(p []byte) (int, error) {
	f.once.Do(func() { f.at <- time.Now() })
	return len(p), nil
}

// BenchmarkCreateToFirstByte measures the cold start of a static binary: from the call to
// Create until the program's first byte of output reaches the server (Create, Start, exec,
// the program's own start). It reports p50 and p99 in milliseconds; Destroy is not timed.
// If settle is not nil it runs, untimed, before each cold start: a driver that prepares
// environments ahead of time waits there until it is ready again, which is the cold start of
// a server that is not already busy starting others.
func BenchmarkCreateToFirstByte(b *testing.B, d sandbox.Driver, settle func()) {
	ctx := context.Background()
	var lat []time.Duration
	for b.Loop() {
		b.StopTimer()
		if settle != nil {
			settle()
		}
		spec, _, _ := ProbeSpec(b, "hello")
		fb := &firstByte{at: make(chan time.Time, 1)}
		spec.Stdout = fb
		b.StartTimer()
		t0 := time.Now()
		if err := d.Create(ctx, spec); err != nil {
			b.Fatal(err)
		}
		if err := d.Start(ctx, spec.ID); err != nil {
			b.Fatal(err)
		}
		at := <-fb.at
		b.StopTimer()
		lat = append(lat, at.Sub(t0))
		if err := d.Destroy(ctx, spec.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	reportPercentiles(b, lat)
}

// BenchmarkCycle measures whole lifecycles back to back: Create and Destroy, and with run
// also Start and Wait for a program that prints and exits. With parallel, one lifecycle runs
// per GOMAXPROCS at a time. It reports cycles per second.
func BenchmarkCycle(b *testing.B, d sandbox.Driver, run, parallel bool) {
	ctx := context.Background()
	cycle := func() error {
		spec, _, _ := ProbeSpec(b, "hello")
		if err := d.Create(ctx, spec); err != nil {
			return err
		}
		if run {
			if err := d.Start(ctx, spec.ID); err != nil {
				return err
			}
			if _, err := d.Wait(ctx, spec.ID); err != nil {
				return err
			}
		}
		return d.Destroy(ctx, spec.ID)
	}
	CodeDir(b)
	start := time.Now()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := cycle(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for b.Loop() {
			if err := cycle(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "cycles/s")
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	ms := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}
