package server

// Close statuses, fatal frames and the checks of client ids and keys.

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/better-state/better-state/runtime/protocol"
	"github.com/coder/websocket"
)

// helloFrameBytes bounds the frames of a connection that has not said hello.
const helloFrameBytes = 4 << 10

// hijackRecorder keeps the connection that websocket.Accept hijacks.
type hijackRecorder struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("server: the response cannot be hijacked")
	}
	c, rw, err := hj.Hijack()
	h.conn = c
	return c, rw, err
}

// closeStatus is the WebSocket close status sent with a fatal err's code.
func closeStatus(code string) websocket.StatusCode {
	switch code {
	case protocol.CodeShuttingDown:
		return websocket.StatusGoingAway
	case protocol.CodeFrameTooLarge:
		return websocket.StatusMessageTooBig
	case protocol.CodeInternal, protocol.CodeStorage:
		return websocket.StatusInternalError
	case protocol.CodeSlowConsumer:
		return websocket.StatusTryAgainLater
	}
	return websocket.StatusPolicyViolation
}

func fatalFrame(e *apiError) []byte {
	return protocol.Encode(&protocol.Msg{T: protocol.TErr, Code: e.Code, Message: e.Message, Fatal: true})
}

// checkClientID validates a client id: 1 to 128 bytes of printable ASCII.
func checkClientID(id string) *apiError {
	if id == "" || len(id) > 128 {
		return errorf(http.StatusBadRequest, protocol.CodeBadRequest, "a client id has 1 to 128 bytes")
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return errorf(http.StatusBadRequest, protocol.CodeBadRequest, "a client id is printable ASCII without spaces")
		}
	}
	return nil
}

// checkKey validates a state key: 1 to 256 bytes of letters, digits and
// - _ . : @ ~ + =
func checkKey(key string) *apiError {
	if key == "" || len(key) > 256 {
		return errorf(http.StatusBadRequest, protocol.CodeBadKey, "a key has 1 to 256 bytes")
	}
	for i := 0; i < len(key); i++ {
		ch := key[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case strings.IndexByte("-_.:@~+=", ch) >= 0:
		default:
			return errorf(http.StatusBadRequest, protocol.CodeBadKey, "key %q has a character outside letters, digits and -_.:@~+=", key)
		}
	}
	return nil
}
