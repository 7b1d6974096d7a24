package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// Invoker runs functions.
type Invoker interface {
	Invoke(ctx context.Context, inv *lambda.Invocation) (*lambda.InvokeResult, error)
	// ConcurrencyLimit is the number of environments this node can run at once.
	ConcurrencyLimit() int
	// MemoryBudgetMB is the memory this node gives environments in total: a function with
	// more than that could never run.
	MemoryBudgetMB() int
}

// maxClientContext is the largest X-Amz-Client-Context Lambda accepts, in base64 bytes.
const maxClientContext = 3583

func (s *Server) invoke(w http.ResponseWriter, r *http.Request, body []byte) error {
	ref, err := s.functionRef(r)
	if err != nil {
		return err
	}
	// The version that runs: a weighted alias picks one per invocation, from memory.
	fn, ok := s.fns.Resolve(ref.Name, ref.Qualifier)
	if !ok {
		return s.notFound(ref, true)
	}
	invType := r.Header.Get("X-Amz-Invocation-Type")
	switch invType {
	case "", lambda.InvocationRequestResponse, lambda.InvocationDryRun, lambda.InvocationEvent:
	default:
		return validationError(invType, "invocationType", "Member must satisfy enum value set: [Event, RequestResponse, DryRun]")
	}
	logType := r.Header.Get("X-Amz-Log-Type")
	if logType != "" && logType != "None" && logType != "Tail" {
		return validationError(logType, "logType", "Member must satisfy enum value set: [None, Tail]")
	}
	if fn.State != lambda.StateActive {
		return lambda.Conflict("The operation cannot be performed at this time. The function is currently in the following state: %s", fn.State)
	}
	if invType == lambda.InvocationEvent && len(body) > lambda.MaxAsyncPayload {
		return asyncTooLarge(len(body))
	}
	payload, err := invokePayload(body)
	if err != nil {
		return err
	}
	var clientContext string
	if cc := r.Header.Get("X-Amz-Client-Context"); cc != "" {
		raw, err := base64.StdEncoding.DecodeString(cc)
		if len(cc) > maxClientContext {
			return lambda.InvalidParameter("Client context must be smaller than %d bytes once base64 encoded.", maxClientContext)
		}
		if err != nil || !json.Valid(raw) {
			return lambda.InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.")
		}
		clientContext = string(raw)
	}
	if invType == lambda.InvocationEvent {
		// Stored before the answer: a 202 is a promise the event runs.
		if err := s.enqueue(w, r, fn, ref, payload, clientContext); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	w.Header().Set("X-Amz-Executed-Version", fn.VersionName())
	if invType == lambda.InvocationDryRun {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if s.invoker == nil {
		return &lambda.Error{Code: lambda.CodeService, Status: http.StatusInternalServerError,
			Message: "This Nimbus server cannot run functions: its sandbox needs root. Restart `nimbus server` as root."}
	}
	invokedARN := s.loc.FunctionARN(fn.Name)
	if ref.Qualifier != "" {
		invokedARN = s.loc.QualifiedARN(fn.Name, ref.Qualifier)
	}
	res, err := s.invoker.Invoke(r.Context(), &lambda.Invocation{
		Function:      fn,
		Version:       fn.VersionName(),
		InvokedARN:    invokedARN,
		RequestID:     w.Header().Get("x-amzn-RequestId"),
		Payload:       payload,
		ClientContext: clientContext,
		TraceID:       r.Header.Get("X-Amzn-Trace-Id"),
		WantLogTail:   logType == "Tail",
	})
	if err != nil {
		return err
	}
	h := w.Header()
	if res.FunctionError != "" {
		h.Set("X-Amz-Function-Error", res.FunctionError)
	}
	if logType == "Tail" {
		h.Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString(res.LogTail))
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(res.Payload)
	return err
}
