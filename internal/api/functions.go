package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/nimbusfaas/nimbus/internal/auth"
	"github.com/nimbusfaas/nimbus/internal/codezip"
	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/store"
)

func newRequestID() string { return uuid.NewString() }

// codeSHA256Base64 turns the hex key of a zip into Lambda's CodeSha256: base64 of the digest.
func codeSHA256Base64(hexSum string) string {
	raw, err := hex.DecodeString(hexSum)
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// functionCode is the Code member of CreateFunction and the body of UpdateFunctionCode.
type functionCode struct {
	ZipFile  []byte `json:"ZipFile"`
	S3Bucket string `json:"S3Bucket"`
	S3Key    string `json:"S3Key"`
	ImageUri string `json:"ImageUri"`
}

type createFunctionInput struct {
	FunctionName     string            `json:"FunctionName"`
	Runtime          string            `json:"Runtime"`
	Role             string            `json:"Role"`
	Handler          string            `json:"Handler"`
	Code             *functionCode     `json:"Code"`
	Description      string            `json:"Description"`
	Timeout          *int              `json:"Timeout"`
	MemorySize       *int              `json:"MemorySize"`
	Publish          bool              `json:"Publish"`
	PackageType      string            `json:"PackageType"`
	Environment      *environment      `json:"Environment"`
	TracingConfig    *tracingConfig    `json:"TracingConfig"`
	Tags             map[string]string `json:"Tags"`
	Layers           []string          `json:"Layers"`
	Architectures    []string          `json:"Architectures"`
	EphemeralStorage *ephemeralStorage `json:"EphemeralStorage"`
	unsupportedSettings
}

func (s *Server) createFunction(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in createFunctionInput
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if in.FunctionName == "" {
		return validationError("null", "functionName", "Member must not be null")
	}
	if err := lambda.ValidateFunctionName(in.FunctionName); err != nil {
		return err
	}
	ref, err := lambda.ParseFunctionRef(in.FunctionName, s.loc)
	if err != nil {
		return err
	}
	if ref.Qualifier != "" {
		return lambda.InvalidParameter("Unsupported function name format: %s. The function name must not contain a qualifier.", in.FunctionName)
	}
	if err := in.unsupportedSettings.check(ref.Name); err != nil {
		return err
	}
	if in.PackageType != "" && in.PackageType != "Zip" {
		return lambda.InvalidParameter("PackageType %s is not supported: Nimbus runs Zip packages.", in.PackageType)
	}
	if in.Code == nil {
		return validationError("null", "code", "Member must not be null")
	}
	fn := &lambda.Function{
		Name:         ref.Name,
		Runtime:      in.Runtime,
		Handler:      in.Handler,
		Role:         in.Role,
		Description:  in.Description,
		Timeout:      lambda.DefaultTimeout,
		MemorySize:   lambda.DefaultMemoryMB,
		EphemeralMB:  lambda.MinEphemeralMB,
		Architecture: lambda.DefaultArchitecture,
		TracingMode:  "PassThrough",
		Layers:       in.Layers,
		Tags:         in.Tags,
	}
	if in.Timeout != nil {
		fn.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		fn.MemorySize = *in.MemorySize
	}
	if in.EphemeralStorage != nil {
		fn.EphemeralMB = in.EphemeralStorage.Size
	}
	if in.Environment != nil {
		fn.Environment = in.Environment.Variables
	}
	if in.TracingConfig != nil && in.TracingConfig.Mode != "" {
		fn.TracingMode = in.TracingConfig.Mode
	}
	if len(in.Architectures) > 1 {
		return validationError(in.Architectures, "architectures", "Member must have length less than or equal to 1")
	}
	if len(in.Architectures) == 1 {
		fn.Architecture = in.Architectures[0]
	}
	if len(in.Layers) > 0 {
		return lambda.InvalidParameter("Layers are not supported yet by Nimbus.")
	}
	if err := s.validateSettings(fn); err != nil {
		return err
	}
	if err := validateTags(fn.Tags); err != nil {
		return err
	}
	if err := s.storeCode(r.Context(), in.Code, fn); err != nil {
		return err
	}
	now := s.now()
	fn.LastModified = now
	fn.RevisionID = uuid.NewString()
	fn.State = lambda.StatePending
	fn.StateReason = "The function is being created."
	fn.StateCode = "Creating"
	fn.UpdateStatus = ""
	if in.Publish {
		// Version 1 is written with the function, in the same record.
		newVersion(fn, nil)
	}
	if err := s.catalog.CreateFunction(r.Context(), fn); err != nil {
		if errors.Is(err, store.ErrExists) {
			return lambda.Conflict("Function already exist: %s", fn.Name)
		}
		return err
	}
	s.activate(fn.Name)
	if in.Publish {
		// Lambda answers with $LATEST's configuration and the published version's number.
		out := s.configurationOf(fn, "")
		out.Version = fn.Versions[0].Version
		return writeJSON(w, http.StatusCreated, out)
	}
	return writeJSON(w, http.StatusCreated, s.configurationOf(fn, ""))
}

// storeCode validates the uploaded zip, readies it on this node and stores it, recording its
// identity on fn. Only ZipFile uploads exist here: there is no S3 to fetch from.
func (s *Server) storeCode(ctx context.Context, code *functionCode, fn *lambda.Function) error {
	if code.ImageUri != "" {
		return lambda.InvalidParameter("Container images are not supported: Nimbus runs Zip packages.")
	}
	if code.S3Bucket != "" || code.S3Key != "" {
		return lambda.InvalidParameter("Code from S3 is not supported: upload the zip with ZipFile.")
	}
	if len(code.ZipFile) == 0 {
		return lambda.InvalidParameter("Please provide a source for function code.")
	}
	if len(code.ZipFile) > lambda.MaxZipBytes {
		return lambda.RequestTooLarge(lambda.MaxZipBytes, "CreateFunction")
	}
	if err := s.prepare(ctx, code.ZipFile); err != nil {
		switch {
		case errors.Is(err, codezip.ErrUnzippedTooLarge):
			s.log.Info("refused code", "function", fn.Name, "err", err)
			return lambda.InvalidParameter("Unzipped size must be smaller than %d bytes", lambda.MaxUnzippedBytes)
		case errors.Is(err, codezip.ErrInvalidZip):
			s.log.Info("refused code", "function", fn.Name, "err", err)
			return lambda.InvalidParameter(lambda.MsgCouldNotUnzip)
		}
		return err
	}
	sum, err := s.catalog.PutCode(ctx, code.ZipFile)
	if err != nil {
		return err
	}
	fn.CodeSHA256 = sum
	fn.CodeSize = int64(len(code.ZipFile))
	return nil
}

// activate moves a function that was just created or updated to Active/Successful. The code
// is already validated and ready on this node, so this only records it; it runs in the
// background so that clients see Lambda's Pending → Active sequence and its waiters work.
func (s *Server) activate(name string) {
	go func() {
		_, err := s.catalog.UpdateFunction(context.Background(), name, func(fn *lambda.Function) error {
			if fn.State == lambda.StateActive && fn.UpdateStatus != lambda.UpdateRunning {
				return errNoChange
			}
			fn.State = lambda.StateActive
			fn.StateReason, fn.StateCode = "", ""
			fn.UpdateStatus = lambda.UpdateSuccess
			fn.RevisionID = uuid.NewString()
			return nil
		})
		if err != nil && !errors.Is(err, errNoChange) && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("activating function", "function", name, "err", err)
		}
	}()
}

