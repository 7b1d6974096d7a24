package lambda

import "time"

// Function is the stored state of one function's $LATEST: its configuration and the identity of
// its code, with its published versions and aliases. The API shapes it into Lambda's FunctionConfiguration; the invoker runs it.
type Function struct {
	Name         string            `json:"name"`
	Runtime      string            `json:"runtime"`
	Handler      string            `json:"handler"`
	Role         string            `json:"role"`
	Description  string            `json:"description"`
	Timeout      int               `json:"timeout"`     // seconds
	MemorySize   int               `json:"memorySize"`  // MB
	EphemeralMB  int               `json:"ephemeralMB"` // size of /tmp, MB
	Environment  map[string]string `json:"environment,omitempty"`
	Architecture string            `json:"architecture"`
	TracingMode  string            `json:"tracingMode"`
	Layers       []string          `json:"layers,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`

	// ReservedConcurrency is the function's reserved concurrency (PutFunctionConcurrency):
	// the most invocations it may run at once, set aside from the account's pool. Nil when
	// none is reserved. Like tags it is not configuration: setting it leaves LastModified and
	// RevisionId alone.
	ReservedConcurrency *int `json:"reservedConcurrency,omitempty"`

	// EventInvoke is the function's asynchronous invocation config, nil when it has none.
	// Like ReservedConcurrency it is not configuration: it leaves LastModified alone.
	EventInvoke *EventInvokeConfig `json:"eventInvokeConfig,omitempty"`

	// Code is identified by the SHA-256 of the uploaded zip.
	CodeSHA256 string `json:"codeSha256"` // hex; the Object Store key
	CodeSize   int64  `json:"codeSize"`

	// Version is "" in a function's own record ($LATEST) and the version's number in a
	// published version's copy.
	Version string `json:"version,omitempty"`
	// Versions are the published versions, sorted by number: frozen copies of $LATEST's
	// configuration and code (with the LastModified $LATEST had), kept inside the function's
	// record so that a function and all its versions change and disappear together.
	// LastVersion is the highest number ever given, so numbers are never reused after a
	// version is deleted. Aliases point at versions. All three are empty in a version's copy.
	Versions    []*Function `json:"versions,omitempty"`
	LastVersion int         `json:"lastVersion,omitempty"`
	Aliases     []*Alias    `json:"aliases,omitempty"`

	LastModified time.Time `json:"lastModified"`
	RevisionID   string    `json:"revisionId"`
	State        string    `json:"state"`
	StateReason  string    `json:"stateReason,omitempty"`
	StateCode    string    `json:"stateReasonCode,omitempty"`
	UpdateStatus string    `json:"lastUpdateStatus"`
}

// States and update statuses, as Lambda names them.
const (
	StatePending  = "Pending"
	StateActive   = "Active"
	StateFailed   = "Failed"
	UpdateSuccess = "Successful"
	UpdateRunning = "InProgress"
	UpdateFailed  = "Failed"
)

// VersionLatest is the unpublished, mutable version of every function.
const VersionLatest = "$LATEST"

// Lambda's limits. Nimbus enforces each of them.
const (
	MinMemoryMB          = 128
	MaxMemoryMB          = 10240
	DefaultMemoryMB      = 128
	MinTimeoutSeconds    = 1
	MaxTimeoutSeconds    = 900
	DefaultTimeout       = 3
	MinEphemeralMB       = 512
	MaxEphemeralMB       = 10240
	MaxDescription       = 256
	MaxHandler           = 128
	MaxEnvironmentBytes  = 4096
	MaxZipBytes          = 50 * 1024 * 1024
	MaxUnzippedBytes     = 262144000
	MaxCreateRequestSize = 70167211
	MaxSyncPayload       = 6 * 1024 * 1024
	MaxResponsePayload   = 6*1024*1024 + 100
	ListFunctionsMaxPage = 50
	DefaultArchitecture  = "x86_64"
)

// MBPerVCPU is the memory at which a function gets one full vCPU; CPU scales with memory.
const MBPerVCPU = 1769
