package client

// What the server refuses: mutations (Rejection) and clients (ServerError).

import (
	"errors"
	"fmt"

	"github.com/better-state/better-state/runtime/protocol"
)

// Rejection is a mutation the server refused.
type Rejection struct {
	Key     string
	Mid     uint64
	Action  string
	Code    string
	Message string
}

func (r Rejection) Error() string {
	return fmt.Sprintf("%s: %s refused (%s): %s", r.Key, r.Action, r.Code, r.Message)
}

// ErrClosed is returned by operations on a closed client.
var ErrClosed = errors.New("client: closed")

// ServerError is an error the server sent, with its stable code
// (docs/PROTOCOL.md).
type ServerError struct {
	Key     string // the key it concerns, or "" for the connection
	Code    string
	Message string
}

func (e *ServerError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("server refused key %q: %s: %s", e.Key, e.Code, e.Message)
	}
	return "server: " + e.Code + ": " + e.Message
}

// Terminal reports whether retrying cannot help: the server refuses this
// client (its key, its client id, its protocol version) until someone
// changes something.
func (e *ServerError) Terminal() bool {
	switch e.Code {
	case protocol.CodeUnauthorized, protocol.CodeForbidden, protocol.CodeClientTaken, protocol.CodeReplaced, protocol.CodeBadVersion:
		return true
	}
	return false
}

// setFatal records a terminal error: the client stops reconnecting, and
// WaitSynced and Err return it.
func (c *Client) setFatal(err error) {
	c.mu.Lock()
	if c.fatal == nil {
		c.fatal = err
	}
	c.mu.Unlock()
	c.notify()
}

// Err returns the terminal error that stopped the client (a refused key,
// a client id taken over by another connection), or nil.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fatal
}
