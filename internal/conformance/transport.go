// This file holds the transport cases: Origin, the connection limit, frame
// sizes and arrays, ping and pong, unknown messages, the keepalive and
// shutting_down.

package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func testOrigin(t *testing.T, s *suite) {
	h := http.Header{"Authorization": {"Bearer " + s.tg.Key}, "Origin": {"http://evil.invalid"}}
	c, resp, err := s.dial(t, h)
	if err == nil {
		c.Close()
		t.Errorf("an upgrade with Origin http://evil.invalid succeeded; %s", page("otherwise the upgrade is refused with HTTP 403"))
	} else if resp == nil || resp.StatusCode != http.StatusForbidden {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Errorf("an upgrade with a foreign Origin: HTTP %d (%v), want 403", status, err)
	}
	h.Set("Origin", s.origin)
	if _, _, err := s.dial(t, h); err != nil {
		t.Errorf("an upgrade with Origin %s (the request's host): %v; %s", s.origin, err, page("The browser `Origin` of an upgrade must be absent, equal to the request's host"))
	}
	if s.tg.AllowedOrigin != "" {
		h.Set("Origin", "https://"+s.tg.AllowedOrigin)
		if _, _, err := s.dial(t, h); err != nil {
			t.Errorf("an upgrade with allowed Origin https://%s: %v", s.tg.AllowedOrigin, err)
		}
	}
}

func testTooManyConns(t *testing.T, s *suite) {
	max := s.tg.Limits.MaxConns
	if max == 0 {
		t.Skip("needs Limits.MaxConns (-conformance.max-conns)")
	}
	if max > 200 {
		t.Skipf("Limits.MaxConns is %d: too many connections to open in a test", max)
	}
	base := s.connections(t)
	var open []*wsConn
	defer func() {
		for _, c := range open {
			c.Close()
		}
		// Wait for the server to count them out, so that later cases
		// are not refused.
		deadline := time.Now().Add(waitFor)
		for s.connections(t) > base && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}()
	for i := 0; i <= max; i++ {
		c, resp, err := s.dial(t, nil)
		if err == nil {
			open = append(open, c)
			continue
		}
		if resp == nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		body, _ := io.ReadAll(resp.Body)
		e := expectRESTError(t, fmt.Sprintf("connection %d over --max-conns %d", i+1, max), resp.StatusCode, body, http.StatusServiceUnavailable, "too_many_connections")
		namesLimit(t, "too_many_connections", e.Error.Message, max)
		if len(open) < max-base {
			t.Errorf("refused after %d connections (%d open before), limit %d", len(open), base, max)
		}
		return
	}
	t.Errorf("%d connections were accepted with --max-conns %d; %s", len(open), max, page("| connections to the server | 20,000 | HTTP 503 before the upgrade |"))
}

func testFrameTooLargeAfterHello(t *testing.T, s *suite) {
	limit := s.tg.Limits.MaxFrameBytes
	if limit == 0 {
		t.Skip("needs Limits.MaxFrameBytes (-conformance.max-frame)")
	}
	// At the limit: accepted.
	c, _ := s.hello(t, s.id("c"))
	ping := []byte(`{"t":"ping"}`)
	c.sendRaw(t, websocket.MessageText, append(ping, bytes.Repeat([]byte(" "), int(limit)-len(ping))...))
	if m := c.next(t); m.T != "pong" {
		t.Errorf("a ping frame of exactly --max-frame %d bytes: got %s, want pong", limit, m)
	}
	// Over it: fatal, 1009.
	c.sendRaw(t, websocket.MessageText, append(ping, bytes.Repeat([]byte(" "), int(limit)+1-len(ping))...))
	e := c.expectFatal(t, "frame_too_large")
	namesLimit(t, "frame_too_large", e.Text, limit)
}

func testClientArrays(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	c.subscribe(t, s.subMsg(key))
	// [] is ignored: the next answer is the ping's.
	c.sendRaw(t, websocket.MessageText, []byte("[]"))
	c.quiet(t, "after []", nil)
	// Handled in order: mids 1, 2, 3 in one frame are accepted in order
	// (out of order they would be mid_gap).
	c.send(t, []Msg{
		mut(key, 1, "Add", `{"title":"one"}`),
		mut(key, 2, "Add", `{"title":"two"}`),
		mut(key, 3, "Add", `{"title":"three"}`),
	})
	for i, title := range []string{"one", "two", "three"} {
		m := c.next(t)
		if m.T != "ev" || m.Mid != uint64(i+1) || m.Seq != uint64(i+1) || !strings.Contains(string(m.Args), title) {
			t.Errorf("array of three muts, answer %d: got %s, want ev mid %d seq %d", i+1, m, i+1, i+1)
		}
	}
	// Two pings in one frame: two pongs.
	c.send(t, []Msg{{T: "ping"}, {T: "ping"}})
	for i := range 2 {
		if m := c.next(t); m.T != "pong" {
			t.Errorf("array of two pings, answer %d: %s", i+1, m)
		}
	}
	c.mu.Lock()
	t.Logf("server frames: %d, of them arrays: %d", c.frames, c.arrays)
	c.mu.Unlock()
}

