package logs

import (
	"testing"
	"time"
)

const rid = "8f5fd9b1-3c4e-4b9a-9d2e-2f0c1e7a6b55"

func TestAppendStartEnd(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"start latest", AppendStart(nil, rid, "$LATEST"), "START RequestId: " + rid + " Version: $LATEST\n"},
		{"start version", AppendStart(nil, rid, "12"), "START RequestId: " + rid + " Version: 12\n"},
		{"end", AppendEnd(nil, rid), "END RequestId: " + rid + "\n"},
		{"appends", AppendEnd([]byte("x"), "a"), "xEND RequestId: a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestAppendReport(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name string
		r    Report
		want string
	}{
		{
			name: "cold start as recorded from AWS",
			r: Report{RequestID: rid, Duration: 2900 * time.Microsecond, MemorySizeMB: 128,
				MaxMemoryUsed: 36 * mib, InitDuration: 110100 * time.Microsecond},
			want: "REPORT RequestId: " + rid + "\tDuration: 2.90 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tInit Duration: 110.10 ms\t\n",
		},
		{
			name: "warm",
			r:    Report{RequestID: rid, Duration: 9988340 * time.Microsecond, MemorySizeMB: 2048, MaxMemoryUsed: 192 * mib},
			want: "REPORT RequestId: " + rid + "\tDuration: 9988.34 ms\tBilled Duration: 9989 ms\tMemory Size: 2048 MB\tMax Memory Used: 192 MB\t\n",
		},
		{
			name: "init billed (AWS since August 2025)",
			r: Report{RequestID: rid, Duration: 795365 * time.Microsecond, MemorySizeMB: 1024,
				MaxMemoryUsed: 176 * mib, InitDuration: 1316493 * time.Microsecond, InitBilled: true},
			want: "REPORT RequestId: " + rid + "\tDuration: 795.37 ms\tBilled Duration: 2112 ms\tMemory Size: 1024 MB\tMax Memory Used: 176 MB\tInit Duration: 1316.49 ms\t\n",
		},
		{
			name: "timeout",
			r:    Report{RequestID: rid, Duration: 180 * time.Second, MemorySizeMB: 1280, MaxMemoryUsed: 1201 * mib, Status: StatusTimeout},
			want: "REPORT RequestId: " + rid + "\tDuration: 180000.00 ms\tBilled Duration: 180000 ms\tMemory Size: 1280 MB\tMax Memory Used: 1201 MB\tStatus: timeout\n",
		},
		{
			name: "out of memory on a cold start",
			r: Report{RequestID: rid, Duration: 1500 * time.Millisecond, MemorySizeMB: 128, MaxMemoryUsed: 128 * mib,
				InitDuration: 45 * time.Millisecond, Status: StatusError, ErrorType: "Runtime.OutOfMemory"},
			want: "REPORT RequestId: " + rid + "\tDuration: 1500.00 ms\tBilled Duration: 1500 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\tInit Duration: 45.00 ms\tStatus: error\tError Type: Runtime.OutOfMemory\n",
		},
		{
			name: "sub-millisecond bills 1 ms, a byte of memory shows 1 MB",
			r:    Report{RequestID: rid, Duration: 250 * time.Microsecond, MemorySizeMB: 128, MaxMemoryUsed: 1},
			want: "REPORT RequestId: " + rid + "\tDuration: 0.25 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 1 MB\t\n",
		},
		{
			name: "exact millisecond is not rounded up, memory rounds up to the next MB",
			r:    Report{RequestID: rid, Duration: 3 * time.Millisecond, MemorySizeMB: 256, MaxMemoryUsed: 36*mib + 1},
			want: "REPORT RequestId: " + rid + "\tDuration: 3.00 ms\tBilled Duration: 3 ms\tMemory Size: 256 MB\tMax Memory Used: 37 MB\t\n",
		},
		{
			name: "a nanosecond over bills the next millisecond",
			r:    Report{RequestID: rid, Duration: 3*time.Millisecond + 1, MemorySizeMB: 128},
			want: "REPORT RequestId: " + rid + "\tDuration: 3.00 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\tMax Memory Used: 0 MB\t\n",
		},
		{
			name: "usage over the limit (page cache) is capped at Memory Size",
			r:    Report{RequestID: rid, Duration: 10 * time.Millisecond, MemorySizeMB: 128, MaxMemoryUsed: 130 * mib},
			want: "REPORT RequestId: " + rid + "\tDuration: 10.00 ms\tBilled Duration: 10 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\t\n",
		},
		{
			name: "error status without a type",
			r:    Report{RequestID: rid, Duration: 10 * time.Millisecond, MemorySizeMB: 128, MaxMemoryUsed: 20 * mib, Status: StatusError},
			want: "REPORT RequestId: " + rid + "\tDuration: 10.00 ms\tBilled Duration: 10 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tStatus: error\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendReport(nil, tt.r)); got != tt.want {
				t.Errorf("AppendReport(%+v)\n got %q\nwant %q", tt.r, got, tt.want)
			}
		})
	}
}

