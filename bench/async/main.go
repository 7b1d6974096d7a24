// Command async benchmarks Nimbus's asynchronous invocation queue next to its synchronous
// path, in one run on one machine, on a no-op aws-lambda-go function:
//
//   - the enqueue rate and the 202's p50/p99 (Invoke with InvocationType Event, 8 callers),
//     to a function whose reserved concurrency is 0, so that the queue's own cost is measured
//     (its events go straight to failure handling);
//   - events drained per second by the function at reserved concurrency 1 and 8, the backlog
//     queued first, against synchronous invocations of the same function with 1 and 8 callers,
//     the two alternating over three rounds;
//   - at idle, the time from sending an Event invoke (and from its 202) to the function's
//     handler starting, which the function stamps into its log;
//   - a soak: -kill events (default 1,000) queued for a slow function (20 ms, reserved
//     concurrency 4), the server killed with SIGKILL while they drain and started again on
//     the same data dir; every event must run, and the duplicates are counted.
//
// It needs root (Nimbus's sandbox) and takes about a minute:
//
//	go run ./bench/async
//
// It is a command rather than a test so that `go test ./...` never runs it.
package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/nimbusfaas/nimbus/bench/internal/benchserver"
	"github.com/nimbusfaas/nimbus/internal/lambda"
)

func main() { benchserver.Main("bench/async", run) }

