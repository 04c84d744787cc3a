package server_test

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
)

func (c *wsc) subPresence(key string) {
	c.t.Helper()
	c.send(protocol.Msg{T: protocol.TSub, Key: key, Type: todos.ListType.Name, FP: todos.ListType.Fingerprint, Presence: true})
	c.expect(protocol.TSynced)
}

func (c *wsc) pset(key, name string) {
	c.t.Helper()
	data := json.RawMessage("null")
	if name != "" {
		data, _ = json.Marshal(todos.Watcher{Name: name})
	}
	c.send(protocol.Msg{T: protocol.TPset, Key: key, Data: data})
}

// presenceOf reads the next presence message and describes it:
// "full [a=ann b=bob]" or "[a=ann] left [b]".
func (c *wsc) presenceOf() string {
	c.t.Helper()
	m := c.expect(protocol.TPresence)
	var parts []string
	for _, mb := range m.Members {
		var w todos.Watcher
		if err := json.Unmarshal(mb.Data, &w); err != nil {
			c.t.Fatalf("member %s: %v", mb.Client, err)
		}
		parts = append(parts, mb.Client+"="+w.Name)
	}
	s := fmt.Sprint(parts)
	if m.Full {
		s = "full " + s
	}
	if len(m.Left) > 0 {
		s += fmt.Sprint(" left ", m.Left)
	}
	return s
}

// TestPresence: join, update, leave on unsub and on close, the set first on
// (re)subscription, coalescing per tick, and the REST listing; nothing of
// it reaches the log.
func TestPresence(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) { c.Limits.PresenceTick = 100 * time.Millisecond }))
	a, b := connect(t, s, "a"), connect(t, s, "b")
	a.subPresence("k")
	if got := a.presenceOf(); got != "full []" {
		t.Fatalf("the set of an empty key: %s", got)
	}
	b.subPresence("k")
	b.presenceOf()
	a.pset("k", "ann")
	for _, c := range []*wsc{a, b} {
		m := c.expect(protocol.TPresence)
		if len(m.Members) != 1 || m.Members[0].Actor != "dev" {
			t.Fatalf("join without the actor: %+v", m)
		}
		c.buf = append([]protocol.Msg{m}, c.buf...)
		if got := c.presenceOf(); got != "[a=ann]" {
			t.Fatalf("join: %s", got)
		}
	}
	// Three updates within one tick arrive as one, the last value.
	b.pset("k", "b1")
	b.pset("k", "b2")
	b.pset("k", "bob")
	for _, c := range []*wsc{a, b} {
		if got := c.presenceOf(); got != "[b=bob]" {
			t.Fatalf("coalesced updates: %s", got)
		}
	}
	// A member's actor comes with its first appearance only.
	a.pset("k", "ann2")
	if m := b.expect(protocol.TPresence); len(m.Members) != 1 || m.Members[0].Actor != "" {
		t.Fatalf("an update of a known member: %+v", m.Members)
	}
	a.pset("k", "ann")
	a.expect(protocol.TPresence)
	a.expect(protocol.TPresence)
	b.expect(protocol.TPresence)

	// A new subscriber gets the whole set first; one that did not ask
	// for presence gets none.
	c := connect(t, s, "c")
	c.subPresence("k")
	m := c.expect(protocol.TPresence)
	if len(m.Members) != 2 || !m.Full || m.Members[0].Actor != "dev" || m.Members[1].Actor != "dev" {
		t.Fatalf("the set on subscribing: %+v", m)
	}
	c.buf = append([]protocol.Msg{m}, c.buf...)
	if got := c.presenceOf(); got != "full [a=ann b=bob]" {
		t.Fatalf("the set on subscribing: %s", got)
	}
	d := connect(t, s, "d")
	d.subTodos("k", 0, "")
	d.expect(protocol.TSynced)
	d.pset("k", "dan")
	if got := a.presenceOf(); got != "[d=dan]" {
		t.Fatalf("join of d: %s", got)
	}
	code, out := rest(t, "GET", s.HTTPURL+"/v1/namespaces/default/states/k/presence", s.Key, "")
	if ms, _ := out["members"].([]any); code != 200 || len(ms) != 3 {
		t.Fatalf("REST presence: %d %v", code, out)
	}
	if code, out := rest(t, "GET", s.HTTPURL+"/v1/namespaces/default/states/nobody-here/presence", s.Key, ""); code != 200 || len(out["members"].([]any)) != 0 {
		t.Fatalf("REST presence of an idle key: %d %v", code, out)
	}

	// Leaving: clearing it, unsubscribing, closing the connection.
	d.pset("k", "")
	b.send(protocol.Msg{T: protocol.TUnsub, Key: "k"})
	c.ws.CloseNow()
	want := map[string]bool{"[] left [b d]": true} // c had none
	got := a.presenceOf()
	for !want[got] && strings.Contains(got, "left") {
		// The three may fall into two ticks.
		more := a.presenceOf()
		got = mergeLeft(got, more)
	}
	if !want[got] {
		t.Fatalf("leaves: %s", got)
	}
	if seq, _ := stateOf(t, s, "k"); seq != 0 {
		t.Fatalf("presence reached the log: seq %d", seq)
	}
}

