package lambda

// QueueStatus is the answer of Nimbus's own GET /nimbus/async-queue (no Lambda operation has
// it): the asynchronous queue's backlog and the answering node's counters, per function. The
// API writes it and `nimbus queue` reads it.
type QueueStatus struct {
	Functions []QueueFunction `json:"Functions"`
}

// QueueFunction is one function's line of QueueStatus.
type QueueFunction struct {
	FunctionName          string  `json:"FunctionName"`
	Events                uint64  `json:"Events"` // waiting, delayed for a retry or running, in the cluster
	OldestEventAgeSeconds float64 `json:"OldestEventAgeSeconds"`
	// The answering node's counters since it started.
	Received            int64   `json:"Received"`
	Succeeded           int64   `json:"Succeeded"`
	Dropped             int64   `json:"Dropped"`
	Retried             int64   `json:"Retried"`
	Throttled           int64   `json:"Throttled"`
	DestinationFailures int64   `json:"DestinationFailures"`
	MeanEventAgeSeconds float64 `json:"MeanEventAgeSeconds"`
}
