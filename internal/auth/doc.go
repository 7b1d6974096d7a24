// Package auth authenticates requests to the Nimbus control plane the way AWS does: it verifies
// AWS Signature Version 4 (the Authorization header and presigned query strings), presigns URLs
// the server hands out itself (GetFunction's Code.Location), and keeps the access keys the
// signatures are checked against, including the admin key created on first start.
//
// Failures are *Error values carrying AWS's error code, message and HTTP status, so the API layer
// renders them without looking at error text.
package auth
