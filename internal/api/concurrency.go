package api

import (
	"errors"
	"net/http"

	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/store"
)

// minUnreservedConcurrency is the concurrency Lambda keeps for functions without a
// reservation: reservations may not take the account below it.
const minUnreservedConcurrency = 100

// minUnreserved is what reservations must leave to functions without one on a node that runs
// limit invocations at once: Lambda's 100, which is a tenth of its default 1,000, or a tenth
// of a smaller node's limit (one whose memory budget holds fewer environments), so that
// reserved concurrency stays usable there.
func minUnreserved(limit int) int {
	return min(minUnreservedConcurrency, limit/10)
}

// defaultConcurrencyLimit is Lambda's default account concurrency, reported when this node
// runs no invoker (it cannot sandbox functions).
const defaultConcurrencyLimit = 1000

// concurrencyLimit is the most invocations this node runs at once.
func (s *Server) concurrencyLimit() int {
	if s.invoker == nil {
		return defaultConcurrencyLimit
	}
	return s.invoker.ConcurrencyLimit()
}

// concurrencyOutput is the answer of Put- and GetFunctionConcurrency; the latter leaves the
// member out when nothing is reserved.
type concurrencyOutput struct {
	ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions,omitempty"`
}

// concurrencyFunction resolves the {name} of a concurrency request: a reservation belongs to
// the function, not to one of its versions.
func (s *Server) concurrencyFunction(r *http.Request) (string, error) {
	ref, err := lambda.ParseFunctionRef(r.PathValue("name"), s.loc)
	if err != nil {
		return "", err
	}
	if ref.Qualifier != "" {
		return "", lambda.InvalidParameter("Reserved concurrency applies to a function, not to a version or alias: %s", s.loc.QualifiedARN(ref.Name, ref.Qualifier))
	}
	if _, ok := s.fns.Lookup(ref.Name); !ok {
		return "", lambda.NotFound("Function not found: %s", s.loc.FunctionARN(ref.Name))
	}
	return ref.Name, nil
}

func (s *Server) putFunctionConcurrency(w http.ResponseWriter, r *http.Request, body []byte) error {
	name, err := s.concurrencyFunction(r)
	if err != nil {
		return err
	}
	var in struct {
		ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	n := in.ReservedConcurrentExecutions
	switch {
	case n == nil:
		return validationError("null", "reservedConcurrentExecutions", "Member must not be null")
	case *n < 0:
		return validationError(*n, "reservedConcurrentExecutions", "Member must have value greater than or equal to 0")
	}
	// Two reservations racing on different functions may together pass this check; the
	// invoker still never runs more than the node's limit.
	others := s.fns.ReservedConcurrency()
	if fn, ok := s.fns.Lookup(name); ok && fn.ReservedConcurrency != nil {
		others -= *fn.ReservedConcurrency
	}
	limit := s.concurrencyLimit()
	if least := minUnreserved(limit); limit-others-*n < least {
		return lambda.InvalidParameter("Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [%d].", least)
	}
	if err := s.setReservedConcurrency(r, name, n); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, concurrencyOutput{ReservedConcurrentExecutions: n})
}

func (s *Server) getFunctionConcurrency(w http.ResponseWriter, r *http.Request, _ []byte) error {
	name, err := s.concurrencyFunction(r)
	if err != nil {
		return err
	}
	fn, ok := s.fns.Lookup(name)
	if !ok {
		return lambda.NotFound("Function not found: %s", s.loc.FunctionARN(name))
	}
	return writeJSON(w, http.StatusOK, concurrencyOutput{ReservedConcurrentExecutions: fn.ReservedConcurrency})
}

func (s *Server) deleteFunctionConcurrency(w http.ResponseWriter, r *http.Request, _ []byte) error {
	name, err := s.concurrencyFunction(r)
	if err != nil {
		return err
	}
	if err := s.setReservedConcurrency(r, name, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setReservedConcurrency stores the function's reservation; nil removes it.
func (s *Server) setReservedConcurrency(r *http.Request, name string, n *int) error {
	_, err := s.catalog.UpdateFunction(r.Context(), name, func(fn *lambda.Function) error {
		fn.ReservedConcurrency = n
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return lambda.NotFound("Function not found: %s", s.loc.FunctionARN(name))
	}
	return err
}