type options struct {
	enqueueDur time.Duration
	drainN     int
	idleN      int
	killN      int
	rounds     int
	keep       bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench/async", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.enqueueDur, "enqueue", 5*time.Second, "time spent queueing events for the enqueue rate")
	fs.IntVar(&o.drainN, "n", 4000, "events queued, and synchronous calls made, per drain configuration")
	fs.IntVar(&o.idleN, "idle", 40, "events sent one at a time for the 202→start latency")
	fs.IntVar(&o.killN, "kill", 1000, "events of the kill -9 soak (0 skips it)")
	fs.IntVar(&o.rounds, "rounds", 3, "sync and async drain runs alternate this many times")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (server log, data dir)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.rounds < 1 || o.drainN < o.rounds {
		return errors.New("-rounds must be at least 1 and -n at least -rounds")
	}
	if os.Geteuid() != 0 {
		return errors.New("the benchmark runs functions, which needs root")
	}
	dir, err := os.MkdirTemp("", "nimbus-bench-async-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	} else {
		fmt.Fprintln(stderr, "bench: keeping", dir)
	}
	say := func(format string, a ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", a...) }

	say("building nimbus and the function")
	bin, err := benchserver.Build(ctx, "", dir)
	if err != nil {
		return err
	}
	fnZip, err := buildFunction(ctx, dir)
	if err != nil {
		return err
	}
	s, err := startServer(ctx, bin, filepath.Join(dir, "data"), filepath.Join(dir, "server.log"))
	if err != nil {
		return err
	}
	defer func() { s.Stop() }()
	for _, name := range []string{"sink", "noop", "stamp"} {
		if err := s.create(ctx, name, fnZip); err != nil {
			return err
		}
	}
	if err := s.reserve(ctx, "sink", 0); err != nil {
		return err
	}

	var rows []row
	for _, c := range []int{8, 1} {
		say("enqueue: %d callers for %s", c, o.enqueueDur)
		cpu0 := s.cpu()
		lat, n, elapsed, err := s.enqueue(ctx, "sink", c, o.enqueueDur)
		if err != nil {
			return err
		}
		rows = append(rows, row{fmt.Sprintf("enqueue (Event, %d callers)", c), fmt.Sprintf("%.0f /s", float64(n)/elapsed.Seconds()),
			fmt.Sprintf("202 p50 %s, p99 %s; server CPU %s per event", ms(benchserver.Percentile(lat, 50)), ms(benchserver.Percentile(lat, 99)), perEvent(s.cpu()-cpu0, n))})
	}

	for _, c := range []int{1, 8} {
		if err := s.reserve(ctx, "noop", c); err != nil {
			return err
		}
		// Sync and async alternate, o.rounds times, so that a change in the machine's load
		// hits both; each round's ratio compares neighbours in time.
		per := o.drainN / o.rounds
		var syncRates, asyncRates, ratios []float64
		var syncCPU, asyncCPU time.Duration
		for r := range o.rounds {
			say("round %d/%d at concurrency %d: %d synchronous calls, then %d events drained", r+1, o.rounds, c, per, per)
			cpu0 := s.cpu()
			syncRate, err := s.syncRate(ctx, "noop", c, per)
			if err != nil {
				return err
			}
			cpu1 := s.cpu()
			asyncRate, err := s.drainRate(ctx, "noop", per)
			if err != nil {
				return err
			}
			syncCPU += cpu1 - cpu0
			asyncCPU += s.cpu() - cpu1
			syncRates, asyncRates = append(syncRates, syncRate), append(asyncRates, asyncRate)
			ratios = append(ratios, asyncRate/syncRate)
		}
		var throttled int64
		s.queueStatus(ctx, func(f lambda.QueueFunction) {
			if f.FunctionName == "noop" {
				throttled = f.Throttled
			}
		})
		if throttled > 0 {
			say("the drains so far met %d throttles", throttled)
		}
		rows = append(rows,
			row{fmt.Sprintf("sync invoke, %d caller(s)", c), fmt.Sprintf("%.0f /s", median(syncRates)),
				fmt.Sprintf("median of %d rounds; server CPU %s per call", o.rounds, perEvent(syncCPU, o.rounds*(per+4*c)))},
			row{fmt.Sprintf("async drain, concurrency %d", c), fmt.Sprintf("%.0f /s", median(asyncRates)),
				fmt.Sprintf("%.0f %% of sync (median of the rounds' ratios, %.0f–%.0f %%); server CPU %s per event, its 202 included",
					100*median(ratios), 100*slices.Min(ratios), 100*slices.Max(ratios), perEvent(asyncCPU, o.rounds*per))})
	}

	say("idle: %d events one at a time", o.idleN)
	fromSend, from202, err := s.idleStart(ctx, "stamp", o.idleN)
	if err != nil {
		return err
	}
	rows = append(rows,
		row{"idle send → handler start", "p50 " + ms(benchserver.Percentile(fromSend, 50)), "p99 " + ms(benchserver.Percentile(fromSend, 99))},
		row{"idle 202 → handler start", "p50 " + ms(benchserver.Percentile(from202, 50)), "p99 " + ms(benchserver.Percentile(from202, 99))})

	if o.killN > 0 {
		say("soak: %d events, kill -9 while they drain", o.killN)
		r, err := s.killSoak(ctx, fnZip, o.killN, filepath.Join(dir, "server-restarted.log"))
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tvalue\tdetail")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.name, r.value, r.detail)
	}
	return tw.Flush()
}

type row struct{ name, value, detail string }

// cpu is the CPU time the server process has used (user and system; its functions run in
// processes of their own and are not counted).
func (s *server) cpu() time.Duration { return benchserver.CPU(s.PID()) }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func perEvent(d time.Duration, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(n)/float64(time.Microsecond))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func buildFunction(ctx context.Context, dir string) ([]byte, error) {
	bootstrap := filepath.Join(dir, "bootstrap")
	build := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-o", bootstrap, "./bench/async/testdata/stamp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the function: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bootstrap)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	w.Write(b)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// server is a `nimbus server` process with an SDK client and a signed net/http client.
type server struct {
	*benchserver.Server
	client *lambdasdk.Client
	http   *http.Client
}

func startServer(ctx context.Context, bin, dataDir, logPath string) (*server, error) {
	bs, err := benchserver.Start(ctx, benchserver.Config{Bin: bin, DataDir: dataDir, LogPath: logPath})
	if err != nil {
		return nil, err
	}
	return &server{Server: bs, client: bs.Lambda(),
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}, nil
}

func (s *server) create(ctx context.Context, name string, zip []byte) error {
	return benchserver.Create(ctx, s.client, &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String(name), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Code: &types.FunctionCode{ZipFile: zip}, MemorySize: aws.Int32(128),
	})
}

func (s *server) reserve(ctx context.Context, name string, n int) error {
	_, err := s.client.PutFunctionConcurrency(ctx, &lambdasdk.PutFunctionConcurrencyInput{FunctionName: aws.String(name),
		ReservedConcurrentExecutions: aws.Int32(int32(n))})
	return err
}

