// Package cli is the client side of the `nimbus` command line: it finds the server and its
// credentials, turns a directory into a deployable zip (building Go modules the way `sam build`
// does), and deploys, invokes, lists and removes functions and reads their logs — all through
// the public Lambda and CloudWatch Logs APIs with the AWS SDK for Go v2, so that it works the
// same against a local or a remote Nimbus.
//
// Commands write their results to App.Stdout (a readable table, or JSON with Format JSON) and
// their narration (what was inferred, build output, progress) to App.Stderr. Their errors are
// single sentences that say what to do next; see Explain.
package cli
