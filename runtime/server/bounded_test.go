package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

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
