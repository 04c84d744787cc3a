package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/better-state/better-state/runtime/protocol"
)

// conn is one WebSocket connection: a read loop that routes messages to
// rooms, and a write loop that drains the connection's bounded send queue,
// coalescing whatever is waiting into one frame.
type conn struct {
	srv    *Server
	ws     *websocket.Conn
	raw    net.Conn // under ws: its deadline bounds a fatal close
	p      principal
	client string
	serial uint64 // the order of upgrades: the newer of two connections of one client id wins
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	queue   [][]byte
	spare   [][]byte
	queued  int64 // bytes in queue
	own     int64 // of them, bytes of frames made for this connection alone
	keys    map[string]bool
	closed  bool
	failure *apiError
	signal  chan struct{}

	acc  atomic.Pointer[access] // what the credential allows now (nil: everything); auth replaces it
	muts *rate.Limiter          // paces mutations
	pres *rate.Limiter          // paces presence updates
	subs *rate.Limiter          // paces subscriptions, resubscriptions included

	// Kept by the janitor (janitor.go): when the write in progress
	// started (unix ns, 0: none), when to ping next, whether a ping is out.
	writeStart atomic.Int64
	nextPing   time.Time
	pinging    atomic.Bool
}

// serveWS upgrades the request and runs the connection until it ends.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if s.closing.Load() {
		writeError(w, errShuttingDown)
		return
	}
	var p principal
	if key := bearer(r); key != "" {
		var err error
		p, err = s.auth.check(r.Context(), key)
		if err != nil {
			writeError(w, authError(err))
			return
		}
	}
	if n := s.nconns.Add(1); n > int64(s.cfg.Limits.MaxConns) {
		s.nconns.Add(-1)
		writeError(w, errorf(http.StatusServiceUnavailable, protocol.CodeTooManyConns, "the server holds its limit of %d connections (Limits.MaxConns)", s.cfg.Limits.MaxConns))
		return
	}
	defer s.nconns.Add(-1)
	hj := &hijackRecorder{ResponseWriter: w}
	ws, err := websocket.Accept(hj, r, &websocket.AcceptOptions{
		OriginPatterns:  s.cfg.OriginPatterns,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept has answered the request
	}
	// The read loop bounds frames itself, so that an oversized one gets
	// an err and a close frame that say frame_too_large.
	ws.SetReadLimit(s.cfg.Limits.MaxFrameBytes + 1)
	c := s.newConn(p)
	c.ws, c.raw = ws, hj.conn
	cancel := c.cancel
	s.connsMu.Lock()
	if s.closing.Load() {
		s.connsMu.Unlock()
		cancel()
		ws.Close(websocket.StatusGoingAway, protocol.CodeShuttingDown)
		return
	}
	s.conns[c] = struct{}{}
	s.connsWG.Add(1)
	s.connsMu.Unlock()
	defer s.connsWG.Done()

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	c.readLoop()
	c.mu.Lock()
	failing := c.failure != nil
	c.mu.Unlock()
	if failing {
		// Let the writer send the fatal err before the connection goes.
		select {
		case <-writerDone:
		case <-time.After(2 * time.Second):
		}
	}
	c.cancel()
	c.ws.CloseNow() // a write to a broken peer ends now, not at the watchdog
	<-writerDone
	c.mu.Lock()
	c.closed = true
	c.dropQueue()
	c.mu.Unlock()
	c.leaveRooms()
	s.connsMu.Lock()
	delete(s.conns, c)
	s.forget(c)
	s.connsMu.Unlock()
}

func authError(err error) *apiError {
	switch {
	case errors.Is(err, errTokenExpired):
		return errorf(http.StatusUnauthorized, protocol.CodeTokenExpired, "the token expired; get a new one")
	case errors.Is(err, errTokensOff):
		return errorf(http.StatusUnauthorized, protocol.CodeUnauthorized, "%v", err)
	case errors.Is(err, errBadToken):
		return errorf(http.StatusUnauthorized, protocol.CodeUnauthorized, "%v", err)
	case errors.Is(err, errNoKey):
		return errorf(http.StatusUnauthorized, protocol.CodeUnauthorized, "an API key is required (Authorization: Bearer <key>)")
	case errors.Is(err, errBadKey):
		return errorf(http.StatusUnauthorized, protocol.CodeUnauthorized, "the API key is not valid")
	}
	return asAPIError(err)
}