func TestAppendTimeout(t *testing.T) {
	at := time.Date(2023, 10, 20, 16, 28, 17, 840_123_456, time.FixedZone("X", 3600))
	tests := []struct {
		after time.Duration
		want  string
	}{
		{3 * time.Second, "2023-10-20T15:28:17.840Z " + rid + " Task timed out after 3.00 seconds\n"},
		{31012520 * time.Microsecond, "2023-10-20T15:28:17.840Z " + rid + " Task timed out after 31.01 seconds\n"},
		{900 * time.Second, "2023-10-20T15:28:17.840Z " + rid + " Task timed out after 900.00 seconds\n"},
	}
	for _, tt := range tests {
		if got := string(AppendTimeout(nil, at, rid, tt.after)); got != tt.want {
			t.Errorf("AppendTimeout(%v, %v)\n got %q\nwant %q", at, tt.after, got, tt.want)
		}
	}
}

func TestNames(t *testing.T) {
	if got, want := GroupName("hello-world_1"), "/aws/lambda/hello-world_1"; got != want {
		t.Errorf("GroupName = %q, want %q", got, want)
	}
	// Dated in UTC: 23:30 on 31 December in New York is already 1 January in UTC.
	ny := time.FixedZone("EST", -5*3600)
	created := time.Date(2025, 12, 31, 23, 30, 0, 0, ny)
	tests := []struct {
		version, env, want string
	}{
		{"$LATEST", "4f5a0c1e9b2d4e6f8a7b3c2d1e0f9a8b", "2026/01/01/[$LATEST]4f5a0c1e9b2d4e6f8a7b3c2d1e0f9a8b"},
		{"7", "abc", "2026/01/01/[7]abc"},
	}
	for _, tt := range tests {
		if got := StreamName(created, tt.version, tt.env); got != tt.want {
			t.Errorf("StreamName(%v, %q, %q) = %q, want %q", created, tt.version, tt.env, got, tt.want)
		}
	}
}

func TestSubjectTokens(t *testing.T) {
	names := []string{
		"", "%", "plain_Name-1", "/aws/lambda/hello", "2026/01/01/[$LATEST]abc",
		"a.b*c>d e\tf", "ünïcode/日本", "%25", "$SYS",
	}
	sub := subjects{prefix: "logs"}
	for _, g := range names {
		for _, st := range names {
			subj := sub.stream(g, st)
			if got := len(subj) - len(sub.prefix); got < 3 {
				t.Fatalf("subject %q too short", subj)
			}
			for _, c := range []byte(subj[len("logs."):]) {
				if !plainByte(c) && c != '%' && c != '.' {
					t.Fatalf("subject(%q, %q) = %q holds %q", g, st, subj, c)
				}
			}
			gg, ss, err := sub.parse(subj)
			if err != nil || gg != g || ss != st {
				t.Errorf("parse(%q) = %q, %q, %v; want %q, %q", subj, gg, ss, err, g, st)
			}
		}
	}
	for _, bad := range []string{"other.a.b", "logs.a", "logs.a.b.c", "logs.%zz.b", "logs.a.%4"} {
		if _, _, err := sub.parse(bad); err == nil {
			t.Errorf("parse(%q) succeeded, want an error", bad)
		}
	}
}

func TestBatchCodec(t *testing.T) {
	var p []byte
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	in := []decodedEvent{
		{ts, "r1", "hello\n"},
		{ts.Add(time.Nanosecond), "", ""},
		{ts.Add(time.Hour), "r2", string(make([]byte, 300))},
	}
	for _, e := range in {
		p = appendEvent(p, e.ts.UnixNano(), e.requestID, []byte(e.message))
	}
	var out []decodedEvent
	if err := decodeBatch(p, func(d decodedEvent) { out = append(out, d) }); err != nil {
		t.Fatalf("decodeBatch: %v", err)
	}
	if len(out) != len(in) {
		t.Fatalf("decoded %d events, want %d", len(out), len(in))
	}
	for i := range in {
		if !out[i].ts.Equal(in[i].ts) || out[i].requestID != in[i].requestID || out[i].message != in[i].message {
			t.Errorf("event %d = %+v, want %+v", i, out[i], in[i])
		}
	}
	for _, bad := range [][]byte{nil, {2}, p[:len(p)-1], append(append([]byte{}, p...), 0x80)} {
		if err := decodeBatch(bad, func(decodedEvent) {}); err == nil {
			t.Errorf("decodeBatch(%d bytes) succeeded, want an error", len(bad))
		}
	}
}
