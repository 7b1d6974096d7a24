package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/store"
)

// aliasConfiguration is Lambda's AliasConfiguration shape.
type aliasConfiguration struct {
	AliasArn        string         `json:"AliasArn"`
	Name            string         `json:"Name"`
	FunctionVersion string         `json:"FunctionVersion"`
	Description     string         `json:"Description"`
	RoutingConfig   *routingConfig `json:"RoutingConfig,omitempty"`
	RevisionId      string         `json:"RevisionId"`
}

type routingConfig struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights"`
}

func (s *Server) aliasOf(fn string, a *lambda.Alias) aliasConfiguration {
	out := aliasConfiguration{
		AliasArn: s.loc.QualifiedARN(fn, a.Name), Name: a.Name, FunctionVersion: a.Version,
		Description: a.Description, RevisionId: a.RevisionID,
	}
	if a.AdditionalVersion != "" {
		out.RoutingConfig = &routingConfig{AdditionalVersionWeights: map[string]float64{a.AdditionalVersion: a.AdditionalWeight}}
	}
	return out
}

var (
	// aliasNameRE is the model's pattern without its lookahead (Go's regexp has none): an
	// all-digit name is refused separately.
	aliasNameRE       = regexp.MustCompile(`^[a-zA-Z0-9-_]+$`)
	functionVersionRE = regexp.MustCompile(`^(\$LATEST|[0-9]+)$`)
)

func validateAliasName(name string) error {
	if name == "" {
		return validationError("null", "name", "Member must not be null")
	}
	if len(name) > lambda.MaxAliasName {
		return validationError(name, "name", "Member must have length less than or equal to 128")
	}
	if !aliasNameRE.MatchString(name) || lambda.IsVersionNumber(name) {
		return validationError(name, "name", "Member must satisfy regular expression pattern: "+lambda.AliasNamePattern)
	}
	return nil
}

func validateFunctionVersion(v string) error {
	if len(v) > 1024 {
		return validationError(v, "functionVersion", "Member must have length less than or equal to 1024")
	}
	if !functionVersionRE.MatchString(v) {
		return validationError(v, "functionVersion", `Member must satisfy regular expression pattern: (\$LATEST|[0-9]+)`)
	}
	return nil
}