// invoke posts one signed invocation and returns when its answer has been read.
func (s *server) invoke(ctx context.Context, name, invType string, payload []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint+"/2015-03-31/functions/"+name+"/invocations", bytes.NewReader(payload))
	if err != nil {
		return err
	}
	if invType != "" {
		req.Header.Set("X-Amz-Invocation-Type", invType)
	}
	if err := s.Sign(ctx, req, benchserver.PayloadHash(payload)); err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := http.StatusOK
	if invType == "Event" {
		want = http.StatusAccepted
	}
	if resp.StatusCode != want || resp.Header.Get("X-Amz-Function-Error") != "" {
		return fmt.Errorf("invoke %s (%s): %s %s", name, invType, resp.Status, body)
	}
	return nil
}

// enqueue sends Event invocations from c callers for d and returns each 202's latency.
func (s *server) enqueue(ctx context.Context, name string, c int, d time.Duration) ([]time.Duration, int, time.Duration, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := s.invoke(ctx, name, "Event", []byte(`{}`)); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lat, len(lat), time.Since(start), firstErr
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// syncRate makes n synchronous invocations from c callers and returns invocations per second.
func (s *server) syncRate(ctx context.Context, name string, c, n int) (float64, error) {
	// Warm the environments first.
	if _, err := s.runCallers(ctx, name, "", c, c*4); err != nil {
		return 0, err
	}
	el, err := s.runCallers(ctx, name, "", c, n)
	if err != nil {
		return 0, err
	}
	return float64(n) / el.Seconds(), nil
}

// runCallers makes n invocations of type invType ("" for synchronous) from c callers.
func (s *server) runCallers(ctx context.Context, name, invType string, c, n int) (time.Duration, error) {
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if err := s.invoke(ctx, name, invType, []byte(`{}`)); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// drainRate queues n events with 8 callers, then measures how fast the rest of the backlog
// drains: from the last 202 to the last poll that still found events left, the events that
// finished over the time; when no backlog was left to time, n over the time from the first
// send to the last finish. (The poll that finds the backlog empty comes up to a poll interval
// after the last event, which would count against the queue.)
func (s *server) drainRate(ctx context.Context, name string, n int) (float64, error) {
	base, err := s.succeeded(ctx, name)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := s.runCallers(ctx, name, "Event", 8, n); err != nil {
		return 0, err
	}
	queuedAt := time.Now()
	doneAtQueued, err := s.succeeded(ctx, name)
	if err != nil {
		return 0, err
	}
	lastDone, lastAt := doneAtQueued, queuedAt
	for {
		at := time.Now()
		done, err := s.succeeded(ctx, name)
		if err != nil {
			return 0, err
		}
		if done-base >= int64(n) {
			if lastDone == doneAtQueued {
				// The workers kept up with the 8 callers: there was no backlog to time, so
				// the rate is every event over the time from the first send to the last
				// finish, a lower bound of the drain rate.
				return float64(done-base) / time.Since(start).Seconds(), nil
			}
			return float64(lastDone-doneAtQueued) / lastAt.Sub(queuedAt).Seconds(), nil
		}
		lastDone, lastAt = done, at
		if time.Since(queuedAt) > 5*time.Minute {
			return 0, fmt.Errorf("%d of %d events ran in 5 minutes", done-base, n)
		}
		// Each poll asks for the stream's state: rarely enough not to slow the drain.
		time.Sleep(20 * time.Millisecond)
	}
}

// queued is the number of the function's events in the queue, -1 when the server cannot say.
func (s *server) queued(ctx context.Context, name string) int64 {
	var n int64 = -1
	s.queueStatus(ctx, func(f lambda.QueueFunction) {
		if n < 0 {
			n = 0
		}
		if f.FunctionName == name {
			n = int64(f.Events)
		}
	})
	return n
}

// queueStatus calls each with every function of GET /nimbus/async-queue.
func (s *server) queueStatus(ctx context.Context, each func(lambda.QueueFunction)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/nimbus/async-queue", nil)
	if err != nil {
		return err
	}
	if err := s.Sign(ctx, req, benchserver.PayloadHash(nil)); err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out lambda.QueueStatus
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	for _, f := range out.Functions {
		each(f)
	}
	return nil
}

// succeeded is the server's count of the function's events that ran successfully.
func (s *server) succeeded(ctx context.Context, name string) (int64, error) {
	var n int64
	err := s.queueStatus(ctx, func(f lambda.QueueFunction) {
		if f.FunctionName == name {
			n = f.Succeeded
		}
	})
	return n, err
}

// idleStart sends n stamped events one at a time, 150 ms apart, and reads from the function's
// log when each handler started: the time from sending and from the 202. The first event,
// a cold start, is left out.
func (s *server) idleStart(ctx context.Context, name string, n int) (fromSend, from202 []time.Duration, err error) {
	sent := map[string][2]time.Time{}
	for i := range n + 1 {
		id := "e" + strconv.Itoa(i)
		t0 := time.Now()
		if err := s.invoke(ctx, name, "Event", []byte(`{"id":"`+id+`","stamp":true}`)); err != nil {
			return nil, nil, err
		}
		sent[id] = [2]time.Time{t0, time.Now()}
		time.Sleep(150 * time.Millisecond)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.CommandContext(ctx, s.Bin, "logs", name, "--since", "0", "--data-dir", s.DataDir).Output()
		if err != nil {
			return nil, nil, fmt.Errorf("nimbus logs: %w", err)
		}
		fromSend, from202 = nil, nil
		for _, line := range strings.Split(string(out), "\n") {
			_, rest, ok := strings.Cut(line, "STAMP ")
			if !ok {
				continue
			}
			f := strings.Fields(rest)
			if len(f) != 2 || f[0] == "e0" {
				continue
			}
			ns, err := strconv.ParseInt(f[1], 10, 64)
			t, ok2 := sent[f[0]]
			if err != nil || !ok2 {
				continue
			}
			started := time.Unix(0, ns)
			fromSend = append(fromSend, started.Sub(t[0]))
			from202 = append(from202, started.Sub(t[1]))
		}
		if len(fromSend) == n {
			return fromSend, from202, nil
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("%d of %d stamps in the log", len(fromSend), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stamps reads the function's log: how many times each event id ran.
func (s *server) stamps(ctx context.Context, name string) (map[string]int, error) {
	out, err := exec.CommandContext(ctx, s.Bin, "logs", name, "--since", "0", "--data-dir", s.DataDir).Output()
	if err != nil {
		return nil, fmt.Errorf("nimbus logs: %w", err)
	}
	got := map[string]int{}
	for _, line := range strings.Split(string(out), "\n") {
		if _, rest, ok := strings.Cut(line, "STAMP "); ok {
			if f := strings.Fields(rest); len(f) == 2 {
				got[f[0]]++
			}
		}
	}
	return got, nil
}

// killSoak queues n events for a slow function, kills the server with SIGKILL once a fifth
// have run, starts it again on the same data dir and waits until every event has run.
func (s *server) killSoak(ctx context.Context, zip []byte, n int, logPath string) (row, error) {
	const name = "soak"
	if err := s.create(ctx, name, zip); err != nil {
		return row{}, err
	}
	if err := s.reserve(ctx, name, 4); err != nil {
		return row{}, err
	}
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := left.Add(-1); i >= 0; i = left.Add(-1) {
				if err := s.invoke(ctx, name, "Event", fmt.Appendf(nil, `{"id":"k%d","stamp":true,"millis":20}`, i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return row{}, err
	}
	var before int
	for deadline := time.Now().Add(2 * time.Minute); ; {
		got, err := s.stamps(ctx, name)
		if err != nil {
			return row{}, err
		}
		if before = len(got); before >= n/5 {
			break
		}
		if time.Now().After(deadline) {
			return row{}, fmt.Errorf("only %d of %d events ran in 2 minutes", before, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Kill()
	restarted, err := startServer(ctx, s.Bin, s.DataDir, logPath)
	if err != nil {
		return row{}, err
	}
	*s = *restarted
	start := time.Now()
	for {
		got, err := s.stamps(ctx, name)
		if err != nil {
			return row{}, err
		}
		if len(got) == n {
			ranAll := time.Since(start)
			// Events that were running at the kill ran again once their ack wait passed:
			// count duplicates once the queue is empty.
			for s.queued(ctx, name) > 0 && time.Since(start) < 5*time.Minute {
				time.Sleep(500 * time.Millisecond)
			}
			if got, err = s.stamps(ctx, name); err != nil {
				return row{}, err
			}
			dups := 0
			for _, k := range got {
				dups += k - 1
			}
			return row{fmt.Sprintf("kill -9 soak, %d events", n), fmt.Sprintf("%d/%d ran", len(got), n),
				fmt.Sprintf("%d ran before the kill; every event ran %.1f s after the restart; %d duplicate runs once the queue emptied", before, ranAll.Seconds(), dups)}, nil
		}
		if time.Since(start) > 5*time.Minute {
			return row{}, fmt.Errorf("%d of %d events ran after the restart", len(got), n)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
