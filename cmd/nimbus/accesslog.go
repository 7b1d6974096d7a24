package main

import (
	"log/slog"
	"net/http"
	"time"
)

// accessLog logs each request once it is answered: one structured line at INFO (ERROR for a
// 5xx) with the method, path, status and time taken, the operation of a CloudWatch Logs call,
// and what went wrong: Lambda's error type (X-Amzn-ErrorType) for a refused request, the
// function's error (X-Amz-Function-Error: Unhandled or Handled) for an invocation that failed.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		attrs := make([]slog.Attr, 0, 8)
		attrs = append(attrs, slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", time.Since(start).Round(time.Microsecond)))
		if t := r.Header.Get("X-Amz-Target"); t != "" {
			attrs = append(attrs, slog.String("target", t))
		}
		h := w.Header()
		if e := h.Get("X-Amzn-ErrorType"); e != "" {
			attrs = append(attrs, slog.String("error", e))
		}
		if e := h.Get("X-Amz-Function-Error"); e != "" {
			attrs = append(attrs, slog.String("function_error", e))
		}
		if id := h.Get("X-Amzn-RequestId"); id != "" {
			attrs = append(attrs, slog.String("request_id", id))
		}
		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelError
		}
		log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (deadlines, flushing).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush passes flushes through for handlers that stream.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
