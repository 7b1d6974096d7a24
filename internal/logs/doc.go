// Package logs keeps Nimbus's function logs the way AWS Lambda and CloudWatch Logs do.
//
// Every execution environment gets a [Stream] (a CloudWatch "log stream" named
// YYYY/MM/DD/[version]environment-id inside the log group /aws/lambda/<function>). The sandbox
// points the function's stdout and stderr at the stream ([Stream.Pipe] or [Stream.Writer]); the
// stream cuts the output into lines, timestamps them, and hands them to the [Service], which
// stores them in one JetStream stream with a retention limit. The invoker brackets every
// invocation with [Stream.Begin] and [Stream.End], which write Lambda's START, END and REPORT
// lines and return the last 4 KB of the invocation's log for Invoke's X-Amz-Log-Type: Tail.
//
// Nothing on the invoke path waits for JetStream: lines go into a bounded in-memory queue that
// one publisher goroutine drains in batches. When the queue is full, lines are dropped and
// counted ([Service.Stats]) rather than slowing the function down.
//
// Reading ([Service.Read], [Service.Follow], [Service.Streams], [Service.Groups]) follows the
// CloudWatch Logs model — groups, streams, events with a timestamp, a message and an ingestion
// time — so a CloudWatch-Logs-compatible API can be built on it.
package logs
