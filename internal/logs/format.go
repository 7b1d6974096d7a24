package logs

import (
	"strconv"
	"time"
)

// Status is the outcome shown at the end of a REPORT line when an invocation did not finish
// normally.
type Status string

// Statuses Lambda prints on REPORT lines.
const (
	StatusSuccess Status = ""        // nothing is printed
	StatusTimeout Status = "timeout" // the invocation ran into its deadline
	StatusError   Status = "error"   // the runtime failed; Report.ErrorType says how
)

// Report holds the figures of Lambda's REPORT line.
type Report struct {
	// RequestID is the invocation's request id. Stream.End fills it in with the id given to
	// Stream.Begin.
	RequestID string
	// Duration is how long the invocation ran.
	Duration time.Duration
	// MemorySizeMB is the function's configured memory.
	MemorySizeMB int
	// MaxMemoryUsed is the environment's peak memory use in bytes.
	MaxMemoryUsed uint64
	// InitDuration is how long the environment's Init phase took. Set it on the first invocation
	// of an environment only; zero leaves "Init Duration" out, as Lambda does on warm invokes.
	InitDuration time.Duration
	// InitBilled adds InitDuration to Billed Duration. AWS has billed the Init phase of
	// on-demand functions since 1 August 2025 (REPORT lines recorded before then show it
	// unbilled, e.g. "Duration: 2.90 ms\tBilled Duration: 3 ms … Init Duration: 110.10 ms").
	InitBilled bool
	// Status is the outcome; StatusSuccess prints nothing.
	Status Status
	// ErrorType is printed after Status when both are set, e.g. "Runtime.OutOfMemory".
	ErrorType string
}

// BilledDuration is Lambda's billed duration: the duration rounded up to the next whole
// millisecond (Lambda's billing granularity), at least 1 ms.
func (r Report) BilledDuration() time.Duration {
	d := r.Duration
	if r.InitBilled {
		d += r.InitDuration
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return max(ms, 1) * time.Millisecond
}

// MaxMemoryUsedMB is the peak memory in whole MB (MiB, like Lambda's Memory Size) rounded up,
// so any use shows as at least 1 MB, and capped at MemorySizeMB: an environment that hit its
// limit reports exactly its Memory Size, as Lambda's out-of-memory REPORT lines do.
func (r Report) MaxMemoryUsedMB() uint64 {
	const mib = 1 << 20
	mb := (r.MaxMemoryUsed + mib - 1) / mib
	if r.MemorySizeMB > 0 && mb > uint64(r.MemorySizeMB) {
		mb = uint64(r.MemorySizeMB)
	}
	return mb
}

// The Append functions below format Lambda's platform lines exactly as CloudWatch Logs stores
// them, each ending with its newline (CloudWatch keeps the newline in the event's message).

// AppendStart appends "START RequestId: <id> Version: <version>\n".
func AppendStart(dst []byte, requestID, version string) []byte {
	dst = append(dst, "START RequestId: "...)
	dst = append(dst, requestID...)
	dst = append(dst, " Version: "...)
	dst = append(dst, version...)
	return append(dst, '\n')
}

// AppendEnd appends "END RequestId: <id>\n".
func AppendEnd(dst []byte, requestID string) []byte {
	dst = append(dst, "END RequestId: "...)
	dst = append(dst, requestID...)
	return append(dst, '\n')
}

// AppendReport appends the REPORT line:
//
//	REPORT RequestId: <id>\tDuration: 2.90 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\t[Init Duration: 110.10 ms\t][Status: timeout|Status: error\tError Type: <type>]\n
//
// Init Duration comes after Max Memory Used, as AWS prints it (the Runtime Interface Emulator
// puts it first; it is wrong). Every field is followed by a tab; a status, when there is one,
// is the last field and has none, as in AWS's recorded lines
// ("…\tMax Memory Used: 1201 MB\tStatus: timeout\n").
func AppendReport(dst []byte, r Report) []byte {
	dst = append(dst, "REPORT RequestId: "...)
	dst = append(dst, r.RequestID...)
	dst = append(dst, "\tDuration: "...)
	dst = appendMillis(dst, r.Duration)
	dst = append(dst, " ms\tBilled Duration: "...)
	dst = strconv.AppendInt(dst, int64(r.BilledDuration()/time.Millisecond), 10)
	dst = append(dst, " ms\tMemory Size: "...)
	dst = strconv.AppendInt(dst, int64(r.MemorySizeMB), 10)
	dst = append(dst, " MB\tMax Memory Used: "...)
	dst = strconv.AppendUint(dst, r.MaxMemoryUsedMB(), 10)
	dst = append(dst, " MB\t"...)
	if r.InitDuration > 0 {
		dst = append(dst, "Init Duration: "...)
		dst = appendMillis(dst, r.InitDuration)
		dst = append(dst, " ms\t"...)
	}
	if r.Status != StatusSuccess {
		dst = append(dst, "Status: "...)
		dst = append(dst, r.Status...)
		if r.ErrorType != "" {
			dst = append(dst, "\tError Type: "...)
			dst = append(dst, r.ErrorType...)
		}
	}
	return append(dst, '\n')
}

// AppendInitReport appends the line Lambda writes when Init fails or times out:
//
//	INIT_REPORT Init Duration: 137.69 ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError\n
//	INIT_REPORT Init Duration: 10000.41 ms\tPhase: init\tStatus: timeout\n
//
// as AWS records them. Lambda then runs Init again inside the invocation and reports it with
// "Phase: invoke"; Nimbus runs Init once, on the invocation's behalf, and reports that one.
func AppendInitReport(dst []byte, r InitReport) []byte {
	dst = append(dst, "INIT_REPORT Init Duration: "...)
	dst = appendMillis(dst, r.Duration)
	dst = append(dst, " ms\tPhase: init\tStatus: "...)
	dst = append(dst, r.Status...)
	if r.ErrorType != "" && r.Status == StatusError {
		dst = append(dst, "\tError Type: "...)
		dst = append(dst, r.ErrorType...)
	}
	return append(dst, '\n')
}

// TimestampLayout is how Lambda writes a timestamp inside a log line: UTC, milliseconds, "Z"
// (e.g. "2023-10-20T16:28:17.840Z").
const TimestampLayout = "2006-01-02T15:04:05.000Z"

// AppendTimeout appends Lambda's timeout line,
// "<timestamp> <id> Task timed out after 3.00 seconds\n", where after is how long the
// invocation ran. The timestamp has millisecond precision like every recorded AWS line
// (RFC 3339 with nanoseconds would not match what log parsers expect).
func AppendTimeout(dst []byte, at time.Time, requestID string, after time.Duration) []byte {
	dst = at.UTC().AppendFormat(dst, TimestampLayout)
	dst = append(dst, ' ')
	dst = append(dst, requestID...)
	dst = append(dst, " Task timed out after "...)
	dst = strconv.AppendFloat(dst, after.Seconds(), 'f', 2, 64)
	return append(dst, " seconds\n"...)
}

// appendMillis writes d in milliseconds with two decimals, like "2.90".
func appendMillis(dst []byte, d time.Duration) []byte {
	return strconv.AppendFloat(dst, float64(d)/float64(time.Millisecond), 'f', 2, 64)
}
