package logsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/nimbusfaas/nimbus/internal/auth"
	"github.com/nimbusfaas/nimbus/internal/logs"
	"github.com/nimbusfaas/nimbus/internal/natsd"
)

// clock is a settable clock, so that event timestamps are known to the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// base is the clock's start: 2026-01-02 03:04:05 UTC, a whole second.
var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fixture is a logs.Service on an embedded JetStream behind the API on an httptest server.
type fixture struct {
	logs  *logs.Service
	clock *clock
	url   string
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := natsd.Start(ctx, natsd.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("natsd.Start: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	clk := &clock{t: base}
	svc, err := logs.New(ctx, logs.Config{JetStream: nc.JetStream(), Now: clk.now})
	if err != nil {
		t.Fatalf("logs.New: %v", err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	cfg.Logs = svc
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	srv := httptest.NewServer(New(cfg))
	t.Cleanup(srv.Close)
	return &fixture{logs: svc, clock: clk, url: srv.URL}
}

// client is the real SDK client, unsigned.
func (f *fixture) client() *cwl.Client {
	return cwl.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}},
		func(o *cwl.Options) { o.BaseEndpoint = aws.String(f.url) })
}

// write logs lines of function fn in environment env, each at its own time (base + at).
type line struct {
	at  time.Duration
	msg string
}

func (f *fixture) write(t *testing.T, fn, env string, lines ...line) *logs.Stream {
	t.Helper()
	st := f.logs.NewStream(fn, "$LATEST", env)
	w := st.Writer()
	for _, l := range lines {
		f.clock.set(base.Add(l.at))
		io.WriteString(w, l.msg+"\n")
	}
	w.Close()
	f.flush(t)
	return st
}

func (f *fixture) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.logs.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func ms(d time.Duration) int64 { return base.Add(d).UnixMilli() }

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// allFiltered pages through FilterLogEvents with the SDK's paginator.
func allFiltered(t *testing.T, c *cwl.Client, in *cwl.FilterLogEventsInput) []types.FilteredLogEvent {
	t.Helper()
	var out []types.FilteredLogEvent
	p := cwl.NewFilterLogEventsPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("FilterLogEvents: %v", err)
		}
		out = append(out, page.Events...)
	}
	return out
}

func messages[E any](events []E, msg func(E) *string) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = aws.ToString(msg(e))
	}
	return out
}

func filteredMessages(events []types.FilteredLogEvent) []string {
	return messages(events, func(e types.FilteredLogEvent) *string { return e.Message })
}

