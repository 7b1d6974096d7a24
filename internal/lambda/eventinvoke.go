package lambda

import "time"

// EventInvokeConfig is how a function's asynchronous invocations are retried and where their
// results go (PutFunctionEventInvokeConfig). Only $LATEST exists, so a function has at most
// one. Nil members take Lambda's defaults.
type EventInvokeConfig struct {
	MaximumRetryAttempts     *int `json:"maximumRetryAttempts,omitempty"`
	MaximumEventAgeInSeconds *int `json:"maximumEventAgeInSeconds,omitempty"`
	// OnSuccess and OnFailure are destination ARNs, or empty.
	OnSuccess    string    `json:"onSuccess,omitempty"`
	OnFailure    string    `json:"onFailure,omitempty"`
	LastModified time.Time `json:"lastModified"`
}

// Lambda's limits and defaults for asynchronous invocation.
const (
	MaxRetryAttempts       = 2
	DefaultRetryAttempts   = 2
	MinEventAgeSeconds     = 60
	MaxEventAgeSeconds     = 21600
	DefaultEventAgeSeconds = 21600
	// MaxAsyncPayload is the largest Event payload (raised from 256 KB to 1 MB in 2025).
	MaxAsyncPayload = 1 << 20
	// MaxInvokeAsyncPayload is the largest payload of the legacy InvokeAsync operation.
	MaxInvokeAsyncPayload = 256 * 1024
)

// RetryAttempts is how often a failed asynchronous invocation is retried.
func (c *EventInvokeConfig) RetryAttempts() int {
	if c == nil || c.MaximumRetryAttempts == nil {
		return DefaultRetryAttempts
	}
	return *c.MaximumRetryAttempts
}

// MaxEventAge is how long an event may wait in the queue, retries included.
func (c *EventInvokeConfig) MaxEventAge() time.Duration {
	if c == nil || c.MaximumEventAgeInSeconds == nil {
		return DefaultEventAgeSeconds * time.Second
	}
	return time.Duration(*c.MaximumEventAgeInSeconds) * time.Second
}

// Destination is the ARN results of the given outcome go to, or "".
func (c *EventInvokeConfig) Destination(success bool) string {
	switch {
	case c == nil:
		return ""
	case success:
		return c.OnSuccess
	default:
		return c.OnFailure
	}
}

// Clone returns a deep copy of c (nil for nil).
func (c *EventInvokeConfig) Clone() *EventInvokeConfig {
	if c == nil {
		return nil
	}
	d := *c
	if c.MaximumRetryAttempts != nil {
		n := *c.MaximumRetryAttempts
		d.MaximumRetryAttempts = &n
	}
	if c.MaximumEventAgeInSeconds != nil {
		n := *c.MaximumEventAgeInSeconds
		d.MaximumEventAgeInSeconds = &n
	}
	return &d
}

// Conditions of asynchronous invocation records, as Lambda names them.
const (
	ConditionSuccess                 = "Success"
	ConditionRetriesExhausted        = "RetriesExhausted"
	ConditionEventAgeExceeded        = "EventAgeExceeded"
	ConditionZeroReservedConcurrency = "ZeroReservedConcurrency"
	// ConditionRecursiveLoop marks an event stopped by recursive loop detection. Lambda's
	// documentation does not give the record's condition for it; this name is Nimbus's.
	ConditionRecursiveLoop = "RecursiveInvocationLoop"
)
