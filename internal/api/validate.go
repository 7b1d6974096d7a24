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
	if len(fn.Handler) > lambda.MaxHandler || !handlerRE.MatchString(fn.Handler) {
		return validationError(fn.Handler, "handler", `Member must satisfy regular expression pattern: [^\s]+`)
	}
	if fn.Runtime == "" {
		return lambda.InvalidParameter("Runtime is required for a function with a Zip package type.")
	}
	if !slices.Contains(s.runtimes.Names(), fn.Runtime) {
		return lambda.InvalidParameter("Value %s at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [%s] or be a valid ARN", fn.Runtime, strings.Join(s.runtimes.Names(), ", "))
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
