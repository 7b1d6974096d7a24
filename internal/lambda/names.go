package lambda

import (
	"fmt"
	"regexp"
	"strings"
)

// FunctionRef is a parsed reference to a function: its bare name and, when one was given, the
// qualifier (a version, an alias or $LATEST).
type FunctionRef struct {
	Name      string
	Qualifier string
}

// Location is where this Lambda endpoint lives; ARNs are built from it and references to other
// regions or accounts are refused.
type Location struct {
	Partition string // "aws"
	Region    string
	AccountID string
}

// FunctionARN is the unqualified ARN of the named function.
func (l Location) FunctionARN(name string) string {
	return fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", l.partition(), l.Region, l.AccountID, name)
}

// QualifiedARN is the ARN of one version or alias of the function.
func (l Location) QualifiedARN(name, qualifier string) string {
	return l.FunctionARN(name) + ":" + qualifier
}

func (l Location) partition() string {
	if l.Partition == "" {
		return "aws"
	}
	return l.Partition
}

// functionNamePattern is the model's pattern for FunctionName, anchored.
const functionNamePattern = `(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`

var (
	functionNameRE = regexp.MustCompile(`^` + functionNamePattern + `$`)
	bareNameRE     = regexp.MustCompile(`^[a-zA-Z0-9-_]{1,64}$`)
	qualifierRE    = regexp.MustCompile(`^[a-zA-Z0-9$_-]{1,128}$`)
)

// ParseFunctionRef accepts every form Lambda does: name, name:qualifier, account:function:name,
// and full ARNs, each with an optional qualifier. The caller has already percent-decoded it.
// References to another region or account are refused the way Lambda refuses them.
func ParseFunctionRef(raw string, loc Location) (FunctionRef, error) {
	if len(raw) == 0 || len(raw) > 170 || !functionNameRE.MatchString(raw) {
		return FunctionRef{}, Validation("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", raw, functionNamePattern)
	}
	parts := strings.Split(raw, ":")
	var ref FunctionRef
	switch {
	case strings.HasPrefix(raw, "arn:"):
		// arn:partition:lambda:region:account:function:name[:qualifier]
		if len(parts) < 7 || parts[5] != "function" {
			return FunctionRef{}, invalidName(raw)
		}
		if parts[3] != loc.Region {
			return FunctionRef{}, NotFound("Functions from '%s' are not reachable in this region ('%s')", parts[3], loc.Region)
		}
		if parts[4] != loc.AccountID {
			return FunctionRef{}, AccessDenied("")
		}
		ref.Name = parts[6]
		if len(parts) == 8 {
			ref.Qualifier = parts[7]
		}
	case len(parts) >= 3 && parts[1] == "function":
		// account:function:name[:qualifier]
		if parts[0] != loc.AccountID {
			return FunctionRef{}, AccessDenied("")
		}
		ref.Name = parts[2]
		if len(parts) == 4 {
			ref.Qualifier = parts[3]
		}
	case len(parts) <= 2:
		ref.Name = parts[0]
		if len(parts) == 2 {
			ref.Qualifier = parts[1]
		}
	default:
		return FunctionRef{}, invalidName(raw)
	}
	if !bareNameRE.MatchString(ref.Name) {
		return FunctionRef{}, invalidName(raw)
	}
	if ref.Qualifier != "" && !qualifierRE.MatchString(ref.Qualifier) {
		return FunctionRef{}, invalidName(raw)
	}
	return ref, nil
}

// WithQualifier merges a ?Qualifier= parameter into the reference, refusing a conflict the way
// Lambda does.
func (r FunctionRef) WithQualifier(q string) (FunctionRef, error) {
	if q == "" {
		return r, nil
	}
	if !qualifierRE.MatchString(q) {
		return r, Validation("1 validation error detected: Value '%s' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)", q)
	}
	if r.Qualifier != "" && r.Qualifier != q {
		return r, InvalidParameter("The derived qualifier from the function name does not match the specified qualifier.")
	}
	r.Qualifier = q
	return r, nil
}

// ValidateFunctionName checks a name given to CreateFunction, where the name (or the name part
// of an ARN) must fit in 64 characters.
func ValidateFunctionName(raw string) error {
	if !functionNameRE.MatchString(raw) || len(raw) > 140 {
		return Validation("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", raw, functionNamePattern)
	}
	return nil
}

func invalidName(raw string) *Error {
	return Validation("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", raw, functionNamePattern)
}
