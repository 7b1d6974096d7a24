package environment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/logs"
	"github.com/nimbusfaas/nimbus/internal/runtimeapi"
	"github.com/nimbusfaas/nimbus/internal/sandbox"
)

// Environment is one running execution environment. It serves one invocation at a time.
type Environment struct {
	id       string
	fn       *lambda.Function
	version  string
	driver   Driver
	endpoint *runtimeapi.Endpoint
	stream   *logs.Stream
	// output is the write end of the log stream's pipe: the sandbox gives the runtime this
	// descriptor as its stdout and stderr, so a line is in the pipe when its write returns.
	output  *os.File
	log     *slog.Logger
	created bool
	// releaseCode lets the code cache reclaim the code tree once the sandbox is gone.
	releaseCode func()

	// initDuration is reported on the first REPORT line only.
	initDuration time.Duration
	invoked      bool

	// exited is closed when the runtime process has ended; status then says how. life ends
	// at the same moment, so that waits on the runtime stop when it dies.
	exited  chan struct{}
	status  sandbox.ExitStatus
	life    context.Context
	endLife context.CancelFunc

	// freezer freezes the environment between invocations; nil when the driver cannot.
	freezer *idleFreezer

	destroyOnce sync.Once
}

// watch waits for the runtime to exit and records how.
func (e *Environment) watch() {
	st, err := e.driver.Wait(context.Background(), e.id)
	if err != nil {
		e.log.Debug("waiting for environment", "environment", e.id, "err", err)
	}
	e.status = st
	close(e.exited)
	e.endLife()
}

func (e *Environment) hasExited() bool {
	select {
	case <-e.exited:
		return true
	default:
		return false
	}
}

// Invoke runs one invocation, with the function's timeout, and writes START, END and REPORT.
func (e *Environment) Invoke(ctx context.Context, inv *lambda.Invocation) (*lambda.InvokeResult, bool, error) {
	if err := e.freezer.busy(); err != nil {
		return nil, false, err
	}
	timeout := time.Duration(e.fn.Timeout) * time.Second
	start := time.Now()
	deadline := start.Add(timeout)
	e.stream.Begin(inv.RequestID, inv.WantLogTail)

	// The invocation runs to its end whatever the caller does (Lambda does not stop a
	// function when its client goes away): it ends with its deadline or with the runtime.
	runCtx, cancel := context.WithDeadline(e.life, deadline)
	resp, err := e.endpoint.Invoke(runCtx, runtimeapi.Invocation{
		RequestID:          inv.RequestID,
		Payload:            inv.Payload,
		Deadline:           deadline,
		InvokedFunctionARN: inv.InvokedARN,
		TraceID:            inv.TraceID,
		ClientContext:      inv.ClientContext,
	})
	cancel()
	duration := time.Since(start)

	report := logs.Report{RequestID: inv.RequestID, Duration: duration, MemorySizeMB: e.fn.MemorySize}
	if !e.invoked {
		report.InitDuration = e.initDuration
		e.invoked = true
	}
	res := &lambda.InvokeResult{}
	reusable := true
	switch {
	case err == nil:
		res.Payload = resp.Payload
		if resp.FunctionError {
			res.FunctionError = lambda.FunctionErrorUnhandled
			report.Status, report.ErrorType = logs.StatusError, resp.ErrorType
			// A runtime may report an error and then exit (aws-lambda-go does after a
			// panic): only an environment whose runtime asks for more work is reused.
			reusable = e.awaitNext()
		}
	case e.hasExited():
		errType, msg := e.exitError(inv.RequestID)
		res = platformError(errType, msg)
		report.Status, report.ErrorType = logs.StatusError, errType
		reusable = false
	case errors.Is(err, context.DeadlineExceeded):
		res = platformError("Sandbox.Timedout", fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", inv.RequestID, timeout.Seconds()))
		report.Status = logs.StatusTimeout
		reusable = false
	default:
		reusable = false
		e.stream.End(report)
		return nil, false, fmt.Errorf("invoking environment %s: %w", e.id, err)
	}
	if st, err := e.driver.Stats(context.Background(), e.id); err == nil {
		report.MaxMemoryUsed = st.PeakMemoryBytes
	}
	tail := e.stream.End(report)
	if inv.WantLogTail {
		res.LogTail = tail
	}
	if reusable {
		e.freezer.idle()
	}
	return res, reusable, nil
}

// awaitNext waits, after a function error, until the runtime either asks for the next
// invocation or exits.
func (e *Environment) awaitNext() bool {
	ctx, cancel := context.WithTimeout(e.life, 2*time.Second)
	defer cancel()
	return e.endpoint.WaitNext(ctx) == nil
}

// exitError is Lambda's error for a runtime that exited during an invocation.
func (e *Environment) exitError(requestID string) (errorType, message string) {
	st := e.status
	switch {
	case st.OOMKilled:
		return "Runtime.OutOfMemory", fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s", requestID, st)
	case st.Exited() && st.Code == 0:
		return "Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: Runtime exited without providing a reason", requestID)
	}
	return "Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s", requestID, st)
}

// shutdownGrace is how long a runtime that asked for SIGTERM has before it is killed.
const shutdownGrace = 500 * time.Millisecond

// Destroy ends the environment: the runtime and everything it started, the Runtime API and
// the log stream.
func (e *Environment) Destroy() {
	e.destroyOnce.Do(func() {
		e.freezer.close()
		if e.created {
			// A runtime with an extension registered asked for SIGTERM before SIGKILL
			// (aws-lambda-go's WithEnableSIGTERM); Lambda gives it up to 500 ms.
			if e.endpoint.ExtensionsRegistered() && !e.hasExited() {
				e.driver.Stop(context.Background(), e.id, shutdownGrace)
			}
			if err := e.driver.Destroy(context.Background(), e.id); err != nil {
				e.log.Warn("destroying environment", "environment", e.id, "err", err)
			}
		}
		e.endpoint.Close()
		if e.output != nil {
			e.output.Close()
		}
		e.stream.Close()
		e.endLife()
		// Only once the sandbox is destroyed: until then its mounts use the tree.
		e.releaseCode()
	})
}

// errorDocument is the JSON body of a platform error, as Lambda writes it.
func errorDocument(errorType, message string) []byte {
	b, _ := json.Marshal(struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}{errorType, message})
	return b
}
