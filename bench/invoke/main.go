// Command invoke benchmarks Nimbus's invoke path side by side with the AWS Lambda Runtime
// Interface Emulator (RIE), in one run on one machine, on the same aws-lambda-go hello
// function:
//
//   - warm invoke latency (p50, p99) at concurrency 1;
//   - throughput at concurrency 1 and 8;
//   - cold starts (first invoke of a new environment, forced by UpdateFunctionConfiguration as
//     maxday/lambda-perf does) of provided, Python and Node functions on Nimbus, measured by the
//     client and by the REPORT line's Init Duration; and the emulator's first invoke for
//     reference.
//
// Both platforms are called through the same net/http client: the emulator with plain HTTP
// POSTs to /2015-03-31/functions/function/invocations, as its users call it, and the real Nimbus
// server process with the same POSTs signed by the AWS SDK's SigV4 signer. One more Nimbus row
// goes through the whole AWS SDK for Go v2 Lambda client. It prints a table with the ratios the
// targets of issue 4 are stated in. It needs root (Nimbus's sandbox) and takes a few minutes:
//
//	go run ./bench/invoke
//
// It is a command rather than a test so that `go test ./...` never runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/nimbusfaas/nimbus/bench/internal/benchserver"
)

func main() { benchserver.Main("bench/invoke", run) }

// defaultRIEVersion is the emulator release the published figures were measured with; the
// benchmark falls back to @latest when it does not resolve.
const defaultRIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"

// options are the benchmark's flags.
type options struct {
	warmN        int
	rounds       int
	duration     time.Duration
	concurrency  int
	coldN        int
	memoryMB     int
	coldMemoryMB int
	nimbusBin    string
	rieBin       string
	rieVersion   string
	keep         bool
	pin          bool
	waitQuiet    time.Duration
	phases       phaseSet
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	o := options{phases: phaseSet{"warm": true, "throughput": true, "cold": true}}
	fs := flag.NewFlagSet("bench/invoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.warmN, "n", 3000, "warm invocations per platform for the latency figures")
	fs.IntVar(&o.rounds, "rounds", 3, "the warm and throughput runs alternate between the platforms this many times")
	fs.DurationVar(&o.duration, "duration", 6*time.Second, "time spent on each throughput configuration, over all rounds")
	fs.IntVar(&o.concurrency, "c", 8, "concurrency of the parallel throughput run")
	fs.IntVar(&o.coldN, "cold", 30, "cold starts per runtime")
	fs.IntVar(&o.coldMemoryMB, "cold-memory", 128, "memory (MB) of the cold-started functions")
	fs.IntVar(&o.memoryMB, "memory", 1769, "memory (MB) of the headline warm function; 1769 MB buys one whole CPU")
	fs.StringVar(&o.nimbusBin, "nimbus", "", "a nimbus binary to run (default: build ./cmd/nimbus)")
	fs.StringVar(&o.rieBin, "rie", "", "an aws-lambda-rie binary to run (default: go install it into a temporary GOBIN)")
	fs.StringVar(&o.rieVersion, "rie-version", defaultRIEVersion, "the emulator version to install")
	fs.DurationVar(&o.waitQuiet, "wait-quiet", 0, "before measuring, wait up to this long for the machine to be idle (under 5% busy for 3 s)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory with the servers' logs")
	fs.BoolVar(&o.pin, "pin", false, "run each platform (server and functions) on CPU 0 and the load generator on CPU 1, as performance.md's relay measurements did")
	fs.Var(&o.phases, "phases", "comma-separated phases to run: warm, throughput, cold")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.warmN < o.rounds || o.rounds < 1 || o.concurrency < 1 || o.coldN < 1 || o.duration <= 0 || o.memoryMB < 128 || o.coldMemoryMB < 128 {
		return o, errors.New("-n, -rounds, -c, -cold and -duration must be positive, -n at least -rounds and -memory and -cold-memory at least 128")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("Nimbus's sandbox needs root (namespaces and cgroups): run the benchmark as root")
	}
	if o.pin && runtime.NumCPU() < 2 {
		return errors.New("-pin needs two CPUs")
	}
	b, err := newBench(ctx, o, stderr)
	if err != nil {
		return err
	}
	defer b.close()
	if o.pin {
		// After the builds, which may use every CPU; the platforms are pinned as they start.
		if err := pinSelf(loadCPU); err != nil {
			return err
		}
	}
	res, err := b.run(ctx)
	if err != nil {
		return fmt.Errorf("%w (logs kept in %s)", err, b.dir)
	}
	res.write(stdout)
	return nil
}
