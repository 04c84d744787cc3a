package server

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Connections are capped at Limits.MaxOpenConns, HTTP and WebSocket
// together, below the process's file limit: a server out of descriptors
// answers nobody, /healthz included. When the cap is reached, the longest
// idle keep-alive HTTP connection is closed to make room; if none is idle,
// the new connection is closed at once.

type connCap struct {
	mu   sync.Mutex
	max  int
	n    int
	idle map[*cappedConn]time.Time
}

// Listener returns ln with the connection cap. Serve HTTPServer on it.
func (s *Server) Listener(ln net.Listener) net.Listener {
	return &cappedListener{Listener: ln, cap: &s.conncap}
}

type cappedListener struct {
	net.Listener
	cap *connCap
}

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if cc := l.cap.admit(c); cc != nil {
			return cc, nil
		}
		c.Close()
	}
}

// admit counts c in, making room by closing the longest idle HTTP
// connection if needed; nil means no room.
func (k *connCap) admit(c net.Conn) *cappedConn {
	k.mu.Lock()
	if k.n >= k.max {
		var victim *cappedConn
		for ic, since := range k.idle {
			if victim == nil || since.Before(k.idle[victim]) {
				victim = ic
			}
		}
		if victim == nil {
			k.mu.Unlock()
			return nil
		}
		delete(k.idle, victim)
		k.mu.Unlock()
		victim.Close()
		k.mu.Lock()
		if k.n >= k.max {
			k.mu.Unlock()
			return nil
		}
	}
	k.n++
	k.mu.Unlock()
	return &cappedConn{Conn: c, cap: k}
}

type cappedConn struct {
	net.Conn
	cap  *connCap
	once sync.Once
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.cap.mu.Lock()
		c.cap.n--
		delete(c.cap.idle, c)
		c.cap.mu.Unlock()
	})
	return err
}

// connState tracks idle keep-alive connections (http.Server.ConnState).
func (s *Server) connState(c net.Conn, st http.ConnState) {
	cc, ok := c.(*cappedConn)
	if !ok {
		return
	}
	k := &s.conncap
	k.mu.Lock()
	defer k.mu.Unlock()
	if st == http.StateIdle {
		if k.idle == nil {
			k.idle = map[*cappedConn]time.Time{}
		}
		k.idle[cc] = time.Now()
	} else {
		delete(k.idle, cc)
	}
}
