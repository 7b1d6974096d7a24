// Command ordercheck links the sandbox init hook with the heaviest dependencies of the nimbus
// binary, so that nsinit's tests can check the hook still runs before they initialise.
package main

import (
	_ "github.com/aws/aws-sdk-go-v2/service/lambda"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "net/http"

	_ "github.com/nimbusfaas/nimbus/internal/sandbox/linux"
)

func main() {}
