package logsapi

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nimbusfaas/nimbus/internal/logs"
)

// Limits of the operations, CloudWatch's.
const (
	maxDescribeLimit = 50
	maxEventsLimit   = 10000
	// maxResponseBytes caps the events of one response, counted as CloudWatch counts them
	// (message bytes plus 26 per event).
	maxResponseBytes = 1 << 20
	eventOverhead    = 26
	// maxFilterScan bounds the events one FilterLogEvents request looks at; a restrictive
	// pattern over a long log answers with fewer events and a nextToken, as CloudWatch does.
	maxFilterScan = 100000
)

var groupNameRE = regexp.MustCompile(`^[\.\-_/#A-Za-z0-9]{1,512}$`)

// groupOf resolves the logGroupName / logGroupIdentifier pair of an input: exactly one of them,
// the identifier being a name or an ARN.
func groupOf(name, identifier *string, required bool) (string, error) {
	switch {
	case name != nil && identifier != nil:
		return "", invalidParameter("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
	case name != nil:
		if !groupNameRE.MatchString(*name) {
			return "", invalidParameter("1 validation error detected: Value '%s' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+", *name)
		}
		return *name, nil
	case identifier != nil:
		id := *identifier
		if strings.HasPrefix(id, "arn:") {
			_, rest, ok := strings.Cut(id, ":log-group:")
			if !ok {
				return "", invalidParameter("The specified logGroupIdentifier %s is not a log group name or ARN.", id)
			}
			id = strings.TrimSuffix(rest, ":*")
		}
		if !groupNameRE.MatchString(id) {
			return "", invalidParameter("The specified logGroupIdentifier %s is not a log group name or ARN.", *identifier)
		}
		return id, nil
	case required:
		return "", invalidParameter("Either logGroupName or logGroupIdentifier must be specified.")
	}
	return "", nil
}

func limitOf(limit *int, def, maxLimit int) (int, error) {
	if limit == nil {
		return def, nil
	}
	if *limit < 1 {
		return 0, invalidParameter("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *limit)
	}
	if *limit > maxLimit {
		return 0, invalidParameter("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to %d", *limit, maxLimit)
	}
	return *limit, nil
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func (h *Handler) groupARN(group string) string {
	return fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", h.region, h.account, group)
}

// groupExists reports whether a group holds events. It is only asked when a read found
// nothing, to tell an empty answer from a missing group.
func (h *Handler) groupExists(ctx context.Context, group string) (bool, error) {
	groups, err := h.logs.Groups(ctx)
	if err != nil {
		return false, err
	}
	_, found := slices.BinarySearch(groups, group)
	return found, nil
}

// DescribeLogGroups

type describeLogGroupsInput struct {
	LogGroupNamePrefix  *string `json:"logGroupNamePrefix"`
	LogGroupNamePattern *string `json:"logGroupNamePattern"`
	Limit               *int    `json:"limit"`
	NextToken           *string `json:"nextToken"`
}

type logGroup struct {
	LogGroupName      string `json:"logGroupName"`
	CreationTime      int64  `json:"creationTime"`
	RetentionInDays   int    `json:"retentionInDays,omitempty"`
	MetricFilterCount int    `json:"metricFilterCount"`
	Arn               string `json:"arn"`
	LogGroupArn       string `json:"logGroupArn"`
	StoredBytes       int64  `json:"storedBytes"`
	LogGroupClass     string `json:"logGroupClass"`
}

type describeLogGroupsOutput struct {
	LogGroups []logGroup `json:"logGroups"`
	NextToken string     `json:"nextToken,omitempty"`
}

func (h *Handler) describeLogGroups(ctx context.Context, in *describeLogGroupsInput) (*describeLogGroupsOutput, error) {
	if in.LogGroupNamePrefix != nil && in.LogGroupNamePattern != nil {
		return nil, invalidParameter("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
	}
	limit, err := limitOf(in.Limit, maxDescribeLimit, maxDescribeLimit)
	if err != nil {
		return nil, err
	}
	afterName := ""
	if in.NextToken != nil {
		if afterName, err = decodeToken("g", *in.NextToken); err != nil {
			return nil, err
		}
	}
	groups, err := h.logs.Groups(ctx)
	if err != nil {
		return nil, err
	}
	out := &describeLogGroupsOutput{LogGroups: []logGroup{}}
	for _, g := range groups { // sorted by name
		if in.NextToken != nil && g <= afterName {
			continue
		}
		if in.LogGroupNamePrefix != nil && !strings.HasPrefix(g, *in.LogGroupNamePrefix) {
			continue
		}
		if in.LogGroupNamePattern != nil && !strings.Contains(strings.ToLower(g), strings.ToLower(*in.LogGroupNamePattern)) {
			continue
		}
		if len(out.LogGroups) == limit {
			out.NextToken = encodeToken("g", out.LogGroups[limit-1].LogGroupName)
			break
		}
		streams, err := h.logs.Streams(ctx, g)
		if err != nil {
			return nil, err
		}
		var created time.Time
		for _, s := range streams {
			if created.IsZero() || s.FirstEvent.Before(created) {
				created = s.FirstEvent
			}
		}
		arn := h.groupARN(g)
		out.LogGroups = append(out.LogGroups, logGroup{
			LogGroupName: g, CreationTime: millis(created), RetentionInDays: h.retention,
			Arn: arn + ":*", LogGroupArn: arn, LogGroupClass: "STANDARD",
		})
	}
	return out, nil
}

// DescribeLogStreams

type describeLogStreamsInput struct {
	LogGroupName        *string `json:"logGroupName"`
	LogGroupIdentifier  *string `json:"logGroupIdentifier"`
	LogStreamNamePrefix *string `json:"logStreamNamePrefix"`
	OrderBy             *string `json:"orderBy"`
	Descending          *bool   `json:"descending"`
	Limit               *int    `json:"limit"`
	NextToken           *string `json:"nextToken"`
}

type logStream struct {
	LogStreamName       string `json:"logStreamName"`
	CreationTime        int64  `json:"creationTime"`
	FirstEventTimestamp int64  `json:"firstEventTimestamp,omitempty"`
	LastEventTimestamp  int64  `json:"lastEventTimestamp,omitempty"`
	LastIngestionTime   int64  `json:"lastIngestionTime,omitempty"`
	Arn                 string `json:"arn"`
	StoredBytes         int64  `json:"storedBytes"`
}

type describeLogStreamsOutput struct {
	LogStreams []logStream `json:"logStreams"`
	NextToken  string      `json:"nextToken,omitempty"`
}

func (h *Handler) describeLogStreams(ctx context.Context, in *describeLogStreamsInput) (*describeLogStreamsOutput, error) {
	group, err := groupOf(in.LogGroupName, in.LogGroupIdentifier, true)
	if err != nil {
		return nil, err
	}
	limit, err := limitOf(in.Limit, maxDescribeLimit, maxDescribeLimit)
	if err != nil {
		return nil, err
	}
	byTime := false
	if in.OrderBy != nil {
		switch *in.OrderBy {
		case "LogStreamName":
		case "LastEventTime":
			byTime = true
		default:
			return nil, invalidParameter("1 validation error detected: Value '%s' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]", *in.OrderBy)
		}
	}
	if byTime && in.LogStreamNamePrefix != nil {
		return nil, invalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
	}
	offset := 0
	if in.NextToken != nil {
		v, err := decodeToken("s", *in.NextToken)
		if err != nil {
			return nil, err
		}
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return nil, errBadToken
		}
	}
	streams, err := h.logs.Streams(ctx, group)
	if err != nil {
		return nil, err
	}
	if len(streams) == 0 {
		return nil, errGroupNotFound
	}
	if in.LogStreamNamePrefix != nil {
		streams = slices.DeleteFunc(streams, func(s logs.StreamInfo) bool {
			return !strings.HasPrefix(s.Name, *in.LogStreamNamePrefix)
		})
	}
	if byTime {
		slices.SortStableFunc(streams, func(a, b logs.StreamInfo) int { return a.LastEvent.Compare(b.LastEvent) })
	}
	if in.Descending != nil && *in.Descending {
		slices.Reverse(streams)
	}
	out := &describeLogStreamsOutput{LogStreams: []logStream{}}
	if offset > len(streams) {
		return out, nil
	}
	end := min(offset+limit, len(streams))
	arn := h.groupARN(group)
	for _, s := range streams[offset:end] {
		out.LogStreams = append(out.LogStreams, logStream{
			LogStreamName:       s.Name,
			CreationTime:        millis(s.FirstEvent),
			FirstEventTimestamp: millis(s.FirstEvent),
			LastEventTimestamp:  millis(s.LastEvent),
			LastIngestionTime:   millis(s.LastIngestion),
			Arn:                 arn + ":log-stream:" + s.Name,
		})
	}
	if end < len(streams) {
		out.NextToken = encodeToken("s", strconv.Itoa(end))
	}
	return out, nil
}

// scan reads the events of group in [since, until) from the cursor from on, in the order
// they were stored, and calls fn with each until fn returns false (scan then returns the
// cursor of that event and more = true), maxScan events were read (more = true), or the log
// ends (more = false, next is where new events will be). The store streams them: a request
// holds the events it answers with, never the log it reads.
func (h *Handler) scan(ctx context.Context, group string, since, until time.Time, streams []string,
	from logs.Cursor, maxScan int, fn func(logs.Event) bool) (next logs.Cursor, more bool, err error) {
	scanned := 0
	// Past maxScan, the event not looked at is where the next request resumes, as with an
	// event fn refused.
	next, more, err = h.logs.Scan(ctx, group, since, logs.ReadOptions{Streams: streams, Until: until, From: from}, func(e logs.Event) bool {
		if scanned == maxScan {
			return false
		}
		scanned++
		return fn(e)
	})
	if err != nil {
		return from, false, err
	}
	return next, more, nil
}

func sortByTime[E any](events []E, ts func(E) int64) {
	slices.SortStableFunc(events, func(a, b E) int {
		switch x, y := ts(a), ts(b); {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
}

// timeRange turns startTime/endTime (ms) into Read's [since, until); endInclusive says
// whether an event at endTime is in the range (FilterLogEvents) or not (GetLogEvents).
func timeRange(start, end *int64, endInclusive bool) (since, until time.Time, err error) {
	if start != nil {
		if *start < 0 {
			return since, until, invalidParameter("1 validation error detected: Value '%d' at 'startTime' failed to satisfy constraint: Member must have value greater than or equal to 0", *start)
		}
		since = time.UnixMilli(*start)
	}
	if end != nil {
		if *end < 0 {
			return since, until, invalidParameter("1 validation error detected: Value '%d' at 'endTime' failed to satisfy constraint: Member must have value greater than or equal to 0", *end)
		}
		e := *end
		if endInclusive && e < math.MaxInt64 {
			e++
		}
		until = time.UnixMilli(e)
	}
	if start != nil && end != nil && *end < *start {
		return since, until, invalidParameter("endTime (%d) must not be before startTime (%d).", *end, *start)
	}
	return since, until, nil
}

// GetLogEvents

type getLogEventsInput struct {
	LogGroupName       *string `json:"logGroupName"`
	LogGroupIdentifier *string `json:"logGroupIdentifier"`
	LogStreamName      *string `json:"logStreamName"`
	StartTime          *int64  `json:"startTime"`
	EndTime            *int64  `json:"endTime"`
	NextToken          *string `json:"nextToken"`
	Limit              *int    `json:"limit"`
	StartFromHead      *bool   `json:"startFromHead"`
}

type outputLogEvent struct {
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
}

type getLogEventsOutput struct {
	Events            []outputLogEvent `json:"events"`
	NextForwardToken  string           `json:"nextForwardToken"`
	NextBackwardToken string           `json:"nextBackwardToken"`
}

func (h *Handler) getLogEvents(ctx context.Context, in *getLogEventsInput) (*getLogEventsOutput, error) {
	group, err := groupOf(in.LogGroupName, in.LogGroupIdentifier, true)
	if err != nil {
		return nil, err
	}
	if in.LogStreamName == nil || *in.LogStreamName == "" {
		return nil, invalidParameter("1 validation error detected: Value null at 'logStreamName' failed to satisfy constraint: Member must not be null")
	}
	stream := *in.LogStreamName
	limit, err := limitOf(in.Limit, maxEventsLimit, maxEventsLimit)
	if err != nil {
		return nil, err
	}
	since, until, err := timeRange(in.StartTime, in.EndTime, false)
	if err != nil {
		return nil, err
	}
	// Without a token, CloudWatch returns the newest events unless startFromHead is set.
	forward := in.StartFromHead != nil && *in.StartFromHead
	var from logs.Cursor
	var cut *logs.Cursor // backward reads: the events before this one
	if in.NextToken != nil {
		dir, c, ok := strings.Cut(*in.NextToken, "/")
		if !ok || dir != "f" && dir != "b" {
			return nil, errBadToken
		}
		cursor, err := parseCursor(c)
		if err != nil {
			return nil, err
		}
		forward = dir == "f"
		if forward {
			from = cursor
		} else {
			cut = &cursor
		}
	}

	var events []logs.Event
	var end logs.Cursor // where the read stopped
	if forward {
		size := 0
		end, _, err = h.scan(ctx, group, since, until, []string{stream}, from, math.MaxInt, func(e logs.Event) bool {
			n := len(e.Message) + eventOverhead
			if len(events) == limit || len(events) > 0 && size+n > maxResponseBytes {
				return false
			}
			events, size = append(events, e), size+n
			return true
		})
	} else {
		// The newest events before the cut: read the range and keep the last ones that fit.
		var kept []logs.Event
		size := 0
		end, _, err = h.scan(ctx, group, since, until, []string{stream}, logs.Cursor{}, math.MaxInt, func(e logs.Event) bool {
			if cut != nil && !cursorLess(e.Position, *cut) {
				return false
			}
			kept, size = append(kept, e), size+len(e.Message)+eventOverhead
			for len(kept) > limit || len(kept) > 1 && size > maxResponseBytes {
				size -= len(kept[0].Message) + eventOverhead
				kept = kept[1:]
			}
			if cap(kept) > 4*limit+64 { // keep the dropped head from pinning memory
				kept = slices.Clone(kept)
			}
			return true
		})
		events = kept
	}
	if err != nil {
		return nil, err
	}
	if len(events) == 0 && in.NextToken == nil {
		streams, err := h.logs.Streams(ctx, group)
		if err != nil {
			return nil, err
		}
		if len(streams) == 0 {
			return nil, errGroupNotFound
		}
		if !slices.ContainsFunc(streams, func(s logs.StreamInfo) bool { return s.Name == stream }) {
			return nil, errStreamNotFound
		}
	}

	out := &getLogEventsOutput{Events: make([]outputLogEvent, 0, len(events))}
	for _, e := range events {
		out.Events = append(out.Events, outputLogEvent{Timestamp: millis(e.Timestamp), Message: e.Message, IngestionTime: millis(e.Ingested)})
	}
	sortByTime(out.Events, func(e outputLogEvent) int64 { return e.Timestamp })
	// The forward token points after the last event returned; with nothing returned, it is
	// the token given (CloudWatch's "no new events" answer, which ends the CLI's paginator) or
	// the end of the log.
	fwd, back := end, logs.Cursor{}
	switch {
	case len(events) > 0:
		fwd, back = after(events[len(events)-1].Position), events[0].Position
	case forward && in.NextToken != nil:
		fwd, back = from, from
	case cut != nil:
		fwd, back = *cut, *cut
	default:
		back = end
	}
	out.NextForwardToken = "f/" + formatCursor(fwd)
	out.NextBackwardToken = "b/" + formatCursor(back)
	return out, nil
}

// FilterLogEvents

type filterLogEventsInput struct {
	LogGroupName        *string  `json:"logGroupName"`
	LogGroupIdentifier  *string  `json:"logGroupIdentifier"`
	LogStreamNames      []string `json:"logStreamNames"`
	LogStreamNamePrefix *string  `json:"logStreamNamePrefix"`
	StartTime           *int64   `json:"startTime"`
	EndTime             *int64   `json:"endTime"`
	FilterPattern       *string  `json:"filterPattern"`
	NextToken           *string  `json:"nextToken"`
	Limit               *int     `json:"limit"`
	Interleaved         *bool    `json:"interleaved"` // deprecated; results are always interleaved
}

type filteredLogEvent struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
}

type filterLogEventsOutput struct {
	Events    []filteredLogEvent `json:"events"`
	NextToken string             `json:"nextToken,omitempty"`
}

func (h *Handler) filterLogEvents(ctx context.Context, in *filterLogEventsInput) (*filterLogEventsOutput, error) {
	group, err := groupOf(in.LogGroupName, in.LogGroupIdentifier, true)
	if err != nil {
		return nil, err
	}
	if len(in.LogStreamNames) > 0 && in.LogStreamNamePrefix != nil {
		return nil, invalidParameter("Cannot specify both logStreamNames and logStreamNamePrefix.")
	}
	if len(in.LogStreamNames) > 100 {
		return nil, invalidParameter("1 validation error detected: Value at 'logStreamNames' failed to satisfy constraint: Member must have length less than or equal to 100")
	}
	limit, err := limitOf(in.Limit, maxEventsLimit, maxEventsLimit)
	if err != nil {
		return nil, err
	}
	since, until, err := timeRange(in.StartTime, in.EndTime, true)
	if err != nil {
		return nil, err
	}
	var pat pattern
	if in.FilterPattern != nil {
		if pat, err = parsePattern(*in.FilterPattern); err != nil {
			return nil, err
		}
	}
	var from logs.Cursor
	if in.NextToken != nil {
		v, err := decodeToken("c", *in.NextToken)
		if err != nil {
			return nil, err
		}
		if from, err = parseCursor(v); err != nil {
			return nil, err
		}
	}
	streams := in.LogStreamNames
	if in.LogStreamNamePrefix != nil {
		all, err := h.logs.Streams(ctx, group)
		if err != nil {
			return nil, err
		}
		if len(all) == 0 {
			return nil, errGroupNotFound
		}
		for _, s := range all {
			if strings.HasPrefix(s.Name, *in.LogStreamNamePrefix) {
				streams = append(streams, s.Name)
			}
		}
		if len(streams) == 0 {
			return &filterLogEventsOutput{Events: []filteredLogEvent{}}, nil
		}
	}

	out := &filterLogEventsOutput{Events: []filteredLogEvent{}}
	size := 0
	next, more, err := h.scan(ctx, group, since, until, streams, from, maxFilterScan, func(e logs.Event) bool {
		if !pat.match(e.Message) {
			return true
		}
		n := len(e.Message) + eventOverhead
		if len(out.Events) == limit || len(out.Events) > 0 && size+n > maxResponseBytes {
			return false
		}
		size += n
		out.Events = append(out.Events, filteredLogEvent{
			LogStreamName: e.Stream, Timestamp: millis(e.Timestamp), Message: e.Message,
			IngestionTime: millis(e.Ingested), EventID: eventID(e.Position),
		})
		return true
	})
	if err != nil {
		return nil, err
	}
	if more {
		out.NextToken = encodeToken("c", formatCursor(next))
	}
	if len(out.Events) == 0 && in.NextToken == nil && in.LogStreamNamePrefix == nil {
		exists, err := h.groupExists(ctx, group)
		if err != nil {
			return nil, err
		}
		if !exists {
			return nil, errGroupNotFound
		}
	}
	sortByTime(out.Events, func(e filteredLogEvent) int64 { return e.Timestamp })
	return out, nil
}
