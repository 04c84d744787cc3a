package client

// One connection's life: dial, hello, subscribe every store, read until it
// ends; the caller reconnects with backoff.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
	"github.com/coder/websocket"
)

// link is the connection the client speaks through: a WebSocket, or the
// simulation's scripted transport.
type link interface {
	send(frame []byte) error
	close()
}

// wsLink is a WebSocket connection with an outbox: send queues a frame
// and returns, and one writer goroutine writes the frames in order. Stores
// send while holding their lock (so that mutations go out in mid order);
// with the outbox, an app goroutine calling Get never waits on a slow
// socket. The outbox holds only frames of pending mutations and
// subscriptions, which the stores hold anyway.
type wsLink struct {
	ws   *websocket.Conn
	ctx  context.Context // the session's: the writer stops with it
	wake chan struct{}
	done chan struct{} // closed when the writer has stopped

	mu   sync.Mutex
	out  [][]byte
	dead bool
}

var errLinkDown = errors.New("client: connection lost")

func newWSLink(ctx context.Context, ws *websocket.Conn) *wsLink {
	l := &wsLink{ws: ws, ctx: ctx, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go l.writer()
	return l
}

func (l *wsLink) send(frame []byte) error {
	l.mu.Lock()
	if l.dead {
		l.mu.Unlock()
		return errLinkDown
	}
	l.out = append(l.out, frame)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return nil
}

func (l *wsLink) writer() {
	defer close(l.done)
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-l.wake:
		}
		l.mu.Lock()
		frames := l.out
		l.out = nil
		l.mu.Unlock()
		for _, f := range frames {
			ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
			err := l.ws.Write(ctx, websocket.MessageText, f)
			cancel()
			if err != nil {
				// The read loop sees the closed connection and ends the
				// session; the stores resend after the next synced.
				l.mu.Lock()
				l.dead, l.out = true, nil
				l.mu.Unlock()
				l.ws.CloseNow()
				return
			}
		}
	}
}

func (l *wsLink) close() { l.ws.Close(websocket.StatusNormalClosure, "client closed") }

func (c *Client) run() {
	defer c.wg.Done()
	backoff := c.opts.MinBackoff
	for {
		connected, err := c.session()
		if c.ctx.Err() != nil || c.Err() != nil {
			return
		}
		if connected {
			backoff = c.opts.MinBackoff
		}
		c.log.Debug("client: offline", "err", err, "retry_in", backoff)
		d := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(d):
		case <-c.ctx.Done():
			return
		}
		backoff = min(backoff*2, c.opts.MaxBackoff)
	}
}

// session connects, says hello, subscribes every open store and reads
// until the connection ends. It reports whether it got online.
func (c *Client) session() (bool, error) {
	dctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	opts, helloAuth := dialOptions(c.opts.APIKey)
	ws, resp, err := websocket.Dial(dctx, c.url, opts)
	if err != nil {
		if e := refusal(resp); e != nil {
			c.log.Warn("client: server refused the connection", "code", e.Code, "msg", e.Message)
			if e.Terminal() {
				c.setFatal(e)
			}
			return false, e
		}
		return false, err
	}
	defer ws.CloseNow()
	ws.SetReadLimit(256 << 20)
	tok := helloAuth
	if c.opts.TokenSource != nil {
		if tok, err = c.opts.TokenSource(dctx); err != nil {
			return false, fmt.Errorf("client: TokenSource: %w", err)
		}
	}
	if err := ws.Write(dctx, websocket.MessageText, c.hello(tok)); err != nil {
		return false, err
	}
	_, data, err := ws.Read(dctx)
	if err != nil {
		return false, err
	}
	msgs, err := protocol.Decode(data)
	if err == nil && len(msgs) == 0 {
		err = errors.New("an empty batch")
	}
	if err != nil || msgs[0].T != protocol.TWelcome {
		if err == nil && msgs[0].T == protocol.TErr {
			e := &ServerError{Code: msgs[0].Code, Message: msgs[0].Message}
			c.log.Warn("client: server refused hello", "code", e.Code, "msg", e.Message)
			if e.Terminal() {
				c.setFatal(e)
			}
			return false, e
		}
		if err == nil {
			err = fmt.Errorf("the server answered %q", msgs[0].T)
		}
		return false, fmt.Errorf("client: no welcome: %w", err)
	}
	sctx, endSession := context.WithCancel(c.ctx)
	l := newWSLink(sctx, ws)
	defer func() {
		endSession()
		<-l.done
	}()
	if err := c.attach(l, &msgs[0]); err != nil {
		return false, err
	}
	defer c.detach()
	if tok != "" {
		refreshed := make(chan struct{})
		go func() {
			defer close(refreshed)
			c.refreshTokens(sctx, l, tok)
		}()
		defer func() { endSession(); <-refreshed }()
	}
	for {
		_, data, err := ws.Read(c.ctx)
		if err != nil {
			return true, err
		}
		if err := c.deliver(l, data); err != nil {
			return true, err
		}
	}
}

// refusal returns the server's error of a refused WebSocket handshake, or
// nil when resp is not one (no answer, a proxy's page).
func refusal(resp *http.Response) *ServerError {
	if resp == nil || resp.Body == nil || resp.StatusCode < 400 {
		return nil
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 1024)).Decode(&body) != nil || body.Error.Code == "" {
		return nil
	}
	return &ServerError{Code: body.Error.Code, Message: body.Error.Message}
}

func (c *Client) hello(token string) []byte {
	return protocol.Encode(&protocol.Msg{T: protocol.THello, V: protocol.Version, Client: c.id, Auth: token})
}

// attach makes l the client's connection after the server's welcome, and
// subscribes every open store through it.
func (c *Client) attach(l link, welcome *protocol.Msg) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if a := welcome.Actor; a != "" && a != c.actor {
		c.actor = a
		if c.disk != nil {
			c.disk.setMeta("actor", a)
		}
	}
	c.link = l
	c.serverTypes = welcome.Types
	stores := c.storeList()
	c.mu.Unlock()
	for _, s := range stores {
		s.subscribe(l, false)
	}
	c.status(true)
	return nil
}

// detach takes the client offline.
func (c *Client) detach() {
	c.mu.Lock()
	c.link = nil
	stores := c.storeList()
	c.mu.Unlock()
	for _, s := range stores {
		s.mu.Lock()
		s.live = false
		s.mu.Unlock()
		s.forgetPresence()
	}
	c.status(false)
}

// deliver handles one frame from the server. An error means the server
// ended the connection.
func (c *Client) deliver(l link, data []byte) error {
	msgs, err := protocol.Decode(data)
	if err != nil {
		c.log.Error("client: undecodable frame from server", "err", err)
		return nil
	}
	touched := map[*Store]bool{}
	for i := range msgs {
		m := &msgs[i]
		if m.T == protocol.TErr && m.Key == "" {
			c.log.Warn("client: server error", "code", m.Code, "msg", m.Message)
			if m.Fatal {
				e := &ServerError{Code: m.Code, Message: m.Message}
				if e.Terminal() {
					c.setFatal(e)
				}
				return e
			}
			continue
		}
		c.mu.Lock()
		s := c.stores[m.Key]
		c.mu.Unlock()
		if s == nil {
			continue
		}
		s.handle(l, m)
		touched[s] = true
	}
	for s := range touched {
		s.changed()
	}
	c.notify()
	return nil
}
