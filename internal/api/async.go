package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nimbusfaas/nimbus/internal/async"
	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/store"
)

// AsyncQueue queues asynchronous invocations (*async.Queue implements it).
type AsyncQueue interface {
	// Enqueue returns once the event is stored.
	Enqueue(ctx context.Context, ev *async.Event) error
	// Target checks a destination ARN, refusing it with Lambda's error.
	Target(arn string) (async.Target, error)
	Backlogs(ctx context.Context) ([]async.Backlog, error)
	Metrics() map[string]async.FunctionMetrics
}

// Interface guard.
var _ AsyncQueue = (*async.Queue)(nil)

// enqueue validates an asynchronous invocation of fn and stores it: the caller answers 202
// only once it returned, so an accepted event is never lost.
func (s *Server) enqueue(w http.ResponseWriter, r *http.Request, fn *lambda.Function, ref lambda.FunctionRef, payload []byte, clientContext string) error {
	if s.async == nil {
		return &lambda.Error{Code: lambda.CodeService, Status: http.StatusInternalServerError,
			Message: "This Nimbus server has no asynchronous invocation queue."}
	}
	invokedARN := s.loc.FunctionARN(fn.Name)
	if ref.Qualifier != "" {
		invokedARN = s.loc.QualifiedARN(fn.Name, ref.Qualifier)
	}
	trace := r.Header.Get("X-Amzn-Trace-Id")
	return s.async.Enqueue(r.Context(), &async.Event{
		RequestID:     w.Header().Get("x-amzn-RequestId"),
		Function:      fn.Name,
		Qualifier:     ref.Qualifier,
		InvokedARN:    invokedARN,
		Payload:       payload,
		ClientContext: clientContext,
		TraceID:       trace,
		Lineage:       async.ParseLineage(trace),
	})
}

// asyncTooLarge is Lambda's answer to an Event payload over its limit.
func asyncTooLarge(n int) error {
	return &lambda.Error{Code: lambda.CodeRequestTooLarge, Status: http.StatusRequestEntityTooLarge,
		Message: fmt.Sprintf("%d byte payload is too large for the Event invocation type (limit %d bytes)", n, lambda.MaxAsyncPayload)}
}

// invokeAsync is the deprecated InvokeAsync operation: an Event invocation of $LATEST with a
// 256 KB limit, answered 202 {"Status": 202}.
func (s *Server) invokeAsync(w http.ResponseWriter, r *http.Request, body []byte) error {
	fn, ref, err := s.resolve(r, true)
	if err != nil {
		return err
	}
	if fn.State != lambda.StateActive {
		return lambda.Conflict("The operation cannot be performed at this time. The function is currently in the following state: %s", fn.State)
	}
	payload, err := invokePayload(body)
	if err != nil {
		return err
	}
	if err := s.enqueue(w, r, fn, ref, payload, ""); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]int{"Status": http.StatusAccepted})
}

// eventInvokeConfigOutput is Lambda's FunctionEventInvokeConfig shape.
type eventInvokeConfigOutput struct {
	LastModified             float64           `json:"LastModified"`
	FunctionArn              string            `json:"FunctionArn"`
	MaximumRetryAttempts     *int              `json:"MaximumRetryAttempts,omitempty"`
	MaximumEventAgeInSeconds *int              `json:"MaximumEventAgeInSeconds,omitempty"`
	DestinationConfig        destinationConfig `json:"DestinationConfig"`
}

type destinationConfig struct {
	OnSuccess destination `json:"OnSuccess"`
	OnFailure destination `json:"OnFailure"`
}

type destination struct {
	Destination string `json:"Destination,omitempty"`
}

func (s *Server) eventInvokeConfigOf(fn *lambda.Function) eventInvokeConfigOutput {
	c := fn.EventInvoke
	return eventInvokeConfigOutput{
		// A model timestamp: rest-json sends epoch seconds as a number.
		LastModified:             float64(c.LastModified.UnixMilli()) / 1000,
		FunctionArn:              s.loc.QualifiedARN(fn.Name, lambda.VersionLatest),
		MaximumRetryAttempts:     c.MaximumRetryAttempts,
		MaximumEventAgeInSeconds: c.MaximumEventAgeInSeconds,
		DestinationConfig: destinationConfig{
			OnSuccess: destination{c.OnSuccess}, OnFailure: destination{c.OnFailure},
		},
	}
}

type eventInvokeConfigInput struct {
	MaximumRetryAttempts     *int `json:"MaximumRetryAttempts"`
	MaximumEventAgeInSeconds *int `json:"MaximumEventAgeInSeconds"`
	DestinationConfig        *struct {
		OnSuccess *destination `json:"OnSuccess"`
		OnFailure *destination `json:"OnFailure"`
	} `json:"DestinationConfig"`
}

