package server

import (
	"bufio"
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

	tokens   float64
	lastFill time.Time
	subs     *rate.Limiter // paces subscriptions, resubscriptions included

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
		writeError(w, errorf(http.StatusServiceUnavailable, protocol.CodeTooManyConns, "the server holds its limit of %d connections (--max-conns)", s.cfg.Limits.MaxConns))
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
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		srv:      s,
		ws:       ws,
		raw:      hj.conn,
		p:        p,
		ctx:      ctx,
		cancel:   cancel,
		keys:     map[string]bool{},
		signal:   make(chan struct{}, 1),
		tokens:   float64(s.cfg.Limits.MutationBurst),
		lastFill: time.Now(),
		subs:     s.subLimiter(),
	}
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

// helloFrameBytes bounds the frames of a connection that has not said hello.
const helloFrameBytes = 4 << 10

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
		if m.Mid == 0 || m.Mid > math.MaxInt64 || m.Name == "" {
			c.sendErr(protocol.CodeBadMessage, m.Key, m.Mid, "mut needs a mid from 1 to 2^63-1 and a name")
			return true
		}
		if !c.allow() {
			c.sendErr(protocol.CodeRateLimited, m.Key, m.Mid, "over %g mutations/s on this connection (--rate); resubscribe and resend later", c.srv.cfg.Limits.MutationsPerSecond)
			return true
		}
		if e := c.srv.send(c.p.Namespace, m.Key, roomMsg{kind: kindMut, conn: c, msg: m}); e != nil {
			c.sendErr(e.Code, m.Key, m.Mid, "%s", e.Message)
		}
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
	if m.Acked > math.MaxInt64 || m.After > math.MaxInt64 {
		c.sendErr(protocol.CodeBadMessage, m.Key, 0, "sub's after and acked are at most 2^63-1")
		return
	}
	typ, ok := c.srv.reg.Lookup(m.Type)
	if !ok {
		c.sendErr(protocol.CodeUnknownType, m.Key, 0, "this server does not serve type %q (it serves %s)", m.Type, strings.Join(c.srv.reg.Names(), ", "))
		return
	}
	if m.FP != typ.Fingerprint {
		// A client built from another version of the schema is served
		// when what it reads and sends is unchanged on the server.
		if err := c.srv.reg.Compatible(typ, m.Shape); err != nil {
			c.sendErr(protocol.CodeSchemaMismatch, m.Key, 0, "%v: deploy a server built from the client's schema, or rebuild the client from the server's (docs/GUIDE.md, \"Changing a schema\")", err)
			return
		}
	}
	if !c.subs.Allow() {
		// Each sub costs a catch-up: a connection that sends them over
		// and over is paced, whatever keys it names.
		c.sendErr(protocol.CodeRateLimited, m.Key, 0, "over %g subscriptions/s on this connection; subscribe again later", c.srv.cfg.Limits.SubsPerSecond)
		return
	}
	c.mu.Lock()
	if !c.keys[m.Key] && len(c.keys) >= c.srv.cfg.Limits.MaxKeysPerConn {
		c.mu.Unlock()
		c.sendErr(protocol.CodeTooManyKeys, m.Key, 0, "a connection may subscribe at most %d keys (--max-keys-per-conn)", c.srv.cfg.Limits.MaxKeysPerConn)
		return
	}
	c.keys[m.Key] = true
	c.mu.Unlock()
	if e := c.srv.send(c.p.Namespace, m.Key, roomMsg{kind: kindSub, conn: c, msg: m}); e != nil {
		c.unsubscribed(m.Key)
		c.sendErr(e.Code, m.Key, 0, "%s", e.Message)
	}
}

// subLimiter paces one connection's subscriptions: SubsPerSecond, with a
// burst that lets a client resubscribe all the keys it may hold at once.
func (s *Server) subLimiter() *rate.Limiter {
	l := s.cfg.Limits
	return rate.NewLimiter(rate.Limit(l.SubsPerSecond), l.MaxKeysPerConn+16)
}

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
func (c *conn) allow() bool {
	l := c.srv.cfg.Limits
	now := time.Now()
	c.tokens = min(float64(l.MutationBurst), c.tokens+now.Sub(c.lastFill).Seconds()*l.MutationsPerSecond)
	c.lastFill = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func (c *conn) sendErr(code, key string, mid uint64, format string, args ...any) {
	c.enqueue(protocol.Encode(&protocol.Msg{T: protocol.TErr, Key: key, Mid: mid, Code: code, Message: fmt.Sprintf(format, args...)}))
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

func (c *conn) writeLoop() {
	// Two cases only: pings and hung writes are the janitor's, so that a
	// delivery costs no more here than in a bare relay.
	for {
		select {
		case <-c.ctx.Done():
			c.ws.CloseNow()
			return
		case <-c.signal:
			c.mu.Lock()
			frames := c.take()
			failure := c.failure
			c.mu.Unlock()
			if len(frames) > 0 {
				if err := c.write(frames); err != nil {
					c.ws.CloseNow()
					c.cancel()
					return
				}
			}
			clear(frames)
			c.mu.Lock()
			c.spare = frames
			c.mu.Unlock()
			if failure != nil {
				c.closeWith(failure)
				return
			}
		}
	}
}

// write sends the frames waiting for the connection as one frame: the
// message itself when there is one, a JSON array of them otherwise.
func (c *conn) write(frames [][]byte) error {
	// No context: it costs the WebSocket library a timer and an AfterFunc
	// per call. The janitor drops a connection whose write hangs.
	c.writeStart.Store(time.Now().UnixNano())
	defer c.writeStart.Store(0)
	ctx := context.Background()
	if len(frames) == 1 {
		return c.ws.Write(ctx, websocket.MessageText, frames[0])
	}
	w, err := c.ws.Writer(ctx, websocket.MessageText)
	if err != nil {
		return err
	}
	w.Write([]byte{'['})
	for i, f := range frames {
		if i > 0 {
			w.Write([]byte{','})
		}
		if _, err := w.Write(f); err != nil {
			w.Close()
			return err
		}
	}
	w.Write([]byte{']'})
	return w.Close()
}

// closeWith sends e as a fatal err, then a close frame whose reason is
// e's code. A peer that does not read gets neither: the write gives up
// after fatalWriteTimeout, and the library bounds the close handshake.
func (c *conn) closeWith(e *apiError) {
	if c.raw != nil {
		// The close handshake reads what the peer still sends, the rest
		// of an oversized frame included: a deadline on the socket bounds
		// it, whatever the peer does.
		c.raw.SetDeadline(time.Now().Add(fatalWriteTimeout + closeTimeout))
	}
	ctx, cancel := context.WithTimeout(c.ctx, fatalWriteTimeout)
	err := c.ws.Write(ctx, websocket.MessageText, fatalFrame(e))
	cancel()
	if err == nil {
		c.ws.Close(closeStatus(e.Code), e.Code)
	}
	c.ws.CloseNow()
	c.cancel()
}

const (
	fatalWriteTimeout = 2 * time.Second
	closeTimeout      = time.Second
)

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