// ActivatePending finishes activations that a stopped server left undone.
func (s *Server) ActivatePending() {
	for _, fn := range s.fns.List() {
		if fn.State == lambda.StatePending || fn.UpdateStatus == lambda.UpdateRunning {
			s.activate(fn.Name)
		}
	}
}

var errNoChange = errors.New("no change")

// resolve parses the {name} path value and ?Qualifier= and finds, in memory, the version
// they name (an alias's primary version). The record is shared: handlers must not change it.
func (s *Server) resolve(r *http.Request, needLatest bool) (*lambda.Function, lambda.FunctionRef, error) {
	ref, err := s.functionRef(r)
	if err != nil {
		return nil, ref, err
	}
	fn, found := s.fns.Lookup(ref.Name)
	if found {
		fn, found = versionOf(fn, ref.Qualifier)
	}
	if !found {
		return nil, ref, s.notFound(ref, needLatest)
	}
	return fn, ref, nil
}

// notFound is Lambda's answer to a function, version or alias that does not exist: it names
// the ARN as asked for (with $LATEST when the operation runs a version).
func (s *Server) notFound(ref lambda.FunctionRef, needLatest bool) error {
	arn := s.loc.FunctionARN(ref.Name)
	if ref.Qualifier != "" {
		arn = s.loc.QualifiedARN(ref.Name, ref.Qualifier)
	} else if needLatest {
		arn = s.loc.QualifiedARN(ref.Name, lambda.VersionLatest)
	}
	return lambda.NotFound("Function not found: %s", arn)
}

