// This file holds the suite's WebSocket client: a connection that reads all
// the time (so pings are answered) and queues what it reads, and the checks
// of what it reads (fatal and non-fatal errors, message fields).

package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

type wsConn struct {
	s      *suite
	ws     *websocket.Conn
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}

	mu     sync.Mutex
	queue  []Msg
	err    error // why reading ended
	frames int
	arrays int
	bad    []string // server frames that are not messages
}

// dial upgrades with header h (nil: the suite's key as Bearer).
func (s *suite) dial(t *testing.T, h http.Header) (*wsConn, *http.Response, error) {
	t.Helper()
	if h == nil {
		h = http.Header{}
		h.Set("Authorization", "Bearer "+s.tg.Key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, s.tg.URL, &websocket.DialOptions{HTTPHeader: h, HTTPClient: s.hc})
	if err != nil {
		return nil, resp, err
	}
	// Server frames are not bounded by the client frame limit: a snap
	// holds a whole state.
	ws.SetReadLimit(256 << 20)
	rctx, rcancel := context.WithCancel(context.Background())
	c := &wsConn{s: s, ws: ws, cancel: rcancel, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	go c.readLoop(rctx)
	t.Cleanup(func() {
		c.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, b := range c.bad {
			t.Errorf("the server sent a frame that is not a message object or an array of them (%s): %s", page("A server frame holds one message object or a JSON array of message objects"), b)
		}
	})
	return c, resp, nil
}

// mustDial is dial that fails the test on error.
func (s *suite) mustDial(t *testing.T, h http.Header) *wsConn {
	t.Helper()
	c, resp, err := s.dial(t, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("upgrade failed (HTTP %d): %v", status, err)
	}
	return c
}

// hello dials with the suite's key and says hello as client; it returns
// the connection and the welcome.
func (s *suite) hello(t *testing.T, client string) (*wsConn, Msg) {
	t.Helper()
	c := s.mustDial(t, nil)
	c.send(t, Msg{T: "hello", V: protocolVersion, Client: client})
	w := c.next(t)
	if w.T != "welcome" {
		t.Fatalf("hello: got %s, want welcome", w)
	}
	return c, w
}

func (c *wsConn) readLoop(ctx context.Context) {
	defer close(c.done)
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			c.signal()
			return
		}
		msgs, array, perr := decodeFrame(typ, data)
		c.mu.Lock()
		c.frames++
		if array {
			c.arrays++
		}
		if perr != nil {
			c.bad = append(c.bad, perr.Error())
		}
		c.queue = append(c.queue, msgs...)
		c.mu.Unlock()
		c.signal()
	}
}

func (c *wsConn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// decodeFrame reads a server frame: one message object or an array of them.
func decodeFrame(typ websocket.MessageType, data []byte) ([]Msg, bool, error) {
	if typ != websocket.MessageText {
		return nil, false, fmt.Errorf("a binary frame of %d bytes", len(data))
	}
	b := bytes.TrimSpace(data)
	var raws []json.RawMessage
	array := len(b) > 0 && b[0] == '['
	if array {
		if err := json.Unmarshal(b, &raws); err != nil {
			return nil, true, fmt.Errorf("%v: %.300s", err, b)
		}
	} else {
		raws = []json.RawMessage{b}
	}
	out := make([]Msg, 0, len(raws))
	for _, r := range raws {
		var m Msg
		if err := json.Unmarshal(r, &m); err != nil || m.T == "" {
			return out, array, fmt.Errorf("not a message (%v): %.300s", err, r)
		}
		m.Raw = slices.Clone(r)
		out = append(out, m)
	}
	return out, array, nil
}

// Close ends the connection at once and waits for its reader.
func (c *wsConn) Close() {
	c.ws.CloseNow()
	c.cancel()
	<-c.done
}

// errClosed is the error of a read on a connection that has ended.
type errClosed struct{ err error }

func (e errClosed) Error() string { return "the connection ended: " + e.err.Error() }

// read returns the next message within d.
func (c *wsConn) read(d time.Duration) (Msg, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return m, nil
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return Msg{}, errClosed{err}
		}
		select {
		case <-c.wake:
		case <-timer.C:
			return Msg{}, fmt.Errorf("nothing within %s", d)
		}
	}
}

// unread puts m back at the head of the queue.
func (c *wsConn) unread(m Msg) {
	c.mu.Lock()
	c.queue = append([]Msg{m}, c.queue...)
	c.mu.Unlock()
}

// next returns the next message, failing the test if none comes.
func (c *wsConn) next(t *testing.T) Msg {
	t.Helper()
	m, err := c.read(waitFor)
	if err != nil {
		t.Fatalf("waiting for a message: %v", err)
	}
	return m
}

// await reads until pred holds and returns that message and the ones
// before it. A fatal err that pred does not take fails the test.
func (c *wsConn) await(t *testing.T, what string, pred func(Msg) bool) (Msg, []Msg) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	var before []Msg
	for {
		m, err := c.read(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %s: %v (read before: %v)", what, err, before)
		}
		if pred(m) {
			return m, before
		}
		if m.T == "err" && m.Fatal {
			t.Fatalf("waiting for %s: got fatal %s (read before: %v)", what, m, before)
		}
		before = append(before, m)
	}
}

