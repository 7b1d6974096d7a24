// Package lambda is Nimbus's domain vocabulary: functions, their configuration and limits, names
// and ARNs, and the errors whose codes are AWS Lambda's own. It imports only the standard library
// so that every other package can speak it.
package lambda
