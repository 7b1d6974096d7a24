package async

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event is one asynchronous invocation waiting in the queue. It travels as JSON in a stream
// message; a retry republishes it with its counters advanced, so what a retry needs to know
// survives a crash of the node that ran the previous attempt.
type Event struct {
	// RequestID is the same for every attempt, as on Lambda.
	RequestID string `json:"requestId"`
	Function  string `json:"function"`
	// Qualifier is the version or alias the caller named, "" for none: each attempt runs
	// the version it names then (a weighted alias picks one per attempt).
	Qualifier  string          `json:"qualifier,omitempty"`
	InvokedARN string          `json:"invokedArn"`
	Payload    json.RawMessage `json:"payload"`
	// ClientContext is the decoded X-Amz-Client-Context JSON, or empty.
	ClientContext string `json:"clientContext,omitempty"`
	TraceID       string `json:"traceId,omitempty"`
	// Received is when the queue first accepted the event: its age counts from here.
	Received time.Time `json:"received"`
	// NotBefore delays a retry: the event does not run before it.
	NotBefore time.Time `json:"notBefore,omitzero"`
	// Attempts counts the invocations that ran to a result; Throttles the attempts the
	// invoker refused (429) or could not start (platform errors).
	Attempts  int `json:"attempts,omitempty"`
	Throttles int `json:"throttles,omitempty"`
	// Lineage counts, per function (by lineage hash), how often the chain of invocations this
	// event belongs to has passed through it: the recursive loop detector.
	Lineage map[string]int `json:"lineage,omitempty"`
	// Last is the response of the last failed attempt, for a failure record written when the
	// event later ages out.
	Last *Response `json:"last,omitempty"`
}

// Response is what one attempt returned.
type Response struct {
	Payload       json.RawMessage `json:"payload,omitempty"`
	FunctionError string          `json:"functionError,omitempty"`
}

// MaxLineageHops is how many times one chain of asynchronous invocations may pass through the
// same function before the loop detector stops it. Lambda stops a loop "after approximately
// 16 invocations".
const MaxLineageHops = 16

// lineageKey is the short name a function has in lineage, the way Lambda keeps a hash of the
// function in the Lineage field of X-Amzn-Trace-Id.
func lineageKey(function string) string {
	sum := sha256.Sum256([]byte(function))
	return hex.EncodeToString(sum[:4])
}

// ParseLineage reads the Lineage field of an X-Amzn-Trace-Id header ("Lineage=a1b2c3d4:3|…"),
// so that a function which invokes itself through the SDK (which forwards _X_AMZN_TRACE_ID)
// is seen by the loop detector. Malformed entries are ignored.
func ParseLineage(traceID string) map[string]int {
	var out map[string]int
	for _, field := range strings.Split(traceID, ";") {
		v, ok := strings.CutPrefix(strings.TrimSpace(field), "Lineage=")
		if !ok {
			continue
		}
		for _, entry := range strings.Split(v, "|") {
			key, count, ok := strings.Cut(entry, ":")
			n, err := strconv.Atoi(count)
			if !ok || err != nil || len(key) != 8 || n < 0 {
				continue
			}
			if out == nil {
				out = map[string]int{}
			}
			out[key] = max(out[key], n)
		}
	}
	return out
}

// traceHeader is the X-Amzn-Trace-Id an attempt runs with: the caller's, or a new root, with
// the event's lineage in its Lineage field.
func traceHeader(traceID string, lineage map[string]int) string {
	var fields []string
	for _, f := range strings.Split(traceID, ";") {
		if f = strings.TrimSpace(f); f != "" && !strings.HasPrefix(f, "Lineage=") {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		var b [12]byte
		rand.Read(b[:])
		fields = []string{fmt.Sprintf("Root=1-%08x-%s", time.Now().Unix(), hex.EncodeToString(b[:])), "Sampled=0"}
	}
	if len(lineage) > 0 {
		var entries []string
		for k, n := range lineage {
			entries = append(entries, k+":"+strconv.Itoa(n))
		}
		fields = append(fields, "Lineage="+strings.Join(entries, "|"))
	}
	return strings.Join(fields, ";")
}
