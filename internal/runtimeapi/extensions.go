package runtimeapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
)

// The Extensions API is kept to what in-process extensions use: registering for no events,
// which tells Lambda to send SIGTERM before SIGKILL (aws-lambda-go's WithEnableSIGTERM), and
// an event/next that blocks until the environment ends. Lifecycle events are not delivered.

const (
	headerExtensionName       = "Lambda-Extension-Name"
	headerExtensionIdentifier = "Lambda-Extension-Identifier"
)

func (e *Endpoint) registerExtension(w http.ResponseWriter, r *http.Request) {
	name := r.Header.Get(headerExtensionName)
	if name == "" {
		writeError(w, http.StatusForbidden, "Extension.InvalidExtensionName", "Empty extension name")
		return
	}
	var req struct {
		Events []string `json:"events"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		writeError(w, http.StatusForbidden, "InvalidRequestFormat", err.Error())
		return
	}
	if len(req.Events) > 0 {
		// Internal extensions may not take SHUTDOWN on Lambda; INVOKE would need the
		// invocation to wait for the extension, which this endpoint does not do.
		writeError(w, http.StatusForbidden, "Extension.InvalidEventType", req.Events[0]+": event not supported")
		return
	}
	id := newUUID()
	e.mu.Lock()
	if e.state != stateStarted {
		e.mu.Unlock()
		writeError(w, http.StatusForbidden, "Extension.RegistrationClosed", "Extension registration closed already")
		return
	}
	for _, n := range e.extensions {
		if n == name {
			e.mu.Unlock()
			writeError(w, http.StatusForbidden, "Extension.InvalidExtensionState", "Extension with this name already registered")
			return
		}
	}
	e.extensions[id] = name
	e.mu.Unlock()

	doc, _ := json.Marshal(struct {
		FunctionName    string `json:"functionName"`
		FunctionVersion string `json:"functionVersion"`
		Handler         string `json:"handler"`
	}{e.cfg.FunctionName, e.cfg.FunctionVersion, e.cfg.Handler})
	w.Header().Set(headerExtensionIdentifier, id)
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
}

func (e *Endpoint) nextExtensionEvent(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(headerExtensionIdentifier)
	if id == "" {
		writeError(w, http.StatusForbidden, "Extension.MissingExtensionIdentifier", "Missing Lambda-Extension-Identifier header")
		return
	}
	e.mu.Lock()
	_, ok := e.extensions[id]
	e.mu.Unlock()
	if !ok {
		writeError(w, http.StatusForbidden, "Extension.InvalidExtensionIdentifier", "Invalid Lambda-Extension-Identifier")
		return
	}
	// Registered for no events: nothing ever arrives before the environment ends.
	select {
	case <-e.closed:
	case <-r.Context().Done():
	}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