// destinationRE is the model's pattern for a destination ARN.
var destinationRE = regexp.MustCompile(`^$|^arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)$`)

const destinationPattern = `^$|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)`

// validate checks the members' model constraints (ValidationException, every violation
// listed as Lambda does) and then that the destinations exist (InvalidParameterValueException).
func (in *eventInvokeConfigInput) validate(q AsyncQueue) error {
	var problems []string
	add := func(value any, member, constraint string) {
		problems = append(problems, fmt.Sprintf("Value '%v' at '%s' failed to satisfy constraint: %s", value, member, constraint))
	}
	if n := in.MaximumRetryAttempts; n != nil && *n < 0 {
		add(*n, "maximumRetryAttempts", "Member must have value greater than or equal to 0")
	} else if n != nil && *n > lambda.MaxRetryAttempts {
		add(*n, "maximumRetryAttempts", fmt.Sprintf("Member must have value less than or equal to %d", lambda.MaxRetryAttempts))
	}
	if n := in.MaximumEventAgeInSeconds; n != nil && *n < lambda.MinEventAgeSeconds {
		add(*n, "maximumEventAgeInSeconds", fmt.Sprintf("Member must have value greater than or equal to %d", lambda.MinEventAgeSeconds))
	} else if n != nil && *n > lambda.MaxEventAgeSeconds {
		add(*n, "maximumEventAgeInSeconds", fmt.Sprintf("Member must have value less than or equal to %d", lambda.MaxEventAgeSeconds))
	}
	var arns []string
	if dc := in.DestinationConfig; dc != nil {
		for _, d := range []struct {
			member string
			dest   *destination
		}{{"destinationConfig.onSuccess.destination", dc.OnSuccess}, {"destinationConfig.onFailure.destination", dc.OnFailure}} {
			switch {
			case d.dest == nil || d.dest.Destination == "":
			case len(d.dest.Destination) > 350:
				add(d.dest.Destination, d.member, "Member must have length less than or equal to 350")
			case !destinationRE.MatchString(d.dest.Destination):
				add(d.dest.Destination, d.member, "Member must satisfy regular expression pattern: "+destinationPattern)
			default:
				arns = append(arns, d.dest.Destination)
			}
		}
	}
	switch len(problems) {
	case 0:
	case 1:
		return lambda.Validation("1 validation error detected: %s", problems[0])
	default:
		return lambda.Validation("%d validation errors detected: %s", len(problems), strings.Join(problems, "; "))
	}
	if q == nil {
		return nil
	}
	for _, arn := range arns {
		if _, err := q.Target(arn); err != nil {
			return err
		}
	}
	return nil
}

// apply sets the members given in the request on c; Put starts from an empty config, Update
// from the current one.
func (in *eventInvokeConfigInput) apply(c *lambda.EventInvokeConfig) {
	if in.MaximumRetryAttempts != nil {
		c.MaximumRetryAttempts = in.MaximumRetryAttempts
	}
	if in.MaximumEventAgeInSeconds != nil {
		c.MaximumEventAgeInSeconds = in.MaximumEventAgeInSeconds
	}
	if dc := in.DestinationConfig; dc != nil {
		if dc.OnSuccess != nil {
			c.OnSuccess = dc.OnSuccess.Destination
		}
		if dc.OnFailure != nil {
			c.OnFailure = dc.OnFailure.Destination
		}
	}
}

func noEventInvokeConfig(s *Server, name string) error {
	return lambda.NotFound("The function %s doesn't have an EventInvokeConfig", s.loc.QualifiedARN(name, lambda.VersionLatest))
}

func (s *Server) putFunctionEventInvokeConfig(w http.ResponseWriter, r *http.Request, body []byte) error {
	return s.writeEventInvokeConfig(w, r, body, true)
}

func (s *Server) updateFunctionEventInvokeConfig(w http.ResponseWriter, r *http.Request, body []byte) error {
	return s.writeEventInvokeConfig(w, r, body, false)
}

