package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// DeployOptions are the arguments of `nimbus deploy`. Zero values mean "infer" (Name,
// Runtime, Handler) or "Lambda's default on create, unchanged on update" (the rest).
type DeployOptions struct {
	// Path is a directory (zipped, or built when it is a Go module) or a .zip file.
	Path        string
	Name        string
	Runtime     string
	Handler     string
	MemoryMB    int
	TimeoutSec  int
	Description *string
	// Env, when not nil, replaces the function's environment variables.
	Env map[string]string
	// NoDeps zips a directory as it is, without installing what its requirements.txt or
	// package.json declares.
	NoDeps bool
}

// DeployResult is what `nimbus deploy --output json` prints.
type DeployResult struct {
	Function
	// Action is "created", "updated" or "unchanged".
	Action string `json:"Action"`
	// LeftOut is what the directory's .nimbusignore kept out of the zip.
	LeftOut []string `json:"LeftOut,omitempty"`
}

var functionNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// defaultName derives a function name from a path: its base name without .zip, with what a
// function name cannot hold turned into dashes.
func defaultName(p string) string {
	base := strings.TrimSuffix(filepath.Base(absPath(p)), ".zip")
	name := regexp.MustCompile(`[^a-zA-Z0-9_-]+`).ReplaceAllString(base, "-")
	name = strings.Trim(name, "-")
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}

