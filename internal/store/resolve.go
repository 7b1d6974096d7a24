package store

import (
	"math/rand/v2"

	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// qualifiers is one function's versions and aliases, indexed when its record is applied so
// that resolving a qualifier on the invoke path is two map reads and, for a weighted alias,
// one random number.
type qualifiers struct {
	versions map[string]*lambda.Function
	aliases  map[string]route
}

// route is an alias resolved to its versions' records. extra is nil for an alias that
// routes everything to primary.
type route struct {
	primary, extra *lambda.Function
	weight         float64
}

// indexQualifiers builds f's index. Each published version's copy gets the function-wide
// settings that are not configuration (reserved concurrency, the asynchronous invocation
// config), so that a version's record says everything its invocations need. f is the
// freshly decoded record, not yet shared.
func indexQualifiers(f *lambda.Function) *qualifiers {
	if len(f.Versions) == 0 && len(f.Aliases) == 0 {
		return nil
	}
	q := &qualifiers{versions: make(map[string]*lambda.Function, len(f.Versions)), aliases: make(map[string]route, len(f.Aliases))}
	for _, v := range f.Versions {
		v.ReservedConcurrency = f.ReservedConcurrency
		v.EventInvoke = f.EventInvoke
		q.versions[v.Version] = v
	}
	target := func(version string) *lambda.Function {
		if version == lambda.VersionLatest {
			return f
		}
		return q.versions[version]
	}
	for _, a := range f.Aliases {
		r := route{primary: target(a.Version)}
		if r.primary == nil {
			continue // cannot happen: a version an alias names cannot be deleted
		}
		if a.AdditionalVersion != "" {
			r.extra, r.weight = target(a.AdditionalVersion), a.AdditionalWeight
		}
		q.aliases[a.Name] = r
	}
	return q
}

// Resolve returns the record of the version that an invocation of name with this qualifier
// runs: the function's own record for "" and $LATEST, a published version's for its number,
// and for an alias its version, or its additional version with the alias's weight. It does
// no I/O. The record is shared and read-only; its VersionName is the executed version.
func (c *Catalog) Resolve(name, qualifier string) (*lambda.Function, bool) {
	c.mu.Lock()
	f, ok := c.fns[name]
	q := c.quals[name]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	if qualifier == "" || qualifier == lambda.VersionLatest {
		return f, true
	}
	if q == nil {
		return nil, false
	}
	if v, ok := q.versions[qualifier]; ok {
		return v, true
	}
	r, ok := q.aliases[qualifier]
	if !ok {
		return nil, false
	}
	if r.extra != nil && rand.Float64() < r.weight {
		return r.extra, true
	}
	return r.primary, true
}
