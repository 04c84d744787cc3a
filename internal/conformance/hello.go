// This file holds the hello cases: welcome, the first message, the
// version, client ids, the limits before hello and hello in an array frame.

package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func testWelcome(t *testing.T, s *suite) {
	client := s.id("c")
	_, w := s.hello(t, client)
	checkFields(t, w, []string{"t", "v", "client", "ns", "actor", "types"})
	if w.V != protocolVersion {
		t.Errorf("welcome v %d, want %d: %s", w.V, protocolVersion, w)
	}
	if w.Client != client {
		t.Errorf("welcome client %q, want %q", w.Client, client)
	}
	if w.NS != defaultNamespace {
		t.Errorf("welcome ns %q, want %q (the key's namespace)", w.NS, defaultNamespace)
	}
	if w.Actor == "" {
		t.Errorf("welcome without actor: %s", w)
	}
	want := map[string]string{}
	for _, ti := range s.types {
		want[ti.Name] = ti.Fingerprint
	}
	if fmt.Sprint(w.Types) != fmt.Sprint(want) {
		t.Errorf("welcome types %v, GET /v1/types lists %v", w.Types, want)
	}
	if w.Types[typeName] != s.fp {
		t.Errorf("welcome types[%q] = %q, GET /v1/types says %q", typeName, w.Types[typeName], s.fp)
	}
}

func testHelloRequired(t *testing.T, s *suite) {
	for _, first := range []Msg{{T: "ping"}, s.subMsg(s.id("k"))} {
		c := s.mustDial(t, nil)
		c.send(t, first)
		c.expectFatal(t, "hello_required")
	}
}

func testBadMessageBeforeHello(t *testing.T, s *suite) {
	c := s.mustDial(t, nil)
	for _, f := range []struct {
		what string
		typ  websocket.MessageType
		data string
	}{
		{"not JSON", websocket.MessageText, "this is not JSON"},
		{"no t", websocket.MessageText, `{"v":1}`},
		{"a binary frame", websocket.MessageBinary, `{"t":"hello","v":1,"client":"x"}`},
	} {
		c.sendRaw(t, f.typ, []byte(f.data))
		m := c.next(t)
		if m.T != "err" || m.Code != "bad_message" || m.Fatal {
			t.Errorf("%s before hello: got %s, want a non-fatal err bad_message (%s)", f.what, m,
				page("a frame that is not a message (not JSON, no `t`, a binary frame) with a non-fatal `bad_message`"))
			continue
		}
		checkFields(t, m, []string{"t", "code", "msg"})
	}
	c.send(t, Msg{T: "hello", V: protocolVersion, Client: s.id("c")})
	if m := c.next(t); m.T != "welcome" {
		t.Errorf("hello after bad_message: got %s, want welcome", m)
	}
}

func testHelloTimeout(t *testing.T, s *suite) {
	c := s.mustDial(t, nil)
	start := time.Now()
	m, err := c.read(s.tg.Limits.HelloTimeout + waitFor)
	if err != nil {
		t.Fatalf("no hello: waiting for hello_required: %v", err)
	}
	took := time.Since(start)
	c.unread(m)
	e := c.expectFatal(t, "hello_required")
	namesLimit(t, "hello_required on time", e.Text, s.tg.Limits.HelloTimeout)
	if took < s.tg.Limits.HelloTimeout-time.Second/2 {
		t.Errorf("hello_required after %s, before the %s the page gives", took, s.tg.Limits.HelloTimeout)
	}
	t.Logf("hello_required after %s", took.Round(10*time.Millisecond))
}

func testBadVersion(t *testing.T, s *suite) {
	for _, v := range []int{2, 0} {
		c := s.mustDial(t, nil)
		c.send(t, Msg{T: "hello", V: v, Client: s.id("c")})
		c.expectFatal(t, "bad_version")
	}
}

func testBadClientID(t *testing.T, s *suite) {
	for _, id := range []string{"", strings.Repeat("a", 129), "has space", "tab\there", "caf\u00e9", "del\x7f"} {
		c := s.mustDial(t, nil)
		c.send(t, Msg{T: "hello", V: protocolVersion, Client: id})
		m, err := c.read(waitFor)
		if err != nil {
			t.Fatalf("client id %q: %v", id, err)
		}
		if m.T != "err" || m.Code != "bad_request" {
			t.Errorf("client id %q: got %s, want fatal bad_request (%s)", id, m, page("a client id that is not 1–128 bytes of printable ASCII without spaces with a fatal `bad_request`"))
			continue
		}
		c.unread(m)
		c.expectFatal(t, "bad_request")
	}
}

func testClientID128(t *testing.T, s *suite) {
	id := s.id("c")
	id += strings.Repeat("x", 128-len(id))
	_, w := s.hello(t, id)
	if w.Client != id {
		t.Errorf("welcome client %q, want %q", w.Client, id)
	}
}

func testFrameTooLargeBeforeHello(t *testing.T, s *suite) {
	limit := int(s.tg.Limits.HelloFrameBytes)
	// At the limit: accepted.
	c := s.mustDial(t, nil)
	hello, _ := json.Marshal(Msg{T: "hello", V: protocolVersion, Client: s.id("c")})
	frame := append(hello, bytes.Repeat([]byte(" "), limit-len(hello))...)
	c.sendRaw(t, websocket.MessageText, frame)
	if m := c.next(t); m.T != "welcome" {
		t.Errorf("a hello frame of exactly %d bytes: got %s, want welcome (%s)", limit, m, page("Until hello has succeeded a frame may hold at most 4 KiB"))
	}
	// Over it: fatal, 1009.
	c = s.mustDial(t, nil)
	frame = append(hello, bytes.Repeat([]byte(" "), limit+1-len(hello))...)
	c.sendRaw(t, websocket.MessageText, frame)
	e := c.expectFatal(t, "frame_too_large")
	namesLimit(t, "frame_too_large before hello", e.Text, limit)
	c = s.mustDial(t, nil)
	c.sendRaw(t, websocket.MessageText, append(hello, bytes.Repeat([]byte(" "), 4*limit)...))
	c.expectFatal(t, "frame_too_large")
}

func testSecondHello(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	c.send(t, Msg{T: "hello", V: protocolVersion, Client: s.id("c")})
	m, err := c.read(waitFor)
	if err != nil {
		t.Fatalf("a second hello: %v", err)
	}
	if m.T != "err" || m.Code != "bad_message" || m.Fatal {
		t.Fatalf("a second hello is answered with %s; %s", m, page("A second `hello` on a connection is answered with a non-fatal `bad_message`"))
	}
	c.send(t, Msg{T: "ping"})
	c.await(t, "pong", func(m Msg) bool { return m.T == "pong" })
}

func testHelloArray(t *testing.T, s *suite) {
	c := s.mustDial(t, nil)
	key := s.id("k")
	c.send(t, []Msg{{T: "hello", V: protocolVersion, Client: s.id("c")}, s.subMsg(key), {T: "ping"}})
	if m := c.next(t); m.T != "welcome" {
		t.Fatalf("[hello, sub, ping]: first answer %s, want welcome", m)
	}
	c.await(t, "pong", func(m Msg) bool { return m.T == "pong" })
	c.awaitSynced(t, key)
}
