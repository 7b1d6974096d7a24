package httplimit

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// BodyDeadline makes a request's body arrive in time: base, plus one second for every
// minRate bytes it declares (or for maxBody bytes when it is chunked). A client that trickles
// its body, or stops sending it, is cut off at the deadline. Once the body has been read to
// its end the deadline is lifted, so that the handler may take as long as it needs and the
// server notices a client that goes away (a slow Invoke, a followed log stream). Requests
// without a body get no read deadline here: the server's header and idle timeouts cover them.
func BodyDeadline(h http.Handler, base time.Duration, minRate, maxBody int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		size := r.ContentLength
		if size < 0 || size > maxBody {
			size = maxBody
		}
		rc := http.NewResponseController(w)
		// Not every ResponseWriter can (an HTTP/2 stream, a test recorder): then the server's
		// own timeouts are all there is.
		if err := rc.SetReadDeadline(time.Now().Add(base + time.Duration(size/minRate)*time.Second)); err != nil {
			h.ServeHTTP(w, r)
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { rc.SetReadDeadline(time.Time{}) }}
		h.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline when the body has been read to its end.
type deadlineBody struct {
	io.ReadCloser
	once sync.Once
	lift func()
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(b.lift)
	}
	return n, err
}
