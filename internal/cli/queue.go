package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// Queue prints the asynchronous invocation queue: per function, the events waiting (or
// delayed for a retry, or running) and the age of the oldest, then the server's counters.
func (a *App) Queue(ctx context.Context) error {
	fns, err := a.queueStatus(ctx)
	if err != nil {
		return err
	}
	if a.Format == JSON {
		return writeJSON(a.Stdout, fns)
	}
	if len(fns) == 0 {
		fmt.Fprintln(a.Stderr, "the async queue is empty and this server has run no async events")
		return nil
	}
	t := newTable(a.Stdout)
	t.row("FUNCTION", "QUEUED", "OLDEST", "RECEIVED", "SUCCEEDED", "DROPPED", "RETRIED", "THROTTLED", "DEST FAILED")
	for _, f := range fns {
		oldest := "-"
		if f.Events > 0 {
			oldest = (time.Duration(f.OldestEventAgeSeconds * float64(time.Second))).Round(time.Millisecond).String()
		}
		t.row(f.FunctionName, fmt.Sprint(f.Events), oldest, fmt.Sprint(f.Received), fmt.Sprint(f.Succeeded),
			fmt.Sprint(f.Dropped), fmt.Sprint(f.Retried), fmt.Sprint(f.Throttled), fmt.Sprint(f.DestinationFailures))
	}
	return t.flush()
}

// queueStatus asks the server's GET /nimbus/async-queue, signed like the Lambda API.
func (a *App) queueStatus(ctx context.Context) ([]lambda.QueueFunction, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(a.Target.Endpoint, "/")+"/nimbus/async-queue", nil)
	if err != nil {
		return nil, err
	}
	creds, err := a.Target.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	empty := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(empty[:]), "lambda", a.Target.Region, a.now()); err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking %s for its queue: %w", a.Target.Endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message  string `json:"message"`
			MessageC string `json:"Message"`
		}
		json.Unmarshal(body, &e)
		return nil, fmt.Errorf("the server answered %s: %s%s", resp.Status, e.Message, e.MessageC)
	}
	var out lambda.QueueStatus
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("the server's queue status: %w", err)
	}
	return out.Functions, nil
}
