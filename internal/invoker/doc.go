// Package invoker decides where an invocation runs: it keeps a pool of execution environments
// per function version, hands each invocation the most recently used idle environment or starts
// a new one within the node's memory budget, refuses with Lambda's 429 when the node is full,
// and reaps environments that stayed idle too long. It is pure scheduling logic: starting and
// running environments is the Launcher's job, and time comes from an injected clock.
package invoker