type getFunctionOutput struct {
	Configuration functionConfiguration `json:"Configuration"`
	Code          codeLocation          `json:"Code"`
	Tags          map[string]string     `json:"Tags,omitempty"`
	Concurrency   *concurrencyOutput    `json:"Concurrency,omitempty"`
}

type codeLocation struct {
	RepositoryType string `json:"RepositoryType"`
	Location       string `json:"Location"`
}

func (s *Server) getFunction(w http.ResponseWriter, r *http.Request, _ []byte) error {
	fn, ref, err := s.resolve(r, false)
	if err != nil {
		return err
	}
	out := getFunctionOutput{
		Configuration: s.configurationOf(fn, ref.Qualifier),
		Code:          codeLocation{RepositoryType: "S3", Location: s.codeLocation(r, fn.CodeSHA256)},
		Tags:          fn.Tags,
	}
	if fn.ReservedConcurrency != nil {
		out.Concurrency = &concurrencyOutput{ReservedConcurrentExecutions: fn.ReservedConcurrency}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getFunctionConfiguration(w http.ResponseWriter, r *http.Request, _ []byte) error {
	fn, ref, err := s.resolve(r, false)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.configurationOf(fn, ref.Qualifier))
}

type listFunctionsOutput struct {
	Functions  []functionConfiguration `json:"Functions"`
	NextMarker string                  `json:"NextMarker,omitempty"`
}

func (s *Server) listFunctions(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q := r.URL.Query()
	max := lambda.ListFunctionsMaxPage
	if v := q.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return validationError(v, "maxItems", "Member must have value between 1 and 10000")
		}
		max = min(n, lambda.ListFunctionsMaxPage)
	}
	all := q.Get("FunctionVersion")
	if all != "" && all != "ALL" {
		return validationError(all, "functionVersion", "Member must satisfy enum value set: [ALL]")
	}
	// The entries in order: by name, and with FunctionVersion=ALL each function's $LATEST
	// then its versions by number, each with its qualified ARN.
	type entry struct {
		fn        *lambda.Function
		qualifier string
	}
	var entries []entry
	for _, fn := range s.fns.List() { // sorted by name
		if all == "" {
			entries = append(entries, entry{fn, ""})
			continue
		}
		entries = append(entries, entry{fn, lambda.VersionLatest})
		for _, v := range fn.Versions {
			entries = append(entries, entry{v, v.Version})
		}
	}
	// The marker is the last entry of the previous page ("name" or "name:version"), opaque
	// to clients; a page starts after it even if it was deleted meanwhile.
	start := 0
	if m := q.Get("Marker"); m != "" {
		raw, err := base64.RawURLEncoding.DecodeString(m)
		if err != nil {
			return lambda.InvalidParameter("Invalid pagination token")
		}
		name, version, _ := strings.Cut(string(raw), ":")
		start = sort.Search(len(entries), func(i int) bool {
			e := entries[i]
			if e.fn.Name != name {
				return e.fn.Name > name
			}
			return versionRank(e.qualifier) > versionRank(version)
		})
	}
	out := listFunctionsOutput{Functions: []functionConfiguration{}}
	end := min(start+max, len(entries))
	for _, e := range entries[start:end] {
		out.Functions = append(out.Functions, s.configurationOf(e.fn, e.qualifier))
	}
	if end < len(entries) {
		last := entries[end-1]
		marker := last.fn.Name
		if last.qualifier != "" {
			marker += ":" + last.qualifier
		}
		out.NextMarker = base64.RawURLEncoding.EncodeToString([]byte(marker))
	}
	return writeJSON(w, http.StatusOK, out)
}

// versionRank orders a function's entries in ListFunctions: the function itself or $LATEST
// first (-1 and 0), then published versions by number.
func versionRank(q string) int {
	switch q {
	case "":
		return -1
	case lambda.VersionLatest:
		return 0
	}
	n, _ := strconv.Atoi(q)
	return n
}

