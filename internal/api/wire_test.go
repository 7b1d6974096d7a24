package api

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbusfaas/nimbus/internal/codezip"
	"github.com/nimbusfaas/nimbus/internal/invoker"
	"github.com/nimbusfaas/nimbus/internal/lambda"
	"github.com/nimbusfaas/nimbus/internal/natsd"
	"github.com/nimbusfaas/nimbus/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

type fixedRuntimes []string

func (r fixedRuntimes) Names() []string { return r }

// newWireServer is the API on a real embedded JetStream store, without authentication (the
// end-to-end tests in cmd/nimbus cover SigV4).
func newWireServer(t *testing.T) *httptest.Server {
	t.Helper()
	nc, err := natsd.Start(context.Background(), natsd.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	st, err := store.Open(context.Background(), nc.JetStream(), store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := New(Config{
		Catalog: st, Functions: st.Catalog(), Runtimes: fixedRuntimes{"python3.11"},
		PrepareCode: func(ctx context.Context, zip []byte) error {
			_, err := codezip.Validate(ctx, zip, codezip.Limits{})
			return err
		},
		Location: lambda.Location{Region: "us-east-1", AccountID: "000000000000"},
		// A node whose only environment is reserved by some other function: every invocation
		// of f is refused, before anything would be launched.
		Invoker: invoker.New(invoker.Config{MaxEnvironments: 1, Reserved: func() int { return 1 }}),
	})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

// TestErrorWireShapes checks Lambda's error contract byte for byte: status, X-Amzn-ErrorType,
// and a JSON body whose message member is cased as the model has it (the Go SDK's typed
// errors match the casing exactly).
func TestErrorWireShapes(t *testing.T) {
	srv := newWireServer(t)
	create := `{"FunctionName":"f","Runtime":"python3.11","Role":"arn:aws:iam::000000000000:role/r","Handler":"a.b","Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}`
	if resp := do(t, srv, "POST", "/2015-03-31/functions", create); resp.StatusCode != 201 {
		t.Fatalf("CreateFunction = %d", resp.StatusCode)
	}
	tests := []struct {
		name, method, path, body string
	}{
		{"not_found", "GET", "/2015-03-31/functions/nope", ""},
		{"conflict", "POST", "/2015-03-31/functions", create},
		{"invalid_parameter", "POST", "/2015-03-31/functions", strings.Replace(create, "python3.11", "cobol", 1)},
		{"validation", "GET", "/2015-03-31/functions/bad!name", ""},
		{"qualifier_mismatch", "GET", "/2015-03-31/functions/f:a?Qualifier=b", ""},
		{"precondition", "PUT", "/2015-03-31/functions/f/configuration", `{"RevisionId":"stale"}`},
		{"invalid_content", "POST", "/2015-03-31/functions/f/invocations", "not json"},
		{"throttled", "POST", "/2015-03-31/functions/f/invocations", "{}"},
		{"unknown_operation", "GET", "/2099-01-01/nothing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The function activates in the background; invocations need it Active.
			if strings.Contains(tt.path, "invocations") {
				waitActive(t, srv)
			}
			resp := do(t, srv, tt.method, tt.path, tt.body)
			body, _ := io.ReadAll(resp.Body)
			got := resp.Status + "\nX-Amzn-ErrorType: " + resp.Header.Get("X-Amzn-ErrorType") + "\n" + indent(t, body)
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s %s =\n%s\nwant\n%s", tt.method, tt.path, got, want)
			}
		})
	}
}

func do(t *testing.T, srv *httptest.Server, method, path, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func waitActive(t *testing.T, srv *httptest.Server) {
	t.Helper()
	for i := 0; i < 500; i++ {
		resp := do(t, srv, "GET", "/2015-03-31/functions/f/configuration", "")
		var c struct{ State string }
		json.NewDecoder(resp.Body).Decode(&c)
		if c.State == lambda.StateActive {
			return
		}
	}
	t.Fatal("function never became Active")
}

func indent(t *testing.T, body []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		return string(body)
	}
	return out.String() + "\n"
}

// TestRefusedBeforeTheSandbox sends inputs that a process cannot be started with (a NUL in the
// handler or in an environment variable) and members of the wrong JSON type: each is refused
// with Lambda's error, and no message names a Go type.
func TestRefusedBeforeTheSandbox(t *testing.T) {
	srv := newWireServer(t)
	const zip = `"Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}`
	create := func(members string) string {
		return `{"FunctionName":"f","Runtime":"python3.11","Role":"arn:aws:iam::000000000000:role/r",` + zip + `,` + members + `}`
	}
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantCode, wantMsg        string
	}{
		{"NUL in handler", "POST", "/2015-03-31/functions", create(`"Handler":"a.b\u0000c"`),
			400, "ValidationException", `at 'handler' failed to satisfy constraint: Member must satisfy regular expression pattern: [^\s]+`},
		{"NUL in env value", "POST", "/2015-03-31/functions", create(`"Handler":"a.b","Environment":{"Variables":{"OK":"x","BAD":"a\u0000b"}}`),
			400, "InvalidParameterValueException", "contain a NUL character, which an environment variable cannot hold. Keys whose values contain one: BAD"},
		{"NUL in env key", "POST", "/2015-03-31/functions", create(`"Handler":"a.b","Environment":{"Variables":{"B\u0000D":"x"}}`),
			400, "ValidationException", "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+"},
		{"string for an integer", "POST", "/2015-03-31/functions", create(`"Handler":"a.b","Timeout":"5"`),
			400, "SerializationException", "STRING_VALUE can not be converted to an Integer"},
		{"number for a string", "POST", "/2015-03-31/functions", create(`"Handler":5`),
			400, "SerializationException", "NUMBER_VALUE can not be converted to a String"},
		{"boolean for a string", "POST", "/2015-03-31/functions", create(`"Handler":true`),
			400, "SerializationException", "TRUE_VALUE can not be converted to a String"},
		{"string for a boolean", "POST", "/2015-03-31/functions", create(`"Handler":"a.b","Publish":"yes"`),
			400, "SerializationException", "STRING_VALUE can not be converted to a Boolean"},
		{"list for a map", "POST", "/2015-03-31/functions", create(`"Handler":"a.b","Environment":{"Variables":[]}`),
			400, "SerializationException", "Start of list found where not expected"},
		{"scalar for a structure", "POST", "/2015-03-31/functions", create(`"Handler":"a.b","Environment":"x"`),
			400, "SerializationException", "Expected null"},
		{"body not an object", "POST", "/2015-03-31/functions", `[1]`,
			400, "SerializationException", "Start of list found where not expected"},
		{"object for a list", "POST", "/2015-03-31/functions", create(`"Handler":"a.b","Architectures":{}`),
			400, "SerializationException", "Start of structure or map found where not expected."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, srv, tt.method, tt.path, tt.body)
			body, _ := io.ReadAll(resp.Body)
			var e map[string]string
			json.Unmarshal(body, &e)
			msg := e["message"] + e["Message"]
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("X-Amzn-ErrorType") != tt.wantCode || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("%s %s = %d %s %s, want %d %s containing %q", tt.method, tt.path, resp.StatusCode,
					resp.Header.Get("X-Amzn-ErrorType"), body, tt.wantStatus, tt.wantCode, tt.wantMsg)
			}
			if strings.Contains(msg, "api.") || strings.Contains(msg, "json:") || strings.Contains(msg, "Go ") {
				t.Errorf("message %q names Go internals", msg)
			}
		})
	}
	// The same checks guard UpdateFunctionConfiguration.
	if resp := do(t, srv, "POST", "/2015-03-31/functions", create(`"Handler":"a.b"`)); resp.StatusCode != 201 {
		t.Fatalf("CreateFunction = %d", resp.StatusCode)
	}
	waitActive(t, srv)
	for body, want := range map[string]string{
		`{"Handler":"a\u0000b"}`:                         "ValidationException",
		`{"Environment":{"Variables":{"KEY":"\u0000"}}}`: "InvalidParameterValueException",
		`{"MemorySize":"128"}`:                           "SerializationException",
	} {
		resp := do(t, srv, "PUT", "/2015-03-31/functions/f/configuration", body)
		if got := resp.Header.Get("X-Amzn-ErrorType"); resp.StatusCode != 400 || got != want {
			t.Errorf("UpdateFunctionConfiguration(%s) = %d %s, want 400 %s", body, resp.StatusCode, got, want)
		}
	}
}