// quiet checks that nothing but what keep accepts is waiting: it sends a
// ping and reads up to its pong. It returns the messages keep accepted.
func (c *wsConn) quiet(t *testing.T, what string, keep func(Msg) bool) []Msg {
	t.Helper()
	c.send(t, Msg{T: "ping"})
	var kept []Msg
	for {
		m := c.next(t)
		if m.T == "pong" {
			return kept
		}
		if keep != nil && keep(m) {
			kept = append(kept, m)
			continue
		}
		t.Errorf("%s: got %s", what, m)
	}
}

// send writes v (a Msg, a slice of them, or anything JSON) as a text frame.
func (c *wsConn) send(t *testing.T, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	c.sendRaw(t, websocket.MessageText, b)
}

func (c *wsConn) sendRaw(t *testing.T, typ websocket.MessageType, b []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.ws.Write(ctx, typ, b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// closed waits until the connection has ended and returns why.
func (c *wsConn) closed(t *testing.T) error {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(waitFor):
		t.Fatalf("the server did not close the connection within %s", waitFor)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// closeStatus documents the close status of each fatal code (the page,
// "Errors": "status 1001 for shutting_down, 1009 for frame_too_large, 1011
// for internal/storage_failed, 1013 for slow_consumer, 1008 otherwise").
func closeStatus(code string) websocket.StatusCode {
	switch code {
	case "shutting_down":
		return websocket.StatusGoingAway
	case "frame_too_large":
		return websocket.StatusMessageTooBig
	case "internal", "storage_failed":
		return websocket.StatusInternalError
	case "slow_consumer":
		return websocket.StatusTryAgainLater
	}
	return websocket.StatusPolicyViolation
}

// expectFatal checks that the next message is the fatal err code, that
// nothing follows it and that the server closes with the page's status and
// the code as the reason.
func (c *wsConn) expectFatal(t *testing.T, code string) Msg {
	t.Helper()
	m, err := c.read(waitFor)
	if err != nil {
		t.Fatalf("waiting for fatal %s: %v", code, err)
	}
	if m.T != "err" || m.Code != code {
		t.Fatalf("got %s, want a fatal err %s", m, code)
	}
	if !m.Fatal {
		t.Errorf("err %s without fatal:true: %s (%s)", code, m, page("| `"+code+"` | ... | yes |"))
	}
	checkFields(t, m, []string{"t", "code", "msg", "fatal"}, "key", "mid")
	err = c.closed(t)
	c.mu.Lock()
	rest := slices.Clone(c.queue)
	c.mu.Unlock()
	if len(rest) > 0 {
		t.Errorf("messages after the fatal err %s: %v", code, rest)
	}
	c.s.sawClose(code, err)
	want := closeStatus(code)
	var ce websocket.CloseError
	if !errors.As(err, &ce) {
		t.Errorf("after fatal %s the connection ended without a close frame (%v); %s", code, err,
			page(fmt.Sprintf("A fatal error is an `err` frame with `fatal:true`, followed by a WebSocket close frame whose reason is the code (status %d ...)", int(want))))
		return m
	}
	if ce.Code != want || ce.Reason != code {
		t.Errorf("after fatal %s the close frame is %d %q, want %d %q; %s", code, int(ce.Code), ce.Reason, int(want), code,
			page("followed by a WebSocket close frame whose reason is the code (status 1001 for `shutting_down`, 1009 for `frame_too_large`, 1011 for `internal`/`storage_failed`, 1013 for `slow_consumer`, 1008 otherwise)"))
	}
	return m
}

// expectErr reads up to the next err (skipping what skip accepts) and
// checks its code, that it is not fatal, and its fields.
func (c *wsConn) expectErr(t *testing.T, code, key string, skip func(Msg) bool) Msg {
	t.Helper()
	m, _ := c.await(t, "err "+code, func(m Msg) bool { return skip == nil || !skip(m) })
	if m.T != "err" || m.Code != code {
		t.Fatalf("got %s, want err %s", m, code)
	}
	if m.Fatal {
		t.Errorf("err %s is fatal: %s; the page lists it as not fatal", code, m)
	}
	if m.Key != key {
		t.Errorf("err %s has key %q, want %q: %s", code, m.Key, key, m)
	}
	if m.Text == "" {
		t.Errorf("err %s without msg: %s", code, m)
	}
	checkFields(t, m, []string{"t", "code", "msg"}, "key", "mid", "retry_ms")
	return m
}

// fields returns the names of a raw message's fields.
func fields(raw json.RawMessage) []string {
	var m map[string]json.RawMessage
	json.Unmarshal(raw, &m)
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkFields checks that m has every required field and no field outside
// required and optional.
func checkFields(t *testing.T, m Msg, required []string, optional ...string) {
	t.Helper()
	have := fields(m.Raw)
	for _, f := range required {
		if !slices.Contains(have, f) {
			t.Errorf("%s message without %q: %s", m.T, f, m)
		}
	}
	for _, f := range have {
		if !slices.Contains(required, f) && !slices.Contains(optional, f) {
			t.Errorf("%s message with unexpected field %q: %s", m.T, f, m)
		}
	}
}