func TestFilterLogEvents(t *testing.T) {
	f := newFixture(t, Config{})
	a := f.write(t, "hello", "envA",
		line{0, "START one"}, line{time.Second, "ERROR disk full"}, line{3 * time.Second, "WARN slow disk"})
	b := f.write(t, "hello", "envB",
		line{2 * time.Second, "INFO all \"good\" here"}, line{4 * time.Second, "ERROR again"})
	f.write(t, "other", "envC", line{0, "not hello's"})
	c := f.client()
	group := aws.String("/aws/lambda/hello")

	events := allFiltered(t, c, &cwl.FilterLogEventsInput{LogGroupName: group})
	want := []string{"START one\n", "ERROR disk full\n", "INFO all \"good\" here\n", "WARN slow disk\n", "ERROR again\n"}
	if diff := cmp.Diff(want, filteredMessages(events)); diff != "" {
		t.Errorf("FilterLogEvents(all) messages (-want +got):\n%s", diff)
	}
	ids := map[string]bool{}
	for i, e := range events {
		if ids[aws.ToString(e.EventId)] {
			t.Errorf("event %d: duplicate eventId %s", i, aws.ToString(e.EventId))
		}
		ids[aws.ToString(e.EventId)] = true
		wantStream := a.Name()
		if strings.Contains(aws.ToString(e.Message), "good") || strings.Contains(aws.ToString(e.Message), "again") {
			wantStream = b.Name()
		}
		if got := aws.ToString(e.LogStreamName); got != wantStream {
			t.Errorf("event %d logStreamName = %q, want %q", i, got, wantStream)
		}
		if e.IngestionTime == nil || *e.IngestionTime == 0 {
			t.Errorf("event %d has no ingestionTime", i)
		}
	}
	if got := aws.ToInt64(events[1].Timestamp); got != ms(time.Second) {
		t.Errorf("timestamp of %q = %d, want %d", *events[1].Message, got, ms(time.Second))
	}

	for _, tc := range []struct {
		name string
		in   cwl.FilterLogEventsInput
		want []string
	}{
		{"term", cwl.FilterLogEventsInput{FilterPattern: aws.String("ERROR")}, []string{"ERROR disk full\n", "ERROR again\n"}},
		{"two terms", cwl.FilterLogEventsInput{FilterPattern: aws.String("disk ERROR")}, []string{"ERROR disk full\n"}},
		{"case-sensitive", cwl.FilterLogEventsInput{FilterPattern: aws.String("error")}, []string{}},
		{"exclusion", cwl.FilterLogEventsInput{FilterPattern: aws.String("disk -WARN")}, []string{"ERROR disk full\n"}},
		{"alternatives", cwl.FilterLogEventsInput{FilterPattern: aws.String("?WARN ?START")}, []string{"START one\n", "WARN slow disk\n"}},
		{"quoted phrase", cwl.FilterLogEventsInput{FilterPattern: aws.String(`"all \"good\""`)}, []string{"INFO all \"good\" here\n"}},
		{"time window, end inclusive", cwl.FilterLogEventsInput{StartTime: aws.Int64(ms(time.Second)), EndTime: aws.Int64(ms(3 * time.Second))},
			[]string{"ERROR disk full\n", "INFO all \"good\" here\n", "WARN slow disk\n"}},
		{"stream names", cwl.FilterLogEventsInput{LogStreamNames: []string{b.Name()}}, []string{"INFO all \"good\" here\n", "ERROR again\n"}},
		{"stream prefix", cwl.FilterLogEventsInput{LogStreamNamePrefix: aws.String(strings.TrimSuffix(a.Name(), "envA"))},
			want},
		{"stream prefix matching none", cwl.FilterLogEventsInput{LogStreamNamePrefix: aws.String("nope")}, []string{}},
		{"limit 1 paged", cwl.FilterLogEventsInput{Limit: aws.Int32(1), FilterPattern: aws.String("ERROR")}, []string{"ERROR disk full\n", "ERROR again\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.LogGroupName = group
			got := filteredMessages(allFiltered(t, c, &in))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("FilterLogEvents(%s) messages (-want +got):\n%s", tc.name, diff)
			}
		})
	}

	// By ARN, as logGroupIdentifier.
	byARN := allFiltered(t, c, &cwl.FilterLogEventsInput{LogGroupIdentifier: aws.String("arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/other:*")})
	if diff := cmp.Diff([]string{"not hello's\n"}, filteredMessages(byARN)); diff != "" {
		t.Errorf("FilterLogEvents(by ARN) (-want +got):\n%s", diff)
	}
}

