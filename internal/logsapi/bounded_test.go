package logsapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/nimbusfaas/nimbus/internal/logs"
)

// hugeLog is a Reader over a log group of n events of size bytes each, made up as they are
// read, that counts the events it had to produce.
type hugeLog struct {
	n, size  int
	produced atomic.Int64
}

func (h *hugeLog) Scan(ctx context.Context, group string, since time.Time, opts logs.ReadOptions, fn func(logs.Event) bool) (logs.Cursor, bool, error) {
	msg := strings.Repeat("h", h.size-1) + "\n"
	for i := int(opts.From.Seq); i < h.n; i++ {
		h.produced.Add(1)
		e := logs.Event{Group: group, Stream: "s", Timestamp: time.UnixMilli(int64(i)), Ingested: time.UnixMilli(int64(i)),
			Message: msg, Position: logs.Cursor{Seq: uint64(i)}}
		if !fn(e) {
			return e.Position, true, nil
		}
	}
	return logs.Cursor{Seq: uint64(h.n)}, false, nil
}

func (h *hugeLog) Streams(ctx context.Context, group string) ([]logs.StreamInfo, error) {
	return []logs.StreamInfo{{Name: "s"}}, nil
}

func (h *hugeLog) Groups(ctx context.Context) ([]string, error) {
	return []string{"/aws/lambda/huge"}, nil
}

// ownBodyClient hands the transport its own copy of each request body. The SDK closes the body
// it passed in as soon as the response arrives; when the server answers before the transport's
// write loop has seen the body's EOF (this server reads the body and answers within
// microseconds), the write loop reads the closed body, takes it for a write error and closes the
// connection under the response being read: "deserialization failed ... use of closed network
// connection" in about one run in a hundred (aws/aws-sdk-go-v2#2737). With retries off, as this
// test needs, that would fail the test.
type ownBodyClient struct{}

func (ownBodyClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return http.DefaultClient.Do(r)
}

// Issue 9.3: a page of a flooded log group costs what the page holds. Over 10,000 events of
// 256 KB (2.5 GB), FilterLogEvents and GetLogEvents answer with 1 MB pages and make the store
// produce one event more than they return, not the 10,000 events of a full read.
func TestPagesOfAHugeLogReadOnlyWhatTheyReturn(t *testing.T) {
	h := &hugeLog{n: 10000, size: 256<<10 - 26}
	srv := httptest.NewServer(New(Config{Logs: h, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	// One attempt per call: a retried request would read its page twice.
	c := cwl.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1},
		func(o *cwl.Options) { o.BaseEndpoint = aws.String(srv.URL); o.HTTPClient = ownBodyClient{} })
	ctx := context.Background()

	out, err := c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/huge")})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(out.Events); got != 4 || out.NextToken == nil {
		t.Errorf("FilterLogEvents = %d events, next token %v; want the 4 events that fit in 1 MB and a token", got, out.NextToken)
	}
	if n := h.produced.Load(); n > 5 {
		t.Errorf("FilterLogEvents made the store produce %d events for a page of 4", n)
	}

	h.produced.Store(0)
	fwd, err := c.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: aws.String("/aws/lambda/huge"), LogStreamName: aws.String("s"),
		StartFromHead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if got, n := len(fwd.Events), h.produced.Load(); got != 4 || n > 5 {
		t.Errorf("GetLogEvents from the head = %d events after producing %d; want 4 after at most 5", got, n)
	}
}
