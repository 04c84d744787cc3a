package server

import (
	"context"
	"net/http"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
)

// Local is a connection served without a network: the frames a WebSocket
// peer would send go in through Send, and the frames the server would write
// come out through Receive. It runs the same code as a WebSocket connection
// from the first frame on (hello, subscriptions, mutations, limits), minus
// pings and the hello timeout. Deterministic simulations drive it against a
// Synchronous server; it is safe for use by one goroutine at a time.
type Local struct {
	c    *conn
	done bool
}

// Local opens an in-process connection authenticated by apiKey, as if it
// were the Bearer key of a WebSocket request ("" leaves authentication to
// hello).
func (s *Server) Local(ctx context.Context, apiKey string) (*Local, error) {
	if s.closing.Load() {
		return nil, errShuttingDown
	}
	var p principal
	if apiKey != "" {
		var err error
		if p, err = s.auth.check(ctx, apiKey); err != nil {
			return nil, authError(err)
		}
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		srv:      s,
		p:        p,
		ctx:      cctx,
		cancel:   cancel,
		keys:     map[string]bool{},
		signal:   make(chan struct{}, 1),
		tokens:   float64(s.cfg.Limits.MutationBurst),
		lastFill: time.Now(),
		subs:     s.subLimiter(),
	}
	return &Local{c: c}, nil
}

// Send hands the server one text frame from the peer. It reports false once
// the connection has ended (a fatal error, or Close).
func (l *Local) Send(frame []byte) bool {
	if l.done {
		return false
	}
	if int64(len(frame)) > l.c.srv.cfg.Limits.MaxFrameBytes {
		l.c.fail(errorf(http.StatusRequestEntityTooLarge, protocol.CodeFrameTooLarge, "a frame may have at most %d bytes (--max-frame)", l.c.srv.cfg.Limits.MaxFrameBytes))
		return false
	}
	return l.c.frame(frame)
}

// Receive returns what the server has written since the last call, as the
// write loop would put it on the wire: nil for nothing, one message, or a
// JSON array of messages. After a fatal error its err frame comes last and
// open is false.
func (l *Local) Receive() (frame []byte, open bool) {
	c := l.c
	c.mu.Lock()
	frames := c.take()
	c.spare = nil
	failure := c.failure
	c.mu.Unlock()
	if failure != nil && !l.done {
		frames = append(frames, fatalFrame(failure))
	}
	if failure != nil {
		l.finish()
	}
	if len(frames) == 0 {
		return nil, !l.done
	}
	return protocol.Batch(frames), !l.done
}

// Close ends the connection, as a dropped WebSocket would: the server
// forgets its subscriptions.
func (l *Local) Close() {
	l.c.fail(errorf(0, protocol.CodeShuttingDown, "closed"))
	l.finish()
}

func (l *Local) finish() {
	if l.done {
		return
	}
	l.done = true
	l.c.cancel()
	if !l.c.srv.closing.Load() {
		l.c.leaveRooms()
	}
	l.c.srv.connsMu.Lock()
	l.c.srv.forget(l.c)
	l.c.srv.connsMu.Unlock()
}
