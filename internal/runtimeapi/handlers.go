package runtimeapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Header names of the Runtime API.
const (
	headerErrorType    = "Lambda-Runtime-Function-Error-Type"
	trailerErrorBody   = "Lambda-Runtime-Function-Error-Body"
	headerResponseMode = "Lambda-Runtime-Function-Response-Mode"
)

var (
	contentTypeJSON = []string{"application/json"}
	acceptedBody    = []byte(`{"status":"OK"}`)
)

// Error types and messages of the Runtime API itself (RIE rapi/rendering).
const (
	errInvalidStateTransition = "InvalidStateTransition"
	errInvalidRequestID       = "InvalidRequestID"
	errRequestTooLarge        = "RequestEntityTooLarge"
	errTruncatedRequest       = "TruncatedHTTPRequest"
	errInvalidResponseMode    = "InvalidFunctionResponseMode"
	// The RIE formats state errors this way; clients log the message, so keep it.
	stateTransitionFormat = "State transition from %s to %s failed for runtime. Error: State transition is not allowed"
)

func (e *Endpoint) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", e.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", e.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", e.invocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", e.initError)
	// The RIE keeps /ping "to respect Hyrum's Law"; so do we.
	mux.HandleFunc("GET /2018-06-01/ping", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("pong"))
	})
	mux.HandleFunc("POST /2020-01-01/extension/register", e.registerExtension)
	mux.HandleFunc("GET /2020-01-01/extension/event/next", e.nextExtensionEvent)
	return mux
}

// next parks the runtime's long poll until Invoke hands it an invocation. The first call ends
// the Init phase.
func (e *Endpoint) next(w http.ResponseWriter, r *http.Request) {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	e.mu.Lock()
	switch e.state {
	case stateStarted:
		e.state = stateReady
		close(e.initDone)
	case stateResponseSent, stateReady:
		// A second /next while one is parked (the runtime reconnected) replaces it.
		e.state = stateReady
	default:
		from := e.state
		e.mu.Unlock()
		e.refuseState(w, from, stateReady)
		return
	}
	if e.nextAsked != nil {
		close(e.nextAsked)
		e.nextAsked = nil
	}
	if c := e.pending; c != nil {
		e.pending = nil
		e.current = c
		e.state = stateRunning
		c.delivering.Add(1)
		e.mu.Unlock()
		e.deliver(w, cs, c)
		return
	}
	if old := e.waiter; old != nil {
		old.wake <- nil
	}
	e.waiter = cs
	e.mu.Unlock()

	select {
	case c := <-cs.wake:
		if c == nil {
			// Superseded or closed; the runtime learns it from the status.
			writeError(w, http.StatusForbidden, errInvalidStateTransition, "Invocation request superseded")
			return
		}
		e.deliver(w, cs, c)
	case <-r.Context().Done():
		e.mu.Lock()
		if e.waiter == cs {
			e.waiter = nil
		} else if c := <-cs.wake; c != nil && e.current == c && e.state == stateRunning {
			// Invoke handed us an invocation as the connection died: give it back so the
			// runtime's next /next gets it.
			e.current = nil
			e.pending = c
			e.state = stateReady
			c.delivering.Done()
		} else if c != nil {
			c.delivering.Done()
		}
		e.mu.Unlock()
	}
}

func (e *Endpoint) deliver(w http.ResponseWriter, cs *connState, c *call) {
	defer c.delivering.Done()
	cs.headers(w.Header(), &c.inv, e.cfg.FunctionARN)
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(c.inv.Payload); err != nil {
		e.log.Debug("runtime api: writing invocation", "request_id", c.inv.RequestID, "err", err)
	}
}

// claim moves the state machine for a post about request id: it returns the current call, or
// answers the runtime with Lambda's error and returns nil.
func (e *Endpoint) claim(w http.ResponseWriter, r *http.Request, to runtimeState) *call {
	id := r.PathValue("id")
	e.mu.Lock()
	if e.state != stateRunning || e.current == nil {
		from := e.state
		e.mu.Unlock()
		e.refuseState(w, from, to)
		return nil
	}
	c := e.current
	if c.inv.RequestID != id {
		e.mu.Unlock()
		e.log.Debug("runtime api: post for unknown request id", "request_id", id)
		writeError(w, http.StatusBadRequest, errInvalidRequestID, "Invalid request ID")
		return nil
	}
	e.state = to
	e.mu.Unlock()
	return c
}

