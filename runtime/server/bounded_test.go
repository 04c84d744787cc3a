package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// Reads of keys that do not exist start no room (issue 12, attack 2).
func TestReadsOfMissingKeysStartNoRoom(t *testing.T) {
	s := startTodos(t)
	for i := range 200 {
		key := fmt.Sprintf("nope-%d", i)
		if code, out := rest(t, "GET", s.HTTPURL+statesURL+key, s.Key, ""); code != 404 {
			t.Fatalf("GET %s: %d %v", key, code, out)
		}
		if code, out := post(t, s, key, s.Key, `{"name":"Add","args":{"title":"x"}}`); code != 404 {
			t.Fatalf("POST without type to %s: %d %v", key, code, out)
		}
		if code, out := rest(t, "DELETE", s.HTTPURL+statesURL+key, s.Key, ""); code != 404 {
			t.Fatalf("DELETE %s: %d %v", key, code, out)
		}
	}
	_, health := rest(t, "GET", s.HTTPURL+"/healthz", "", "")
	if rooms := health["rooms"].(float64); rooms != 0 {
		t.Fatalf("%v rooms after reads of missing keys", rooms)
	}
	// A key that exists is still read (through its room).
	if code, out := post(t, s, "k", s.Key, `{"type":"todos.List","name":"Add","args":{"title":"x"}}`); code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	if seq, _ := stateOf(t, s, "k"); seq != 1 {
		t.Fatalf("seq %d", seq)
	}
}

// A body sent one byte at a time is cut at the read timeout, and an idle
// keep-alive connection is closed at the idle timeout (issue 12, attack 4).
func TestSlowBodiesAndIdleConnectionsAreClosed(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) {
		c.Limits.HTTPReadTimeout = 300 * time.Millisecond
		c.Limits.HTTPIdleTimeout = 300 * time.Millisecond
	}))
	dial := func() net.Conn {
		c, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	closedWithin := func(c net.Conn, d time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(d))
		_, err := io.Copy(io.Discard, c)
		// EOF, or a reset when the server closed with our bytes unread;
		// a timeout means the connection is still held.
		var ne net.Error
		return err == nil || !errors.As(err, &ne) || !ne.Timeout()
	}
	slow := dial()
	fmt.Fprintf(slow, "POST /v1/namespaces/default/states/k/mutations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", s.Key)
	for range 3 {
		time.Sleep(100 * time.Millisecond)
		slow.Write([]byte(" "))
	}
	if !closedWithin(slow, 3*time.Second) {
		t.Fatal("a slow body held its connection past the read timeout")
	}
	idle := dial()
	fmt.Fprintf(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if !closedWithin(idle, 3*time.Second) {
		t.Fatal("an idle keep-alive connection was not closed")
	}
}

// A peer that claims a huge frame, sends a little of it and goes silent
// cannot hold its connection, nor the server's shutdown: the fatal close is
// bounded by a deadline on the socket.
func TestSilentPeerInAHugeFrameDoesNotHoldShutdown(t *testing.T) {
	s := startTodos(t)
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	// A masked text frame that claims 2^30 bytes; 5,000 of them follow.
	hdr := []byte{0x81, 0xFF, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4}
	c.Write(append(hdr, make([]byte, 5000)...))
	go io.Copy(io.Discard, br) // read what the server says, send nothing more
	time.Sleep(200 * time.Millisecond)
	done := make(chan struct{})
	go func() { s.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the server's shutdown is held by a silent peer")
	}
}

// History pages end at a byte budget, and next leads through the rest
// (issue 12, attack 3).
func TestHistoryPagesAreBoundedInBytes(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) { c.Limits.PageBytes = 2000 }))
	for i := range 10 {
		body := fmt.Sprintf(`{"type":"todos.List","name":"Add","args":{"title":"%d%s"}}`, i, strings.Repeat("x", 600))
		if code, out := post(t, s, "k", s.Key, body); code != 200 {
			t.Fatalf("%d %v", code, out)
		}
	}
	var seen []float64
	after := "0"
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pages do not end")
		}
		code, out := rest(t, "GET", s.HTTPURL+statesURL+"k/history?limit=1000&after="+after, s.Key, "")
		if code != 200 {
			t.Fatalf("%d %v", code, out)
		}
		evs := out["events"].([]any)
		if len(evs) == 0 || len(evs) > 4 {
			t.Fatalf("a page of %d events of 600+ bytes under a 2000-byte budget", len(evs))
		}
		for _, e := range evs {
			seen = append(seen, e.(map[string]any)["seq"].(float64))
		}
		if out["next"] == nil {
			break
		}
		after = fmt.Sprint(out["next"])
	}
	if len(seen) != 10 || seen[0] != 1 || seen[9] != 10 {
		t.Fatalf("pages gave seqs %v", seen)
	}
}

