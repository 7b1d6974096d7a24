// Command stamp is the benchmark's aws-lambda-go function: a no-op, or with "stamp" set it
// prints the wall-clock time its handler started (for the 202→start latency, and to count
// which events ran); "millis" makes it take that long.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

type event struct {
	ID     string `json:"id"`
	Stamp  bool   `json:"stamp"`
	Millis int    `json:"millis"`
}

func handle(_ context.Context, ev event) (string, error) {
	if ev.Stamp {
		fmt.Println("STAMP", ev.ID, time.Now().UnixNano())
	}
	time.Sleep(time.Duration(ev.Millis) * time.Millisecond)
	return "ok", nil
}

func main() { lambda.Start(handle) }
