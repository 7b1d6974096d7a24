package lambda

// Invocation is one request to run a function.
type Invocation struct {
	Function *Function
	// Version is the version that runs ($LATEST until versions exist); InvokedARN is the ARN as
	// the caller named it (with its qualifier, if any).
	Version    string
	InvokedARN string
	RequestID  string
	Payload    []byte
	// ClientContext is the decoded X-Amz-Client-Context JSON, or empty.
	ClientContext string
	TraceID       string
	// WantLogTail asks for the last 4 KB of the invocation's log.
	WantLogTail bool
}

// InvokeResult is what a synchronous invocation returns to its caller.
type InvokeResult struct {
	Payload []byte
	// FunctionError is "Unhandled" when the function or its runtime failed; the payload is
	// then Lambda's error document.
	FunctionError string
	// LogTail is the last 4 KB of the invocation's log, when asked for.
	LogTail []byte
}

// Header values and invocation types of the Invoke operation.
const (
	InvocationRequestResponse = "RequestResponse"
	InvocationEvent           = "Event"
	InvocationDryRun          = "DryRun"
	FunctionErrorUnhandled    = "Unhandled"
)
