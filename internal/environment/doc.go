// Package environment starts and runs execution environments: a sandbox running the function's
// runtime, the Runtime API endpoint inside the sandbox's own network namespace, and the log
// stream that captures its output. It implements the invoker's Launcher and Environment: the
// invoker decides where an invocation runs, this package runs it, with Lambda's semantics for
// Init, timeouts, crashes, out-of-memory kills and the START/END/REPORT lines.
package environment
