package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/storage"
)

// apiError is an error with a stable code, an HTTP status for REST, and a
// message for people.
type apiError struct {
	Status  int
	Code    string
	Message string
	Retry   time.Duration // rate_limited: when the next one is allowed
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

var errShuttingDown = errorf(http.StatusServiceUnavailable, protocol.CodeShuttingDown, "the server is shutting down")

// asAPIError maps any error to an apiError without leaking internals.
func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, storage.ErrNotFound) {
		return errorf(http.StatusNotFound, protocol.CodeNotFound, "not found")
	}
	if errors.Is(err, context.Canceled) {
		return errShuttingDown // a load that Close ended: retry elsewhere or later
	}
	var re *contract.Error
	if errors.As(err, &re) {
		return errorf(http.StatusUnprocessableEntity, re.Code, "%s", re.Message)
	}
	return errorf(http.StatusInternalServerError, protocol.CodeInternal, "internal error")
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		RetryMs int64  `json:"retry_ms,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	var body errorBody
	body.Error.Code = e.Code
	body.Error.Message = e.Message
	if e.Retry > 0 {
		body.Error.RetryMs = max(1, e.Retry.Milliseconds())
		w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64(math.Ceil(e.Retry.Seconds()))), 10))
	}
	writeJSON(w, e.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"encoding the response failed"}}`)
	}
	if (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte("\n"))
}

var errStorage = errorf(http.StatusServiceUnavailable, protocol.CodeStorage, "the database failed; retry later")

// storageFault is the last storage failure, until a write succeeds.
type storageFault struct {
	Op    string    `json:"op"`
	Key   string    `json:"key,omitempty"`
	Error string    `json:"error"`
	Since time.Time `json:"since"`
}

// storageFailed logs a failed storage operation with its key, and marks the
// server degraded (/healthz answers 503) until a write succeeds.
func (s *Server) storageFailed(op string, id roomID, err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The caller went away (a closed request): not the database's fault.
		s.log.Debug("storage operation abandoned", "op", op, "ns", id.ns, "key", id.key, "err", err)
		return
	}
	s.log.Error("storage failed", "op", op, "ns", id.ns, "key", id.key, "err", err)
	f := &storageFault{Op: op, Key: id.key, Error: err.Error(), Since: time.Now().UTC()}
	if old := s.fault.Load(); old != nil {
		f.Since = old.Since
	}
	s.fault.Store(f)
}

// storageReadOK clears the degraded mark after a successful read probe,
// unless the failure was a write's: only a write proves writes work again.
func (s *Server) storageReadOK() {
	if f := s.fault.Load(); f != nil && !writeOps[f.Op] {
		s.fault.CompareAndSwap(f, nil)
	}
}

// writeOps are the storage operations that write.
var writeOps = map[string]bool{"append": true, "create key": true, "delete key": true, "claim client id": true}

// storageOK clears the degraded mark after a successful write.
func (s *Server) storageOK() {
	if s.fault.Load() != nil {
		s.fault.Store(nil)
	}
}

// storageAPIError logs err (unless it is a plain not-found) and maps it to
// the error a REST caller sees.
func (s *Server) storageAPIError(op string, id roomID, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) || errors.Is(err, storage.ErrNotFound) {
		return asAPIError(err)
	}
	s.storageFailed(op, id, err)
	return errStorage
}
