// Command logflood is the soak test of issue 9.3 and 9.4: it runs a real `nimbus server`, lets
// ten functions flood stdout with 256 KB lines without pause, and measures what that does to
// the server and to a quiet function next to them:
//
//   - the server's resident memory (peak, sampled every 100 ms) and its NATS disconnects;
//   - a quiet function's warm latency (p50, p99) alone, then during the flood, in the same run;
//   - whether the quiet function's logs are complete (START, its lines, END, REPORT for every
//     invocation);
//   - reading one flooded log group back with filter-log-events (time, pages, bytes, peak RSS)
//     while control-plane calls and invocations run next to it (their latency and errors).
//
// It needs root (Nimbus's sandbox) and takes about a minute with the defaults:
//
//	go run ./bench/logflood
//
// It is a command rather than a test so that `go test ./...` never runs it.
package main

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/nimbusfaas/nimbus/bench/internal/benchserver"
)

func main() { benchserver.Main("bench/logflood", run) }

type options struct {
	flooders  int
	quietN    int
	floodFor  time.Duration
	lineKB    int
	nimbusBin string
	keep      bool
	readBack  bool
	gap       time.Duration
	rounds    int
}

// floodPython writes lines of event["kb"] KB without pause for event["seconds"] seconds.
const floodPython = `import sys, time
def handler(event, context):
    line = "f" * (event["kb"] * 1024 - 1) + "\n"
    end = time.time() + event["seconds"]
    while time.time() < end:
        sys.stdout.write(line)
    return {}
`