// complete records the answer to c, unless the endpoint moved on meanwhile.
func (e *Endpoint) complete(c *call, resp Response, err error) {
	// A runtime can answer before the end of the /next write only by guessing ahead; make it
	// wait, so that Invoke never returns while the payload is still being written.
	c.delivering.Wait()
	e.mu.Lock()
	if e.current == c && (e.state == stateInvocationResponse || e.state == stateInvocationErrorResponse) {
		e.state = stateResponseSent
		e.finishLocked(c, resp, err)
	}
	e.mu.Unlock()
}

func (e *Endpoint) response(w http.ResponseWriter, r *http.Request) {
	c := e.claim(w, r, stateInvocationResponse)
	if c == nil {
		return
	}
	if mode := r.Header.Get(headerResponseMode); mode != "" && mode != "streaming" {
		// Streaming responses are buffered like any other; other modes are refused as the RIE does.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, int64(e.cfg.MaxResponseBytes)))
		e.complete(c, Response{
			FunctionError: true,
			ErrorType:     "Runtime.InvalidResponseModeHeader",
			Payload:       errorDocument("Runtime.InvalidResponseModeHeader", "Invalid function response mode header: "+mode),
		}, nil)
		writeError(w, http.StatusBadRequest, errInvalidResponseMode, "Invalid function response mode")
		return
	}
	body, ok := e.readPosted(w, r, c)
	if !ok {
		return
	}
	resp := Response{Payload: body, ContentType: r.Header.Get("Content-Type")}
	// aws-lambda-go reports a failing io.Reader response in trailers, after a partial body.
	if typ := r.Trailer.Get(headerErrorType); typ != "" {
		resp = Response{FunctionError: true, ErrorType: typ, ContentType: "application/json"}
		if doc, err := base64.StdEncoding.DecodeString(r.Trailer.Get(trailerErrorBody)); err == nil && len(doc) > 0 {
			resp.Payload = doc
		} else {
			resp.Payload = errorDocument(typ, "")
		}
	}
	e.complete(c, resp, nil)
	writeAccepted(w)
}

// readPosted reads the body of a /response or /error post for c. When the body is too large
// or broken off, it completes c with Lambda's answer for that, refuses the post and reports
// false.
func (e *Endpoint) readPosted(w http.ResponseWriter, r *http.Request, c *call) ([]byte, bool) {
	body, tooLarge, err := e.readBody(r)
	switch {
	case tooLarge:
		e.complete(c, Response{FunctionError: true, ErrorType: "Function.ResponseSizeTooLarge", Payload: e.tooLarge}, nil)
		e.refuseTooLarge(w, r)
		return nil, false
	case err != nil:
		e.complete(c, Response{}, fmt.Errorf("request %s: %w: %v", c.inv.RequestID, ErrTruncatedResponse, err))
		writeError(w, http.StatusBadRequest, errTruncatedRequest, "HTTP request detected as truncated")
		return nil, false
	}
	return body, true
}

func (e *Endpoint) invocationError(w http.ResponseWriter, r *http.Request) {
	c := e.claim(w, r, stateInvocationErrorResponse)
	if c == nil {
		return
	}
	body, ok := e.readPosted(w, r, c)
	if !ok {
		return
	}
	typ, body := errorTypeAndDocument(r, body)
	e.complete(c, Response{FunctionError: true, ErrorType: typ, Payload: body, ContentType: r.Header.Get("Content-Type")}, nil)
	writeAccepted(w)
}