// Deploy creates the function or updates its code and configuration, waits until it can be
// invoked, and prints a summary.
func (a *App) Deploy(ctx context.Context, o DeployOptions) error {
	info, err := os.Stat(o.Path)
	if err != nil {
		return &UserError{Err: err, Msg: fmt.Sprintf("cannot deploy %s: %v", o.Path, innermost(err))}
	}
	name := o.Name
	var notes []string // said once the deploy worked: on failure, the error alone is the one line to read
	if name == "" {
		name = defaultName(o.Path)
		if base := strings.TrimSuffix(filepath.Base(absPath(o.Path)), ".zip"); name != base && name != "" {
			notes = append(notes, fmt.Sprintf("deployed %s as %s: a function name holds only letters, digits, - and _ (--name picks another)", base, name))
		}
	}
	if !functionNameRE.MatchString(name) {
		return &UserError{Msg: fmt.Sprintf("%q is not a valid function name (letters, digits, - and _, at most 64): pass one with --name", name)}
	}
	if info.IsDir() {
		if entries, err := os.ReadDir(o.Path); err == nil && len(entries) == 0 {
			return &UserError{Msg: fmt.Sprintf("%s is empty: put the function's code in it (lambda_function.py, index.mjs, a Go module or a bootstrap executable), then deploy again", o.Path)}
		}
	}
	subject := "function " + name

	// What the code is.
	var f files
	var zipData []byte
	switch {
	case info.IsDir():
		f = dirFiles(o.Path)
	case strings.HasSuffix(strings.ToLower(o.Path), ".zip"):
		if zipData, err = os.ReadFile(o.Path); err != nil {
			return err
		}
		entries, err := zipEntries(zipData)
		if err != nil {
			return &UserError{Err: err, Msg: fmt.Sprintf("%s is not a readable zip (%v): rebuild it, or deploy its directory instead", o.Path, err)}
		}
		f = files{
			mode: func(n string) (fs.FileMode, bool) { m, ok := entries[n]; return m, ok },
			read: func(n string) ([]byte, bool) { return zipReadFile(zipData, n) },
		}
	default:
		return &UserError{Msg: fmt.Sprintf("%s is neither a directory nor a .zip file: deploy a directory of code or a zip of it", o.Path)}
	}
	det, err := detect(f, info.IsDir())
	if err != nil {
		return err
	}

	existing, err := a.Lambda.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String(name)})
	var current *types.FunctionConfiguration
	switch {
	case err == nil:
		current = existing.Configuration
	case apiCode(err) != "ResourceNotFoundException":
		return a.explain(err, subject)
	}

	// The runtime: as given; else the current one if the code is still of its family; else the
	// newest of the inferred family that the server runs.
	family := det.Family
	if o.Handler != "" && o.Runtime == "" {
		if hf := familyOfHandler(f, o.Handler); hf != "" && hf != family {
			family, det = hf, Detection{Family: hf, Reason: "--handler " + o.Handler}
		}
	}
	runtime := o.Runtime
	inferred := false
	keepCurrent := current != nil && o.Runtime == "" && (family == "" || FamilyOf(string(current.Runtime)) == family)
	switch {
	case runtime != "":
	case keepCurrent:
		runtime = string(current.Runtime)
	case family == "":
		return &UserError{Msg: fmt.Sprintf("cannot tell what runtime %s needs (no lambda_function.py, index.js, index.mjs, go.mod or bootstrap at its top): pass --runtime and --handler", o.Path)}
	default:
		available, err := a.Runtimes(ctx)
		if err != nil {
			return err
		}
		r, ok := pickRuntime(available, family)
		if !ok {
			return &UserError{Msg: fmt.Sprintf("this server cannot run %s functions (it runs %s): install the interpreter on the server's machine, or pick one of those with --runtime",
				family, strings.Join(available, ", "))}
		}
		runtime, inferred = r, true
	}
	// The handler: as given; else the current one while the code still has its file; else
	// the inferred one.
	handler := o.Handler
	switch {
	case handler != "":
	case current != nil && FamilyOf(runtime) == FamilyOf(string(current.Runtime)) &&
		familyOfHandler(f, aws.ToString(current.Handler)) == FamilyOf(runtime):
		handler = aws.ToString(current.Handler)
	case det.Handler != "" && FamilyOf(runtime) == det.Family:
		handler, inferred = det.Handler, true
	case FamilyOf(runtime) == Provided:
		handler = "bootstrap"
	default:
		return &UserError{Msg: fmt.Sprintf("cannot tell which function of %s is the handler: pass --handler (module.function)", o.Path)}
	}
	if inferred {
		notes = append(notes, fmt.Sprintf("%s: runtime %s, handler %s", det.Reason, runtime, handler))
	}
	if err := checkHandlerFile(f, o.Path, runtime, handler, det); err != nil {
		return err
	}

	// The code.
	var leftOut []string
	if zipData == nil {
		if det.Build && FamilyOf(runtime) == Provided {
			fmt.Fprintf(a.Stderr, "building %s with go build (%s)\n", o.Path, strings.Join(goBuildEnv, " "))
			zipData, err = a.buildGo(ctx, o.Path)
		} else {
			zipData, leftOut, err = a.zipDir(ctx, o, runtime)
		}
		if err != nil {
			return err
		}
	}
	if len(zipData) > lambda.MaxZipBytes {
		return &UserError{Msg: fmt.Sprintf("the code zip is %s, over the %s limit: leave out what the function does not need with a %s file",
			humanBytes(int64(len(zipData))), humanBytes(lambda.MaxZipBytes), IgnoreFile)}
	}
	sum := sha256.Sum256(zipData)
	codeSHA := base64.StdEncoding.EncodeToString(sum[:])

	var cfg *types.FunctionConfiguration
	action := "created"
	if current == nil {
		cfg, err = a.create(ctx, name, runtime, handler, zipData, o)
	} else {
		cfg, action, err = a.update(ctx, current, runtime, handler, zipData, codeSHA, o)
	}
	if err != nil {
		if msg, ok := a.badRuntime(err, runtime); ok {
			return &UserError{Err: err, Msg: msg}
		}
		return a.explain(err, subject)
	}
	for _, n := range notes {
		fmt.Fprintln(a.Stderr, n)
	}
	res := DeployResult{Function: functionOf(cfg), Action: action, LeftOut: leftOut}
	if a.Format == JSON {
		return writeJSON(a.Stdout, res)
	}
	fmt.Fprintf(a.Stdout, "%s %s\n", strings.ToUpper(action[:1])+action[1:], name)
	t := newTable(a.Stdout)
	t.row("  ARN", res.FunctionArn)
	t.row("  Runtime", res.Runtime+"  ("+res.Handler+")")
	t.row("  Memory", fmt.Sprintf("%d MB", res.MemorySize))
	t.row("  Timeout", fmt.Sprintf("%d s", res.Timeout))
	t.row("  Code", humanBytes(res.CodeSize)+", sha256 "+res.CodeSha256)
	if len(leftOut) > 0 {
		t.row("  Left out", listSome(leftOut, 6)+"  (by "+IgnoreFile+")")
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "Invoke it with: nimbus invoke %s\n", name)
	return nil
}

