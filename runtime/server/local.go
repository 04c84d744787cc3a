package server

import (
	"context"
	"net/http"
	"time"

	"github.com/better-state/better-state/internal/simhook"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/storage"
)

// local is a connection served without a network, for the deterministic
// simulation (internal/simhook.Conn documents it).
type local struct {
	c    *conn
	done bool
}

func init() {
	simhook.Clock = func(cfg any, clock func() time.Time) any {
		c := cfg.(Config)
		c.clock = clock
		return c
	}
	simhook.Synchronous = func(cfg any, clock func() time.Time) any {
		c := simhook.Clock(cfg, clock).(Config)
		c.synchronous = true
		return c
	}
	simhook.Store = func(srv any) storage.Store { return srv.(*Server).store }
	simhook.Local = func(ctx context.Context, srv any, apiKey string) (simhook.Conn, error) {
		return srv.(*Server).local(ctx, apiKey)
	}
}

// local opens an in-process connection authenticated by apiKey.
func (s *Server) local(ctx context.Context, apiKey string) (*local, error) {
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
	c := s.newConn(p)
	return &local{c: c}, nil
}

func (l *local) Send(frame []byte) bool {
	if l.done {
		return false
	}
	if int64(len(frame)) > l.c.srv.cfg.Limits.MaxFrameBytes {
		l.c.fail(errorf(http.StatusRequestEntityTooLarge, protocol.CodeFrameTooLarge, "a frame may have at most %d bytes (Limits.MaxFrameBytes)", l.c.srv.cfg.Limits.MaxFrameBytes))
		return false
	}
	return l.c.frame(frame)
}

func (l *local) Receive() (frame []byte, open bool) {
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

func (l *local) Close() {
	l.c.fail(errorf(0, protocol.CodeShuttingDown, "closed"))
	l.finish()
}

func (l *local) finish() {
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
