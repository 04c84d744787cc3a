// Package simhook reaches the parts of the server that only the
// deterministic simulation and in-process benchmarks use: a synchronous
// mode with an injected clock, and connections without a network. They are
// not public API; package server fills these hooks in its init, so a
// program that uses them imports runtime/server too.
package simhook

import (
	"context"
	"time"

	"github.com/better-state/better-state/runtime/storage"
)

// Conn is a connection served without a network: the frames a WebSocket
// peer would send go in through Send, and the frames the server would
// write come out through Receive. It runs the same code as a WebSocket
// connection from the first frame on (hello, subscriptions, mutations,
// limits), minus pings and the hello timeout. It is safe for use by one
// goroutine at a time.
type Conn interface {
	// Send hands the server one text frame. It reports false once the
	// connection has ended (a fatal error, or Close).
	Send(frame []byte) bool
	// Receive returns what the server has written since the last call:
	// nil for nothing, one message, or a JSON array of messages. After a
	// fatal error its err frame comes last and open is false.
	Receive() (frame []byte, open bool)
	// Close ends the connection, as a dropped WebSocket would.
	Close()
}

var (
	// Synchronous returns cfg, a server.Config, set so that every room runs
	// on the goroutine of the caller that sends it a message, one message
	// at a time under one server-wide lock, and rooms are never evicted: a
	// message's effects (the durable append, the frames queued for every
	// subscriber) are complete when the call that delivered it returns.
	// clock (nil: time.Now) stamps events and paces the rate limits.
	Synchronous func(cfg any, clock func() time.Time) any
	// Clock returns cfg, a server.Config, with clock as the server's clock
	// (event times and rate limits), for tests that move time by hand.
	Clock func(cfg any, clock func() time.Time) any
	// Local opens a Conn to srv, a *server.Server, authenticated by apiKey
	// as if it were the Bearer key of a WebSocket request ("" leaves
	// authentication to hello).
	Local func(ctx context.Context, srv any, apiKey string) (Conn, error)
	// Store returns the storage of srv, a *server.Server, for checks that
	// read what the server wrote.
	Store func(srv any) storage.Store
)
