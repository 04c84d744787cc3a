package server_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/internal/simhook"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
	"github.com/better-state/better-state/schema"
)

func addMsg(mid uint64, title string) protocol.Msg {
	return protocol.Msg{T: protocol.TMut, Key: "k", Mid: mid, Name: "Add", Args: []byte(fmt.Sprintf(`{"title":%q}`, title))}
}

func TestRateLimitPerConnection(t *testing.T) {
	var clock atomic.Int64 // unix ns, moved by hand
	clock.Store(time.Now().UnixNano())
	s := startTodos(t, servertest.Config(func(c *server.Config) {
		c.Limits.MutationsPerSecond = 1
		c.Limits.MutationBurst = 3
		*c = simhook.Clock(*c, func() time.Time { return time.Unix(0, clock.Load()) }).(server.Config)
	}))
	a := connect(t, s, "c")
	a.subTodos("k", 0, "")
	a.expect(protocol.TSynced)
	for mid := uint64(1); mid <= 3; mid++ {
		a.send(addMsg(mid, "ok"))
		a.expect(protocol.TEv)
	}
	a.send(addMsg(4, "over"))
	// At 1/s with the bucket empty, the next token is about a second away.
	if e := a.expectErr(protocol.CodeRateLimited); e.Key != "k" || e.Mid != 4 || e.RetryMs < 900 || e.RetryMs > 1000 {
		t.Fatalf("%+v", e)
	}
	if seq, _ := stateOf(t, s, "k"); seq != 3 {
		t.Fatalf("seq %d", seq)
	}
	// Nothing moved: after the bucket refills, mid 4 is the one expected.
	clock.Add(int64(1100 * time.Millisecond))
	a.send(addMsg(4, "later"))
	if ev := a.expect(protocol.TEv); ev.Mid != 4 {
		t.Fatalf("%+v", ev)
	}
}

func TestKeysPerConnectionLimit(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) { c.Limits.MaxKeysPerConn = 2 }))
	a := connect(t, s, "c")
	for _, k := range []string{"a", "b"} {
		a.subTodos(k, 0, "")
		a.expect(protocol.TSynced)
	}
	a.subTodos("c", 0, "")
	a.expectErr(protocol.CodeTooManyKeys)
	a.subTodos("a", 0, "") // resubscribing a held key is fine
	a.expect(protocol.TSynced)
}

func TestStateSizeLimit(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) { c.Limits.MaxStateBytes = 2000 }))
	a := connect(t, s, "c")
	a.subTodos("k", 0, "")
	a.expect(protocol.TSynced)
	big := strings.Repeat("x", 600)
	var mid uint64
	for {
		mid++
		a.send(addMsg(mid, big))
		m := a.expect2()
		if m.T == protocol.TRej {
			if m.Code != protocol.CodeStateTooLarge || !strings.Contains(m.Message, "limit of 2000") {
				t.Fatalf("%+v", m)
			}
			break
		}
		if mid > 10 {
			t.Fatal("the state grew past the limit")
		}
	}
	if seq, list := stateOf(t, s, "k"); seq != mid-1 || len(list.Items) != int(mid-1) {
		t.Fatalf("seq %d, %d items after refusal of mid %d", seq, len(list.Items), mid)
	}
}

func TestConnectionCap(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) { c.Limits.MaxConns = 2 }))
	connect(t, s, "a")
	connect(t, s, "b")
	_, resp, err := dialWS(t, s.URL, s.Key)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third connection: %v %v", err, resp)
	}
}

// A subscriber that stops reading is cut off; the others keep getting every
// event promptly.
func TestSlowConsumerIsDroppedOthersUnaffected(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) {
		c.Limits.SendQueue = 256
		c.Limits.MutationsPerSecond = 1e6
		c.Limits.MutationBurst = 1e6
		c.Limits.NamespaceBytesPerSec = 1e9
	}))
	slow, _, err := dialWS(t, s.URL, s.Key)
	if err != nil {
		t.Fatal(err)
	}
	slow.send(protocol.Msg{T: protocol.THello, V: 1, Client: "slow"})
	slow.expect(protocol.TWelcome)
	slow.subTodos("k", 0, "")
	slow.expect(protocol.TSynced)
	// From here on slow never reads: its socket buffers fill, then its queue.
	fast := connect(t, s, "fast")
	fast.subTodos("k", 0, "")
	fast.expect(protocol.TSynced)
	fast.send(addMsg(1, "item"))
	id := itemID(t, fast.expect(protocol.TEv))
	// Lockstep: the fast subscriber reads each event before the next is
	// sent, so only slow falls behind (19 MB of events through its socket
	// buffers and then its queue).
	big := strings.Repeat("y", 32000)
	for mid := uint64(2); mid <= 600; mid++ {
		fast.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: mid, Name: "Rename", Args: []byte(fmt.Sprintf(`{"id":%q,"title":%q}`, id, big))})
		m, err := fast.next(10 * time.Second)
		if err != nil || m.T != protocol.TEv || m.Seq != mid {
			t.Fatalf("fast subscriber, event %d: %s %s %v", mid, m.T, m.Code, err)
		}
	}
	// slow was dropped: reading now ends in a closed connection.
	deadline := time.Now().Add(10 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for {
		if _, _, err := slow.ws.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatal("slow consumer still connected")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slow consumer still connected")
		}
	}
}