// Idle keep-alive connections cannot take every descriptor: at the cap the
// longest idle one makes room, so /healthz still answers (issue 12,
// attack 4).
func TestIdleHTTPConnectionsMakeRoomAtTheCap(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) { c.Limits.MaxOpenConns, c.Limits.MaxConns = 20, 100 }))
	var idle []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		idle = append(idle, c)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	for i := range 5 {
		resp, err := client.Get(s.HTTPURL + "/healthz")
		if err != nil {
			t.Fatalf("healthz %d with every slot held by idle connections: %v", i, err)
		}
		resp.Body.Close()
		client.CloseIdleConnections()
	}
	// WebSockets are not idle HTTP connections: with the cap held by
	// them, a new connection is turned away.
	for _, c := range idle {
		c.Close()
	}
	var ws []*wsc
	for deadline := time.Now().Add(5 * time.Second); len(ws) < 20 && time.Now().Before(deadline); {
		// The server counts a closed idle connection out when it sees
		// the close: until then a dial may be turned away.
		if c, _, err := dialWS(t, s.URL, s.Key); err == nil {
			ws = append(ws, c)
		}
	}
	if len(ws) != 20 {
		t.Fatalf("%d WebSockets under a cap of 20", len(ws))
	}
	if _, _, err := dialWS(t, s.URL, s.Key); err == nil {
		t.Fatal("a connection over the cap was served")
	}
}

// Namespace quotas: keys, stored bytes and event rates are bounded, with
// quota_exceeded; stored bytes follow the storage's count across restarts
// (issue 12, attack 7).
func TestNamespaceQuotas(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "q.db")
	limits := func(c *server.Config) {
		c.Limits.MaxNamespaceKeys = 2
		c.Limits.MaxNamespaceBytes = 4000
		c.SnapshotEvery = 3
	}
	s := startTodos(t, servertest.DBPath(dbPath), servertest.Config(limits))
	add := func(key, title string) (int, map[string]any) {
		return post(t, s, key, s.Key, fmt.Sprintf(`{"type":"todos.List","name":"Add","args":{"title":%q}}`, title))
	}
	for _, k := range []string{"a", "b"} {
		if code, out := add(k, "x"); code != 200 {
			t.Fatalf("%d %v", code, out)
		}
	}
	if code, out := add("c", "x"); code != 507 || errCode(out) != protocol.CodeQuota {
		t.Fatalf("a third key under a quota of 2: %d %v", code, out)
	}
	c := connect(t, s, "c")
	c.subTodos("c", 0, "")
	if e := c.expectErr(protocol.CodeQuota); e.Key != "c" {
		t.Fatalf("%+v", e)
	}
	big := strings.Repeat("y", 500)
	var refused bool
	for i := range 20 {
		code, out := add("a", big)
		if code == 507 && errCode(out) == protocol.CodeQuota {
			refused = true
			break
		}
		if code != 200 {
			t.Fatalf("add %d: %d %v", i, code, out)
		}
	}
	if !refused {
		t.Fatal("the namespace stored past its byte quota")
	}
	// The count survives a restart: it is the storage's.
	s.Restart()
	if code, out := add("b", big); code != 507 || errCode(out) != protocol.CodeQuota {
		t.Fatalf("after a restart: %d %v", code, out)
	}
	// Deleting a key gives its bytes and its key back.
	if code, out := rest(t, "DELETE", s.HTTPURL+statesURL+"a", s.Key, ""); code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	if code, out := add("c", "x"); code != 200 {
		t.Fatalf("after deleting a key: %d %v", code, out)
	}
}

// The rate quotas: events per second into one namespace.
func TestNamespaceEventRate(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) { c.Limits.NamespaceEventsPerSec = 3 }))
	var limited bool
	for i := range 10 {
		code, out := post(t, s, fmt.Sprint("k", i), s.Key, `{"type":"todos.List","name":"Add","args":{"title":"x"}}`)
		if code == 429 && errCode(out) == protocol.CodeQuota {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("10 events at once under a quota of 3/s")
	}
}
