package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d durations
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(101-i)*time.Millisecond) // unsorted on purpose
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := d.percentile(tc.p); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	thirty := d[70:] // 30 samples, 1..30 ms: p99 is the largest, p50 the 15th
	if got := thirty.percentile(99); got != 30*time.Millisecond {
		t.Errorf("percentile(99) of 30 = %v, want the largest", got)
	}
	if got := thirty.percentile(50); got != 15*time.Millisecond {
		t.Errorf("percentile(50) of 30 = %v, want 15ms", got)
	}
	if got := (durations{}).percentile(50); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}

func TestInitDuration(t *testing.T) {
	for _, tc := range []struct {
		name, tail string
		want       time.Duration
		ok         bool
	}{
		{"cold", "START RequestId: a Version: $LATEST\nhi\nEND RequestId: a\nREPORT RequestId: a\tDuration: 1.21 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 9 MB\tInit Duration: 6.53 ms\t\n",
			6530 * time.Microsecond, true},
		{"warm", "START RequestId: a Version: $LATEST\nEND RequestId: a\nREPORT RequestId: a\tDuration: 1.21 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 9 MB\t\n", 0, false},
		// A function printing the words must not pass for a cold start.
		{"function output", "Init Duration: 5 ms\nREPORT RequestId: a\tDuration: 1 ms\t\n", 0, false},
		{"no report", "START RequestId: a\n", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := initDuration(tc.tail)
			if got != tc.want || ok != tc.ok {
				t.Errorf("initDuration(%q) = %v, %v; want %v, %v", tc.tail, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestPhases(t *testing.T) {
	p := phaseSet{}
	if err := p.Set("cold, warm"); err != nil || !p["cold"] || !p["warm"] || p["throughput"] {
		t.Errorf("Set(cold, warm) = %v, phases %v", err, p)
	}
	if err := p.Set("warm,lukewarm"); err == nil {
		t.Errorf("Set(warm,lukewarm) = nil, want an error")
	}
}
