package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/store"
)

// versionOf finds the version a qualifier names in fn's record: fn itself for "" and
// $LATEST, a published version by number, and for an alias the version it points at (its
// primary one: reads never pick by weight, only invocations do).
func versionOf(fn *lambda.Function, qualifier string) (*lambda.Function, bool) {
	switch {
	case qualifier == "" || qualifier == lambda.VersionLatest:
		return fn, true
	case lambda.IsVersionNumber(qualifier):
		v := fn.FindVersion(qualifier)
		return v, v != nil
	}
	a := fn.FindAlias(qualifier)
	if a == nil {
		return nil, false
	}
	return versionOf(fn, a.Version)
}

// functionRef parses the {name} path value and merges ?Qualifier= into it.
func (s *Server) functionRef(r *http.Request) (lambda.FunctionRef, error) {
	ref, err := lambda.ParseFunctionRef(r.PathValue("name"), s.loc)
	if err != nil {
		return ref, err
	}
	return ref.WithQualifier(r.URL.Query().Get("Qualifier"))
}

// unqualified resolves the {name} of an operation on the function as a whole (publishing,
// aliases), which takes no qualifier.
func (s *Server) unqualified(r *http.Request) (*lambda.Function, error) {
	ref, err := lambda.ParseFunctionRef(r.PathValue("name"), s.loc)
	if err != nil {
		return nil, err
	}
	if ref.Qualifier != "" {
		return nil, lambda.InvalidParameter("Unsupported function name format: the function name must not contain a qualifier.")
	}
	fn, ok := s.fns.Lookup(ref.Name)
	if !ok {
		return nil, lambda.NotFound("Function not found: %s", s.loc.FunctionARN(ref.Name))
	}
	return fn, nil
}

// newVersion appends a frozen copy of f's configuration and code to f's versions, under the
// next number never used, and returns it. A version has its own RevisionId; its LastModified
// is $LATEST's, which is also how an unchanged $LATEST is recognised (see lastPublished).
func newVersion(f *lambda.Function, description *string) *lambda.Function {
	v := *f
	v.Versions, v.Aliases, v.LastVersion = nil, nil, 0
	v.Tags, v.ReservedConcurrency, v.EventInvoke = nil, nil, nil
	f.LastVersion++
	v.Version = strconv.Itoa(f.LastVersion)
	v.RevisionID = uuid.NewString()
	v.State, v.StateReason, v.StateCode = lambda.StateActive, "", ""
	v.UpdateStatus = "" // Lambda's versions have no LastUpdateStatus
	if description != nil {
		v.Description = *description
	}
	f.Versions = append(f.Versions, &v)
	return &v
}

// lastPublished returns the version last published if it still exists and $LATEST has not
// changed since: publishing again returns it instead of a new version, as on Lambda.
func lastPublished(f *lambda.Function) *lambda.Function {
	last := f.FindVersion(strconv.Itoa(f.LastVersion))
	if last != nil && last.LastModified.Equal(f.LastModified) && last.CodeSHA256 == f.CodeSHA256 {
		return last
	}
	return nil
}

type publishVersionInput struct {
	CodeSha256  string  `json:"CodeSha256"`
	Description *string `json:"Description"`
	RevisionId  string  `json:"RevisionId"`
}

