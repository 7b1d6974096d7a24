// Command hello is the aws-lambda-go function both platforms run in the benchmark: it logs one
// line and answers with a small JSON object, like the hello world of every cold-start
// leaderboard.
package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Name string `json:"name"`
}

func handle(ctx context.Context, ev event) (map[string]string, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	fmt.Println("hello from go to", ev.Name)
	return map[string]string{"hello": ev.Name, "requestId": lc.AwsRequestID}, nil
}

func main() { lambda.Start(handle) }
