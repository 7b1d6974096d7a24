package api

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/nimbusfaas/nimbus/internal/lambda"
)

var (
	handlerRE = regexp.MustCompile(`^[^\s]+$`)
	roleRE    = regexp.MustCompile(`^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$`)
	envNameRE = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9_])+$`)
)

// reservedEnv are the variables Lambda sets itself; functions may not override them.
var reservedEnv = map[string]bool{
	"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_REGION": true, "AWS_DEFAULT_REGION": true,
	"AWS_EXECUTION_ENV": true, "AWS_ACCESS_KEY_ID": true, "AWS_ACCESS_KEY": true,
	"AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true, "LAMBDA_TASK_ROOT": true,
	"LAMBDA_RUNTIME_DIR": true, "TZ": true,
}

func isReservedEnv(name string) bool {
	return reservedEnv[name] || strings.HasPrefix(name, "AWS_LAMBDA_")
}

func validationError(value any, member, constraint string) error {
	return lambda.Validation("1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: %s", value, member, constraint)
}

// validateSettings checks the configuration members shared by CreateFunction and
// UpdateFunctionConfiguration, with Lambda's limits and messages.
func (s *Server) validateSettings(fn *lambda.Function) error {
	if fn.MemorySize < lambda.MinMemoryMB || fn.MemorySize > lambda.MaxMemoryMB {
		if fn.MemorySize < lambda.MinMemoryMB {
			return validationError(fn.MemorySize, "memorySize", fmt.Sprintf("Member must have value greater than or equal to %d", lambda.MinMemoryMB))
		}
		return validationError(fn.MemorySize, "memorySize", fmt.Sprintf("Member must have value less than or equal to %d", lambda.MaxMemoryMB))
	}
	if s.invoker != nil && fn.MemorySize > s.invoker.MemoryBudgetMB() {
		// Refused now rather than throttled forever at every Invoke.
		return lambda.InvalidParameter("MemorySize %d MB is more than this node's whole memory budget of %d MB (the server's --memory-budget): the function could never run. Lower MemorySize or raise --memory-budget.",
			fn.MemorySize, s.invoker.MemoryBudgetMB())
	}
	if fn.Timeout < lambda.MinTimeoutSeconds {
		return validationError(fn.Timeout, "timeout", "Member must have value greater than or equal to 1")
	}
	if fn.Timeout > lambda.MaxTimeoutSeconds {
		return validationError(fn.Timeout, "timeout", fmt.Sprintf("Member must have value less than or equal to %d", lambda.MaxTimeoutSeconds))
	}
	if fn.EphemeralMB < lambda.MinEphemeralMB || fn.EphemeralMB > lambda.MaxEphemeralMB {
		return validationError(fn.EphemeralMB, "ephemeralStorage.size", fmt.Sprintf("Member must have value between %d and %d", lambda.MinEphemeralMB, lambda.MaxEphemeralMB))
	}
	if len(fn.Description) > lambda.MaxDescription {
		return validationError(fn.Description, "description", "Member must have length less than or equal to 256")
	}
	if fn.Handler == "" {
		return lambda.InvalidParameter("Handler is required for a function with a Zip package type.")
	}
	// A NUL passes Lambda's pattern but cannot reach a process: execve ends strings at NUL, so
	// every cold start would fail. It is refused as not matching, the closest Lambda message.
	if len(fn.Handler) > lambda.MaxHandler || !handlerRE.MatchString(fn.Handler) || strings.ContainsRune(fn.Handler, 0) {
		return validationError(fn.Handler, "handler", `Member must satisfy regular expression pattern: [^\s]+`)
	}
	if fn.Runtime == "" {
		return lambda.InvalidParameter("Runtime is required for a function with a Zip package type.")
	}
	if !slices.Contains(s.runtimes.Names(), fn.Runtime) {
		return unavailableRuntime(fn.Runtime, s.runtimes.Names())
	}
	if fn.Role == "" || !roleRE.MatchString(fn.Role) {
		return validationError(fn.Role, "role", `Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`)
	}
	if fn.Architecture != lambda.DefaultArchitecture {
		return lambda.InvalidParameter("Architecture %s is not supported on this node; supported: [%s]", fn.Architecture, lambda.DefaultArchitecture)
	}
	if fn.TracingMode != "PassThrough" && fn.TracingMode != "Active" {
		return validationError(fn.TracingMode, "tracingConfig.mode", "Member must satisfy enum value set: [Active, PassThrough]")
	}
	return validateEnvironment(fn.Environment)
}

func validateEnvironment(vars map[string]string) error {
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	var reserved []string
	for _, k := range names {
		if !envNameRE.MatchString(k) {
			return validationError(k, "environment.variables", "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+")
		}
		if isReservedEnv(k) {
			reserved = append(reserved, k)
		}
	}
	if len(reserved) > 0 {
		return lambda.InvalidParameter("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", strings.Join(reserved, ","))
	}
	// A process environment cannot hold a NUL (execve ends each string there), so a value with
	// one would make every start of the function fail. Values are sensitive: only keys are named.
	var withNUL []string
	for _, k := range names {
		if strings.ContainsRune(vars[k], 0) {
			withNUL = append(withNUL, k)
		}
	}
	if len(withNUL) > 0 {
		return lambda.InvalidParameter("Lambda was unable to configure your environment variables because the environment variables you have provided contain a NUL character, which an environment variable cannot hold. Keys whose values contain one: %s", strings.Join(withNUL, ","))
	}
	// Lambda measures the JSON of the variables map against 4 KB.
	measured, _ := json.Marshal(vars)
	if len(measured) > lambda.MaxEnvironmentBytes {
		shown := string(measured)
		if len(shown) > 256 {
			shown = shown[:256]
		}
		return lambda.InvalidParameter("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %s", shown)
	}
	return nil
}

// unsupportedSettings are the CreateFunction and UpdateFunctionConfiguration members Nimbus
// does not implement. They are decoded so that a request that asks for one is refused with a
// clear error rather than accepted and silently ignored; their defaults (Text logs in the
// function's own group, no VPC, no KMS key...) are accepted, as that is what Nimbus does.
type unsupportedSettings struct {
	LoggingConfig *struct {
		LogFormat           string `json:"LogFormat"`
		LogGroup            string `json:"LogGroup"`
		ApplicationLogLevel string `json:"ApplicationLogLevel"`
		SystemLogLevel      string `json:"SystemLogLevel"`
	} `json:"LoggingConfig"`
	KMSKeyArn string `json:"KMSKeyArn"`
	VpcConfig *struct {
		SubnetIds        []string `json:"SubnetIds"`
		SecurityGroupIds []string `json:"SecurityGroupIds"`
	} `json:"VpcConfig"`
	DeadLetterConfig *struct {
		TargetArn string `json:"TargetArn"`
	} `json:"DeadLetterConfig"`
	FileSystemConfigs    []json.RawMessage `json:"FileSystemConfigs"`
	ImageConfig          map[string]any    `json:"ImageConfig"`
	CodeSigningConfigArn string            `json:"CodeSigningConfigArn"`
	SnapStart            *struct {
		ApplyOn string `json:"ApplyOn"`
	} `json:"SnapStart"`
}

// check refuses the settings of u that ask for something Nimbus does not do for function name.
func (u *unsupportedSettings) check(name string) error {
	if lc := u.LoggingConfig; lc != nil {
		switch {
		case lc.LogFormat != "" && lc.LogFormat != "Text":
			return lambda.InvalidParameter("LoggingConfig LogFormat %s is not available on this Nimbus server: functions log in the Text format.", lc.LogFormat)
		case lc.ApplicationLogLevel != "" || lc.SystemLogLevel != "":
			return lambda.InvalidParameter("LoggingConfig log levels are not available on this Nimbus server: they need the JSON log format, and functions log in the Text format.")
		case lc.LogGroup != "" && lc.LogGroup != "/aws/lambda/"+name:
			return lambda.InvalidParameter("LoggingConfig LogGroup %s is not available on this Nimbus server: a function logs to /aws/lambda/%s.", lc.LogGroup, name)
		}
	}
	if u.KMSKeyArn != "" {
		return lambda.InvalidParameter("KMSKeyArn is not available on this Nimbus server: there is no KMS; environment variables stay in the server's store.")
	}
	if v := u.VpcConfig; v != nil && (len(v.SubnetIds) > 0 || len(v.SecurityGroupIds) > 0) {
		return lambda.InvalidParameter("VpcConfig is not available on this Nimbus server: every function runs in a network namespace of its own.")
	}
	if d := u.DeadLetterConfig; d != nil && d.TargetArn != "" {
		return lambda.InvalidParameter("DeadLetterConfig is not available on this Nimbus server yet: a dead-letter queue is an SQS queue or SNS topic, and Nimbus has neither. Keep failed events with an OnFailure destination (PutFunctionEventInvokeConfig) instead.")
	}
	if len(u.FileSystemConfigs) > 0 {
		return lambda.InvalidParameter("FileSystemConfigs are not available on this Nimbus server.")
	}
	if len(u.ImageConfig) > 0 {
		return lambda.InvalidParameter("ImageConfig is not available on this Nimbus server: it runs Zip packages.")
	}
	if u.CodeSigningConfigArn != "" {
		return lambda.InvalidParameter("CodeSigningConfigArn is not available on this Nimbus server.")
	}
	if s := u.SnapStart; s != nil && s.ApplyOn != "" && s.ApplyOn != "None" {
		return lambda.InvalidParameter("SnapStart %s is not available on this Nimbus server.", s.ApplyOn)
	}
	return nil
}

// unavailableRuntime refuses a runtime this server does not run. One Lambda knows, such as
// python3.12 on a host with only Python 3.11, gets a message saying so (Lambda's enum error
// would call it invalid); anything else gets Lambda's enum error, listing what this server
// runs instead of Lambda's whole enum. Both list the server's runtimes in brackets, which
// `nimbus deploy` reads.
// installableRuntimeRE matches the runtimes Nimbus runs when the host has the interpreter:
// Python 3.8 and later, Node.js 16 and later.
var installableRuntimeRE = regexp.MustCompile(`^(python3\.([89]|[1-9]\d)|nodejs(1[6-9]|[2-9]\d)\.x)$`)

func unavailableRuntime(runtime string, have []string) error {
	list := strings.Join(have, ", ")
	switch {
	case !lambda.IsLambdaRuntime(runtime):
		return lambda.InvalidParameter("Value %s at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [%s] or be a valid ARN", runtime, list)
	case installableRuntimeRE.MatchString(runtime):
		return lambda.InvalidParameter("The runtime %s is not installed on this Nimbus server, which runs: [%s]. Install its interpreter on the server's machine and restart the server, or use one of those.", runtime, list)
	}
	return lambda.InvalidParameter("The runtime %s is not supported by Nimbus, which runs: [%s].", runtime, list)
}
