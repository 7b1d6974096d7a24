package environment

import (
	"context"
	"strings"
	"time"

	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/logs"
)

// initFailure is how an environment's Init phase failed: the invocation's answer, and what
// its log says.
type initFailure struct {
	res       *lambda.InvokeResult
	status    logs.Status // StatusError or StatusTimeout
	errorType string
	// errorLine is the platform's own account of the error, which Lambda logs between START
	// and END ("RequestId: … Error: Runtime exited with error: exit status 1\nRuntime.ExitError")
	// when the runtime could not report it itself.
	errorLine string
}

// failed is an Init failure the platform saw (a runtime that exited or could not start),
// answered with Lambda's error document and logged with its message.
func failed(errorType, message string) *initFailure {
	return &initFailure{
		res:    platformError(errorType, message),
		status: logs.StatusError, errorType: errorType,
		errorLine: message + "\n" + errorType,
	}
}

// logInitFailure logs an invocation whose Init failed the way Lambda does — Init's output,
// INIT_REPORT with the status and error type, START, the error, END, and REPORT with
// "Status: error" and the error type (or "Status: timeout") — and returns the invocation's
// result with the tail of that log when the invocation asked for it.
func (e *Environment) logInitFailure(inv *lambda.Invocation, f *initFailure, took time.Duration) *lambda.InvokeResult {
	report := logs.Report{Duration: took, MemorySizeMB: e.fn.MemorySize, Status: f.status, ErrorType: f.errorType}
	if e.created {
		if st, err := e.driver.Stats(context.Background(), e.id); err == nil {
			report.MaxMemoryUsed = st.PeakMemoryBytes
		}
	}
	line := f.errorLine
	if line != "" && !strings.HasPrefix(line, "RequestId: ") {
		line = "RequestId: " + inv.RequestID + " Error: " + line
	}
	tail := e.stream.FailInit(logs.InitReport{Duration: took, Status: f.status, ErrorType: f.errorType},
		inv.RequestID, line, report, inv.WantLogTail)
	res := *f.res
	if inv.WantLogTail {
		res.LogTail = tail
	}
	return &res
}
