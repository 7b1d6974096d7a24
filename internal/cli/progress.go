package cli

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// progressThreshold is the request size from which an upload shows a progress bar.
const progressThreshold = 1 << 20

// progressClient sends requests through base and draws the upload of large bodies as a
// progress bar on out.
type progressClient struct {
	base  aws.HTTPClient
	out   io.Writer
	label string
}

func (c progressClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.ContentLength < progressThreshold {
		return c.base.Do(req)
	}
	bar := &progressBar{out: c.out, label: c.label, total: req.ContentLength}
	req.Body = &countingReader{ReadCloser: req.Body, add: bar.add}
	resp, err := c.base.Do(req)
	bar.finish()
	return resp, err
}

type countingReader struct {
	io.ReadCloser
	add func(int)
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.add(n)
	return n, err
}

// progressBar draws "label  [=====>     ]  12.0/40.0 MB  30%" on one line, at most ten times a
// second.
type progressBar struct {
	out   io.Writer
	label string
	total int64

	mu    sync.Mutex
	sent  int64
	drawn time.Time
	done  bool
}

func (b *progressBar) add(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent += int64(n)
	if now := time.Now(); now.Sub(b.drawn) >= 100*time.Millisecond || b.sent >= b.total {
		b.drawn = now
		b.drawLocked()
	}
}

func (b *progressBar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	if !b.drawn.IsZero() {
		b.drawLocked()
		fmt.Fprintln(b.out)
	}
}

func (b *progressBar) drawLocked() {
	const width = 30
	frac := float64(b.sent) / float64(max(b.total, 1))
	frac = min(frac, 1)
	filled := int(frac * width)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	fmt.Fprintf(b.out, "\r%s  [%s]  %5.1f/%.1f MB  %3.0f%%", b.label, bar,
		float64(b.sent)/(1<<20), float64(b.total)/(1<<20), frac*100)
}
