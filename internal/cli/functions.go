package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
)

// List prints every function: a table, only their names (namesOnly, for scripts and shell
// completion), or a JSON array.
func (a *App) List(ctx context.Context, namesOnly bool) error {
	var fns []Function
	p := lambdasdk.NewListFunctionsPaginator(a.Lambda, &lambdasdk.ListFunctionsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return a.explain(err, "")
		}
		for i := range page.Functions {
			fns = append(fns, functionOf(&page.Functions[i]))
		}
	}
	switch {
	case namesOnly:
		for _, f := range fns {
			fmt.Fprintln(a.Stdout, f.FunctionName)
		}
		return nil
	case a.Format == JSON:
		if fns == nil {
			fns = []Function{}
		}
		return writeJSON(a.Stdout, fns)
	}
	if len(fns) == 0 {
		fmt.Fprintln(a.Stderr, "no functions yet: deploy one with `nimbus deploy PATH`")
		return nil
	}
	t := newTable(a.Stdout)
	t.row("NAME", "RUNTIME", "HANDLER", "MEMORY", "TIMEOUT", "CODE", "LAST MODIFIED")
	for _, f := range fns {
		t.row(f.FunctionName, f.Runtime, f.Handler, fmt.Sprintf("%d MB", f.MemorySize), fmt.Sprintf("%d s", f.Timeout),
			humanBytes(f.CodeSize), humanTime(f.LastModified))
	}
	return t.flush()
}

// Get prints one function's configuration.
func (a *App) Get(ctx context.Context, name string) error {
	out, err := a.Lambda.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String(name)})
	if err != nil {
		return a.explain(err, "function "+name)
	}
	f := functionOf(out.Configuration)
	if f.Version == "$LATEST" && !strings.HasSuffix(f.FunctionArn, ":$LATEST") {
		// The function itself, not one of its versions: list them, and its aliases.
		if f.Versions, f.Aliases, err = a.versionsAndAliases(ctx, name); err != nil {
			return err
		}
	}
	if a.Format == JSON {
		return writeJSON(a.Stdout, f)
	}
	return describe(a.Stdout, f)
}

// RemoveResult is one element of what `nimbus rm --output json` prints: an array with one
// for each name, in order.
type RemoveResult struct {
	FunctionName string `json:"FunctionName"`
	Deleted      bool   `json:"Deleted"`
	// Error says why it was not deleted.
	Error string `json:"Error,omitempty"`
}

// Remove deletes functions. A name that cannot be deleted does not stop the others: each
// failure is said on Stderr, and the command then ends with ExitStatus(1).
func (a *App) Remove(ctx context.Context, names []string) error {
	results := make([]RemoveResult, 0, len(names))
	failed := false
	for _, name := range names {
		res := RemoveResult{FunctionName: name}
		if _, err := a.Lambda.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String(name)}); err != nil {
			err = a.explain(err, "function "+name)
			if errors.Is(err, context.Canceled) {
				return err
			}
			res.Error, failed = err.Error(), true
			fmt.Fprintf(a.Stderr, "nimbus: %v\n", err)
		} else {
			res.Deleted = true
			if a.Format != JSON {
				fmt.Fprintf(a.Stdout, "Deleted %s\n", name)
			}
		}
		results = append(results, res)
	}
	if a.Format == JSON {
		if err := writeJSON(a.Stdout, results); err != nil {
			return err
		}
	}
	if failed {
		return ExitStatus(1)
	}
	return nil
}