// quietPython prints three numbered lines per invocation.
const quietPython = `def handler(event, context):
    for k in range(3):
        print("quiet", event["n"], k)
    return {"n": event["n"]}
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench/logflood", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.flooders, "flooders", 10, "functions flooding stdout at once")
	fs.IntVar(&o.quietN, "n", 600, "warm invocations of the quiet function, alone and during the flood (each)")
	fs.IntVar(&o.rounds, "rounds", 3, "alternating rounds of the quiet function alone and during the flood")
	fs.DurationVar(&o.floodFor, "flood-invocation", 2*time.Second, "how long each flooding invocation writes")
	fs.IntVar(&o.lineKB, "line-kb", 256, "size of the flood's lines (KB)")
	fs.StringVar(&o.nimbusBin, "nimbus", "", "a nimbus binary to run (default: build ./cmd/nimbus)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory with the server's log")
	fs.BoolVar(&o.readBack, "read", true, "read one flooded log group back with filter-log-events")
	fs.DurationVar(&o.gap, "gap", 30*time.Millisecond, "pause between the quiet function's invocations")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.rounds < 1 || o.quietN < o.rounds || o.flooders < 1 || o.floodFor < time.Second {
		return errors.New("-rounds and -flooders must be positive, -n at least -rounds, -flood-invocation at least 1s")
	}
	if os.Geteuid() != 0 {
		return errors.New("Nimbus's sandbox needs root: run the benchmark as root")
	}
	dir, err := os.MkdirTemp("", "nimbus-logflood-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(stderr, "keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := o.nimbusBin
	if bin == "" {
		if bin, err = benchserver.Build(ctx, "", dir); err != nil {
			return err
		}
	}
	s, err := start(ctx, bin, filepath.Join(dir, "data"), filepath.Join(dir, "server.log"))
	if err != nil {
		return err
	}
	defer s.Stop()
	rss := benchserver.SampleRSS(ctx, s.PID(), 100*time.Millisecond)

	py, ok := s.Runtime("python3")
	if !ok {
		return errors.New("the server offers no python runtime")
	}
	for i := range o.flooders {
		if err := s.create(ctx, fmt.Sprintf("flood%d", i), py, floodPython, 128, int(o.floodFor/time.Second)+30); err != nil {
			return err
		}
	}
	if err := s.create(ctx, "quiet", py, quietPython, 128, 3); err != nil {
		return err
	}
	// A first invocation makes the quiet function's environment warm.
	if _, err := s.invoke(ctx, "quiet", `{"n": -1}`); err != nil {
		return err
	}

	// The quiet function is measured alone and during the flood in alternating rounds, so that
	// both see the same background load on a shared machine.
	var alone, during []time.Duration
	var errsAlone, errsDuring int
	var rssIdle, rssFlood int64
	var serverCPU time.Duration
	var floodTime time.Duration
	var floodInvokes atomic.Int64
	per := o.quietN / o.rounds
	for r := range o.rounds {
		fmt.Fprintf(stderr, "round %d: quiet function alone…\n", r+1)
		rss.Reset()
		lat, errs := s.quietRun(ctx, 2*r*per, per, o.gap)
		alone, errsAlone = append(alone, lat...), errsAlone+errs
		rssIdle = max(rssIdle, rss.Peak())

		fmt.Fprintf(stderr, "round %d: %d functions flooding…\n", r+1, o.flooders)
		rss.Reset()
		cpuBefore, floodStart := benchserver.CPU(s.PID()), time.Now()
		floodCtx, stopFlood := context.WithCancel(ctx)
		var floodWG sync.WaitGroup
		for i := range o.flooders {
			floodWG.Add(1)
			go func() {
				defer floodWG.Done()
				payload := fmt.Sprintf(`{"kb": %d, "seconds": %d}`, o.lineKB, int(o.floodFor/time.Second))
				for floodCtx.Err() == nil {
					if _, err := s.invoke(floodCtx, fmt.Sprintf("flood%d", i), payload); err == nil {
						floodInvokes.Add(1)
					}
				}
			}()
		}
		time.Sleep(2 * time.Second) // let the flood reach its steady state
		lat, errs = s.quietRun(ctx, (2*r+1)*per, per, o.gap)
		during, errsDuring = append(during, lat...), errsDuring+errs
		serverCPU += benchserver.CPU(s.PID()) - cpuBefore
		floodTime += time.Since(floodStart)
		stopFlood()
		floodWG.Wait()
		rssFlood = max(rssFlood, rss.Peak())
		// The invocations under way run to their end on the server.
		time.Sleep(o.floodFor + time.Second)
	}
	serverCPUShare := float64(serverCPU) / float64(floodTime)

	// Completeness: every quiet invocation's START, lines, END and REPORT.
	time.Sleep(2 * time.Second) // the publisher's linger and the last flood lines
	missing, err := s.quietMissing(ctx, 2*per*o.rounds)
	if err != nil {
		return err
	}

	var rb readBack
	if o.readBack {
		fmt.Fprintln(stderr, "reading flood0's log group back…")
		rss.Reset()
		rb = s.readBack(ctx, "/aws/lambda/flood0")
		rb.peakRSS = rss.Peak()
	}
	disconnects, err := countInFile(s.LogPath, "nats disconnected")
	if err != nil {
		return err
	}

	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "log flood soak: %d functions writing %d KB lines without pause (%d invocations of %s), a quiet Python function invoked %d times alone and %d times during the flood, in %d alternating rounds\n\n",
		o.flooders, o.lineKB, floodInvokes.Load(), o.floodFor, len(alone)+errsAlone, len(during)+errsDuring, o.rounds)
	fmt.Fprintf(w, "server peak RSS\tidle %s\tflood %s\tread-back %s\n", mb(rssIdle), mb(rssFlood), mb(rb.peakRSS))
	fmt.Fprintf(w, "NATS disconnects\t%d\n", disconnects)
	fmt.Fprintf(w, "server CPU during the flood\t%.0f %% of one CPU\n", 100*serverCPUShare)
	fmt.Fprintf(w, "quiet warm p50\talone %s\tflood %s\n", ms(pct(alone, 50)), ms(pct(during, 50)))
	fmt.Fprintf(w, "quiet warm p99\talone %s\tflood %s\tratio %.2f\n", ms(pct(alone, 99)), ms(pct(during, 99)), float64(pct(during, 99))/float64(pct(alone, 99)))
	fmt.Fprintf(w, "quiet invoke errors\talone %d\tflood %d\n", errsAlone, errsDuring)
	fmt.Fprintf(w, "quiet log lines missing\t%d of %d\t(START, 3 lines, END, REPORT per invocation)\n", missing, 2*per*o.rounds*6)
	if o.readBack {
		fmt.Fprintf(w, "filter-log-events flood0\t%s\t%d pages, %d events, %s\terr %v\n", rb.took.Round(time.Millisecond), rb.pages, rb.events, mb(rb.bytes), rb.err)
		fmt.Fprintf(w, "meanwhile GetFunctionConfiguration\tp50 %s\tp99 %s\terrors %d of %d\n", ms(pct(rb.control, 50)), ms(pct(rb.control, 99)), rb.controlErrs, len(rb.control)+rb.controlErrs)
		fmt.Fprintf(w, "meanwhile Invoke quiet\tp50 %s\tp99 %s\terrors %d of %d\n", ms(pct(rb.invokes, 50)), ms(pct(rb.invokes, 99)), rb.invokeErrs, len(rb.invokes)+rb.invokeErrs)
	}
	return w.Flush()
}

type server struct {
	*benchserver.Server
	lambda *lambdasdk.Client
	logs   *cwl.Client
}

func start(ctx context.Context, bin, dataDir, logPath string) (*server, error) {
	bs, err := benchserver.Start(ctx, benchserver.Config{Bin: bin, DataDir: dataDir, LogPath: logPath})
	if err != nil {
		return nil, err
	}
	s := &server{Server: bs, lambda: bs.Lambda(benchserver.NoRetry)}
	s.logs = cwl.NewFromConfig(bs.AWSConfig(), func(o *cwl.Options) {
		o.BaseEndpoint = aws.String(bs.Endpoint)
		o.RetryMaxAttempts = 1 // a retry would hide an error inside a slow sample
	})
	return s, nil
}

func (s *server) create(ctx context.Context, name, runtime, code string, memoryMB, timeout int) error {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	f, _ := zw.Create("app.py")
	f.Write([]byte(code))
	zw.Close()
	return benchserver.Create(ctx, s.lambda, &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String(name), Runtime: types.Runtime(runtime), Handler: aws.String("app.handler"),
		Code: &types.FunctionCode{ZipFile: buf.Bytes()}, MemorySize: aws.Int32(int32(memoryMB)), Timeout: aws.Int32(int32(timeout)),
	})
}

func (s *server) invoke(ctx context.Context, name, payload string) (*lambdasdk.InvokeOutput, error) {
	out, err := s.lambda.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String(name), Payload: []byte(payload)})
	if err != nil {
		return nil, err
	}
	if out.FunctionError != nil {
		return out, fmt.Errorf("%s: %s", aws.ToString(out.FunctionError), out.Payload)
	}
	return out, nil
}

// quietRun invokes the quiet function n times one after the other, gap apart, numbered from
// first.
func (s *server) quietRun(ctx context.Context, first, n int, gap time.Duration) (lat []time.Duration, errs int) {
	for i := range n {
		time.Sleep(gap)
		t := time.Now()
		if _, err := s.invoke(ctx, "quiet", fmt.Sprintf(`{"n": %d}`, first+i)); err != nil {
			errs++
			continue
		}
		lat = append(lat, time.Since(t))
	}
	return lat, errs
}

// quietMissing reads the quiet function's whole log and counts the lines of invocations
// 0..n-1 that are not in it: each has START, three "quiet n k" lines, END and REPORT.
func (s *server) quietMissing(ctx context.Context, n int) (int, error) {
	var all []string
	pages := cwl.NewFilterLogEventsPaginator(s.logs, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/quiet")})
	for pages.HasMorePages() {
		p, err := pages.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		for _, e := range p.Events {
			all = append(all, aws.ToString(e.Message))
		}
	}
	// Map each invocation's request id through its "quiet n 0" line's neighbours: the line
	// before it is START with the request id.
	have := map[string]bool{}
	requestOf := map[int]string{}
	for i, m := range all {
		have[strings.TrimSpace(m)] = true
		var n, k int
		if _, err := fmt.Sscanf(m, "quiet %d %d", &n, &k); err == nil && k == 0 && i > 0 {
			if id, ok := strings.CutPrefix(all[i-1], "START RequestId: "); ok {
				requestOf[n] = strings.Fields(id)[0]
			}
		}
	}
	reports := map[string]bool{}
	for _, m := range all {
		if rest, ok := strings.CutPrefix(m, "REPORT RequestId: "); ok {
			reports[strings.SplitN(rest, "\t", 2)[0]] = true
		}
	}
	missing := 0
	for i := range n {
		for k := range 3 {
			if !have[fmt.Sprintf("quiet %d %d", i, k)] {
				missing++
			}
		}
		id, ok := requestOf[i]
		if !ok {
			missing += 3 // START (or the first line), END and REPORT cannot be told apart
			continue
		}
		if !have["END RequestId: "+id] {
			missing++
		}
		if !reports[id] {
			missing++
		}
	}
	return missing, nil
}

type readBack struct {
	took                    time.Duration
	pages, events           int
	bytes                   int64
	err                     error
	peakRSS                 int64
	control, invokes        []time.Duration
	controlErrs, invokeErrs int
}

// readBack pages through a whole log group with filter-log-events while another goroutine
// calls GetFunctionConfiguration and Invoke, one after the other.
func (s *server) readBack(ctx context.Context, group string) readBack {
	var rb readBack
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			t := time.Now()
			_, err := s.lambda.GetFunctionConfiguration(ctx, &lambdasdk.GetFunctionConfigurationInput{FunctionName: aws.String("quiet")})
			if err != nil {
				rb.controlErrs++
			} else {
				rb.control = append(rb.control, time.Since(t))
			}
			t = time.Now()
			if _, err := s.invoke(ctx, "quiet", fmt.Sprintf(`{"n": %d}`, 1_000_000+n)); err != nil {
				rb.invokeErrs++
			} else {
				rb.invokes = append(rb.invokes, time.Since(t))
			}
		}
	}()
	t := time.Now()
	pages := cwl.NewFilterLogEventsPaginator(s.logs, &cwl.FilterLogEventsInput{LogGroupName: aws.String(group)})
	for pages.HasMorePages() {
		p, err := pages.NextPage(ctx)
		if err != nil {
			rb.err = err
			break
		}
		rb.pages++
		rb.events += len(p.Events)
		for _, e := range p.Events {
			rb.bytes += int64(len(aws.ToString(e.Message)))
		}
	}
	rb.took = time.Since(t)
	close(stop)
	<-done
	return rb
}

func countInFile(path, s string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return bytes.Count(b, []byte(s)), nil
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return d[min(len(d)-1, len(d)*p/100)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
func mb(b int64) string         { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }
