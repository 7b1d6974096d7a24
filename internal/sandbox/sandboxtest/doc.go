// Package sandboxtest is the conformance suite for sandbox drivers, run by each driver's own
// tests (as containerd's snapshotter test suite is), and the benchmarks that measure them.
// The programs that run inside environments are the probe command, built by the suite.
package sandboxtest
