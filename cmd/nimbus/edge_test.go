package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
)

// rawConn dials the server for requests written by hand.
func rawConn(t *testing.T, s *testServer) net.Conn {
	t.Helper()
	u, err := url.Parse(s.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readResponse reads one response from c, giving up after a while: a server that never
// answers fails the test instead of hanging it.
func readResponse(t *testing.T, c net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// closedByServer reports whether the server closes c within a while: reads reach EOF, or a
// reset when it closed with unread data (the body it did not want).
func closedByServer(c net.Conn, br *bufio.Reader) bool {
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, br)
	var ne net.Error
	return !errors.As(err, &ne) || !ne.Timeout()
}

// signedRequest is a request signed for the server's admin key with the AWS SDK's signer, its
// payload hash that of body, as the SDK sends Lambda requests (no X-Amz-Content-Sha256).
func signedRequest(t *testing.T, s *testServer, method, path string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, s.endpoint+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: s.key.AccessKeyID, SecretAccessKey: s.key.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "lambda", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

// writeHead writes req's request line and headers, and no body.
func writeHead(t *testing.T, c net.Conn, req *http.Request) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", req.Method, req.URL.RequestURI(), req.Host, req.ContentLength)
	req.Header.Write(&b)
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
}

// TestUnauthenticatedBodiesAreNotRead is issue 9's memory exhaustion: an unsigned 100 MB
// CreateFunction was buffered before its 403. It is refused from its headers, before any of
// its body arrives, and its connection is closed rather than drained.
func TestUnauthenticatedBodiesAreNotRead(t *testing.T) {
	s := startServer(t, "")
	for _, tc := range []struct{ name, path, extra, auth, wantCode string }{
		{"unsigned", "/2015-03-31/functions", "", "", "MissingAuthenticationTokenException"},
		{"unknown key", "/2015-03-31/functions", "", "AWS4-HMAC-SHA256 Credential=AKIANOBODY/" + time.Now().UTC().Format("20060102") +
			"/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "UnrecognizedClientException"},
		{"unsigned logs", "/", "X-Amz-Target: Logs_20140328.FilterLogEvents\r\n", "", "MissingAuthenticationTokenException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawConn(t, s)
			head := "POST " + tc.path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\nX-Amz-Date: " +
				time.Now().UTC().Format("20060102T150405Z") + "\r\n" + tc.extra
			if tc.auth != "" {
				head += "Authorization: " + tc.auth + "\r\n"
			}
			// The headers and a first bit of the body; the rest never comes.
			if _, err := io.WriteString(c, head+"\r\n"+strings.Repeat("x", 4096)); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp := readResponse(t, c, br)
			if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != tc.wantCode {
				t.Fatalf("%s 100 MB POST = %d %s, want 403 %s", tc.name, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), tc.wantCode)
			}
			if !closedByServer(c, br) {
				t.Fatal("the server kept the refused request's connection open")
			}
		})
	}
	// A body far larger than the operation takes is refused before it is read, too.
	c := rawConn(t, s)
	req := signedRequest(t, s, "POST", "/2015-03-31/functions/f/invocations", nil)
	req.ContentLength = 100 << 20
	writeHead(t, c, req)
	br := bufio.NewReader(c)
	if resp := readResponse(t, c, br); resp.StatusCode != 413 || resp.Header.Get("X-Amzn-ErrorType") != "RequestEntityTooLargeException" {
		t.Fatalf("signed 100 MB Invoke = %d %s, want 413 RequestEntityTooLargeException", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	if !closedByServer(c, br) {
		t.Fatal("the server kept the connection of a 100 MB Invoke open")
	}
}

// TestSlowAndIdleClientsAreCutOff is issue 9's connection hoarding: trickled bodies and idle
// keep-alive connections were held forever. Bodies have a deadline, idle connections a
// timeout, and connections a bound; a long Invoke is not cut off.
func TestSlowAndIdleClientsAreCutOff(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "", "--max-connections", "6", "--idle-timeout", "2s", "--body-timeout", "1s")
	c := s.client()
	ctx := context.Background()

	// A signed request whose body stops arriving is answered and closed at its deadline.
	conn := rawConn(t, s)
	body := []byte(`{"FunctionName":"slow","Runtime":"python3.12"}`)
	writeHead(t, conn, signedRequest(t, s, "POST", "/2015-03-31/functions", body))
	io.WriteString(conn, string(body[:10]))
	br := bufio.NewReader(conn)
	if resp := readResponse(t, conn, br); resp.StatusCode != 400 {
		t.Errorf("stalled body = %d %s, want 400", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	if !closedByServer(conn, br) {
		t.Error("the server kept a stalled body's connection open")
	}

	// Keep-alive connections that go idle take every slot, then are closed: others get in.
	idle := make([]net.Conn, 6)
	readers := make([]*bufio.Reader, 6)
	for i := range idle {
		idle[i] = rawConn(t, s)
		req := signedRequest(t, s, "GET", "/2015-03-31/functions", nil)
		writeHead(t, idle[i], req)
		readers[i] = bufio.NewReader(idle[i])
		if resp := readResponse(t, idle[i], readers[i]); resp.StatusCode != 200 {
			t.Fatalf("ListFunctions on a raw connection = %d", resp.StatusCode)
		}
	}
	if _, err := c.ListFunctions(ctx, &lambdasdk.ListFunctionsInput{}); err != nil {
		t.Errorf("ListFunctions while idle connections fill the bound = %v", err)
	}
	for i := range idle {
		if !closedByServer(idle[i], readers[i]) {
			t.Errorf("idle connection %d was not closed", i)
		}
	}

	// An invocation longer than the idle and body timeouts runs to its end.
	create(t, c, &lambdasdk.CreateFunctionInput{FunctionName: aws.String("sleeper"), Runtime: pythonRuntime(t),
		Handler: aws.String("lambda_function.handler"), Timeout: aws.Int32(30),
		Code: codeOf(zipOf(t, map[string]string{"lambda_function.py": "import time\ndef handler(e, c):\n    time.sleep(5)\n    return 'rested'\n"}))})
	// A followed log stream polls across the idle timeout for as long as it runs.
	_, lines, stderr := s.follow("sleeper")
	for i := range 2 {
		if out := invoke(t, c, "sleeper", `{}`); out.FunctionError != nil || string(out.Payload) != `"rested"` {
			t.Errorf("5 s invocation = %s %s", aws.ToString(out.FunctionError), out.Payload)
		}
		timeout := time.After(30 * time.Second)
		for report := false; !report; {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("logs --follow ended after %d invocations; stderr: %s", i, stderr.String())
				}
				report = strings.Contains(line, "REPORT RequestId")
			case <-timeout:
				t.Fatalf("logs --follow printed no REPORT for invocation %d; stderr: %s", i+1, stderr.String())
			}
		}
	}
}
