package api

import (
	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// lastModifiedFormat is FunctionConfiguration.LastModified's wire format: a string, not a
// timestamp number (Terraform and the SDKs parse it as such).
const lastModifiedFormat = "2006-01-02T15:04:05.000-0700"

// functionConfiguration is Lambda's FunctionConfiguration shape, field for field as recorded
// from real AWS.
type functionConfiguration struct {
	FunctionName     string           `json:"FunctionName"`
	FunctionArn      string           `json:"FunctionArn"`
	Runtime          string           `json:"Runtime,omitempty"`
	Role             string           `json:"Role"`
	Handler          string           `json:"Handler,omitempty"`
	CodeSize         int64            `json:"CodeSize"`
	Description      string           `json:"Description"`
	Timeout          int              `json:"Timeout"`
	MemorySize       int              `json:"MemorySize"`
	LastModified     string           `json:"LastModified"`
	CodeSha256       string           `json:"CodeSha256"`
	Version          string           `json:"Version"`
	Environment      *environment     `json:"Environment,omitempty"`
	TracingConfig    tracingConfig    `json:"TracingConfig"`
	RevisionId       string           `json:"RevisionId"`
	Layers           []layer          `json:"Layers,omitempty"`
	State            string           `json:"State"`
	StateReason      string           `json:"StateReason,omitempty"`
	StateReasonCode  string           `json:"StateReasonCode,omitempty"`
	LastUpdateStatus string           `json:"LastUpdateStatus,omitempty"`
	PackageType      string           `json:"PackageType"`
	Architectures    []string         `json:"Architectures"`
	EphemeralStorage ephemeralStorage `json:"EphemeralStorage"`
	SnapStart        snapStart        `json:"SnapStart"`
	LoggingConfig    loggingConfig    `json:"LoggingConfig"`
}

type environment struct {
	Variables map[string]string `json:"Variables"`
}

type tracingConfig struct {
	Mode string `json:"Mode"`
}

type layer struct {
	Arn string `json:"Arn"`
}

type ephemeralStorage struct {
	Size int `json:"Size"`
}

type snapStart struct {
	ApplyOn            string `json:"ApplyOn"`
	OptimizationStatus string `json:"OptimizationStatus"`
}

type loggingConfig struct {
	LogFormat string `json:"LogFormat"`
	LogGroup  string `json:"LogGroup"`
}

// configurationOf shapes a stored function or one of its versions. qualifier is the one the
// request named ("" for none): Lambda then answers with a FunctionArn qualified by it, the
// alias's own for an alias.
func (s *Server) configurationOf(fn *lambda.Function, qualifier string) functionConfiguration {
	arn := s.loc.FunctionARN(fn.Name)
	if qualifier != "" {
		arn = s.loc.QualifiedARN(fn.Name, qualifier)
	}
	c := functionConfiguration{
		FunctionName:     fn.Name,
		FunctionArn:      arn,
		Runtime:          fn.Runtime,
		Role:             fn.Role,
		Handler:          fn.Handler,
		CodeSize:         fn.CodeSize,
		Description:      fn.Description,
		Timeout:          fn.Timeout,
		MemorySize:       fn.MemorySize,
		LastModified:     fn.LastModified.UTC().Format(lastModifiedFormat),
		CodeSha256:       codeSHA256Base64(fn.CodeSHA256),
		Version:          fn.VersionName(),
		TracingConfig:    tracingConfig{Mode: fn.TracingMode},
		RevisionId:       fn.RevisionID,
		State:            fn.State,
		StateReason:      fn.StateReason,
		StateReasonCode:  fn.StateCode,
		LastUpdateStatus: fn.UpdateStatus,
		PackageType:      "Zip",
		Architectures:    []string{fn.Architecture},
		EphemeralStorage: ephemeralStorage{Size: fn.EphemeralMB},
		SnapStart:        snapStart{ApplyOn: "None", OptimizationStatus: "Off"},
		LoggingConfig:    loggingConfig{LogFormat: "Text", LogGroup: "/aws/lambda/" + fn.Name},
	}
	if len(fn.Environment) > 0 {
		c.Environment = &environment{Variables: fn.Environment}
	}
	for _, l := range fn.Layers {
		c.Layers = append(c.Layers, layer{Arn: l})
	}
	return c
}
