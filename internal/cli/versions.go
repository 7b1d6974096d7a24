package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Version is one published version as `nimbus get` prints it.
type Version struct {
	Version      string `json:"Version"`
	Description  string `json:"Description,omitempty"`
	CodeSha256   string `json:"CodeSha256"`
	LastModified string `json:"LastModified"`
}

// Alias is an alias as `nimbus alias` and `nimbus get` print it; in JSON its members have
// Lambda's names.
type Alias struct {
	AliasArn        string             `json:"AliasArn"`
	Name            string             `json:"Name"`
	FunctionVersion string             `json:"FunctionVersion"`
	Description     string             `json:"Description,omitempty"`
	Weights         map[string]float64 `json:"AdditionalVersionWeights,omitempty"`
}

func aliasOf(c *types.AliasConfiguration) Alias {
	a := Alias{AliasArn: aws.ToString(c.AliasArn), Name: aws.ToString(c.Name),
		FunctionVersion: aws.ToString(c.FunctionVersion), Description: aws.ToString(c.Description)}
	if c.RoutingConfig != nil && len(c.RoutingConfig.AdditionalVersionWeights) > 0 {
		a.Weights = c.RoutingConfig.AdditionalVersionWeights
	}
	return a
}

// routing says where an alias sends invocations: "1", or "1 (10% to 2)".
func (a Alias) routing() string {
	s := a.FunctionVersion
	for _, v := range slices.Sorted(maps.Keys(a.Weights)) {
		s += fmt.Sprintf(" (%s%% to %s)", strconv.FormatFloat(a.Weights[v]*100, 'f', -1, 64), v)
	}
	return s
}

// Publish publishes $LATEST as a new version (or finds the version it already is) and
// prints it.
func (a *App) Publish(ctx context.Context, name, description string) error {
	in := &lambdasdk.PublishVersionInput{FunctionName: aws.String(name)}
	if description != "" {
		in.Description = aws.String(description)
	}
	out, err := a.Lambda.PublishVersion(ctx, in)
	if err != nil {
		return a.explain(err, "function "+name)
	}
	f := functionOf(&types.FunctionConfiguration{FunctionName: out.FunctionName, FunctionArn: out.FunctionArn,
		Runtime: out.Runtime, Handler: out.Handler, Description: out.Description, MemorySize: out.MemorySize,
		Timeout: out.Timeout, CodeSize: out.CodeSize, CodeSha256: out.CodeSha256, LastModified: out.LastModified,
		State: out.State, Version: out.Version, Environment: out.Environment, LoggingConfig: out.LoggingConfig})
	if a.Format == JSON {
		return writeJSON(a.Stdout, f)
	}
	fmt.Fprintf(a.Stdout, "%s version %s (%s)\n", name, f.Version, f.FunctionArn)
	return nil
}

// AliasOptions are the arguments of `nimbus alias`.
type AliasOptions struct {
	Function, Name, Version string
	// Weights sends a share of the invocations to one other version: {"2": 0.1}.
	Weights     map[string]float64
	Description string
}

// ParseWeight reads --weight's V=W (a version and the share of invocations it gets, 0 to 1).
func ParseWeight(s string) (map[string]float64, error) {
	v, w, ok := strings.Cut(s, "=")
	f, err := strconv.ParseFloat(w, 64)
	if !ok || v == "" || err != nil {
		return nil, &UserError{Msg: fmt.Sprintf("--weight %q: want VERSION=SHARE, such as 2=0.1 (10%% of the invocations to version 2)", s)}
	}
	return map[string]float64{v: f}, nil
}

// Alias creates the alias, or points an existing one at Version with Weights (none: all of
// the invocations go to Version), and prints it.
func (a *App) Alias(ctx context.Context, o AliasOptions) error {
	routing := &types.AliasRoutingConfiguration{AdditionalVersionWeights: o.Weights}
	var desc *string
	if o.Description != "" {
		desc = aws.String(o.Description)
	}
	var cfg *types.AliasConfiguration
	created, err := a.Lambda.CreateAlias(ctx, &lambdasdk.CreateAliasInput{FunctionName: aws.String(o.Function),
		Name: aws.String(o.Name), FunctionVersion: aws.String(o.Version), RoutingConfig: routing, Description: desc})
	if err == nil {
		cfg = &types.AliasConfiguration{AliasArn: created.AliasArn, Name: created.Name, FunctionVersion: created.FunctionVersion,
			Description: created.Description, RoutingConfig: created.RoutingConfig}
	} else {
		var conflict *types.ResourceConflictException
		if !errors.As(err, &conflict) {
			return a.explain(err, "")
		}
		updated, err := a.Lambda.UpdateAlias(ctx, &lambdasdk.UpdateAliasInput{FunctionName: aws.String(o.Function),
			Name: aws.String(o.Name), FunctionVersion: aws.String(o.Version), RoutingConfig: routing, Description: desc})
		if err != nil {
			return a.explain(err, "")
		}
		cfg = &types.AliasConfiguration{AliasArn: updated.AliasArn, Name: updated.Name, FunctionVersion: updated.FunctionVersion,
			Description: updated.Description, RoutingConfig: updated.RoutingConfig}
	}
	al := aliasOf(cfg)
	if a.Format == JSON {
		return writeJSON(a.Stdout, al)
	}
	fmt.Fprintf(a.Stdout, "%s:%s -> %s\n", o.Function, al.Name, al.routing())
	return nil
}

// versionsAndAliases lists a function's published versions and its aliases, for `nimbus get`.
func (a *App) versionsAndAliases(ctx context.Context, name string) ([]Version, []Alias, error) {
	var versions []Version
	vp := lambdasdk.NewListVersionsByFunctionPaginator(a.Lambda, &lambdasdk.ListVersionsByFunctionInput{FunctionName: aws.String(name)})
	for vp.HasMorePages() {
		page, err := vp.NextPage(ctx)
		if err != nil {
			return nil, nil, a.explain(err, "function "+name)
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Version) == "$LATEST" {
				continue
			}
			versions = append(versions, Version{Version: aws.ToString(v.Version), Description: aws.ToString(v.Description),
				CodeSha256: aws.ToString(v.CodeSha256), LastModified: aws.ToString(v.LastModified)})
		}
	}
	var aliases []Alias
	ap := lambdasdk.NewListAliasesPaginator(a.Lambda, &lambdasdk.ListAliasesInput{FunctionName: aws.String(name)})
	for ap.HasMorePages() {
		page, err := ap.NextPage(ctx)
		if err != nil {
			return nil, nil, a.explain(err, "function "+name)
		}
		for i := range page.Aliases {
			aliases = append(aliases, aliasOf(&page.Aliases[i]))
		}
	}
	return versions, aliases, nil
}
