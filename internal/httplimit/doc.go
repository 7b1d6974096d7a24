// Package httplimit bounds what HTTP clients can hold on a server: open connections (Listener),
// the time a request body may take to arrive (BodyDeadline), and the request bytes buffered at
// once (Budget). Each bound is there so that clients who never authenticate, or a function
// talking to its own Runtime API, cannot take the descriptors, memory or connections that
// everyone else needs.
package httplimit
