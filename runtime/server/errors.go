package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/better-state/better-state/internal/storage"
	"github.com/better-state/better-state/runtime"
	"github.com/better-state/better-state/runtime/protocol"
)

// apiError is an error with a stable code, an HTTP status for REST, and a
// message for people.
type apiError struct {
	Status  int
	Code    string
	Message string
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
	var re *runtime.Error
	if errors.As(err, &re) {
		return errorf(http.StatusUnprocessableEntity, re.Code, "%s", re.Message)
	}
	return errorf(http.StatusInternalServerError, protocol.CodeInternal, "internal error")
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	var body errorBody
	body.Error.Code = e.Code
	body.Error.Message = e.Message
	writeJSON(w, e.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"encoding the response failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte("\n"))
}
