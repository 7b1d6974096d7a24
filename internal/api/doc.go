// Package api serves the AWS Lambda control-plane REST API (2015-03-31 and the other date
// prefixes its operations use). It is the only place where domain errors become AWS-shaped JSON:
// handlers return errors, and writeError renders them.
package api
