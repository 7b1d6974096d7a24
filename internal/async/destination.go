package async

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// Target is where an invocation record goes: a Lambda function today; SQS queues, SNS topics
// and EventBridge buses plug in here when Nimbus has them.
type Target interface {
	Send(ctx context.Context, m Message) error
}

// Message is one delivery to a Target.
type Message struct {
	// Body is the invocation record, JSON.
	Body []byte
	// Success says which destination sent it (an EventBridge target names it in detail-type).
	Success bool
	// Lineage and TraceID carry the source's chain, so that a record delivered to a function
	// counts towards the loop detector.
	Lineage map[string]int
	TraceID string
}

// Record is Lambda's asynchronous invocation record, as destinations receive it.
type Record struct {
	Version         string           `json:"version"`
	Timestamp       string           `json:"timestamp"`
	RequestContext  RequestContext   `json:"requestContext"`
	RequestPayload  json.RawMessage  `json:"requestPayload"`
	ResponseContext *ResponseContext `json:"responseContext,omitempty"`
	ResponsePayload json.RawMessage  `json:"responsePayload,omitempty"`
}

// RequestContext says which event the record is about and how it ended.
type RequestContext struct {
	RequestID              string `json:"requestId"`
	FunctionARN            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// ResponseContext describes the last invocation's response. A record of an event that never
// ran (zero reserved concurrency, only throttles) has none, as on Lambda.
type ResponseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError,omitempty"`
}

// newRecord builds the record of ev ending with condition; last is its last response, if any
// attempt ran. executed is the version that ran, functionARN its qualified ARN.
func newRecord(ev *Event, executed, functionARN, condition string, last *Response, now time.Time) Record {
	r := Record{
		Version:   "1.0",
		Timestamp: now.UTC().Format("2006-01-02T15:04:05.000Z"),
		RequestContext: RequestContext{
			RequestID: ev.RequestID, FunctionARN: functionARN, Condition: condition,
			ApproximateInvokeCount: ev.Attempts,
		},
		RequestPayload: ev.Payload,
	}
	if last != nil {
		r.ResponseContext = &ResponseContext{StatusCode: 200, ExecutedVersion: executed, FunctionError: last.FunctionError}
		if json.Valid(last.Payload) {
			r.ResponsePayload = last.Payload
		} else if len(last.Payload) > 0 {
			// A response that is not JSON is recorded as a JSON string.
			r.ResponsePayload, _ = json.Marshal(string(last.Payload))
		}
	}
	return r
}

// Target returns the target of a destination ARN, or Lambda's InvalidParameterValueException
// when the ARN names nothing this node can deliver to.
func (q *Queue) Target(arn string) (Target, error) {
	invalid := func(why string) error {
		return lambda.InvalidParameter("The destination ARN %s is invalid.%s", arn, why)
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return nil, invalid("")
	}
	switch parts[2] {
	case "lambda":
	case "sqs", "sns", "events", "s3":
		return nil, invalid(fmt.Sprintf(" Nimbus has no %s yet: use a Lambda function as the destination.", serviceNames[parts[2]]))
	default:
		return nil, invalid("")
	}
	ref, err := lambda.ParseFunctionRef(arn, q.cfg.Location)
	if err != nil || !strings.HasPrefix(parts[5], "function:") {
		return nil, invalid("")
	}
	if _, ok := q.cfg.Functions.Lookup(ref.Name); !ok {
		return nil, invalid(" No function has this name.")
	}
	if _, ok := q.cfg.Functions.Resolve(ref.Name, ref.Qualifier); !ok {
		return nil, invalid(" The function has no such version or alias.")
	}
	return &functionTarget{q: q, name: ref.Name, qualifier: ref.Qualifier, arn: arn}, nil
}

var errLoop = errors.New("recursive invocation loop")

var serviceNames = map[string]string{
	"sqs": "SQS queues", "sns": "SNS topics", "events": "EventBridge buses", "s3": "S3 buckets",
}

// functionTarget invokes a function asynchronously with the record: through the same queue,
// so the record itself gets retries, event age and destinations.
type functionTarget struct {
	q         *Queue
	name      string
	qualifier string // the version or alias the ARN names, "" for none
	arn       string
}

func (t *functionTarget) Send(ctx context.Context, m Message) error {
	if _, ok := t.q.cfg.Functions.Resolve(t.name, t.qualifier); !ok {
		return fmt.Errorf("destination %s: %w", t.arn, errNoFunction)
	}
	if m.Lineage[lineageKey(t.name)] > MaxLineageHops {
		// The record of an event the loop detector stopped would restart the loop.
		return fmt.Errorf("destination %s: %w", t.arn, errLoop)
	}
	return t.q.Enqueue(ctx, &Event{
		RequestID: uuid.NewString(), Function: t.name, Qualifier: t.qualifier, InvokedARN: t.arn, Payload: m.Body,
		TraceID: m.TraceID, Lineage: m.Lineage,
	})
}

// Interface guards.
var _ Target = (*functionTarget)(nil)