// zipDir installs the directory's dependencies (unless o.NoDeps) and zips it with them. It
// returns the zip and what .nimbusignore left out.
func (a *App) zipDir(ctx context.Context, o DeployOptions, runtime string) ([]byte, []string, error) {
	var deps installed
	if !o.NoDeps {
		var err error
		if deps, err = a.installDeps(ctx, o.Path, runtime); err != nil {
			return nil, nil, err
		}
		if deps.Dir != "" {
			defer os.RemoveAll(deps.Dir)
		}
	}
	var buf bytes.Buffer
	stats, err := ZipDir(o.Path, &buf, ZipOptions{Extra: deps.Dir, LeaveOut: deps.LeaveOut})
	if err != nil {
		return nil, nil, err
	}
	for _, s := range stats.Skipped {
		fmt.Fprintf(a.Stderr, "left out %s: a symbolic link to a directory outside %s, or to nothing\n", s, o.Path)
	}
	if stats.Files == 0 {
		return nil, nil, &UserError{Msg: fmt.Sprintf("%s holds no files to deploy (%s leaves out %s): add your code, or change %s",
			o.Path, IgnoreFile, listSome(stats.LeftOut, 6), IgnoreFile)}
	}
	// The installed node_modules replaces the folder's own: not the user's ignore rule.
	leftOut := slices.DeleteFunc(stats.LeftOut, func(s string) bool { return slices.Contains(deps.LeaveOut, "/"+s) })
	return buf.Bytes(), leftOut, nil
}

// listSome joins at most n items, and says how many more there are.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

func dirFiles(dir string) files {
	return files{
		mode: func(n string) (fs.FileMode, bool) {
			info, err := os.Stat(filepath.Join(dir, n))
			if err != nil || !info.Mode().IsRegular() {
				return 0, false
			}
			return info.Mode(), true
		},
		read: func(n string) ([]byte, bool) {
			b, err := os.ReadFile(filepath.Join(dir, n))
			return b, err == nil
		},
	}
}

// uploadOptions shows the upload's progress when stdout is a terminal.
func (a *App) uploadOptions(name string) func(*lambdasdk.Options) {
	return func(o *lambdasdk.Options) {
		if IsTerminal(a.Stdout) {
			o.HTTPClient = progressClient{base: o.HTTPClient, out: a.Stdout, label: "uploading " + name}
		}
	}
}

func (a *App) create(ctx context.Context, name, runtime, handler string, zipData []byte, o DeployOptions) (*types.FunctionConfiguration, error) {
	in := &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      types.Runtime(runtime),
		Handler:      aws.String(handler),
		Role:         aws.String(fmt.Sprintf("arn:aws:iam::%s:role/nimbus-function", a.Target.AccountID)),
		Code:         &types.FunctionCode{ZipFile: zipData},
		Description:  o.Description,
	}
	if o.MemoryMB != 0 {
		in.MemorySize = aws.Int32(int32(o.MemoryMB))
	}
	if o.TimeoutSec != 0 {
		in.Timeout = aws.Int32(int32(o.TimeoutSec))
	}
	if o.Env != nil {
		in.Environment = &types.Environment{Variables: o.Env}
	}
	if _, err := a.Lambda.CreateFunction(ctx, in, a.uploadOptions(name)); err != nil {
		return nil, err
	}
	return a.waitReady(ctx, name, true)
}

func (a *App) update(ctx context.Context, cur *types.FunctionConfiguration, runtime, handler string, zipData []byte, codeSHA string, o DeployOptions) (*types.FunctionConfiguration, string, error) {
	name := aws.ToString(cur.FunctionName)
	action := "unchanged"
	if cur.State == types.StatePending || cur.LastUpdateStatus == types.LastUpdateStatusInProgress {
		if _, err := a.waitReady(ctx, name, cur.State == types.StatePending); err != nil {
			return nil, "", err
		}
	}
	if aws.ToString(cur.CodeSha256) != codeSHA {
		if _, err := a.Lambda.UpdateFunctionCode(ctx, &lambdasdk.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: zipData}, a.uploadOptions(name)); err != nil {
			return nil, "", err
		}
		if _, err := a.waitReady(ctx, name, false); err != nil {
			return nil, "", err
		}
		action = "updated"
	}
	in := &lambdasdk.UpdateFunctionConfigurationInput{FunctionName: aws.String(name)}
	changed := false
	if runtime != string(cur.Runtime) {
		in.Runtime, changed = types.Runtime(runtime), true
	}
	if handler != aws.ToString(cur.Handler) {
		in.Handler, changed = aws.String(handler), true
	}
	if o.MemoryMB != 0 && int32(o.MemoryMB) != aws.ToInt32(cur.MemorySize) {
		in.MemorySize, changed = aws.Int32(int32(o.MemoryMB)), true
	}
	if o.TimeoutSec != 0 && int32(o.TimeoutSec) != aws.ToInt32(cur.Timeout) {
		in.Timeout, changed = aws.Int32(int32(o.TimeoutSec)), true
	}
	if o.Description != nil && *o.Description != aws.ToString(cur.Description) {
		in.Description, changed = o.Description, true
	}
	if o.Env != nil {
		var have map[string]string
		if cur.Environment != nil {
			have = cur.Environment.Variables
		}
		if !maps.Equal(have, o.Env) {
			in.Environment, changed = &types.Environment{Variables: o.Env}, true
		}
	}
	if changed {
		if _, err := a.Lambda.UpdateFunctionConfiguration(ctx, in); err != nil {
			return nil, "", err
		}
		action = "updated"
	}
	cfg, err := a.waitReady(ctx, name, false)
	return cfg, action, err
}