func (c *conn) readLoop() {
	helloBy := time.AfterFunc(c.srv.cfg.Limits.HelloTimeout, func() {
		c.mu.Lock()
		ok := c.client != ""
		c.mu.Unlock()
		if !ok {
			c.fail(errorf(400, protocol.CodeHelloRequired, "no hello within %s", c.srv.cfg.Limits.HelloTimeout))
		}
	})
	defer helloBy.Stop()
	for {
		// No context: reads end when the write loop closes the
		// connection (on cancel, a fatal error or a dead peer).
		typ, rd, err := c.ws.Reader(context.Background())
		if err != nil {
			return
		}
		// Until hello has succeeded a peer is nobody: it may send a few
		// KiB, not a full frame.
		limit := c.srv.cfg.Limits.MaxFrameBytes
		if c.client == "" {
			limit = min(limit, helloFrameBytes)
		}
		data, err := io.ReadAll(io.LimitReader(rd, limit+1))
		if err != nil {
			return
		}
		if int64(len(data)) > limit {
			what := "frame"
			if c.client == "" {
				what = "frame before hello"
			}
			c.srv.log.Info("frame too large; connection closed", "client", c.client, "limit", limit)
			c.fail(errorf(http.StatusRequestEntityTooLarge, protocol.CodeFrameTooLarge, "a %s is at most %d bytes", what, limit))
			return
		}
		if typ != websocket.MessageText {
			c.sendErr(protocol.CodeBadMessage, "", 0, "frames must be JSON text frames")
			continue
		}
		if !c.frame(data) {
			return
		}
	}
}

// frame handles one text frame from the peer; false ends the connection.
func (c *conn) frame(data []byte) bool {
	msgs, err := protocol.Decode(data)
	if err != nil {
		c.sendErr(protocol.CodeBadMessage, "", 0, "malformed message: %v", err)
		return true
	}
	for i := range msgs {
		if !c.handle(&msgs[i]) {
			return false
		}
	}
	return true
}

// handle routes one message; false ends the connection.
func (c *conn) handle(m *protocol.Msg) bool {
	if c.client == "" {
		return c.hello(m)
	}
	switch m.T {
	case protocol.TSub:
		c.sub(m)
	case protocol.TUnsub:
		c.mu.Lock()
		had := c.keys[m.Key]
		delete(c.keys, m.Key)
		c.mu.Unlock()
		if had {
			c.srv.sendIfActive(c.p.Namespace, m.Key, roomMsg{kind: kindUnsub, conn: c})
		}
	case protocol.TMut:
		c.mu.Lock()
		subscribed := c.keys[m.Key]
		c.mu.Unlock()
		if !subscribed {
			c.sendErr(protocol.CodeNotSubscribed, m.Key, m.Mid, "subscribe to %q before mutating it", m.Key)
			return true
		}
		if !c.can(m.Key, true) {
			e := errNotGranted(m.Key, true)
			c.sendErr(e.Code, m.Key, m.Mid, "%s", e.Message)
			return true
		}
		if m.Mid == 0 || m.Mid > math.MaxInt64 || m.Name == "" {
			c.sendErr(protocol.CodeBadMessage, m.Key, m.Mid, "mut needs a mid from 1 to 2^63-1 and a name")
			return true
		}
		if !c.allow() {
			c.sendRetry(c.muts, m.Key, m.Mid, "over %g mutations/s on this connection (Limits.MutationsPerSecond); resubscribe and resend later", c.srv.cfg.Limits.MutationsPerSecond)
			return true
		}
		if e := c.srv.actorAllow(c.p.Namespace, c.p.Actor); e != nil {
			c.enqueue(protocol.Encode(&protocol.Msg{T: protocol.TErr, Key: m.Key, Mid: m.Mid, Code: e.Code, Message: e.Message, RetryMs: max(1, e.Retry.Milliseconds())}))
			return true
		}
		if e := c.srv.send(c.p.Namespace, m.Key, roomMsg{kind: kindMut, conn: c, msg: m}); e != nil {
			c.sendErr(e.Code, m.Key, m.Mid, "%s", e.Message)
		}
	case protocol.TPset:
		c.pset(m)
	case protocol.TAuth:
		c.refresh(m)
	case protocol.TPing:
		c.enqueue(protocol.Encode(&protocol.Msg{T: protocol.TPong}))
	case protocol.THello:
		c.sendErr(protocol.CodeBadMessage, "", 0, "hello was already received")
	default:
		c.sendErr(protocol.CodeBadMessage, m.Key, 0, "unknown message type %q", m.T)
	}
	return true
}