type updateCodeInput struct {
	functionCode
	Publish       bool     `json:"Publish"`
	DryRun        bool     `json:"DryRun"`
	RevisionId    string   `json:"RevisionId"`
	Architectures []string `json:"Architectures"`
}

func (s *Server) updateFunctionCode(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in updateCodeInput
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	current, ref, err := s.resolve(r, false)
	if err != nil {
		return err
	}
	if ref.Qualifier != "" {
		return lambda.InvalidParameter("Unsupported function name format: the function name must not contain a qualifier.")
	}
	if len(in.Architectures) > 0 && (len(in.Architectures) > 1 || in.Architectures[0] != lambda.DefaultArchitecture) {
		return lambda.InvalidParameter("Architecture %v is not supported on this node; supported: [%s]", in.Architectures, lambda.DefaultArchitecture)
	}
	var staged lambda.Function
	if err := s.storeCode(r.Context(), &in.functionCode, &staged); err != nil {
		return err
	}
	if in.DryRun {
		out := *current
		out.CodeSHA256, out.CodeSize = staged.CodeSHA256, staged.CodeSize
		return writeJSON(w, http.StatusOK, s.configurationOf(&out, ""))
	}
	var published *lambda.Function
	fn, err := s.update(r.Context(), ref.Name, in.RevisionId, func(fn *lambda.Function) error {
		fn.CodeSHA256, fn.CodeSize = staged.CodeSHA256, staged.CodeSize
		if in.Publish {
			// The version is published from the updated $LATEST in the same write; the
			// code is ready, so it is Active at once.
			published = newVersion(fn, nil)
		}
		return nil
	})
	if err != nil {
		return err
	}
	out := s.configurationOf(fn, "")
	if published != nil {
		out.Version = published.Version
	}
	return writeJSON(w, http.StatusOK, out)
}

