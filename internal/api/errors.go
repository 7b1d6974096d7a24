package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/nimbusfaas/nimbus/internal/auth"
	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// capitalMessage lists the codes whose message member is "Message"; the others use "message".
// These are the casings of the message member in each error shape of the Lambda model.
// The Go SDK's deserializers match these keys case-sensitively, so a wrong case loses the
// message for typed errors.
var capitalMessage = map[string]bool{
	lambda.CodeResourceNotFound: true,
	lambda.CodeService:          true,
	codeSerialization:           true, // not modelled; Lambda sends {"Message":"STRING_VALUE can not be converted to an Integer"}
}

// writeError renders err as Lambda does: X-Amzn-ErrorType, a JSON body with Type and the
// message member, and the error's status. Errors that are not Lambda errors are logged and
// become a ServiceException without internals.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	le, ok := lambda.AsError(err)
	var ae *auth.Error
	if !ok && errors.As(err, &ae) {
		log.Info("request refused", "path", r.URL.Path, "err", err)
		le, ok = &lambda.Error{Code: ae.Code, Message: ae.Message, Status: ae.Status}, true
	}
	if !ok {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			le = lambda.RequestTooLarge(mbe.Limit, operationName(r))
		} else {
			log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			le = &lambda.Error{Code: lambda.CodeService, Status: http.StatusInternalServerError,
				Message: "An internal error occurred while processing the request."}
		}
	}
	body := map[string]string{"Type": "User"}
	if le.Status >= 500 {
		body["Type"] = "Service"
	}
	if capitalMessage[le.Code] {
		body["Message"] = le.Message
	} else {
		body["message"] = le.Message
	}
	if le.Reason != "" {
		body["Reason"] = le.Reason
	}
	h := w.Header()
	h.Set("X-Amzn-ErrorType", le.Code)
	h.Set("Content-Type", "application/json")
	if le.RetryAfterSeconds > 0 {
		h.Set("Retry-After", strconv.Itoa(le.RetryAfterSeconds))
	}
	w.WriteHeader(le.Status)
	json.NewEncoder(w).Encode(body)
}

// operationName names the Lambda operation of a request, for messages that include it.
func operationName(r *http.Request) string {
	if op, ok := r.Context().Value(operationKey{}).(string); ok {
		return op
	}
	return "Unknown"
}

type operationKey struct{}
