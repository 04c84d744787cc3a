package server

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
)

// The janitor looks after every WebSocket connection from one goroutine:
// it pings each peer every PingInterval (a peer that does not answer within
// PingInterval is dropped) and drops a connection whose write has hung for
// WriteTimeout. Doing this here rather than in each connection's write loop
// keeps the loop down to two select cases and no timer per write, and keeps
// timers out of idle connections' memory.

func (s *Server) janitor() {
	defer s.janitorWG.Done()
	tick := min(time.Second, s.cfg.Limits.PingInterval/4, s.cfg.Limits.WriteTimeout/4)
	t := time.NewTicker(tick)
	defer t.Stop()
	var conns []*conn
	var nextKeyCheck time.Time
	var rechecking atomic.Bool
	for {
		select {
		case <-s.janitorStop:
			return
		case now := <-t.C:
			s.connsMu.Lock()
			conns = conns[:0]
			for c := range s.conns {
				conns = append(conns, c)
			}
			s.connsMu.Unlock()
			for _, c := range conns {
				s.look(c, now)
			}
			if now.After(nextKeyCheck) && !rechecking.Load() {
				// On its own goroutine: a slow database must not hold up
				// pings and the hung-write watchdog.
				nextKeyCheck = now.Add(cacheTTL)
				rechecking.Store(true)
				list := slices.Clone(conns)
				s.janitorWG.Add(1)
				go func() {
					defer s.janitorWG.Done()
					defer rechecking.Store(false)
					s.recheckKeys(list)
				}()
			}
			clear(conns)
		}
	}
}

func (s *Server) look(c *conn, now time.Time) {
	if a := c.acc.Load(); a != nil && a.expired(s.now()) {
		c.mu.Lock()
		client := c.client
		c.mu.Unlock()
		s.log.Debug("closing a connection whose token expired", "client", client)
		c.fail(errorf(401, protocol.CodeTokenExpired, "the token expired; refresh it with auth before it does"))
		return
	}
	if ws := c.writeStart.Load(); ws != 0 && now.Sub(time.Unix(0, ws)) > s.cfg.Limits.WriteTimeout {
		s.log.Debug("a write to the peer hung; dropping it", "client", c.client, "timeout", s.cfg.Limits.WriteTimeout)
		c.ws.CloseNow()
		c.cancel()
		return
	}
	if c.nextPing.IsZero() {
		c.nextPing = now.Add(s.cfg.Limits.PingInterval)
		return
	}
	if now.Before(c.nextPing) || c.pinging.Load() {
		return
	}
	c.nextPing = now.Add(s.cfg.Limits.PingInterval)
	c.pinging.Store(true)
	go func() {
		defer c.pinging.Store(false)
		ctx, cancel := context.WithTimeout(c.ctx, s.cfg.Limits.PingInterval)
		defer cancel()
		if err := c.ws.Ping(ctx); err != nil && c.ctx.Err() == nil {
			s.log.Debug("peer did not answer ping; dropping it", "client", c.client, "err", err)
			c.ws.CloseNow()
			c.cancel()
		}
	}()
}

// recheckKeys ends the connections whose API key was revoked (or deleted)
// since they authenticated. Together with the authenticator's cache, a
// revocation reaches open connections within 2*cacheTTL plus a tick.
func (s *Server) recheckKeys(conns []*conn) {
	valid := map[string]bool{}
	for _, c := range conns {
		c.mu.Lock()
		client := c.client
		c.mu.Unlock()
		a := c.acc.Load()
		if a == nil || a.keyID == "" {
			continue // not greeted yet, the dev key, or a token (they end by expiring: look)
		}
		id := a.keyID
		ok, seen := valid[id]
		if !seen {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			ok = s.auth.stillValid(ctx, id)
			cancel()
			valid[id] = ok
		}
		if !ok {
			s.log.Info("closing a connection whose API key was revoked", "key_id", id, "client", client)
			c.fail(errorf(401, protocol.CodeUnauthorized, "the API key was revoked"))
		}
	}
}