// update applies change to $LATEST, checking the RevisionId if one was given, and starts a
// Lambda-style InProgress → Successful update.
func (s *Server) update(ctx context.Context, name, revision string, change func(*lambda.Function) error) (*lambda.Function, error) {
	fn, err := s.catalog.UpdateFunction(ctx, name, func(fn *lambda.Function) error {
		if revision != "" && revision != fn.RevisionID {
			return lambda.PreconditionFailed(lambda.MsgRevisionMismatch)
		}
		if fn.UpdateStatus == lambda.UpdateRunning {
			return lambda.Conflict("The operation cannot be performed at this time. An update is in progress for resource: %s", s.loc.FunctionARN(name))
		}
		// Set before change, so that a version published by it carries this LastModified.
		fn.LastModified = s.now()
		fn.RevisionID = uuid.NewString()
		fn.UpdateStatus = lambda.UpdateRunning
		return change(fn)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, lambda.NotFound("Function not found: %s", s.loc.FunctionARN(name))
	}
	if err != nil {
		return nil, err
	}
	s.activate(name)
	return fn, nil
}

type updateConfigurationInput struct {
	Role             *string           `json:"Role"`
	Handler          *string           `json:"Handler"`
	Description      *string           `json:"Description"`
	Timeout          *int              `json:"Timeout"`
	MemorySize       *int              `json:"MemorySize"`
	Environment      *environment      `json:"Environment"`
	Runtime          *string           `json:"Runtime"`
	TracingConfig    *tracingConfig    `json:"TracingConfig"`
	RevisionId       string            `json:"RevisionId"`
	Layers           []string          `json:"Layers"`
	EphemeralStorage *ephemeralStorage `json:"EphemeralStorage"`
	unsupportedSettings
}

func (s *Server) updateFunctionConfiguration(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in updateConfigurationInput
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	_, ref, err := s.resolve(r, false)
	if err != nil {
		return err
	}
	if ref.Qualifier != "" {
		return lambda.InvalidParameter("Unsupported function name format: the function name must not contain a qualifier.")
	}
	if len(in.Layers) > 0 {
		return lambda.InvalidParameter("Layers are not supported yet by Nimbus.")
	}
	if err := in.unsupportedSettings.check(ref.Name); err != nil {
		return err
	}
	fn, err := s.update(r.Context(), ref.Name, in.RevisionId, func(fn *lambda.Function) error {
		setIf(&fn.Role, in.Role)
		setIf(&fn.Handler, in.Handler)
		setIf(&fn.Description, in.Description)
		setIf(&fn.Timeout, in.Timeout)
		setIf(&fn.MemorySize, in.MemorySize)
		setIf(&fn.Runtime, in.Runtime)
		if in.Environment != nil {
			fn.Environment = in.Environment.Variables
		}
		if in.TracingConfig != nil && in.TracingConfig.Mode != "" {
			fn.TracingMode = in.TracingConfig.Mode
		}
		if in.EphemeralStorage != nil {
			fn.EphemeralMB = in.EphemeralStorage.Size
		}
		return s.validateSettings(fn)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.configurationOf(fn, ""))
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// deleteFunction deletes the function with every version and alias, or with a qualifier one
// published version.
func (s *Server) deleteFunction(w http.ResponseWriter, r *http.Request, _ []byte) error {
	ref, err := s.functionRef(r)
	if err != nil {
		return err
	}
	if _, ok := s.fns.Lookup(ref.Name); !ok {
		return lambda.NotFound("Function not found: %s", s.loc.FunctionARN(ref.Name))
	}
	if ref.Qualifier != "" {
		return s.deleteVersion(w, r, ref)
	}
	if err := s.catalog.DeleteFunction(r.Context(), ref.Name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return lambda.NotFound("Function not found: %s", s.loc.FunctionARN(ref.Name))
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type accountSettings struct {
	AccountLimit struct {
		TotalCodeSize                  int64 `json:"TotalCodeSize"`
		CodeSizeUnzipped               int64 `json:"CodeSizeUnzipped"`
		CodeSizeZipped                 int64 `json:"CodeSizeZipped"`
		ConcurrentExecutions           int   `json:"ConcurrentExecutions"`
		UnreservedConcurrentExecutions int   `json:"UnreservedConcurrentExecutions"`
	} `json:"AccountLimit"`
	AccountUsage struct {
		TotalCodeSize int64 `json:"TotalCodeSize"`
		FunctionCount int   `json:"FunctionCount"`
	} `json:"AccountUsage"`
}

func (s *Server) getAccountSettings(w http.ResponseWriter, r *http.Request, _ []byte) error {
	fns := s.fns.List()
	var out accountSettings
	out.AccountLimit.TotalCodeSize = 80530636800
	out.AccountLimit.CodeSizeUnzipped = lambda.MaxUnzippedBytes
	out.AccountLimit.CodeSizeZipped = lambda.MaxZipBytes
	limit := s.concurrencyLimit()
	out.AccountLimit.ConcurrentExecutions = limit
	out.AccountLimit.UnreservedConcurrentExecutions = limit - s.fns.ReservedConcurrency()
	for _, fn := range fns {
		// As on Lambda, every published version's package counts too.
		out.AccountUsage.TotalCodeSize += fn.CodeSize
		for _, v := range fn.Versions {
			out.AccountUsage.TotalCodeSize += v.CodeSize
		}
	}
	out.AccountUsage.FunctionCount = len(fns)
	return writeJSON(w, http.StatusOK, out)
}

// codePath is where this server serves code zips, under presigned URLs like S3's.
const codePath = "/nimbus/code/"

// codeLocationExpiry is how long a Code.Location URL works; Lambda's last 10 minutes.
const codeLocationExpiry = 10 * time.Minute

// codeLocation is a presigned URL of the zip on this server, reached through the host the
// client used.
func (s *Server) codeLocation(r *http.Request, sha256hex string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u, err := auth.Presign(http.MethodGet, scheme+"://"+r.Host+codePath+sha256hex, s.codeKey, s.loc.Region, "lambda", s.now(), codeLocationExpiry)
	if err != nil {
		s.log.Error("presigning code location", "err", err)
		return ""
	}
	return u
}

func (s *Server) getCode(w http.ResponseWriter, r *http.Request, _ []byte) error {
	zip, err := s.catalog.GetCode(r.Context(), r.PathValue("sha256"))
	if errors.Is(err, store.ErrCodeNotFound) {
		return lambda.NotFound("The resource you requested does not exist.")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Length", strconv.Itoa(len(zip)))
	_, err = w.Write(zip)
	return err
}