// waitReady waits until a new function is Active (created) or an update is done, with
// Lambda's waiters polling quickly, and returns the final configuration. A function that
// failed to become ready is an error that carries the server's reason.
func (a *App) waitReady(ctx context.Context, name string, created bool) (*types.FunctionConfiguration, error) {
	in := &lambdasdk.GetFunctionInput{FunctionName: aws.String(name)}
	const maxWait = 5 * time.Minute
	var err error
	if created {
		err = lambdasdk.NewFunctionActiveV2Waiter(a.Lambda, func(o *lambdasdk.FunctionActiveV2WaiterOptions) {
			o.MinDelay, o.MaxDelay = 20*time.Millisecond, 500*time.Millisecond
		}).Wait(ctx, in, maxWait)
	} else {
		err = lambdasdk.NewFunctionUpdatedV2Waiter(a.Lambda, func(o *lambdasdk.FunctionUpdatedV2WaiterOptions) {
			o.MinDelay, o.MaxDelay = 20*time.Millisecond, 500*time.Millisecond
		}).Wait(ctx, in, maxWait)
	}
	out, gerr := a.Lambda.GetFunction(ctx, in)
	if gerr != nil {
		return nil, gerr
	}
	cfg := out.Configuration
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) || errors.Is(err, context.Canceled) {
			return nil, err
		}
		reason := aws.ToString(cfg.StateReason)
		if r := aws.ToString(cfg.LastUpdateStatusReason); r != "" && !created {
			reason = r
		}
		return nil, &UserError{Err: err, Msg: fmt.Sprintf("function %s did not become ready (state %s, last update %s: %s): fix that and deploy again",
			name, cfg.State, cfg.LastUpdateStatus, orDefault(reason, "no reason given"))}
	}
	return cfg, nil
}

// Runtimes asks the server which runtimes it runs. The Lambda API has no call for that, but
// CreateFunction with an unknown runtime is refused, before anything else is checked or
// stored, with a message listing them ("Member must satisfy enum value set: [a, b]").
func (a *App) Runtimes(ctx context.Context) ([]string, error) {
	_, err := a.Lambda.CreateFunction(ctx, &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String("nimbus-runtime-probe"),
		Runtime:      types.Runtime("nimbus.probe"),
		Handler:      aws.String("probe.handler"),
		Role:         aws.String(fmt.Sprintf("arn:aws:iam::%s:role/nimbus-function", a.Target.AccountID)),
		Code:         &types.FunctionCode{}, // no code: should the runtime pass, nothing is created
	})
	if err == nil {
		return nil, &UserError{Msg: "the server accepted a runtime that does not exist: pass --runtime"}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if list := parseRuntimeList(ae.ErrorMessage()); len(list) > 0 {
			return list, nil
		}
		if ae.ErrorCode() == "InvalidParameterValueException" || ae.ErrorCode() == "ValidationException" {
			return nil, &UserError{Err: err, Msg: "the server did not say which runtimes it runs: pass --runtime"}
		}
	}
	return nil, a.explain(err, "")
}

// badRuntime recognises the server's refusal of a runtime and words it as one actionable
// sentence.
func (a *App) badRuntime(err error, runtime string) (string, bool) {
	var ae smithy.APIError
	if !errors.As(err, &ae) || !strings.Contains(ae.ErrorMessage(), runtime) {
		return "", false
	}
	list := parseRuntimeList(ae.ErrorMessage())
	if len(list) == 0 {
		return "", false
	}
	if strings.Contains(ae.ErrorMessage(), "is not installed on this Nimbus server") {
		return fmt.Sprintf("runtime %s is not installed on this server: install its interpreter on the server's machine and restart the server, or use one of %s with --runtime",
			runtime, strings.Join(list, ", ")), true
	}
	return fmt.Sprintf("runtime %s is not available on this server: use one of %s with --runtime", runtime, strings.Join(list, ", ")), true
}

// apiCode is the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