// writeEventInvokeConfig is Put (replace) and Update (merge into an existing config).
func (s *Server) writeEventInvokeConfig(w http.ResponseWriter, r *http.Request, body []byte, replace bool) error {
	fn, _, err := s.resolve(r, false)
	if err != nil {
		return err
	}
	var in eventInvokeConfigInput
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if err := in.validate(s.async); err != nil {
		return err
	}
	if replace && in.MaximumRetryAttempts == nil && in.MaximumEventAgeInSeconds == nil && in.DestinationConfig == nil {
		return lambda.InvalidParameter("You must specify at least one of error handling or destination setting.")
	}
	updated, err := s.updateFunction(r, fn.Name, func(f *lambda.Function) error {
		c := &lambda.EventInvokeConfig{}
		if !replace {
			if f.EventInvoke == nil {
				return noEventInvokeConfig(s, f.Name)
			}
			c = f.EventInvoke.Clone()
		}
		in.apply(c)
		c.LastModified = s.now()
		f.EventInvoke = c
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.eventInvokeConfigOf(updated))
}

func (s *Server) getFunctionEventInvokeConfig(w http.ResponseWriter, r *http.Request, _ []byte) error {
	fn, _, err := s.resolve(r, false)
	if err != nil {
		return err
	}
	if fn.EventInvoke == nil {
		return noEventInvokeConfig(s, fn.Name)
	}
	return writeJSON(w, http.StatusOK, s.eventInvokeConfigOf(fn))
}

func (s *Server) deleteFunctionEventInvokeConfig(w http.ResponseWriter, r *http.Request, _ []byte) error {
	fn, _, err := s.resolve(r, false)
	if err != nil {
		return err
	}
	if fn.EventInvoke == nil {
		return noEventInvokeConfig(s, fn.Name)
	}
	if _, err := s.updateFunction(r, fn.Name, func(f *lambda.Function) error {
		if f.EventInvoke == nil {
			return noEventInvokeConfig(s, f.Name)
		}
		f.EventInvoke = nil
		return nil
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listFunctionEventInvokeConfigs lists the function's configs: one per version or alias on
// Lambda, so at most one here, where only $LATEST exists.
func (s *Server) listFunctionEventInvokeConfigs(w http.ResponseWriter, r *http.Request, _ []byte) error {
	fn, _, err := s.resolve(r, false)
	if err != nil {
		return err
	}
	if mi := r.URL.Query().Get("MaxItems"); mi != "" {
		n, err := strconv.Atoi(mi)
		switch {
		case err != nil:
			return validationError(mi, "maxItems", "Member must be of type integer")
		case n < 1:
			return validationError(n, "maxItems", "Member must have value greater than or equal to 1")
		case n > 50:
			return validationError(n, "maxItems", "Member must have value less than or equal to 50")
		}
	}
	out := struct {
		FunctionEventInvokeConfigs []eventInvokeConfigOutput `json:"FunctionEventInvokeConfigs"`
	}{FunctionEventInvokeConfigs: []eventInvokeConfigOutput{}}
	if fn.EventInvoke != nil {
		out.FunctionEventInvokeConfigs = append(out.FunctionEventInvokeConfigs, s.eventInvokeConfigOf(fn))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) asyncQueueStatus(w http.ResponseWriter, r *http.Request, _ []byte) error {
	out := lambda.QueueStatus{Functions: []lambda.QueueFunction{}}
	if s.async == nil {
		return writeJSON(w, http.StatusOK, out)
	}
	backlogs, err := s.async.Backlogs(r.Context())
	if err != nil {
		return err
	}
	byName := map[string]*lambda.QueueFunction{}
	line := func(name string) *lambda.QueueFunction {
		if byName[name] == nil {
			byName[name] = &lambda.QueueFunction{FunctionName: name}
		}
		return byName[name]
	}
	for _, b := range backlogs {
		f := line(b.Function)
		f.Events, f.OldestEventAgeSeconds = b.Events, b.OldestAge.Seconds()
	}
	for name, m := range s.async.Metrics() {
		f := line(name)
		f.Received, f.Succeeded, f.Dropped, f.Retried, f.Throttled = m.Received, m.Succeeded, m.Dropped, m.Retried, m.Throttled
		f.DestinationFailures = m.DestinationFailures
		if m.AgeCount > 0 {
			f.MeanEventAgeSeconds = (m.AgeTotal / time.Duration(m.AgeCount)).Seconds()
		}
	}
	for _, f := range byName {
		out.Functions = append(out.Functions, *f)
	}
	sortQueueFunctions(out.Functions)
	return writeJSON(w, http.StatusOK, out)
}

// updateFunction changes a function's record, with Lambda's error when it went away.
func (s *Server) updateFunction(r *http.Request, name string, update func(*lambda.Function) error) (*lambda.Function, error) {
	fn, err := s.catalog.UpdateFunction(r.Context(), name, update)
	if errors.Is(err, store.ErrNotFound) {
		return nil, lambda.NotFound("Function not found: %s", s.loc.FunctionARN(name))
	}
	return fn, err
}

func sortQueueFunctions(fs []lambda.QueueFunction) {
	sort.Slice(fs, func(i, j int) bool { return fs[i].FunctionName < fs[j].FunctionName })
}

// invokePayload is the event an invoke body carries: {} when empty, refused unless JSON.
func invokePayload(body []byte) ([]byte, error) {
	if len(strings.TrimSpace(string(body))) == 0 {
		return []byte("{}"), nil
	}
	if !json.Valid(body) {
		return nil, lambda.InvalidRequestContent("Could not parse request body into json: Could not parse payload into json: the payload is not a valid JSON document")
	}
	return body, nil
}