func (c *conn) hello(m *protocol.Msg) bool {
	if m.T != protocol.THello {
		c.fail(errorf(400, protocol.CodeHelloRequired, "the first message must be hello, not %q", m.T))
		return false
	}
	if m.V != protocol.Version {
		c.fail(errorf(400, protocol.CodeBadVersion, "protocol version %d is not supported; this server speaks %d", m.V, protocol.Version))
		return false
	}
	if e := checkClientID(m.Client); e != nil {
		c.fail(e)
		return false
	}
	if c.p.Namespace == "" || m.Auth != "" {
		p, err := c.srv.auth.check(c.ctx, m.Auth)
		if err != nil {
			c.fail(authError(err))
			return false
		}
		if c.p.Namespace != "" && c.p.Namespace != p.Namespace {
			c.fail(errorf(403, protocol.CodeForbidden, "the header's key and hello's key belong to different namespaces"))
			return false
		}
		c.mu.Lock()
		c.p = p
		c.mu.Unlock()
	}
	if m.Namespace != "" && m.Namespace != c.p.Namespace {
		c.fail(errorf(403, protocol.CodeForbidden, "this API key belongs to namespace %q, not %q", c.p.Namespace, m.Namespace))
		return false
	}
	c.acc.Store(accessOf(c.p))
	if e := c.srv.claimClient(c.ctx, c.p, m.Client); e != nil {
		c.fail(e)
		return false
	}
	c.mu.Lock()
	c.client = m.Client
	c.mu.Unlock()
	c.srv.takeOver(c)
	c.enqueue(protocol.Encode(&protocol.Msg{T: protocol.TWelcome, V: protocol.Version, Client: m.Client, Namespace: c.p.Namespace, Actor: c.p.Actor, Types: c.srv.reg.Fingerprints()}))
	return true
}

func (c *conn) sub(m *protocol.Msg) {
	if err := checkKey(m.Key); err != nil {
		c.sendErr(err.Code, m.Key, 0, "%s", err.Message)
		return
	}
	if !c.can(m.Key, false) {
		e := errNotGranted(m.Key, false)
		c.sendErr(e.Code, m.Key, 0, "%s", e.Message)
		return
	}
	if m.Acked > math.MaxInt64 || m.After > math.MaxInt64 {
		c.sendErr(protocol.CodeBadMessage, m.Key, 0, "sub's after and acked are at most 2^63-1")
		return
	}
	if m.Mode != protocol.ModeEvents && m.Mode != protocol.ModePatch {
		c.sendErr(protocol.CodeBadMessage, m.Key, 0, "sub's mode is absent (events) or %q, not %q", protocol.ModePatch, m.Mode)
		return
	}
	typ, ok := c.srv.reg.Lookup(m.Type)
	if !ok {
		c.sendErr(protocol.CodeUnknownType, m.Key, 0, "this server does not serve type %q (it serves %s)", m.Type, strings.Join(c.srv.reg.Names(), ", "))
		return
	}
	if !c.subs.AllowN(c.srv.now(), 1) {
		// Each sub costs a catch-up: a connection that sends them over
		// and over is paced, whatever keys it names.
		c.sendRetry(c.subs, m.Key, 0, "over %g subscriptions/s on this connection (Limits.SubsPerSecond); subscribe again later", c.srv.cfg.Limits.SubsPerSecond)
		return
	}
	if m.FP != typ.Fingerprint && (m.FP != "" || m.Mode != protocol.ModePatch) {
		// A client built from another version of the schema is served
		// when what it reads and sends is unchanged on the server. A
		// client in patch mode runs no reducer: without fp, it follows
		// whatever the server's type is.
		if err := c.srv.reg.Compatible(typ, m.Shape); err != nil {
			c.sendErr(protocol.CodeSchemaMismatch, m.Key, 0, "%v: deploy a server built from the client's schema, or rebuild the client from the server's (docs/GUIDE.md, \"Changing a schema\")", err)
			return
		}
	}
	c.mu.Lock()
	if !c.keys[m.Key] && len(c.keys) >= c.srv.cfg.Limits.MaxKeysPerConn {
		c.mu.Unlock()
		c.sendErr(protocol.CodeTooManyKeys, m.Key, 0, "a connection may subscribe at most %d keys (Limits.MaxKeysPerConn)", c.srv.cfg.Limits.MaxKeysPerConn)
		return
	}
	c.keys[m.Key] = true
	c.mu.Unlock()
	if e := c.srv.send(c.p.Namespace, m.Key, roomMsg{kind: kindSub, conn: c, msg: m}); e != nil {
		c.unsubscribed(m.Key)
		c.sendErr(e.Code, m.Key, 0, "%s", e.Message)
	}
}