// mergeLeft joins two "[] left [...]" descriptions.
func mergeLeft(a, b string) string {
	la := strings.Fields(strings.Trim(strings.TrimPrefix(a, "[] left "), "[]"))
	lb := strings.Fields(strings.Trim(strings.TrimPrefix(b, "[] left "), "[]"))
	all := append(la, lb...)
	return fmt.Sprint("[] left ", sortStrings(all))
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// TestPresenceLimits: a presence over the size limit, not a valid
// presence, on a key not subscribed, or over the rate, is refused with its
// code; a connection that stops answering pings leaves.
func TestPresenceLimits(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) {
		c.Limits.MaxPresenceBytes = 64
		c.Limits.PresencePerSecond = 5
		c.Limits.PingInterval = 200 * time.Millisecond
	}))
	a := connect(t, s, "a")
	a.pset("k", "x")
	a.expectErr(protocol.CodeNotSubscribed)
	a.subPresence("k")
	a.presenceOf()
	a.pset("k", strings.Repeat("n", 60))
	if e := a.expectErr(protocol.CodePresenceTooLarge); !strings.Contains(e.Message, "at most 64 bytes") {
		t.Fatalf("%+v", e)
	}
	a.send(protocol.Msg{T: protocol.TPset, Key: "k", Data: json.RawMessage(`{"name":7}`)})
	if e := a.expectErr(protocol.CodeBadPresence); !strings.Contains(e.Message, "todos.Watcher") {
		t.Fatalf("%+v", e)
	}
	// A burst of 5 (one spent on the bad presence above): the sixth in a
	// row is over.
	for i := range 6 {
		a.pset("k", fmt.Sprint("a", i))
	}
	for {
		m := a.expect2()
		if m.T == protocol.TErr {
			if m.Code != protocol.CodeRateLimited || m.RetryMs <= 0 || !strings.Contains(m.Message, "presence updates/s") {
				t.Fatalf("%+v", m)
			}
			break
		}
	}

	// A peer that stops answering pings (it never reads) is dropped, and
	// leaves.
	w := connect(t, s, "w")
	w.subPresence("k")
	w.presenceOf()
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v1/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n", s.Addr, s.Key)
	for _, m := range []string{
		`{"t":"hello","v":1,"client":"dead"}`,
		`{"t":"sub","key":"k","type":"todos.List","fp":"` + todos.ListType.Fingerprint + `"}`,
		`{"t":"pset","key":"k","data":{"name":"ghost"}}`,
	} {
		conn.Write(maskedFrame([]byte(m)))
	}
	deadline := time.Now().Add(10 * time.Second)
	var seen []string
	joined := false
	for time.Now().Before(deadline) {
		m := w.expect(protocol.TPresence)
		seen = append(seen, fmt.Sprint(len(m.Members), " members, left ", m.Left))
		for _, mb := range m.Members {
			joined = joined || mb.Client == "dead"
		}
		// (a, which stopped reading too, leaves the same way.)
		if slices.Contains(m.Left, "dead") && joined {
			return
		}
	}
	t.Fatalf("the dead peer did not leave: %v", seen)
}

// maskedFrame is a client text frame (FIN, masked with a zero key).
func maskedFrame(p []byte) []byte {
	f := []byte{0x81}
	switch n := len(p); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	default:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	}
	return append(append(f, 0, 0, 0, 0), p...)
}
