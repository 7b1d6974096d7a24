// Package logsapi serves the part of the CloudWatch Logs API (JSON 1.1, target prefix
// Logs_20140328) that reads Nimbus's function logs: DescribeLogGroups, DescribeLogStreams,
// GetLogEvents and FilterLogEvents. With it, `aws logs filter-log-events --log-group-name
// /aws/lambda/NAME`, the SDKs' CloudWatch Logs clients and `nimbus logs` read what
// internal/logs stored.
//
// Log groups and streams exist while they hold events, as in CloudWatch where Lambda creates
// them on first write: a function that never logged has no group yet, and reading it answers
// ResourceNotFoundException. Paging tokens are opaque to clients and are positions in the
// log store, so a page never skips or repeats an event however the reads interleave with
// writes.
package logsapi
