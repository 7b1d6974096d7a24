package cli

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Family is a kind of runtime, whatever its version.
type Family string

// Runtime families.
const (
	Python   Family = "python"
	Node     Family = "nodejs"
	Provided Family = "provided"
)

// FamilyOf returns the family of a runtime name ("python3.12" → Python), or "".
func FamilyOf(runtime string) Family {
	switch {
	case strings.HasPrefix(runtime, "python"):
		return Python
	case strings.HasPrefix(runtime, "nodejs"):
		return Node
	case strings.HasPrefix(runtime, "provided"):
		return Provided
	}
	return ""
}

// Detection is what deploy inferred about some code.
type Detection struct {
	Family  Family
	Handler string
	// Build says the code is a Go module to build into a bootstrap executable.
	Build bool
	// Reason is what the inference rests on, to print ("found lambda_function.py").
	Reason string
}

// files is the top level of some code: a directory or a zip.
type files struct {
	mode func(name string) (fs.FileMode, bool)
	read func(name string) ([]byte, bool)
}

var (
	pythonHandlerRE = regexp.MustCompile(`(?m)^(?:async\s+)?def\s+(lambda_handler|handler|main)\s*\(`)
	pythonFiles     = []string{"lambda_function.py", "app.py", "handler.py", "main.py"}
	nodeFiles       = []string{"index.mjs", "index.js", "index.cjs"}
)

// detect infers how to run code from the names at its top level: a Go module is built for
// provided.al2023; a bootstrap executable runs as it is; lambda_function.py, app.py,
// handler.py or main.py is Python with the handler function it defines (lambda_handler,
// handler or main); index.mjs, index.js or index.cjs is Node with index.handler.
func detect(f files, allowBuild bool) (Detection, error) {
	var found []Detection
	if _, ok := f.mode("go.mod"); ok && allowBuild {
		found = append(found, Detection{Family: Provided, Handler: "bootstrap", Build: true, Reason: "found go.mod"})
	} else if m, ok := f.mode("bootstrap"); ok && m&0o111 != 0 {
		found = append(found, Detection{Family: Provided, Handler: "bootstrap", Reason: "found an executable bootstrap"})
	}
	for _, name := range pythonFiles {
		src, ok := f.read(name)
		if !ok {
			continue
		}
		module := strings.TrimSuffix(name, ".py")
		fn := ""
		if m := pythonHandlerRE.FindAllSubmatch(src, -1); len(m) > 0 {
			names := make([]string, len(m))
			for i := range m {
				names[i] = string(m[i][1])
			}
			for _, want := range []string{"lambda_handler", "handler", "main"} {
				if slices.Contains(names, want) {
					fn = want
					break
				}
			}
		}
		if fn == "" {
			if name != "lambda_function.py" {
				continue // app.py without a handler function is someone else's app.py
			}
			fn = "lambda_handler" // the console's default
		}
		found = append(found, Detection{Family: Python, Handler: module + "." + fn, Reason: "found " + name})
		break
	}
	for _, name := range nodeFiles {
		if _, ok := f.mode(name); ok {
			found = append(found, Detection{Family: Node, Handler: "index.handler", Reason: "found " + name})
			break
		}
	}
	switch len(found) {
	case 0:
		return Detection{}, nil
	case 1:
		return found[0], nil
	}
	var reasons []string
	for _, d := range found {
		reasons = append(reasons, strings.TrimPrefix(d.Reason, "found "))
	}
	return Detection{}, &UserError{Msg: fmt.Sprintf("the code holds %s, so it is not clear how to run it: pass --runtime and --handler",
		strings.Join(reasons, " and "))}
}

// familyOfHandler infers the runtime family from the file a handler names ("app.main" →
// app.py), for a --handler given without --runtime.
func familyOfHandler(f files, handler string) Family {
	if handler == "bootstrap" {
		return Provided
	}
	i := strings.LastIndex(handler, ".")
	if i <= 0 {
		return ""
	}
	module := handler[:i]
	if _, ok := f.mode(module + ".py"); ok {
		return Python
	}
	for _, ext := range []string{".mjs", ".js", ".cjs"} {
		if _, ok := f.mode(module + ext); ok {
			return Node
		}
	}
	return ""
}

// pickRuntime chooses the newest runtime of a family among those a server runs.
func pickRuntime(available []string, fam Family) (string, bool) {
	best, bestKey := "", []int(nil)
	for _, r := range available {
		if FamilyOf(r) != fam {
			continue
		}
		key := runtimeKey(r)
		if best == "" || slices.Compare(key, bestKey) > 0 {
			best, bestKey = r, key
		}
	}
	return best, best != ""
}

// runtimeKey orders runtimes of a family: python3.9 < python3.12, nodejs18.x < nodejs20.x,
// provided < provided.al2 < provided.al2023.
func runtimeKey(r string) []int {
	var key []int
	for _, part := range regexp.MustCompile(`\d+`).FindAllString(r, -1) {
		n, _ := strconv.Atoi(part)
		key = append(key, n)
	}
	return key
}

// parseRuntimeList reads the runtimes a server offers out of its CreateFunction message for
// an unknown runtime ("… Member must satisfy enum value set: [a, b, c] …") or for a Lambda
// runtime it lacks ("… which runs: [a, b, c]. …").
func parseRuntimeList(msg string) []string {
	_, rest, ok := strings.Cut(msg, "enum value set: [")
	if !ok {
		_, rest, ok = strings.Cut(msg, "which runs: [")
	}
	if !ok {
		return nil
	}
	list, _, ok := strings.Cut(rest, "]")
	if !ok {
		return nil
	}
	var out []string
	for _, r := range strings.Split(list, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// checkHandlerFile refuses a Python or Node handler whose module file is not in the code:
// Lambda would accept the function and fail every invocation with Runtime.ImportModuleError.
// The modules are looked up as the runtimes do: Python's "pkg/app.main" or "pkg.app.main"
// is pkg/app.py or pkg/app/__init__.py; Node's "src/index.handler" is src/index.js, .mjs or
// .cjs (the function name starts at the first dot after the last slash).
func checkHandlerFile(f files, path, runtime, handler string, det Detection) error {
	var module string
	var candidates []string
	switch FamilyOf(runtime) {
	case Python:
		i := strings.LastIndex(handler, ".")
		if i <= 0 {
			return nil // the API refuses it with Lambda's own message
		}
		module = strings.ReplaceAll(handler[:i], ".", "/")
		candidates = []string{module + ".py", module + "/__init__.py"}
	case Node:
		slash := strings.LastIndex(handler, "/")
		i := strings.Index(handler[slash+1:], ".")
		if i <= 0 {
			return nil
		}
		module = handler[:slash+1+i]
		candidates = []string{module + ".js", module + ".mjs", module + ".cjs"}
	default:
		return nil
	}
	for _, c := range candidates {
		if _, ok := f.mode(c); ok {
			return nil
		}
	}
	hint := ""
	if det.Handler != "" && det.Family == FamilyOf(runtime) {
		hint = fmt.Sprintf(" (%s: did you mean --handler %s?)", det.Reason, det.Handler)
	}
	return &UserError{Msg: fmt.Sprintf("handler %s names module %s, but %s has no %s%s: pass the --handler of a file that is there, or add the file",
		handler, module, path, strings.Join(candidates, " or "), hint)}
}
