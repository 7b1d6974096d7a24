package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/store"
)

const maxTags = 50

func validateTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return lambda.InvalidParameter("Number of tags exceeds resource tag limit.")
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return lambda.InvalidParameter("Tag keys must be 1 to 128 characters and values at most 256 characters: %q", k)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return lambda.InvalidParameter("Tag keys starting with 'aws:' are reserved for AWS use: %q", k)
		}
	}
	return nil
}

// taggedFunction resolves the {arn} of a tagging request. Only unqualified function ARNs can
// carry tags.
func (s *Server) taggedFunction(r *http.Request) (string, error) {
	raw := r.PathValue("arn")
	if !strings.HasPrefix(raw, "arn:") {
		return "", lambda.Validation("1 validation error detected: Value '%s' at 'resource' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:(function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?|layer:...)", raw)
	}
	ref, err := lambda.ParseFunctionRef(raw, s.loc)
	if err != nil {
		return "", err
	}
	if ref.Qualifier != "" {
		return "", lambda.InvalidParameter("Tags are not supported on a qualified function ARN: %s", raw)
	}
	return ref.Name, nil
}

func (s *Server) changeTags(r *http.Request, change func(tags map[string]string) error) error {
	name, err := s.taggedFunction(r)
	if err != nil {
		return err
	}
	// Tags are not configuration: changing them leaves RevisionId and LastModified alone.
	_, err = s.catalog.UpdateFunction(r.Context(), name, func(fn *lambda.Function) error {
		if fn.Tags == nil {
			fn.Tags = map[string]string{}
		}
		return change(fn.Tags)
	})
	if errors.Is(err, store.ErrNotFound) {
		return lambda.NotFound("Function not found: %s", s.loc.FunctionARN(name))
	}
	return err
}

func (s *Server) tagResource(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in struct {
		Tags map[string]string `json:"Tags"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if len(in.Tags) == 0 {
		return validationError("null", "tags", "Member must not be null")
	}
	err := s.changeTags(r, func(tags map[string]string) error {
		for k, v := range in.Tags {
			tags[k] = v
		}
		return validateTags(tags)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) untagResource(w http.ResponseWriter, r *http.Request, _ []byte) error {
	keys := r.URL.Query()["tagKeys"]
	if len(keys) == 0 {
		return validationError("null", "tagKeys", "Member must not be null")
	}
	err := s.changeTags(r, func(tags map[string]string) error {
		for _, k := range keys {
			delete(tags, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listTags(w http.ResponseWriter, r *http.Request, _ []byte) error {
	name, err := s.taggedFunction(r)
	if err != nil {
		return err
	}
	fn, err := s.catalog.GetFunction(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return lambda.NotFound("Function not found: %s", s.loc.FunctionARN(name))
	}
	if err != nil {
		return err
	}
	tags := fn.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"Tags": tags})
}
