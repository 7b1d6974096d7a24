package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
}

func TestRoute(t *testing.T) {
	h := New(Config{
		FrontDoors: []FrontDoor{{HostInfix: ".lambda-url.", PathPrefix: "/lambda-url/", Handler: named("url")}},
		Paths:      map[string]http.Handler{"/console": named("console")},
		Services: []Service{
			{SigningName: "logs", TargetPrefix: "Logs_20140328.", Handler: named("logs")},
			{SigningName: "sqs", TargetPrefix: "AmazonSQS.", Handler: named("sqs")},
			{SigningName: "lambda", Path: LambdaPath, Handler: named("lambda")},
		},
		Default: named("lambda"),
	})
	sig := func(svc string) string {
		return "AWS4-HMAC-SHA256 Credential=AKID/20261202/us-east-1/" + svc + "/aws4_request, SignedHeaders=host, Signature=00"
	}
	for _, c := range []struct {
		host, path, auth, target, want string
	}{
		{"abc.lambda-url.us-east-1.localhost:9320", "/anything", "", "", "url"},
		{"127.0.0.1:9320", "/lambda-url/abc/x", "", "", "url"},
		{"127.0.0.1:9320", "/console", "", "", "console"},
		{"127.0.0.1:9320", "/console/app.js", "", "", "console"},
		{"127.0.0.1:9320", "/consoleish", "", "", "lambda"},
		{"127.0.0.1:9320", "/", sig("sqs"), "", "sqs"},
		{"127.0.0.1:9320", "/", sig("logs"), "Logs_20140328.FilterLogEvents", "logs"},
		{"127.0.0.1:9320", "/", "", "AmazonSQS.SendMessage", "sqs"},
		{"127.0.0.1:9320", "/2015-03-31/functions", sig("lambda"), "", "lambda"},
		{"127.0.0.1:9320", "/2015-03-31/functions", sig("unknown"), "", "lambda"},
		{"127.0.0.1:9320", "/2015-03-31/functions", "", "", "lambda"},
		// The path and the target say which service is addressed; that service refuses a
		// signature scoped to another.
		{"127.0.0.1:9320", "/2015-03-31/functions", sig("logs"), "", "lambda"},
		{"127.0.0.1:9320", "/", sig("lambda"), "Logs_20140328.FilterLogEvents", "logs"},
		{"127.0.0.1:9320", "/000000000000/q", sig("sqs"), "", "sqs"},
		{"127.0.0.1:9320", "/", sig("logs"), "", "logs"},
	} {
		r := httptest.NewRequest("POST", "http://"+c.host+c.path, nil)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		if c.target != "" {
			r.Header.Set("X-Amz-Target", c.target)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Body.String(); got != c.want {
			t.Errorf("%s%s auth=%q target=%q went to %s, want %s", c.host, c.path, c.auth, c.target, got, c.want)
		}
	}
}

func TestLambdaPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/2015-03-31/functions":                       true,
		"/2019-09-25/functions/f/event-invoke-config": true,
		"/2014-11-13/functions/f/invoke-async/":       true,
		"/2015-03-31":                                 false,
		"/201503-31/functions":                        false,
		"/200000000000/queue":                         false,
		"/":                                           false,
		"/x015-03-31/functions":                       false,
	} {
		if got := LambdaPath(path); got != want {
			t.Errorf("LambdaPath(%q) = %v, want %v", path, got, want)
		}
	}
}