func TestKeysAreHashedAtRestAndNeverLogged(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	lw := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	s := startTodos(t, servertest.Config(func(c *server.Config) {
		c.Logger = slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}))
	key := createKey(t, s, "default", "client")
	// Use it, and fail with a wrong one.
	a, _, err := dialWS(t, s.URL, key)
	if err != nil {
		t.Fatal(err)
	}
	a.send(protocol.Msg{T: protocol.THello, V: 1, Client: "c"})
	a.expect(protocol.TWelcome)
	wrong := key[:len(key)-2] + "zz"
	if _, resp, _ := dialWS(t, s.URL, wrong); resp == nil || resp.StatusCode != 401 {
		t.Fatal("wrong key accepted")
	}
	rest(t, "GET", s.HTTPURL+"/v1/namespaces/default/states/x", wrong, "")
	s.Stop()
	secret := key[strings.LastIndex(key, "_")+1:]
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(s.DBPath + suffix)
		if err != nil && suffix == "" {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte(servertest.DevKey)) {
			t.Fatalf("a key's secret is in %s%s", s.DBPath, suffix)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), servertest.DevKey) {
		t.Fatalf("a key is in the logs:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestOriginCheck(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) { c.OriginPatterns = []string{"app.example.com"} }))
	dial := func(origin string) (*http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h := http.Header{"Authorization": {"Bearer " + s.Key}, "Origin": {origin}}
		ws, resp, err := websocket.Dial(ctx, s.URL, &websocket.DialOptions{HTTPHeader: h})
		if err == nil {
			ws.CloseNow()
		}
		return resp, err
	}
	if resp, err := dial("https://evil.example.net"); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v %v", resp, err)
	}
	if _, err := dial("https://app.example.com"); err != nil {
		t.Fatalf("allowed origin refused: %v", err)
	}
}

// A peer that completes the handshake and then never answers is dropped by
// the ping check.
func TestDeadPeerIsDropped(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) { c.Limits.PingInterval = 200 * time.Millisecond }))
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v1/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n", s.Addr, s.Key)
	buf := make([]byte, 512)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _ := conn.Read(buf); !strings.Contains(string(buf[:n]), "101") {
		t.Fatalf("no upgrade: %q", buf[:n])
	}
	connections := func() float64 {
		_, out := rest(t, "GET", s.HTTPURL+"/healthz", "", "")
		return out["connections"].(float64)
	}
	if connections() != 1 {
		t.Fatal("connection not counted")
	}
	deadline := time.Now().Add(10 * time.Second)
	for connections() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("dead peer still connected")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// itemID is the id a todos Add event made: the ctx's first NewID.
func itemID(t *testing.T, ev protocol.Msg) string {
	t.Helper()
	var l todos.List
	if err := l.Add(schema.NewContext(schema.Meta{Key: ev.Key, Client: ev.Client, Mid: ev.Mid, Actor: ev.Actor, Time: time.UnixMilli(ev.Time).UTC()}), "item"); err != nil {
		t.Fatal(err)
	}
	return l.Items[0].ID
}

func TestRateLimitPerKey(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) { c.Limits.KeyMutationsPerSec = 2 }))
	a := connect(t, s, "a")
	b := connect(t, s, "b")
	for _, c := range []*wsc{a, b} {
		c.subTodos("k", 0, "")
		c.expect(protocol.TSynced)
	}
	a.send(addMsg(1, "a1"))
	a.expect(protocol.TEv)
	b.expect(protocol.TEv)
	b.send(addMsg(1, "b1"))
	a.expect(protocol.TEv)
	b.expect(protocol.TEv)
	// The key's budget (2) is spent, whoever writes next.
	a.send(addMsg(2, "a2"))
	if e := a.expectErr(protocol.CodeRateLimited); e.Mid != 2 || !strings.Contains(e.Message, "at most 2 mutations/s") || e.RetryMs < 1 || e.RetryMs > 500 {
		t.Fatalf("%+v", e)
	}
	code, out := rest(t, "POST", s.HTTPURL+"/v1/namespaces/default/states/k/mutations", s.Key, `{"name":"Add","args":{"title":"r"}}`)
	if code != 429 || errCode(out) != protocol.CodeRateLimited {
		t.Fatalf("REST over the key's rate: %d %v", code, out)
	}
	if ms, _ := out["error"].(map[string]any)["retry_ms"].(float64); ms < 1 || ms > 500 {
		t.Fatalf("REST retry_ms %v: %v", ms, out)
	}
	if seq, _ := stateOf(t, s, "k"); seq != 2 {
		t.Fatalf("seq %d", seq)
	}
}