func (s *Server) publishVersion(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in publishVersionInput
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	fn, err := s.unqualified(r)
	if err != nil {
		return err
	}
	if in.Description != nil && len(*in.Description) > lambda.MaxDescription {
		return validationError(*in.Description, "description", "Member must have length less than or equal to 256")
	}
	var published *lambda.Function
	_, err = s.catalog.UpdateFunction(r.Context(), fn.Name, func(f *lambda.Function) error {
		if in.RevisionId != "" && in.RevisionId != f.RevisionID {
			return lambda.PreconditionFailed(lambda.MsgRevisionMismatch)
		}
		if current := codeSHA256Base64(f.CodeSHA256); in.CodeSha256 != "" && in.CodeSha256 != current {
			return lambda.InvalidParameter("CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the CodeSHA256 in $LATEST.", in.CodeSha256, current)
		}
		if f.UpdateStatus == lambda.UpdateRunning || f.State == lambda.StatePending {
			return lambda.Conflict("The operation cannot be performed at this time. An update is in progress for resource: %s", s.loc.FunctionARN(f.Name))
		}
		if published = lastPublished(f); published != nil {
			return errNoChange
		}
		published = newVersion(f, in.Description)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return lambda.NotFound("Function not found: %s", s.loc.FunctionARN(fn.Name))
	}
	if err != nil && !errors.Is(err, errNoChange) {
		return err
	}
	return writeJSON(w, http.StatusCreated, s.configurationOf(published, published.Version))
}

type listVersionsOutput struct {
	Versions   []functionConfiguration `json:"Versions"`
	NextMarker string                  `json:"NextMarker,omitempty"`
}

// listVersionsByFunction lists $LATEST, then every published version by number, each with
// its qualified ARN, in pages of at most 50.
func (s *Server) listVersionsByFunction(w http.ResponseWriter, r *http.Request, _ []byte) error {
	fn, err := s.unqualified(r)
	if err != nil {
		return err
	}
	all := append([]*lambda.Function{fn}, fn.Versions...)
	start, max, err := page(r, lambda.ListVersionsMaxPage, func(marker string) int {
		for i, v := range all {
			if v.VersionName() == marker {
				return i + 1
			}
		}
		return len(all)
	})
	if err != nil {
		return err
	}
	out := listVersionsOutput{Versions: []functionConfiguration{}}
	end := min(start+max, len(all))
	for _, v := range all[start:end] {
		out.Versions = append(out.Versions, s.configurationOf(v, v.VersionName()))
	}
	if end < len(all) {
		out.NextMarker = base64.RawURLEncoding.EncodeToString([]byte(all[end-1].VersionName()))
	}
	return writeJSON(w, http.StatusOK, out)
}

// page reads MaxItems and Marker (the opaque form of the last item of the previous page),
// returning where the page starts and how long it may be. after finds the index following
// the marker's item.
func page(r *http.Request, maxPage int, after func(marker string) int) (start, max int, err error) {
	q := r.URL.Query()
	max = maxPage
	if v := q.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return 0, 0, validationError(v, "maxItems", "Member must have value between 1 and 10000")
		}
		max = min(n, maxPage)
	}
	if m := q.Get("Marker"); m != "" {
		raw, err := base64.RawURLEncoding.DecodeString(m)
		if err != nil {
			return 0, 0, lambda.InvalidParameter("Invalid pagination token")
		}
		start = after(string(raw))
	}
	return start, max, nil
}

// deleteVersion deletes one published version. Lambda refuses aliases and $LATEST here, and
// a version that an alias still points at.
func (s *Server) deleteVersion(w http.ResponseWriter, r *http.Request, ref lambda.FunctionRef) error {
	switch {
	case ref.Qualifier == lambda.VersionLatest:
		return lambda.InvalidParameter(lambda.MsgDeleteLatest)
	case !lambda.IsVersionNumber(ref.Qualifier):
		return lambda.InvalidParameter(lambda.MsgDeleteAlias)
	}
	_, err := s.catalog.UpdateFunction(r.Context(), ref.Name, func(f *lambda.Function) error {
		if f.FindVersion(ref.Qualifier) == nil {
			return errNoChange // as on Lambda, deleting a version that is not there succeeds
		}
		var users []string
		for _, a := range f.Aliases {
			if a.Version == ref.Qualifier || a.AdditionalVersion == ref.Qualifier {
				users = append(users, a.Name)
			}
		}
		if len(users) > 0 {
			return lambda.Conflict("Unable to delete version because the following aliases reference it: [%s]", strings.Join(users, ", "))
		}
		for i, v := range f.Versions {
			if v.Version == ref.Qualifier {
				f.Versions = append(f.Versions[:i:i], f.Versions[i+1:]...)
				break
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return lambda.NotFound("Function not found: %s", s.loc.FunctionARN(ref.Name))
	case err != nil && !errors.Is(err, errNoChange):
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