func testPingPong(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	c.send(t, Msg{T: "ping"})
	m := c.next(t)
	if m.T != "pong" {
		t.Fatalf("ping: got %s, want pong", m)
	}
	checkFields(t, m, []string{"t"})
}

func testUnknownType(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	c.send(t, Msg{T: "nope"})
	m := c.next(t)
	if m.T != "err" || m.Code != "bad_message" || m.Fatal {
		t.Errorf("a message of unknown type: got %s, want non-fatal bad_message (%s)", m, page("| `bad_message` | frame is not JSON or not a known message"))
	}
	c.sendRaw(t, websocket.MessageText, []byte("{not json"))
	m = c.next(t)
	if m.T != "err" || m.Code != "bad_message" || m.Fatal {
		t.Errorf("a frame that is not JSON after hello: got %s, want non-fatal bad_message", m)
	}
	c.quiet(t, "after bad_message", nil)
}

func testKeepalive(t *testing.T, s *suite) {
	ping := s.tg.Limits.PingInterval
	if ping == 0 {
		t.Skip("needs Limits.PingInterval (-conformance.ping)")
	}
	if ping > 10*time.Second {
		t.Skipf("a ping interval of %s is too long for a test", ping)
	}
	// A peer that reads (and so answers pings) lives on.
	alive, _ := s.hello(t, s.id("c"))
	// A raw peer that never answers pings.
	r := s.rawDial(t)
	hello, _ := json.Marshal(Msg{T: "hello", V: protocolVersion, Client: s.id("c")})
	if err := r.write(0x1, hello); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	deadline := start.Add(3*ping + waitFor)
	var pings int
	var welcome bool
	for {
		op, p, err := r.read(deadline)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("a peer that never answered %d pings was not dropped within %s; %s", pings, time.Since(start).Round(time.Millisecond), page("a peer that has not answered with a pong by the next one is dropped"))
			}
			t.Logf("dropped after %s and %d pings (%v)", time.Since(start).Round(time.Millisecond), pings, err)
			break
		}
		switch op {
		case 0x9:
			pings++
		case 0x1:
			if !welcome && bytes.Contains(p, []byte(`"welcome"`)) {
				welcome = true
				continue
			}
			t.Errorf("a peer that does not answer pings got a message: %s; %s", p, page("is dropped, without an `err` or a close frame"))
		case 0x8:
			t.Errorf("a peer that does not answer pings got a close frame %x; %s", p, page("is dropped, without an `err` or a close frame"))
		}
	}
	if !welcome {
		t.Errorf("the raw peer got no welcome")
	}
	if pings == 0 {
		t.Errorf("dropped without a ping")
	}
	if took := time.Since(start); took < ping {
		t.Errorf("dropped after %s, before one ping interval (%s)", took, ping)
	}
	alive.quiet(t, "a peer that answers pings", nil)
}

// shuttingDown stops the server through Control while a connection is
// open: it gets a fatal shutting_down with close status 1001.
func (s *suite) shuttingDown(t *testing.T) {
	if s.tg.Control == nil {
		t.Skip("needs Target.Control: the suite does not stop a server it does not own")
	}
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	c.subscribe(t, s.subMsg(key))
	c.send(t, mut(key, 1, "Add", `{"title":"before shutdown"}`))
	c.awaitEv(t, key, 1)
	if err := s.tg.Control.Shutdown(); err != nil {
		t.Fatal(err)
	}
	c.expectFatal(t, "shutting_down")
}

// testBigServerFrame makes a state larger than the client frame limit and
// reads it as one snap. The page: "Server frames are not bounded by the
// client frame limit: a `snap` holds a whole state".
func testBigServerFrame(t *testing.T, s *suite) {
	limit := s.tg.Limits.MaxFrameBytes
	if limit == 0 {
		t.Skip("needs Limits.MaxFrameBytes (-conformance.max-frame)")
	}
	if limit > 1<<20 {
		t.Skipf("--max-frame %d: a state over it is too large for a test", limit)
	}
	key := s.id("k")
	title := strings.Repeat("t", int(limit)/2)
	for range 3 {
		s.restAdd(t, key, title)
	}
	c, _ := s.hello(t, s.id("c"))
	sub := s.subMsg(key)
	sub.Snap = true
	before, _ := c.subscribe(t, sub)
	if len(before) != 1 || before[0].T != "snap" {
		t.Fatalf("sub snap:true: %d messages, want one snap", len(before))
	}
	if n := len(before[0].Raw); int64(n) <= limit {
		t.Fatalf("the snap is %d bytes, not over the client frame limit %d: the case proves nothing", n, limit)
	}
	if l := decodeList(t, before[0].State); len(l.Items) != 3 || l.Items[2].Title != title {
		t.Errorf("the snap of a state over the client frame limit lost items")
	}
}
