package auth_test

import (
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/nimbusfaas/nimbus/internal/auth"
)

// The server hands out GetFunction's Code.Location as a URL presigned with its own key, and
// verifies it like any other request when the client fetches it.
func ExamplePresign() {
	key := auth.Key{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	signedAt := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	u, err := auth.Presign("GET", "http://127.0.0.1:9000/2015-03-31/functions/f/code", key, "us-east-1", "lambda", signedAt, 10*time.Minute)
	if err != nil {
		panic(err)
	}
	fmt.Println(u)

	v, err := auth.NewVerifier(auth.Config{
		Credentials: auth.NewCredentials(key),
		Now:         func() time.Time { return signedAt.Add(time.Minute) },
	})
	if err != nil {
		panic(err)
	}
	id, err := v.Verify(httptest.NewRequest("GET", u, nil), auth.EmptyPayloadSHA256)
	fmt.Println(id.AccessKeyID, id.Presigned, err)
	// Output:
	// http://127.0.0.1:9000/2015-03-31/functions/f/code?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260314%2Fus-east-1%2Flambda%2Faws4_request&X-Amz-Date=20260314T150926Z&X-Amz-Expires=600&X-Amz-SignedHeaders=host&X-Amz-Signature=aa3af2e20e60fa46e31d05a02cccdf1c1ad038eb21357fabf4d4b945415de68c
	// AKIAIOSFODNN7EXAMPLE true <nil>
}
