package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
)

var tokenSecret = []byte("a-test-secret-of-more-than-32-bytes-for-hs256")

func startWithTokens(t *testing.T, opts ...servertest.Option) *servertest.Server {
	return startTodos(t, append([]servertest.Option{servertest.Config(func(c *server.Config) {
		c.Tokens = &server.TokenKeys{Secret: tokenSecret}
	})}, opts...)...)
}

func mint(t *testing.T, ns, actor string, ttl time.Duration, grants ...string) string {
	t.Helper()
	tok, err := server.MintToken(tokenSecret, ns, actor, grants, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// wsOutcome says what a connection with credential cred gets for op on
// key: "ok" or the err code (hello's err code for a refused hello).
func wsOutcome(t *testing.T, s *servertest.Server, cred, op, key string) string {
	t.Helper()
	c, _, err := dialWS(t, s.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.ws.CloseNow()
	c.send(protocol.Msg{T: protocol.THello, V: protocol.Version, Client: fmt.Sprint("m-", time.Now().UnixNano()), Auth: cred, Namespace: "default"})
	if m := c.expect2(); m.T != protocol.TWelcome {
		return m.Code
	}
	c.send(protocol.Msg{T: protocol.TSub, Key: key, Type: todos.ListType.Name, FP: todos.ListType.Fingerprint})
	if m := c.expect2(); m.T == protocol.TErr {
		return m.Code
	}
	for m := c.expect2(); m.T != protocol.TSynced; m = c.expect2() {
	}
	switch op {
	case "sub":
		return "ok"
	case "mut":
		c.send(protocol.Msg{T: protocol.TMut, Key: key, Mid: 1, Name: "Add", Args: json.RawMessage(`{"title":"x"}`)})
	case "pset":
		c.send(protocol.Msg{T: protocol.TPset, Key: key, Data: json.RawMessage(`{"name":"x"}`)})
		c.send(protocol.Msg{T: protocol.TPing})
	}
	for {
		m := c.expect2()
		switch m.T {
		case protocol.TErr:
			return m.Code
		case protocol.TEv, protocol.TRej, protocol.TPong:
			return "ok"
		}
	}
}

// restOutcome says what a REST request with credential cred gets: "ok" or
// the error code.
func restOutcome(t *testing.T, s *servertest.Server, cred, method, path, body string) string {
	t.Helper()
	code, out := rest(t, method, s.HTTPURL+path, cred, body)
	if code == http.StatusOK {
		return "ok"
	}
	return fmt.Sprint(code, " ", errCode(out))
}

// TestAuthorizationMatrix: every message and endpoint that reaches a key,
// against every kind of credential. docs/PROTOCOL.md, "Access", has the
// same table.
func TestAuthorizationMatrix(t *testing.T) {
	s := startWithTokens(t)
	const key = "list-ann-1"
	if out := restOutcome(t, s, s.Key, "POST", "/v1/namespaces/default/states/"+key+"/mutations", `{"type":"todos.List","name":"Add","args":{"title":"a"}}`); out != "ok" {
		t.Fatal(out)
	}
	granted, err := s.Server().CreateKey(context.Background(), server.KeySpec{Actor: "ann", Grants: []string{"list-{actor}-*:r"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Server().CreateKey(context.Background(), server.KeySpec{Grants: []string{"a/b:rw"}}); err == nil {
		t.Fatal("a grant with a slash was taken")
	}
	revoked := s.CreateKey("default", server.RoleClient)
	s.RevokeKey(revoked)
	expired := mint(t, "default", "ann", time.Second, "list-{actor}-*:rw")
	creds := []struct{ name, cred string }{
		{"none", ""},
		{"wrong", "bs_nope_nope"},
		{"expired token", expired},
		{"token of another namespace", mint(t, "other", "ann", time.Hour, "*:rw")},
		{"token without a grant for the key", mint(t, "default", "bob", time.Hour, "list-{actor}-*:rw")},
		{"read-only grant", mint(t, "default", "ann", time.Hour, "list-ann-1:r")},
		{"grant by pattern", mint(t, "default", "ann", time.Hour, "list-{actor}-*:rw")},
		{"API key with a read grant", granted},
		{"admin key", s.Key},
		{"revoked key", revoked},
	}
	state := "/v1/namespaces/default/states/" + key
	ops := []struct {
		name string
		run  func(cred string) string
	}{
		{"ws sub", func(c string) string { return wsOutcome(t, s, c, "sub", key) }},
		{"ws mut", func(c string) string { return wsOutcome(t, s, c, "mut", key) }},
		{"ws pset", func(c string) string { return wsOutcome(t, s, c, "pset", key) }},
		{"GET state", func(c string) string { return restOutcome(t, s, c, "GET", state, "") }},
		{"GET history", func(c string) string { return restOutcome(t, s, c, "GET", state+"/history", "") }},
		{"GET at/1", func(c string) string { return restOutcome(t, s, c, "GET", state+"/at/1", "") }},
		{"GET presence", func(c string) string { return restOutcome(t, s, c, "GET", state+"/presence", "") }},
		{"POST mutation", func(c string) string {
			return restOutcome(t, s, c, "POST", state+"/mutations", `{"name":"Add","args":{"title":"r"}}`)
		}},
		{"GET types", func(c string) string { return restOutcome(t, s, c, "GET", "/v1/types", "") }},
		{"GET states (admin)", func(c string) string { return restOutcome(t, s, c, "GET", "/v1/namespaces/default/states", "") }},
		{"GET namespaces (admin)", func(c string) string { return restOutcome(t, s, c, "GET", "/v1/namespaces", "") }},
		{"DELETE (admin)", func(c string) string {
			return restOutcome(t, s, c, "DELETE", "/v1/namespaces/default/states/list-ann-gone", "")
		}},
	}
	// want[credential] lists each op's outcome, in the order of ops.
	want := map[string]string{
		"none":                              "unauthorized unauthorized unauthorized | 401 unauthorized ×9",
		"wrong":                             "unauthorized unauthorized unauthorized | 401 unauthorized ×9",
		"expired token":                     "token_expired token_expired token_expired | 401 token_expired ×9",
		"token of another namespace":        "forbidden forbidden forbidden | 403 forbidden 403 forbidden 403 forbidden 403 forbidden 403 forbidden ok 403 forbidden 403 forbidden 403 forbidden",
		"token without a grant for the key": "forbidden forbidden forbidden | 403 forbidden 403 forbidden 403 forbidden 403 forbidden 403 forbidden ok 403 forbidden 403 forbidden 403 forbidden",
		"read-only grant":                   "ok forbidden ok | ok ok ok ok 403 forbidden ok 403 forbidden 403 forbidden 403 forbidden",
		"grant by pattern":                  "ok ok ok | ok ok ok ok ok ok 403 forbidden 403 forbidden 403 forbidden",
		"API key with a read grant":         "ok forbidden ok | ok ok ok ok 403 forbidden ok 403 forbidden 403 forbidden 403 forbidden",
		"admin key":                         "ok ok ok | ok ok ok ok ok ok ok ok 404 not_found",
		"revoked key":                       "unauthorized unauthorized unauthorized | 401 unauthorized ×9",
	}
	time.Sleep(time.Until(time.Now().Add(3500 * time.Millisecond))) // the expired token's second and leeway
	for _, c := range creds {
		var ws, rs []string
		for _, op := range ops {
			out := op.run(c.cred)
			if strings.HasPrefix(op.name, "ws") {
				ws = append(ws, out)
			} else {
				rs = append(rs, out)
			}
		}
		got := strings.Join(ws, " ") + " | " + squash(rs)
		if got != want[c.name] {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, want[c.name])
		}
	}
}

// squash writes a run of one outcome as "OUTCOME ×N".
func squash(out []string) string {
	same := true
	for _, o := range out {
		same = same && o == out[0]
	}
	if same && len(out) > 1 && out[0] != "ok" {
		return fmt.Sprintf("%s ×%d", out[0], len(out))
	}
	return strings.Join(out, " ")
}

// TestTokenRefreshOnALiveConnection: a connection outlives several token
// lifetimes through auth, with nothing lost; without a refresh it ends
// with token_expired; a refresh with fewer grants ends the subscriptions
// it no longer reaches.
func TestTokenRefreshOnALiveConnection(t *testing.T) {
	s := startWithTokens(t)
	c, _, err := dialWS(t, s.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	c.send(protocol.Msg{T: protocol.THello, V: protocol.Version, Client: "r1", Auth: mint(t, "default", "ann", time.Second, "list-{actor}-*:rw")})
	c.expect(protocol.TWelcome)
	c.subTodos("list-ann-1", 0, "")
	c.expect(protocol.TSynced)
	// Four lifetimes (1 s each, plus the 2 s leeway), refreshed every
	// 500 ms, writing all along.
	end := time.Now().Add(5 * time.Second)
	mid := uint64(0)
	for time.Now().Before(end) {
		c.send(protocol.Msg{T: protocol.TAuth, Auth: mint(t, "default", "ann", time.Second, "list-{actor}-*:rw")})
		c.expect(protocol.TAuthed)
		for range 5 {
			mid++
			c.send(addTo("list-ann-1", mid, fmt.Sprint("t", mid)))
			c.expect(protocol.TEv)
		}
		time.Sleep(400 * time.Millisecond)
	}
	if seq, l := stateOf(t, s, "list-ann-1"); seq != mid || len(l.Items) != int(mid) {
		t.Fatalf("seq %d with %d items, %d mutations sent", seq, len(l.Items), mid)
	}
	// Another actor's token, or a bad one, is refused without ending the
	// connection.
	c.send(protocol.Msg{T: protocol.TAuth, Auth: mint(t, "default", "bob", time.Hour, "*:rw")})
	c.expectErr(protocol.CodeForbidden)
	c.send(protocol.Msg{T: protocol.TAuth, Auth: "x.y.z"})
	c.expectErr(protocol.CodeUnauthorized)
	// A refresh with fewer grants ends the subscription it no longer
	// reaches.
	c.send(protocol.Msg{T: protocol.TAuth, Auth: mint(t, "default", "ann", time.Hour, "board-*:r")})
	if e := c.expectErr(protocol.CodeForbidden); e.Key != "list-ann-1" {
		t.Fatalf("%+v", e)
	}
	c.expect(protocol.TAuthed)
	c.send(addTo("list-ann-1", mid+1, "late"))
	c.expectErr(protocol.CodeNotSubscribed)

	// Without a refresh, the connection ends with token_expired.
	d, _, err := dialWS(t, s.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	d.send(protocol.Msg{T: protocol.THello, V: protocol.Version, Client: "r2", Auth: mint(t, "default", "ann", time.Second, "list-{actor}-*:rw")})
	d.expect(protocol.TWelcome)
	start := time.Now()
	m, err := d.next(10 * time.Second)
	if err != nil || m.Code != protocol.CodeTokenExpired || !m.Fatal {
		t.Fatalf("an expired connection got %+v, %v", m, err)
	}
	if _, err := d.next(2 * time.Second); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("after token_expired: %v", err)
	}
	t.Logf("token_expired %s after hello (1 s token, 2 s leeway)", time.Since(start).Round(100*time.Millisecond))
}

func addTo(key string, mid uint64, title string) protocol.Msg {
	return protocol.Msg{T: protocol.TMut, Key: key, Mid: mid, Name: "Add", Args: json.RawMessage(fmt.Sprintf(`{"title":%q}`, title))}
}