// javaDouble formats a weight as AWS's Java front end prints it in messages: 1.5, 2.0.
func javaDouble(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

// setTarget points a at version with the routing weights, checking them against f's
// versions in Lambda's order, with Lambda's messages.
func (s *Server) setTarget(f *lambda.Function, a *lambda.Alias, version string, weights map[string]float64) error {
	if _, ok := versionOf(f, version); !ok || !(version == lambda.VersionLatest || lambda.IsVersionNumber(version)) {
		return lambda.NotFound("Function not found: %s", s.loc.QualifiedARN(f.Name, version))
	}
	a.Version, a.AdditionalVersion, a.AdditionalWeight = version, "", 0
	if len(weights) > 1 {
		return lambda.InvalidParameter(lambda.MsgTooManyWeights)
	}
	for key, w := range weights {
		entry := "{" + key + "=" + javaDouble(w) + "}"
		if w < 0 || w > 1 {
			return validationError(entry, "routingConfig.additionalVersionWeights", "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]")
		}
		if key == version {
			return lambda.InvalidParameter("Invalid function version %s. Function version %s is already included in routing configuration.", version, version)
		}
		if version == lambda.VersionLatest {
			return lambda.InvalidParameter(lambda.MsgLatestWeighted)
		}
		if !lambda.IsVersionNumber(key) || len(key) > 1024 {
			return validationError(entry, "routingConfig.additionalVersionWeights", "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+, Member must not be null]")
		}
		if f.FindVersion(key) == nil {
			return lambda.NotFound("Function not found: %s", s.loc.QualifiedARN(f.Name, key))
		}
		a.AdditionalVersion, a.AdditionalWeight = key, w
	}
	return nil
}

type aliasInput struct {
	Name            string         `json:"Name"`
	FunctionVersion *string        `json:"FunctionVersion"`
	Description     *string        `json:"Description"`
	RoutingConfig   *routingConfig `json:"RoutingConfig"`
	RevisionId      string         `json:"RevisionId"`
}

func (in *aliasInput) validate() error {
	if in.FunctionVersion != nil {
		if err := validateFunctionVersion(*in.FunctionVersion); err != nil {
			return err
		}
	}
	if in.Description != nil && len(*in.Description) > lambda.MaxDescription {
		return validationError(*in.Description, "description", "Member must have length less than or equal to 256")
	}
	return nil
}

func (in *aliasInput) weights() map[string]float64 {
	if in.RoutingConfig == nil {
		return nil
	}
	return in.RoutingConfig.AdditionalVersionWeights
}

// writeAlias changes the function's record with change, answering Lambda's errors for a
// function that went away meanwhile.
func (s *Server) writeAlias(r *http.Request, name string, change func(f *lambda.Function) error) error {
	_, err := s.catalog.UpdateFunction(r.Context(), name, change)
	if errors.Is(err, store.ErrNotFound) {
		return lambda.NotFound("Function not found: %s", s.loc.FunctionARN(name))
	}
	return err
}

func (s *Server) createAlias(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in aliasInput
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	fn, err := s.unqualified(r)
	if err != nil {
		return err
	}
	if err := validateAliasName(in.Name); err != nil {
		return err
	}
	if in.FunctionVersion == nil {
		return validationError("null", "functionVersion", "Member must not be null")
	}
	if err := in.validate(); err != nil {
		return err
	}
	var created lambda.Alias
	err = s.writeAlias(r, fn.Name, func(f *lambda.Function) error {
		if f.FindAlias(in.Name) != nil {
			return lambda.Conflict("Alias already exists: %s", s.loc.QualifiedARN(f.Name, in.Name))
		}
		a := &lambda.Alias{Name: in.Name, RevisionID: uuid.NewString()}
		if in.Description != nil {
			a.Description = *in.Description
		}
		if err := s.setTarget(f, a, *in.FunctionVersion, in.weights()); err != nil {
			return err
		}
		f.Aliases = append(f.Aliases, a)
		created = *a
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, s.aliasOf(fn.Name, &created))
}

// findAlias resolves {name} and {alias} of GetAlias, UpdateAlias and DeleteAlias.
func (s *Server) findAlias(r *http.Request) (*lambda.Function, *lambda.Alias, error) {
	fn, err := s.unqualified(r)
	if err != nil {
		return nil, nil, err
	}
	name := r.PathValue("alias")
	if err := validateAliasName(name); err != nil {
		return nil, nil, err
	}
	a := fn.FindAlias(name)
	if a == nil {
		return fn, nil, s.noAlias(fn.Name, name)
	}
	return fn, a, nil
}

func (s *Server) noAlias(fn, alias string) error {
	return lambda.NotFound("Cannot find alias arn: %s", s.loc.QualifiedARN(fn, alias))
}

func (s *Server) getAlias(w http.ResponseWriter, r *http.Request, _ []byte) error {
	fn, a, err := s.findAlias(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.aliasOf(fn.Name, a))
}

func (s *Server) updateAlias(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in aliasInput
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	fn, a, err := s.findAlias(r)
	if err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	var updated lambda.Alias
	err = s.writeAlias(r, fn.Name, func(f *lambda.Function) error {
		cur := f.FindAlias(a.Name)
		if cur == nil {
			return s.noAlias(f.Name, a.Name)
		}
		if in.RevisionId != "" && in.RevisionId != cur.RevisionID {
			return lambda.PreconditionFailed(lambda.MsgRevisionMismatch)
		}
		next := *cur
		version := cur.Version
		if in.FunctionVersion != nil {
			version = *in.FunctionVersion
		}
		weights := map[string]float64(nil)
		switch {
		case in.RoutingConfig != nil:
			weights = in.weights() // empty: routing removed
		case cur.AdditionalVersion != "":
			weights = map[string]float64{cur.AdditionalVersion: cur.AdditionalWeight}
		}
		if err := s.setTarget(f, &next, version, weights); err != nil {
			return err
		}
		if in.Description != nil {
			next.Description = *in.Description
		}
		next.RevisionID = uuid.NewString()
		*cur = next
		updated = next
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.aliasOf(fn.Name, &updated))
}

func (s *Server) deleteAlias(w http.ResponseWriter, r *http.Request, _ []byte) error {
	fn, a, err := s.findAlias(r)
	if err != nil {
		return err
	}
	err = s.writeAlias(r, fn.Name, func(f *lambda.Function) error {
		i := slices.IndexFunc(f.Aliases, func(x *lambda.Alias) bool { return x.Name == a.Name })
		if i < 0 {
			return s.noAlias(f.Name, a.Name)
		}
		f.Aliases = slices.Delete(f.Aliases, i, i+1)
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type listAliasesOutput struct {
	Aliases    []aliasConfiguration `json:"Aliases"`
	NextMarker string               `json:"NextMarker,omitempty"`
}

// listAliases lists the function's aliases by name, those routing to FunctionVersion when
// it is given, in pages of at most 50.
func (s *Server) listAliases(w http.ResponseWriter, r *http.Request, _ []byte) error {
	fn, err := s.unqualified(r)
	if err != nil {
		return err
	}
	version := r.URL.Query().Get("FunctionVersion")
	if version != "" {
		if err := validateFunctionVersion(version); err != nil {
			return err
		}
	}
	var all []*lambda.Alias
	for _, a := range fn.Aliases {
		if version == "" || a.Version == version || a.AdditionalVersion == version {
			all = append(all, a)
		}
	}
	slices.SortFunc(all, func(a, b *lambda.Alias) int { return strings.Compare(a.Name, b.Name) })
	start, max, err := page(r, lambda.ListAliasesMaxPage, func(marker string) int {
		i, _ := slices.BinarySearchFunc(all, marker, func(a *lambda.Alias, m string) int {
			if a.Name <= m {
				return -1
			}
			return 1
		})
		return i
	})
	if err != nil {
		return err
	}
	out := listAliasesOutput{Aliases: []aliasConfiguration{}}
	end := min(start+max, len(all))
	for _, a := range all[start:end] {
		out.Aliases = append(out.Aliases, s.aliasOf(fn.Name, a))
	}
	if end < len(all) {
		out.NextMarker = base64.RawURLEncoding.EncodeToString([]byte(all[end-1].Name))
	}
	return writeJSON(w, http.StatusOK, out)
}
