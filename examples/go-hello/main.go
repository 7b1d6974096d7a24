// Command go-hello is a Lambda function built with aws-lambda-go: it greets someone in the
// language they ask for and says where it ran. `nimbus deploy examples/go-hello` builds it
// into a bootstrap executable for the provided.al2023 runtime, as `sam build` would.
package main

import (
	"context"
	"fmt"
	"log"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Request is the event: {"name": "Ada", "language": "fr"}.
type Request struct {
	Name     string `json:"name"`
	Language string `json:"language"`
}

// Response is what the function returns.
type Response struct {
	Greeting  string `json:"greeting"`
	Language  string `json:"language"`
	Function  string `json:"function"`
	MemoryMB  int    `json:"memory_mb"`
	RequestID string `json:"request_id"`
}

var greetings = map[string]string{
	"en": "Hello, %s!",
	"fr": "Bonjour, %s !",
	"de": "Hallo, %s!",
	"es": "¡Hola, %s!",
	"it": "Ciao, %s!",
	"ja": "こんにちは、%sさん！",
}

func handle(ctx context.Context, req Request) (Response, error) {
	lang := strings.ToLower(req.Language)
	if lang == "" {
		lang = "en"
	}
	format, ok := greetings[lang]
	if !ok {
		known := make([]string, 0, len(greetings))
		for k := range greetings {
			known = append(known, k)
		}
		sort.Strings(known)
		return Response{}, fmt.Errorf("no greeting in %q; try one of %s", req.Language, strings.Join(known, ", "))
	}
	name := req.Name
	if name == "" {
		name = "world"
	}
	resp := Response{
		Greeting: fmt.Sprintf(format, name),
		Language: lang,
		Function: lambdacontext.FunctionName,
		MemoryMB: lambdacontext.MemoryLimitInMB,
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		resp.RequestID = lc.AwsRequestID
	}
	log.Printf("greeted %s in %s", name, lang)
	return resp, nil
}

func main() {
	lambda.Start(handle)
}
