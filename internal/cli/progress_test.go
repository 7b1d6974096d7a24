package cli

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProgressClient(t *testing.T) {
	var received int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		received = len(b)
	}))
	defer srv.Close()
	var out strings.Builder
	c := progressClient{base: srv.Client(), out: &out, label: "uploading fn"}

	body := bytes.Repeat([]byte("x"), 3<<20)
	req, _ := http.NewRequest("POST", srv.URL, bytes.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if received != len(body) {
		t.Errorf("server received %d bytes, want %d", received, len(body))
	}
	got := out.String()
	if !strings.HasPrefix(got, "\ruploading fn  [") || !strings.HasSuffix(got, "3.0/3.0 MB  100%\n") {
		t.Errorf("progress output = %q", got)
	}

	// Small requests draw nothing.
	out.Reset()
	req, _ = http.NewRequest("POST", srv.URL, strings.NewReader("{}"))
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if out.Len() != 0 {
		t.Errorf("progress for a small request: %q", out.String())
	}
}
