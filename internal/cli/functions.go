package cli

import (
	"context"
	"fmt"

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
	if a.Format == JSON {
		return writeJSON(a.Stdout, f)
	}
	return describe(a.Stdout, f)
}

// RemoveResult is what `nimbus rm --output json` prints.
type RemoveResult struct {
	FunctionName string `json:"FunctionName"`
	Deleted      bool   `json:"Deleted"`
}

// Remove deletes a function.
func (a *App) Remove(ctx context.Context, name string) error {
	if _, err := a.Lambda.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String(name)}); err != nil {
		return a.explain(err, "function "+name)
	}
	if a.Format == JSON {
		return writeJSON(a.Stdout, RemoveResult{FunctionName: name, Deleted: true})
	}
	fmt.Fprintf(a.Stdout, "Deleted %s\n", name)
	return nil
}
