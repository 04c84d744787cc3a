// This file holds the authentication cases: the upgrade's header,
// hello.auth and hello.ns, namespaces, client_taken, replaced and revoked
// keys.

package conformance

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"testing"
	"time"
)

func testHeaderWrong(t *testing.T, s *suite) {
	for _, key := range []string{"bs_nope_nope", "not-a-key"} {
		h := http.Header{}
		h.Set("Authorization", "Bearer "+key)
		c, resp, err := s.dial(t, h)
		if err == nil {
			c.Close()
			t.Fatalf("a header with key %q: the upgrade succeeded; %s", key, page("a header with a key that is not valid is refused **before the upgrade**: HTTP 401"))
		}
		if resp == nil {
			t.Fatalf("a header with key %q: no HTTP answer: %v", key, err)
		}
		body, _ := io.ReadAll(resp.Body)
		expectRESTError(t, "upgrade with a wrong key", resp.StatusCode, body, http.StatusUnauthorized, "unauthorized")
		want := `{"error":{"code":"unauthorized","message":"the API key is not valid"}}`
		if !jsonEqual(body, []byte(want)) {
			t.Errorf("401 body %s, want %s (%s)", bytes.TrimSpace(body), want, page("HTTP 401 with the REST error body `"+want+"`"))
		}
	}
}

func testHelloAuthWrong(t *testing.T, s *suite) {
	c := s.mustDial(t, http.Header{})
	c.send(t, Msg{T: "hello", V: protocolVersion, Client: s.id("c"), Auth: "bs_nope_nope"})
	c.expectFatal(t, "unauthorized")
}

func testNoKey(t *testing.T, s *suite) {
	c := s.mustDial(t, http.Header{})
	c.send(t, Msg{T: "hello", V: protocolVersion, Client: s.id("c")})
	c.expectFatal(t, "unauthorized")
}

func testNonBearerHeader(t *testing.T, s *suite) {
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("user:pass")))
	c, resp, err := s.dial(t, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("a Basic header: upgrade refused (HTTP %d): %v; %s", status, err, page("a missing header (or one that is not `Bearer`) lets the upgrade through"))
	}
	c.send(t, Msg{T: "hello", V: protocolVersion, Client: s.id("c"), Auth: s.tg.Key})
	if m := c.next(t); m.T != "welcome" || m.NS != defaultNamespace {
		t.Errorf("hello with auth after a Basic header: got %s, want welcome", m)
	}
}

func testHelloAuthWrongAfterHeader(t *testing.T, s *suite) {
	c := s.mustDial(t, nil)
	c.send(t, Msg{T: "hello", V: protocolVersion, Client: s.id("c"), Auth: "bs_nope_nope"})
	c.expectFatal(t, "unauthorized")
}

func (s *suite) needOther(t *testing.T) {
	if s.tg.OtherKey == "" {
		t.Skip("needs Target.OtherKey, a client key of namespace default with another actor (-conformance.other-key); the server has no REST endpoint that creates keys")
	}
}

func testHelloAuthWins(t *testing.T, s *suite) {
	s.needOther(t)
	_, main := s.hello(t, s.id("c"))
	c := s.mustDial(t, http.Header{"Authorization": {"Bearer " + s.tg.OtherKey}})
	c.send(t, Msg{T: "hello", V: protocolVersion, Client: s.id("c")})
	other := c.next(t)
	if other.T != "welcome" {
		t.Fatalf("hello with OtherKey: %s", other)
	}
	if other.Actor == main.Actor {
		t.Fatalf("OtherKey's actor %q is Key's: the case needs another actor", other.Actor)
	}
	c = s.mustDial(t, nil)
	c.send(t, Msg{T: "hello", V: protocolVersion, Client: s.id("c"), Auth: s.tg.OtherKey})
	w := c.next(t)
	if w.T != "welcome" || w.Actor != other.Actor {
		t.Errorf("header Key, hello.auth OtherKey: got %s, want welcome with actor %q; %s", w, other.Actor,
			page("a non-empty `hello.auth` is always checked, also after a header: when valid it wins (its actor, role and key)"))
	}
}

func testHelloNSForbidden(t *testing.T, s *suite) {
	c := s.mustDial(t, nil)
	c.send(t, Msg{T: "hello", V: protocolVersion, Client: s.id("c"), NS: "not-" + defaultNamespace})
	c.expectFatal(t, "forbidden")
	// The key's own namespace is fine.
	c = s.mustDial(t, nil)
	c.send(t, Msg{T: "hello", V: protocolVersion, Client: s.id("c"), NS: defaultNamespace})
	if m := c.next(t); m.T != "welcome" {
		t.Errorf("hello with ns %q: got %s, want welcome", defaultNamespace, m)
	}
}

