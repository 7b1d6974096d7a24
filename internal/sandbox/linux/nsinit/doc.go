// Package nsinit is the first code that runs inside a new execution environment: it builds the
// root file system the parent planned, drops every privilege and execs the function's program.
//
// The linux driver re-executes its own binary (/proc/self/exe) in fresh namespaces with
// EnvMarker set. This package's init function notices the marker and takes over the process
// before main — and, more to the point, before the heavy packages of the nimbus binary run
// their own initialisation. Go initialises packages in import-path order as soon as their
// imports are done (the spec's rule since Go 1.21), and this package imports only errors,
// syscall and unsafe, so it runs about 1 ms after exec; waiting for main in the full binary
// costs about 10 ms (AWS SDK endpoint tables, NATS, regexps), twice the whole cold-start
// budget. Any binary that links the linux driver therefore gets the hook for free: there is
// nothing to call from main or TestMain. Keep this package's imports that small.
//
// The parent sends two Plans over the control socket on ControlFD (one to prepare what every
// environment shares, one for the environment that takes the init), so that every decision
// (path resolution, validation, the seccomp program) is made and unit-tested in ordinary Go
// code and the init only interprets it.
package nsinit
