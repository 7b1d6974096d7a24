package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
)

// LogsOptions are the arguments of `nimbus logs`.
type LogsOptions struct {
	Name string
	// Since is where the logs start; zero means from the oldest kept.
	Since time.Time
	// Filter is a CloudWatch term filter pattern ("ERROR -retry"); empty shows everything.
	Filter string
	// Follow keeps printing new events until ctx ends.
	Follow bool
}

// LogEvent is one event of `nimbus logs --output json`: an array of them, or with --follow,
// which never ends, one a line (JSON Lines).
type LogEvent struct {
	Timestamp     time.Time `json:"timestamp"`
	LogStream     string    `json:"logStream"`
	Message       string    `json:"message"`
	IngestionTime time.Time `json:"ingestionTime"`
	EventID       string    `json:"eventId"`
}

// followOverlap is how far back each poll of --follow looks again: events of different
// environments can be stored out of time order by a little, and an event seen once is not
// printed twice.
const followOverlap = 5 * time.Second

// Logs prints a function's log events through the CloudWatch Logs API (FilterLogEvents on
// /aws/lambda/NAME), and with Follow keeps polling for new ones until ctx ends.
func (a *App) Logs(ctx context.Context, o LogsOptions) error {
	group := "/aws/lambda/" + o.Name
	poll := a.PollInterval
	if poll <= 0 {
		poll = time.Second
	}
	start := int64(0)
	if !o.Since.IsZero() {
		start = o.Since.UnixMilli()
	}
	seen := map[string]int64{} // eventId → timestamp, within the overlap
	newest := start
	waiting := false
	var collected []LogEvent // the JSON array, without --follow
	printed, groupExists := 0, true
	for {
		in := &cwl.FilterLogEventsInput{LogGroupName: aws.String(group), StartTime: aws.Int64(start)}
		if o.Filter != "" {
			in.FilterPattern = aws.String(o.Filter)
		}
		p := cwl.NewFilterLogEventsPaginator(a.LogsAPI, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				if ctx.Err() != nil && o.Follow {
					return nil
				}
				if apiCode(err) != "ResourceNotFoundException" {
					return a.explain(err, "the logs of "+o.Name)
				}
				if err := a.noLogs(ctx, o, waiting); err != nil {
					return err
				}
				waiting, groupExists = true, false
				break
			}
			for _, e := range page.Events {
				id, ts := aws.ToString(e.EventId), aws.ToInt64(e.Timestamp)
				if _, dup := seen[id]; dup {
					continue
				}
				seen[id] = ts
				newest = max(newest, ts)
				printed++
				if a.Format == JSON && !o.Follow {
					collected = append(collected, logEventOf(e))
					continue
				}
				if err := a.printEvent(e); err != nil {
					return err
				}
			}
		}
		if !o.Follow {
			if a.Format == JSON {
				if collected == nil {
					collected = []LogEvent{}
				}
				if err := writeJSON(a.Stdout, collected); err != nil {
					return err
				}
			}
			if printed == 0 && groupExists && start > 0 {
				return a.olderEvents(ctx, o)
			}
			return nil
		}
		start = max(start, newest-followOverlap.Milliseconds())
		for id, ts := range seen {
			if ts < start {
				delete(seen, id)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// noLogs handles a log group that does not exist yet: the function has not logged, or there is
// no such function.
func (a *App) noLogs(ctx context.Context, o LogsOptions, alreadySaid bool) error {
	if alreadySaid {
		return nil
	}
	_, err := a.Lambda.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String(o.Name)})
	if err != nil {
		return a.explain(err, "function "+o.Name)
	}
	if o.Follow {
		fmt.Fprintf(a.Stderr, "no logs for %s yet; waiting for its first invocation (Ctrl-C to stop)\n", o.Name)
	} else {
		fmt.Fprintf(a.Stderr, "no logs for %s yet: invoke it with `nimbus invoke %s`\n", o.Name, o.Name)
	}
	return nil
}

func logEventOf(e types.FilteredLogEvent) LogEvent {
	return LogEvent{Timestamp: time.UnixMilli(aws.ToInt64(e.Timestamp)).UTC(), LogStream: aws.ToString(e.LogStreamName),
		Message: strings.TrimSuffix(aws.ToString(e.Message), "\n"), IngestionTime: time.UnixMilli(aws.ToInt64(e.IngestionTime)).UTC(),
		EventID: aws.ToString(e.EventId)}
}

func (a *App) printEvent(e types.FilteredLogEvent) error {
	ev := logEventOf(e)
	if a.Format == JSON {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.Stdout, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(a.Stdout, "%s  %s\n", ev.Timestamp.Local().Format("2006-01-02 15:04:05.000"), ev.Message)
	return err
}

// olderEvents explains an empty answer for a function that has logged before --since: when
// its latest event was, and the --since that shows it.
func (a *App) olderEvents(ctx context.Context, o LogsOptions) error {
	out, err := a.LogsAPI.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{
		LogGroupName: aws.String("/aws/lambda/" + o.Name), OrderBy: types.OrderByLastEventTime,
		Descending: aws.Bool(true), Limit: aws.Int32(1),
	})
	if err != nil || len(out.LogStreams) == 0 || out.LogStreams[0].LastEventTimestamp == nil {
		return nil // nothing older to point at; the empty answer stands
	}
	last := time.UnixMilli(*out.LogStreams[0].LastEventTimestamp)
	what := "log events"
	if o.Filter != "" {
		what = fmt.Sprintf("log events matching %q", o.Filter)
	}
	age := a.now().Sub(last)
	fmt.Fprintf(a.Stderr, "no %s for %s since %s; its latest event is from %s (%s ago): see it with --since %s, or everything with --since 0\n",
		what, o.Name, o.Since.Local().Format("2006-01-02 15:04:05"), last.Local().Format("2006-01-02 15:04:05"), roughAge(age), sinceCovering(age))
	return nil
}

// roughAge words a duration the way people say it: "35m", "3h", "2d".
func roughAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// sinceCovering is a --since value, rounded up to a whole unit, that reaches back age.
func sinceCovering(age time.Duration) string {
	switch {
	case age < time.Hour:
		return fmt.Sprintf("%dm", int(age/time.Minute)+1)
	case age < 48*time.Hour:
		return fmt.Sprintf("%dh", int(age/time.Hour)+1)
	}
	return fmt.Sprintf("%dd", int(age/(24*time.Hour))+1)
}

// ParseSince reads --since: a duration back from now ("90s", "10m", "2h", "3d", "1w") or a
// time ("2026-01-02", "2026-01-02T15:04:05Z", RFC 3339). "0" or "" mean from the beginning.
func ParseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	for _, unit := range []struct {
		suffix string
		d      time.Duration
	}{{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}} {
		if n, ok := strings.CutSuffix(s, unit.suffix); ok {
			if v, err := strconv.ParseFloat(n, 64); err == nil && v >= 0 {
				return now.Add(-time.Duration(v * float64(unit.d))), nil
			}
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &UserError{Msg: fmt.Sprintf("--since %s is neither a duration (10m, 2h, 3d) nor a time (2026-01-02T15:04:05Z)", s)}
}