// newConn returns a connection of principal p that has no transport yet.
func (s *Server) newConn(p principal) *conn {
	l := s.cfg.Limits
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		srv:    s,
		p:      p,
		serial: s.serials.Add(1),
		ctx:    ctx,
		cancel: cancel,
		keys:   map[string]bool{},
		signal: make(chan struct{}, 1),
		muts:   limiter(l.MutationsPerSecond, l.MutationBurst),
		// The burst lets a client resubscribe all the keys it may
		// hold at once.
		subs: limiter(l.SubsPerSecond, l.MaxKeysPerConn+16),
		pres: limiter(l.PresencePerSecond, int(l.PresencePerSecond)),
	}
}

// limiter is a token bucket of rate per second and burst tokens, full.
func limiter(perSecond float64, burst int) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(perSecond), max(1, burst))
}

// now is the server's clock: the time of events and of rate limits.
func (s *Server) now() time.Time { return s.cfg.clock() }

// isClosed reports whether the connection is ending (a fatal error, a
// take-over): rooms ignore its mutations.
func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// unsubscribed is called by a room that refused the subscription.
func (c *conn) unsubscribed(key string) {
	c.mu.Lock()
	delete(c.keys, key)
	c.mu.Unlock()
}

func (c *conn) leaveRooms() {
	c.mu.Lock()
	keys := make([]string, 0, len(c.keys))
	for k := range c.keys {
		keys = append(keys, k)
	}
	clear(c.keys)
	c.mu.Unlock()
	for _, k := range keys {
		done := make(chan struct{})
		if c.srv.sendIfActive(c.p.Namespace, k, roomMsg{kind: kindUnsub, conn: c, done: done}) {
			<-done
		}
	}
}

// allow takes one token of the connection's mutation budget.
func (c *conn) allow() bool { return c.muts.AllowN(c.srv.now(), 1) }

func (c *conn) sendErr(code, key string, mid uint64, format string, args ...any) {
	c.enqueue(protocol.Encode(&protocol.Msg{T: protocol.TErr, Key: key, Mid: mid, Code: code, Message: fmt.Sprintf(format, args...)}))
}

// sendRetry sends a rate_limited err that says, in retry_ms, when l allows
// the next message.
func (c *conn) sendRetry(l *rate.Limiter, key string, mid uint64, format string, args ...any) {
	c.enqueue(protocol.Encode(&protocol.Msg{T: protocol.TErr, Key: key, Mid: mid, Code: protocol.CodeRateLimited,
		Message: fmt.Sprintf(format, args...), RetryMs: max(1, retryAfter(l, c.srv.now()).Milliseconds())}))
}

// retryAfter returns how long l needs to allow one more event.
func retryAfter(l *rate.Limiter, now time.Time) time.Duration {
	r := l.ReserveN(now, 1)
	if !r.OK() {
		return time.Second
	}
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return d
}

// fail closes the connection after sending e as a fatal err.
func (c *conn) fail(e *apiError) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.failure = e
	if e.Code == protocol.CodeSlowConsumer {
		// What it did not read is dropped now, not held until the
		// write times out: it resyncs when it comes back.
		c.dropQueue()
	}
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// pset checks a presence update and passes it to the key's room.
func (c *conn) pset(m *protocol.Msg) {
	c.mu.Lock()
	subscribed := c.keys[m.Key]
	c.mu.Unlock()
	if !subscribed {
		c.sendErr(protocol.CodeNotSubscribed, m.Key, 0, "subscribe to %q before setting presence on it", m.Key)
		return
	}
	if !c.can(m.Key, false) {
		e := errNotGranted(m.Key, false)
		c.sendErr(e.Code, m.Key, 0, "%s", e.Message)
		return
	}
	if max := c.srv.cfg.Limits.MaxPresenceBytes; len(m.Data) > max {
		c.sendErr(protocol.CodePresenceTooLarge, m.Key, 0, "a presence may be at most %d bytes (Limits.MaxPresenceBytes), not %d", max, len(m.Data))
		return
	}
	if !c.pres.AllowN(c.srv.now(), 1) {
		c.sendRetry(c.pres, m.Key, 0, "over %g presence updates/s on this connection (Limits.PresencePerSecond)", c.srv.cfg.Limits.PresencePerSecond)
		return
	}
	if e := c.srv.send(c.p.Namespace, m.Key, roomMsg{kind: kindPset, conn: c, msg: m}); e != nil {
		c.sendErr(e.Code, m.Key, 0, "%s", e.Message)
	}
}