func testHelloAuthForeign(t *testing.T, s *suite) {
	if s.tg.ForeignKey == "" {
		t.Skip("needs Target.ForeignKey, a key of another namespace (-conformance.foreign-key)")
	}
	c := s.mustDial(t, nil)
	c.send(t, Msg{T: "hello", V: protocolVersion, Client: s.id("c"), Auth: s.tg.ForeignKey})
	c.expectFatal(t, "forbidden")
	// Alone, it is welcome in its own namespace.
	c = s.mustDial(t, http.Header{})
	c.send(t, Msg{T: "hello", V: protocolVersion, Client: s.id("c"), Auth: s.tg.ForeignKey})
	w := c.next(t)
	if w.T != "welcome" || w.NS == "" || w.NS == defaultNamespace {
		t.Errorf("hello with only ForeignKey: %s, want welcome with its own namespace; %s", w, page("`ns` | string | welcome: the namespace the API key belongs to"))
	}
	// REST: a path of another namespace is forbidden.
	st, _, body := s.rest(t, "GET", s.statePath(s.id("k")), s.tg.ForeignKey, nil)
	expectRESTError(t, "a foreign key on namespace default", st, body, http.StatusForbidden, "forbidden")
}

func testClientTaken(t *testing.T, s *suite) {
	s.needOther(t)
	client := s.id("c")
	c := s.mustDial(t, http.Header{"Authorization": {"Bearer " + s.tg.OtherKey}})
	c.send(t, Msg{T: "hello", V: protocolVersion, Client: client})
	if m := c.next(t); m.T != "welcome" {
		t.Fatalf("hello with OtherKey: %s", m)
	}
	c.Close()
	c2 := s.mustDial(t, nil)
	c2.send(t, Msg{T: "hello", V: protocolVersion, Client: client})
	c2.expectFatal(t, "client_taken")
	// REST too.
	key := s.id("k")
	st, _, body := s.rest(t, "POST", s.statePath(key)+"/mutations", s.tg.Key,
		map[string]any{"type": typeName, "name": "Add", "args": map[string]string{"title": "x"}, "client": client, "mid": 1})
	expectRESTError(t, "REST mutation with another actor's client id", st, body, http.StatusForbidden, "client_taken")
}

func testReplaced(t *testing.T, s *suite) {
	client := s.id("c")
	key := s.id("k")
	a, _ := s.hello(t, client)
	a.subscribe(t, s.subMsg(key))
	b, _ := s.hello(t, client)
	a.expectFatal(t, "replaced")
	// The newer connection lives on.
	_, synced := b.subscribe(t, s.subMsg(key))
	b.send(t, mut(key, synced.Mid+1, "Add", `{"title":"after replace"}`))
	b.awaitEv(t, key, synced.Mid+1)
}

func testRevoked(t *testing.T, s *suite) {
	rv, ok := s.tg.Control.(Revoker)
	if s.tg.RevocableKey == "" || !ok {
		t.Skip("needs Target.RevocableKey and a Control that implements Revoker")
	}
	c := s.mustDial(t, http.Header{"Authorization": {"Bearer " + s.tg.RevocableKey}})
	c.send(t, Msg{T: "hello", V: protocolVersion, Client: s.id("c")})
	if m := c.next(t); m.T != "welcome" {
		t.Fatalf("hello with RevocableKey: %s", m)
	}
	if err := rv.Revoke(s.tg.RevocableKey); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.expectFatal(t, "unauthorized")
	took := time.Since(start)
	// The page: "within about 5 s"; expectFatal bounds the wait.
	t.Logf("unauthorized %s after the revocation", took.Round(10*time.Millisecond))
	st, _, body := s.rest(t, "GET", "/v1/types", s.tg.RevocableKey, nil)
	expectRESTError(t, "REST with a revoked key", st, body, http.StatusUnauthorized, "unauthorized")
}

func testReplacedOlderUpgrade(t *testing.T, s *suite) {
	client := s.id("c")
	older := s.mustDial(t, nil)
	newer := s.mustDial(t, nil)
	newer.send(t, Msg{T: "hello", V: protocolVersion, Client: client})
	if m := newer.next(t); m.T != "welcome" {
		t.Fatalf("hello on the newer upgrade: %s", m)
	}
	older.send(t, Msg{T: "hello", V: protocolVersion, Client: client})
	m, err := older.read(waitFor)
	if err != nil {
		t.Fatalf("hello on the older upgrade: %v", err)
	}
	if m.T != "err" || m.Code != "replaced" {
		t.Fatalf("the hello of the connection upgraded first, checked last: %s, want fatal replaced; %s", m,
			page("if the hello of a connection that was upgraded first is checked last (its client already redialled), that connection is the one replaced, never the live one"))
	}
	older.unread(m)
	older.expectFatal(t, "replaced")
	newer.quiet(t, "the live connection", nil)
}
