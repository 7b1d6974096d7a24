package async

import "time"

// Lambda's retry delays. Function errors (the function's own, timeouts, crashes, out of
// memory) wait one minute before the first retry and two before the second; throttles and
// platform errors back off from one second, doubling, to five minutes.
const (
	firstRetryDelay  = time.Minute
	secondRetryDelay = 2 * time.Minute
	throttleBase     = time.Second
	throttleMax      = 5 * time.Minute
)

// functionErrorDelay is the wait before the retry that follows the attempt-th failed
// invocation.
func functionErrorDelay(attempt int) time.Duration {
	if attempt <= 1 {
		return firstRetryDelay
	}
	return secondRetryDelay
}

// throttleDelay is the wait after the n-th refused attempt.
func throttleDelay(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 20 {
		return throttleMax
	}
	return min(throttleBase<<(n-1), throttleMax)
}