func (e *Endpoint) initError(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	if e.state != stateStarted {
		from := e.state
		e.mu.Unlock()
		e.refuseState(w, from, stateInitError)
		return
	}
	// Block a second init/error while this one reads its body.
	e.state = stateInitError
	e.mu.Unlock()

	body, tooLarge, err := e.readBody(r)
	if tooLarge {
		body = e.tooLarge
	} else if err != nil {
		body = nil
	}
	typ, body := errorTypeAndDocument(r, body)
	ie := &InitError{ErrorType: typ, ErrorMessage: errorMessageOf(body), Body: body}

	e.mu.Lock()
	if e.state != stateInitError { // closed meanwhile
		e.mu.Unlock()
		return
	}
	e.initErr = ie
	close(e.initDone)
	if c := e.pending; c != nil {
		e.pending = nil
		e.finishLocked(c, Response{}, ie)
	}
	e.mu.Unlock()
	writeAccepted(w)
}

// readBody reads a posted body whole, trailers included. tooLarge reports a body over the
// limit, of which only a bounded part is read.
func (e *Endpoint) readBody(r *http.Request) (body []byte, tooLarge bool, err error) {
	limit := int64(e.cfg.MaxResponseBytes)
	if r.ContentLength > limit {
		return nil, true, nil
	}
	if r.ContentLength >= 0 {
		body = make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, false, err
		}
		return body, false, nil
	}
	// Chunked: read through the connection's buffer, then hand out an exact copy.
	buf := &bytes.Buffer{}
	if cs, ok := r.Context().Value(connKey{}).(*connState); ok {
		buf = &cs.body
		defer func() {
			buf.Reset()
			if buf.Cap() > 1<<20 {
				*buf = bytes.Buffer{} // don't hold on to a large response
			}
		}()
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, false, err
	}
	if n > limit {
		return nil, true, nil
	}
	return bytes.Clone(buf.Bytes()), false, nil
}

// refuseTooLarge answers 413 after draining a bounded part of the body, so that a client that
// writes its whole body before reading the answer sees the 413 rather than a reset.
func (e *Endpoint) refuseTooLarge(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, int64(e.cfg.MaxResponseBytes)))
	writeError(w, http.StatusRequestEntityTooLarge, errRequestTooLarge,
		fmt.Sprintf("Exceeded maximum allowed payload size (%d bytes).", e.cfg.MaxResponseBytes))
}

func (e *Endpoint) refuseState(w http.ResponseWriter, from, to runtimeState) {
	e.log.Debug("runtime api: invalid state transition", "from", from.String(), "to", to.String())
	writeError(w, http.StatusForbidden, errInvalidStateTransition, fmt.Sprintf(stateTransitionFormat, from, to))
}

// errorTypeAndDocument picks the error type of an /error or /init/error post: the header, else
// the document's errorType. An empty body becomes a document built from the header, as
// Lambda does.
func errorTypeAndDocument(r *http.Request, body []byte) (string, []byte) {
	typ := r.Header.Get(headerErrorType)
	if typ == "" {
		typ = r.Trailer.Get(headerErrorType)
	}
	if len(body) == 0 {
		t := typ
		if t == "" {
			t = "Runtime.Unknown"
		}
		return typ, errorDocument(t, "")
	}
	if typ == "" {
		var doc struct {
			ErrorType string `json:"errorType"`
		}
		if json.Unmarshal(body, &doc) == nil {
			typ = doc.ErrorType
		}
	}
	return typ, body
}

func errorMessageOf(body []byte) string {
	var doc struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	return doc.ErrorMessage
}

// errorDocument renders Lambda's {"errorMessage","errorType"} document.
func errorDocument(errorType, message string) []byte {
	b, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{message, errorType})
	return b
}

func writeError(w http.ResponseWriter, status int, errorType, message string) {
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(status)
	_, _ = w.Write(errorDocument(errorType, message))
}

func writeAccepted(w http.ResponseWriter) {
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Date"] = nil
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(acceptedBody)
}

// InitError is the error a runtime reported to /runtime/init/error.
type InitError struct {
	// ErrorType is the Lambda-Runtime-Function-Error-Type header, else the document's
	// errorType (e.g. Runtime.ImportModuleError).
	ErrorType    string
	ErrorMessage string
	// Body is the error document as posted; Lambda returns it to the caller.
	Body []byte
}

func (e *InitError) Error() string {
	if e.ErrorMessage == "" {
		return "runtime init error " + e.ErrorType
	}
	return "runtime init error " + e.ErrorType + ": " + e.ErrorMessage
}

// Interface guards.
var _ error = (*InitError)(nil)
