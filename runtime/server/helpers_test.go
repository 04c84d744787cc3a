package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server/servertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func startTodos(t *testing.T, opts ...servertest.Option) *servertest.Server {
	return servertest.Start(t, append([]servertest.Option{servertest.Register(todos.Register)}, opts...)...)
}

// wsc is a protocol-level test client: raw frames over a real WebSocket.
type wsc struct {
	t   *testing.T
	ws  *websocket.Conn
	buf []protocol.Msg
}

func dialWS(t *testing.T, url, key string) (*wsc, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	ws.SetReadLimit(64 << 20)
	c := &wsc{t: t, ws: ws}
	t.Cleanup(func() { ws.CloseNow() })
	return c, resp, nil
}

// connect dials, says hello as client and waits for welcome.
func connect(t *testing.T, s *servertest.Server, client string) *wsc {
	t.Helper()
	return connectAs(t, s, s.Key, client)
}

// connectAs is connect with another API key.
func connectAs(t *testing.T, s *servertest.Server, apiKey, client string) *wsc {
	t.Helper()
	c, _, err := dialWS(t, s.URL, apiKey)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.send(protocol.Msg{T: protocol.THello, V: protocol.Version, Client: client})
	c.expect(protocol.TWelcome)
	return c
}

func (c *wsc) send(m protocol.Msg) {
	c.t.Helper()
	c.sendRaw(protocol.Encode(&m))
}

func (c *wsc) sendRaw(b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next message, or an error (closed connection, timeout).
func (c *wsc) next(timeout time.Duration) (protocol.Msg, error) {
	if len(c.buf) > 0 {
		m := c.buf[0]
		c.buf = c.buf[1:]
		return m, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		return protocol.Msg{}, err
	}
	ms, err := protocol.Decode(data)
	if err != nil {
		c.t.Fatalf("server sent an undecodable frame %q: %v", data, err)
	}
	c.buf = append(c.buf, ms[1:]...)
	return ms[0], nil
}

func (c *wsc) expect(typ string) protocol.Msg {
	c.t.Helper()
	m, err := c.next(5 * time.Second)
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", typ, err)
	}
	if m.T != typ {
		c.t.Fatalf("got %s (code %q: %s), want %s", m.T, m.Code, m.Message, typ)
	}
	return m
}

func (c *wsc) expectErr(code string) protocol.Msg {
	c.t.Helper()
	m := c.expect(protocol.TErr)
	if m.Code != code {
		c.t.Fatalf("got err %q (%s), want %q", m.Code, m.Message, code)
	}
	return m
}

// quiet checks that nothing arrives for a while.
func (c *wsc) quiet(d time.Duration) {
	c.t.Helper()
	m, err := c.next(d)
	if err == nil {
		c.t.Fatalf("unexpected message %+v", m)
	}
}

func (c *wsc) subTodos(key string, after uint64, epoch string) {
	c.t.Helper()
	c.send(protocol.Msg{T: protocol.TSub, Key: key, Type: todos.ListType.Name, FP: todos.ListType.Fingerprint, After: after, Epoch: epoch})
}

func args(t *testing.T, v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rest does an HTTP request with the key and decodes the JSON answer.
func rest(t *testing.T, method, url, key, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: not JSON: %q", method, url, b)
	}
	return resp.StatusCode, out
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// stateOf reads a key's state through REST.
func stateOf(t *testing.T, s *servertest.Server, key string) (seq uint64, list todos.List) {
	t.Helper()
	code, out := rest(t, "GET", s.HTTPURL+"/v1/namespaces/default/states/"+key, s.Key, "")
	if code != 200 {
		t.Fatalf("GET state %s: %d %v", key, code, out)
	}
	b, _ := json.Marshal(out["state"])
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	return uint64(out["seq"].(float64)), list
}

func a2fp() string { return todos.ListType.Fingerprint }

func epochOf(t *testing.T, s *servertest.Server, key string) string {
	t.Helper()
	code, out := rest(t, "GET", s.HTTPURL+"/v1/namespaces/default/states/"+key, s.Key, "")
	if code != 200 {
		t.Fatalf("GET %s: %d", key, code)
	}
	return out["epoch"].(string)
}

// createKey makes an API key in the server's store, as `keys create` does.
func createKey(t *testing.T, s *servertest.Server, ns, role string) string {
	t.Helper()
	return s.CreateKey(ns, role)
}

// expect2 returns the next message, whatever its type.
func (c *wsc) expect2() protocol.Msg {
	c.t.Helper()
	m, err := c.next(10 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}