// TestFilterLogEventsPaging checks that paging with a small limit while new events arrive
// returns every event exactly once, in order per stream.
func TestFilterLogEventsPaging(t *testing.T) {
	f := newFixture(t, Config{})
	st := f.logs.NewStream("pager", "$LATEST", "env1")
	w := st.Writer()
	const n = 250
	for i := range n {
		if i%50 == 0 {
			f.flush(t) // several stored batches
		}
		fmt.Fprintf(w, "line %03d\n", i)
	}
	w.Close()
	f.flush(t)
	c := f.client()
	ctx := context.Background()

	var got []string
	var token *string
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		out, err := c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/pager"), Limit: aws.Int32(7), NextToken: token})
		if err != nil {
			t.Fatalf("FilterLogEvents: %v", err)
		}
		if len(out.Events) > 7 {
			t.Fatalf("page of %d events, limit 7", len(out.Events))
		}
		got = append(got, filteredMessages(out.Events)...)
		if pages == 3 {
			// Events written while paging show up on a later page.
			io.WriteString(st.Writer(), "late\n")
			f.flush(t)
		}
		if out.NextToken == nil {
			break
		}
		token = out.NextToken
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("line %03d\n", i))
	}
	want = append(want, "late\n")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paged messages (-want +got):\n%s", diff)
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t, Config{})
	f.write(t, "hello", "env1", line{0, "hi"})
	c := f.client()
	ctx := context.Background()

	_, err := c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/missing")})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) || rnf.ErrorMessage() != "The specified log group does not exist." {
		t.Errorf("FilterLogEvents(missing group) = %v, want ResourceNotFoundException \"The specified log group does not exist.\"", err)
	}
	_, err = c.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: aws.String("/aws/lambda/hello"), LogStreamName: aws.String("nope")})
	if !errors.As(err, &rnf) || rnf.ErrorMessage() != "The specified log stream does not exist." {
		t.Errorf("GetLogEvents(missing stream) = %v, want ResourceNotFoundException for the stream", err)
	}
	_, err = c.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/lambda/missing")})
	if !errors.As(err, &rnf) {
		t.Errorf("DescribeLogStreams(missing group) = %v, want ResourceNotFoundException", err)
	}

	for name, call := range map[string]func() error{
		"JSON pattern": func() error {
			_, err := c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/hello"), FilterPattern: aws.String(`{ $.level = "ERROR" }`)})
			return err
		},
		"unterminated quote": func() error {
			_, err := c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/hello"), FilterPattern: aws.String(`"oops`)})
			return err
		},
		"bad token": func() error {
			_, err := c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/hello"), NextToken: aws.String("garbage")})
			return err
		},
		"token of another operation": func() error {
			_, err := c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/hello"), NextToken: aws.String(encodeToken("s", "1"))})
			return err
		},
		"limit too large": func() error {
			_, err := c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/hello"), Limit: aws.Int32(10001)})
			return err
		},
		"names and prefix": func() error {
			_, err := c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/hello"), LogStreamNames: []string{"a"}, LogStreamNamePrefix: aws.String("a")})
			return err
		},
		"end before start": func() error {
			_, err := c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/hello"), StartTime: aws.Int64(10), EndTime: aws.Int64(5)})
			return err
		},
		"bad orderBy": func() error {
			_, err := c.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/lambda/hello"), OrderBy: "Size"})
			return err
		},
		"bad group name": func() error {
			_, err := c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("no spaces allowed")})
			return err
		},
	} {
		var ipe *types.InvalidParameterException
		if err := call(); !errors.As(err, &ipe) {
			t.Errorf("%s: err = %v, want InvalidParameterException", name, err)
		}
	}

	// Raw requests: an operation Nimbus does not serve, and the shape of the error body.
	req, _ := http.NewRequest("POST", f.url, strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "Logs_20140328.PutLogEvents")
	req.Header.Set("Content-Type", ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"__type":"UnknownOperationException"`) {
		t.Errorf("PutLogEvents = %d %s, want 400 UnknownOperationException", resp.StatusCode, body)
	}
	req, _ = http.NewRequest("POST", f.url, strings.NewReader(`{"logGroupName":"/aws/lambda/missing"}`))
	req.Header.Set("X-Amz-Target", "Logs_20140328.FilterLogEvents")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"__type":"ResourceNotFoundException","message":"The specified log group does not exist."}` + "\n"; resp.StatusCode != 400 || string(body) != want {
		t.Errorf("FilterLogEvents(missing) = %d %q, want 400 %q", resp.StatusCode, body, want)
	}
	if ct := resp.Header.Get("Content-Type"); ct != ContentType {
		t.Errorf("error Content-Type = %q, want %q", ct, ContentType)
	}
}

func TestDescribe(t *testing.T) {
	f := newFixture(t, Config{Region: "eu-west-1", AccountID: "123456789012", RetentionDays: 7})
	first := f.write(t, "alpha", "env1", line{0, "a1"}, line{5 * time.Second, "a2"})
	second := f.write(t, "alpha", "env2", line{2 * time.Second, "b1"}, line{9 * time.Second, "b2"})
	f.write(t, "beta", "env1", line{time.Second, "x"})
	f.write(t, "gamma", "env1", line{time.Second, "y"})
	c := f.client()
	ctx := context.Background()

	var names []string
	p := cwl.NewDescribeLogGroupsPaginator(c, &cwl.DescribeLogGroupsInput{Limit: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("DescribeLogGroups: %v", err)
		}
		if len(page.LogGroups) > 2 {
			t.Errorf("DescribeLogGroups page of %d, limit 2", len(page.LogGroups))
		}
		for _, g := range page.LogGroups {
			names = append(names, aws.ToString(g.LogGroupName))
			if g.LogGroupName != nil && *g.LogGroupName == "/aws/lambda/alpha" {
				if got := aws.ToInt64(g.CreationTime); got != ms(0) {
					t.Errorf("alpha creationTime = %d, want %d", got, ms(0))
				}
				if got, want := aws.ToString(g.Arn), "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/alpha:*"; got != want {
					t.Errorf("alpha arn = %q, want %q", got, want)
				}
				if got := aws.ToInt32(g.RetentionInDays); got != 7 {
					t.Errorf("alpha retentionInDays = %d, want 7", got)
				}
			}
		}
	}
	if diff := cmp.Diff([]string{"/aws/lambda/alpha", "/aws/lambda/beta", "/aws/lambda/gamma"}, names); diff != "" {
		t.Errorf("DescribeLogGroups names (-want +got):\n%s", diff)
	}
	out, err := c.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/aws/lambda/b")})
	if err != nil || len(out.LogGroups) != 1 || aws.ToString(out.LogGroups[0].LogGroupName) != "/aws/lambda/beta" {
		t.Errorf("DescribeLogGroups(prefix /aws/lambda/b) = %+v, %v; want beta only", out, err)
	}

	streams, err := c.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/lambda/alpha")})
	if err != nil {
		t.Fatalf("DescribeLogStreams: %v", err)
	}
	if len(streams.LogStreams) != 2 {
		t.Fatalf("DescribeLogStreams = %d streams, want 2", len(streams.LogStreams))
	}
	s0 := streams.LogStreams[0]
	if aws.ToString(s0.LogStreamName) != first.Name() || aws.ToInt64(s0.FirstEventTimestamp) != ms(0) || aws.ToInt64(s0.LastEventTimestamp) != ms(5*time.Second) {
		t.Errorf("stream 0 = %s first %d last %d; want %s %d %d", aws.ToString(s0.LogStreamName),
			aws.ToInt64(s0.FirstEventTimestamp), aws.ToInt64(s0.LastEventTimestamp), first.Name(), ms(0), ms(5*time.Second))
	}
	// Newest first, one per page.
	var order []string
	sp := cwl.NewDescribeLogStreamsPaginator(c, &cwl.DescribeLogStreamsInput{
		LogGroupName: aws.String("/aws/lambda/alpha"), OrderBy: types.OrderByLastEventTime, Descending: aws.Bool(true), Limit: aws.Int32(1)})
	for sp.HasMorePages() {
		page, err := sp.NextPage(ctx)
		if err != nil {
			t.Fatalf("DescribeLogStreams: %v", err)
		}
		for _, s := range page.LogStreams {
			order = append(order, aws.ToString(s.LogStreamName))
		}
	}
	if diff := cmp.Diff([]string{second.Name(), first.Name()}, order); diff != "" {
		t.Errorf("streams by last event, descending (-want +got):\n%s", diff)
	}
}

func TestGetLogEvents(t *testing.T) {
	f := newFixture(t, Config{})
	var lines []line
	for i := range 10 {
		lines = append(lines, line{time.Duration(i) * time.Second, fmt.Sprintf("e%d", i)})
	}
	st := f.write(t, "fn", "env1", lines...)
	f.write(t, "fn", "env2", line{0, "other stream"})
	c := f.client()
	ctx := context.Background()
	in := func(mod func(*cwl.GetLogEventsInput)) *cwl.GetLogEventsInput {
		i := &cwl.GetLogEventsInput{LogGroupName: aws.String("/aws/lambda/fn"), LogStreamName: aws.String(st.Name())}
		mod(i)
		return i
	}
	msgs := func(out *cwl.GetLogEventsOutput) []string {
		var m []string
		for _, e := range out.Events {
			m = append(m, strings.TrimSuffix(aws.ToString(e.Message), "\n"))
		}
		return m
	}

	// Without a token: the newest events.
	tail, err := c.GetLogEvents(ctx, in(func(i *cwl.GetLogEventsInput) { i.Limit = aws.Int32(3) }))
	if err != nil {
		t.Fatalf("GetLogEvents: %v", err)
	}
	if diff := cmp.Diff([]string{"e7", "e8", "e9"}, msgs(tail)); diff != "" {
		t.Errorf("GetLogEvents(limit 3) (-want +got):\n%s", diff)
	}
	// Backward from there.
	back, err := c.GetLogEvents(ctx, in(func(i *cwl.GetLogEventsInput) { i.Limit = aws.Int32(3); i.NextToken = tail.NextBackwardToken }))
	if err != nil {
		t.Fatalf("GetLogEvents(backward): %v", err)
	}
	if diff := cmp.Diff([]string{"e4", "e5", "e6"}, msgs(back)); diff != "" {
		t.Errorf("GetLogEvents(backward) (-want +got):\n%s", diff)
	}
	// Forward from the tail: nothing new, and the same token again (which ends paginators).
	fwd, err := c.GetLogEvents(ctx, in(func(i *cwl.GetLogEventsInput) { i.NextToken = tail.NextForwardToken }))
	if err != nil {
		t.Fatalf("GetLogEvents(forward): %v", err)
	}
	if len(fwd.Events) != 0 || aws.ToString(fwd.NextForwardToken) != aws.ToString(tail.NextForwardToken) {
		t.Errorf("GetLogEvents(forward at end) = %v, token %s; want no events and token %s", msgs(fwd), aws.ToString(fwd.NextForwardToken), aws.ToString(tail.NextForwardToken))
	}
	// New events show up on the forward token.
	w := st.Writer()
	f.clock.set(base.Add(20 * time.Second))
	io.WriteString(w, "e10\n")
	w.Close()
	f.flush(t)
	fwd, err = c.GetLogEvents(ctx, in(func(i *cwl.GetLogEventsInput) { i.NextToken = tail.NextForwardToken }))
	if err != nil || !cmp.Equal([]string{"e10"}, msgs(fwd)) {
		t.Errorf("GetLogEvents(forward after a write) = %v, %v; want [e10]", msgs(fwd), err)
	}

	// From the head with the SDK's paginator, two at a time, in a time window.
	var all []string
	p := cwl.NewGetLogEventsPaginator(c, in(func(i *cwl.GetLogEventsInput) {
		i.StartFromHead = aws.Bool(true)
		i.StartTime = aws.Int64(ms(2 * time.Second))
		i.EndTime = aws.Int64(ms(8 * time.Second)) // exclusive in GetLogEvents
	}), func(o *cwl.GetLogEventsPaginatorOptions) { o.Limit, o.StopOnDuplicateToken = 2, true })
	for pages := 0; p.HasMorePages(); pages++ {
		if pages > 20 {
			t.Fatal("GetLogEvents paginator does not end")
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("GetLogEvents(head): %v", err)
		}
		all = append(all, msgs(page)...)
	}
	if diff := cmp.Diff([]string{"e2", "e3", "e4", "e5", "e6", "e7"}, all); diff != "" {
		t.Errorf("GetLogEvents(from head, window) (-want +got):\n%s", diff)
	}
}

// TestSignedRequests runs the handler behind SigV4 verification, as the server does.
func TestSignedRequests(t *testing.T) {
	key := auth.Key{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	v, err := auth.NewVerifier(auth.Config{Credentials: auth.NewCredentials(key), Services: []string{SigningName}})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Config{Auth: v})
	f.write(t, "hello", "env1", line{0, "signed"})
	clientWith := func(secret string) *cwl.Client {
		return cwl.NewFromConfig(aws.Config{Region: "us-east-1",
			Credentials: credentials.NewStaticCredentialsProvider(key.AccessKeyID, secret, "")},
			func(o *cwl.Options) { o.BaseEndpoint = aws.String(f.url) })
	}
	out, err := clientWith(key.SecretAccessKey).FilterLogEvents(context.Background(), &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/hello")})
	if err != nil || len(out.Events) != 1 {
		t.Fatalf("signed FilterLogEvents = %v, %v; want one event", out, err)
	}
	_, err = clientWith("wrong").FilterLogEvents(context.Background(), &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/hello")})
	if got := errCode(err); got != auth.CodeInvalidSignature {
		t.Errorf("FilterLogEvents with a wrong secret: code %q (%v), want %s", got, err, auth.CodeInvalidSignature)
	}
	_, err = f.client().FilterLogEvents(context.Background(), &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/hello")})
	if got := errCode(err); got != auth.CodeMissingAuthenticationToken {
		t.Errorf("unsigned FilterLogEvents: code %q (%v), want %s", got, err, auth.CodeMissingAuthenticationToken)
	}
}

func TestParsePattern(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want pattern
	}{
		{"", pattern{}},
		{"ERROR", pattern{all: []string{"ERROR"}}},
		{"  ERROR   disk ", pattern{all: []string{"ERROR", "disk"}}},
		{`"out of memory" -retry`, pattern{all: []string{"out of memory"}, none: []string{"retry"}}},
		{`?WARN ?"ERROR x"`, pattern{any: []string{"WARN", "ERROR x"}}},
		{`"say \"hi\""`, pattern{all: []string{`say "hi"`}}},
	} {
		got, err := parsePattern(tc.in)
		if err != nil {
			t.Errorf("parsePattern(%q) error %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(pattern{})); diff != "" {
			t.Errorf("parsePattern(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	for _, bad := range []string{`{ $.a = 1 }`, `[ip, user]`, `%ERR.*%`, `"open`} {
		if _, err := parsePattern(bad); err == nil {
			t.Errorf("parsePattern(%q) = nil error, want InvalidParameterException", bad)
		}
	}
}
