package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Function is a function's configuration as the commands print it; in JSON its members have
// Lambda's names.
type Function struct {
	FunctionName     string            `json:"FunctionName"`
	FunctionArn      string            `json:"FunctionArn"`
	Runtime          string            `json:"Runtime"`
	Handler          string            `json:"Handler"`
	Description      string            `json:"Description,omitempty"`
	MemorySize       int32             `json:"MemorySize"`
	Timeout          int32             `json:"Timeout"`
	CodeSize         int64             `json:"CodeSize"`
	CodeSha256       string            `json:"CodeSha256"`
	LastModified     string            `json:"LastModified"`
	State            string            `json:"State,omitempty"`
	StateReason      string            `json:"StateReason,omitempty"`
	LastUpdateStatus string            `json:"LastUpdateStatus,omitempty"`
	Version          string            `json:"Version,omitempty"`
	Environment      map[string]string `json:"Environment,omitempty"`
	LogGroup         string            `json:"LogGroup"`
	// Versions and Aliases are listed by `nimbus get` of a function's $LATEST.
	Versions []Version `json:"Versions,omitempty"`
	Aliases  []Alias   `json:"Aliases,omitempty"`
}

func functionOf(c *types.FunctionConfiguration) Function {
	f := Function{
		FunctionName:     aws.ToString(c.FunctionName),
		FunctionArn:      aws.ToString(c.FunctionArn),
		Runtime:          string(c.Runtime),
		Handler:          aws.ToString(c.Handler),
		Description:      aws.ToString(c.Description),
		MemorySize:       aws.ToInt32(c.MemorySize),
		Timeout:          aws.ToInt32(c.Timeout),
		CodeSize:         c.CodeSize,
		CodeSha256:       aws.ToString(c.CodeSha256),
		LastModified:     aws.ToString(c.LastModified),
		State:            string(c.State),
		StateReason:      aws.ToString(c.StateReason),
		LastUpdateStatus: string(c.LastUpdateStatus),
		Version:          aws.ToString(c.Version),
		LogGroup:         "/aws/lambda/" + aws.ToString(c.FunctionName),
	}
	if c.LoggingConfig != nil && c.LoggingConfig.LogGroup != nil {
		f.LogGroup = *c.LoggingConfig.LogGroup
	}
	if c.Environment != nil && len(c.Environment.Variables) > 0 {
		f.Environment = c.Environment.Variables
	}
	return f
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table prints aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

func (t *table) row(cells ...string) {
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// describe prints a function as "Key  value" lines.
func describe(w io.Writer, f Function) error {
	t := newTable(w)
	t.row("Name", f.FunctionName)
	t.row("ARN", f.FunctionArn)
	state := f.State
	if f.LastUpdateStatus != "" && f.LastUpdateStatus != "Successful" {
		state += " (last update " + f.LastUpdateStatus + ")"
	}
	if f.StateReason != "" {
		state += ": " + f.StateReason
	}
	t.row("State", state)
	t.row("Runtime", f.Runtime)
	t.row("Handler", f.Handler)
	t.row("Memory", fmt.Sprintf("%d MB", f.MemorySize))
	t.row("Timeout", fmt.Sprintf("%d s", f.Timeout))
	t.row("Code size", humanBytes(f.CodeSize))
	t.row("Code SHA-256", f.CodeSha256)
	t.row("Last modified", humanTime(f.LastModified))
	if f.Description != "" {
		t.row("Description", f.Description)
	}
	for i, k := range slices.Sorted(maps.Keys(f.Environment)) {
		label := ""
		if i == 0 {
			label = "Environment"
		}
		t.row(label, k+"="+f.Environment[k])
	}
	t.row("Log group", f.LogGroup)
	if f.Version != "" && f.Version != "$LATEST" {
		t.row("Version", f.Version)
	}
	for i, v := range f.Versions {
		label := ""
		if i == 0 {
			label = "Versions"
		}
		line := v.Version + "  " + humanTime(v.LastModified) + "  " + v.CodeSha256
		if v.Description != "" {
			line += "  " + v.Description
		}
		t.row(label, line)
	}
	for i, al := range f.Aliases {
		label := ""
		if i == 0 {
			label = "Aliases"
		}
		t.row(label, al.Name+" -> "+al.routing())
	}
	return t.flush()
}

func humanBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1000)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/1000/1000)
	}
}

// humanTime shows Lambda's LastModified ("2006-01-02T15:04:05.000+0000") in local time.
func humanTime(s string) string {
	t, err := time.Parse("2006-01-02T15:04:05.000-0700", s)
	if err != nil {
		return s
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
