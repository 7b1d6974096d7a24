package lambda

import "strconv"

// Alias names one published version of a function ($LATEST too) and, optionally, a second
// version that receives a share of its invocations (RoutingConfig.AdditionalVersionWeights).
type Alias struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	// AdditionalVersion is the second version of a weighted alias, "" when there is none;
	// AdditionalWeight is the share of invocations it gets, 0 to 1.
	AdditionalVersion string  `json:"additionalVersion,omitempty"`
	AdditionalWeight  float64 `json:"additionalWeight,omitempty"`
	RevisionID        string  `json:"revisionId"`
}

// VersionName is the version a record runs: the number of a published version, or $LATEST.
func (f *Function) VersionName() string {
	if f.Version == "" {
		return VersionLatest
	}
	return f.Version
}

// FindVersion returns the published version called v, or nil. Versions are sorted by number.
func (f *Function) FindVersion(v string) *Function {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return nil
	}
	lo, hi := 0, len(f.Versions)
	for lo < hi {
		mid := (lo + hi) / 2
		m, _ := strconv.Atoi(f.Versions[mid].Version)
		switch {
		case m == n:
			return f.Versions[mid]
		case m < n:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return nil
}

// FindAlias returns the alias called name, or nil.
func (f *Function) FindAlias(name string) *Alias {
	for _, a := range f.Aliases {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// IsVersionNumber says whether a qualifier names a published version rather than an alias:
// Lambda's aliases may not be all digits.
func IsVersionNumber(q string) bool {
	if q == "" {
		return false
	}
	for i := 0; i < len(q); i++ {
		if q[i] < '0' || q[i] > '9' {
			return false
		}
	}
	return true
}

// Messages about versions and aliases, as Lambda words them.
const (
	MsgLatestWeighted = "$LATEST is not supported for an alias pointing to more than 1 version"
	MsgDeleteAlias    = "Deletion of aliases is not currently supported."
	MsgDeleteLatest   = "$LATEST version cannot be deleted without deleting the function."
	MsgTooManyWeights = "Number of items in AdditionalVersionWeights cannot be greater than 1"
)

// Limits and patterns of versions and aliases.
const (
	MaxAliasName        = 128
	ListVersionsMaxPage = 50
	ListAliasesMaxPage  = 50
	// AliasNamePattern is the model's pattern for an alias name, quoted in validation messages.
	AliasNamePattern = `(?!^[0-9]+$)([a-zA-Z0-9-_]+)`
)
