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
// Nothing on the invoke path waits for JetStream: each environment's lines go into its own
// bounded queue, which one publisher goroutine serves round robin, in batches. Every buffer is
// bounded per environment and per node, and each environment has a log rate (publish.go): a
// pipe written faster is read more slowly, so the function waits; what must be taken at once
// beyond it is dropped, counted ([Service.Stats]) and marked in the environment's own stream
// ("[nimbus] N log lines dropped: …"). The platform's lines (START, END, REPORT, INIT_REPORT)
// are never dropped, and one environment's output never costs another its lines. A failed
// Init is logged as Lambda logs it ([Stream.FailInit]).
//
// Reading ([Service.Scan], [Service.Read], [Service.Follow], [Service.Streams],
// [Service.Groups]) follows the CloudWatch Logs model — groups, streams, events with a
// timestamp, a message and an ingestion time — so a CloudWatch-Logs-compatible API can be
// built on it. Scan streams a log in bounded fetches, so reading a flooded log group holds one
// fetch at a time, never the group.
package logs
