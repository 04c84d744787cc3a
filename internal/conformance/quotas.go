// This file holds RunQuotas: the errors of the namespace's and the
// server's capacity (busy, quota_exceeded, slow_consumer), which need a
// server of their own with tight limits.

package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// RunQuotas runs, in order, the cases that need a fresh server with tight
// limits and nothing else running: Limits.NamespaceMaxKeys (--ns-max-keys),
// MaxRooms (--max-rooms), SendQueue (--send-queue) and KeyMutationsPerSec
// (--key-rate, 10 to 20), a mutation byte rate high enough for megabytes of
// events (--ns-byte-rate), and a MaxFrameBytes of at least 1 MiB. A case
// whose limit is zero is skipped.
func RunQuotas(t *testing.T, tg Target) {
	s := newSuite(t, tg)
	l := tg.Limits
	t.Run("busy", func(t *testing.T) {
		if l.MaxRooms == 0 {
			t.Skip("needs Limits.MaxRooms")
		}
		c, _ := s.hello(t, s.id("c"))
		var keys []string
		for range l.MaxRooms {
			keys = append(keys, s.id("k"))
			c.subscribe(t, s.subMsg(keys[len(keys)-1]))
		}
		// Every room holds a subscriber: none can be evicted for another.
		key := s.id("k")
		c.send(t, s.subMsg(key))
		c.expectErr(t, "busy", key, nil)
		for _, k := range keys {
			c.send(t, Msg{T: "unsub", Key: k})
		}
		c.quiet(t, "after unsub", nil)
	})
	t.Run("quota_exceeded", func(t *testing.T) {
		if l.NamespaceMaxKeys == 0 {
			t.Skip("needs Limits.NamespaceMaxKeys")
		}
		c, _ := s.hello(t, s.id("c"))
		var made []string
		for {
			key := s.id("k")
			m := c.subWhenRoom(t, s, key)
			if m.T == "err" {
				if m.Code != "quota_exceeded" {
					t.Fatalf("a new key after %d: %s", len(made), m)
				}
				namesLimit(t, "quota_exceeded", m.Text, l.NamespaceMaxKeys)
				break
			}
			made = append(made, key)
			c.send(t, Msg{T: "unsub", Key: key})
			if int64(len(made)) > l.NamespaceMaxKeys+5 {
				t.Fatalf("%d keys made, over the quota of %d", len(made), l.NamespaceMaxKeys)
			}
		}
		// REST: 507.
		path := s.statePath(s.id("k")) + "/mutations"
		var code int
		var body []byte
		for range 10 {
			code, _, body = s.rest(t, "POST", path, s.tg.Key, map[string]any{"type": typeName, "name": "Add", "args": map[string]string{"title": "x"}})
			if code != 503 {
				break
			}
			time.Sleep(1100 * time.Millisecond) // busy: rooms are evicted after a second
		}
		expectRESTError(t, "a REST write creating a key over the quota", code, body, 507, "quota_exceeded")
		// Deleting a key makes room for one.
		s.restOK(t, "DELETE", s.statePath(made[0]), s.tg.Key, nil, nil)
		s.quotaKey = s.id("k")
		if m := c.subWhenRoom(t, s, s.quotaKey); m.T != "synced" {
			t.Fatalf("a new key after a deletion: %s", m)
		}
		c.send(t, Msg{T: "unsub", Key: s.quotaKey})
	})
	t.Run("slow_consumer", func(t *testing.T) {
		if l.SendQueue == 0 || l.MaxFrameBytes < 1<<20 {
			t.Skip("needs Limits.SendQueue and MaxFrameBytes ≥ 1 MiB")
		}
		testSlowConsumer(t, s, l)
	})
	t.Run("rest/rate_limited_429", func(t *testing.T) {
		if l.KeyMutationsPerSec == 0 || l.KeyMutationsPerSec > 20 {
			t.Skip("needs a Limits.KeyMutationsPerSec of at most 20")
		}
		// Twice the rate at once: the burst is the rate.
		n := int(2*l.KeyMutationsPerSec) + 2
		answers := s.concurrentAdds(s.quotaKey, n)
		for _, a := range answers {
			if a.err != nil {
				t.Fatal(a.err)
			}
			if a.code == 200 {
				continue
			}
			e := expectRESTError(t, "a REST write over the key's rate", a.code, a.body, 429, "rate_limited")
			namesLimit(t, "rate_limited", e.Error.Message, l.KeyMutationsPerSec)
			if a.retryAfter == "" || e.Error.RetryMs <= 0 {
				t.Errorf("429 without Retry-After or retry_ms: %q %s", a.retryAfter, a.body)
			}
			return
		}
		t.Fatalf("%d writes to one key at once were all accepted at a key rate of %g/s", n, l.KeyMutationsPerSec)
	})
}

// subWhenRoom subscribes to key, again while the server is busy: a room
// is evicted for another only after a second without use. It returns
// synced or another err.
func (c *wsConn) subWhenRoom(t *testing.T, s *suite, key string) Msg {
	t.Helper()
	for range 10 {
		c.send(t, s.subMsg(key))
		m, _ := c.await(t, "synced or err "+key, func(m Msg) bool { return m.Key == key && (m.T == "synced" || m.T == "err") })
		if m.Code != "busy" {
			return m
		}
		time.Sleep(1100 * time.Millisecond)
	}
	t.Fatalf("busy for 11 s")
	return Msg{}
}

// testSlowConsumer: a subscriber that stops reading while a writer sends
// megabytes of events is dropped with a fatal slow_consumer (close 1013)
// once more than SendQueue messages wait for it, after what the kernel's
// socket buffers absorbed.
func testSlowConsumer(t *testing.T, s *suite, l Limits) {
	// The quota case left the namespace full: this key is one it made.
	key := s.quotaKey
	w, _ := s.hello(t, s.id("c"))
	if m := w.subWhenRoom(t, s, key); m.T != "synced" {
		t.Fatal(m)
	}
	r := s.rawDial(t)
	for _, m := range []Msg{{T: "hello", V: protocolVersion, Client: s.id("c")}, s.subMsg(key)} {
		b, _ := json.Marshal(m)
		if err := r.write(0x1, b); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for its synced (it reads this far), then stop reading.
	deadline := time.Now().Add(waitFor)
	var seen []string
	for {
		op, p, err := r.read(deadline)
		if err != nil {
			t.Fatalf("waiting for synced: %v (read %q)", err, seen)
		}
		seen = append(seen, fmt.Sprintf("%d:%.200s", op, p))
		if (op == 0x1 || op == 0x0) && strings.Contains(string(p), `"synced"`) {
			break
		}
	}
	// 12 MiB of events in titles of three quarters of the frame limit:
	// more than loopback buffers hold, and more messages than the send
	// queue (the state stays under 16 MiB).
	// Then small ones, for more messages than the queue takes.
	title := strings.Repeat("x", int(l.MaxFrameBytes)*3/4)
	big := uint64(12<<20/len(title) + 1)
	for mid := uint64(1); mid <= big+2*uint64(l.SendQueue); mid++ {
		args := `{"title":"y"}`
		if mid <= big {
			args = fmt.Sprintf(`{"title":%q}`, title)
		}
		for {
			w.send(t, mut(key, mid, "Add", args))
			m, _ := w.await(t, fmt.Sprintf("ev %d", mid), func(m Msg) bool {
				return m.Key == key && m.Mid == mid && (m.T == "ev" || m.T == "rej" || m.T == "err")
			})
			if m.T == "ev" {
				break
			}
			if m.Code != "rate_limited" {
				t.Fatalf("mutation %d: %s", mid, m)
			}
			time.Sleep(time.Duration(m.RetryMs) * time.Millisecond)
		}
	}
	// Now read everything: the queued frames, then the fatal err and the
	// close.
	var last string
	deadline = time.Now().Add(waitFor)
	for {
		op, p, err := r.read(deadline)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("a subscriber that did not read was not dropped; last frame %.200s; %s", last, page("more bytes (or messages) wait for the connection than its budget; it is closed and should resync"))
			}
			t.Fatalf("the connection ended without a close frame after %.200s: %v", last, err)
		}
		switch op {
		case 0x1:
			last = string(p)
		case 0x0:
			last += string(p) // a message in fragments
		case 0x8:
			code := websocket.StatusCode(int(p[0])<<8 | int(p[1]))
			if !strings.Contains(last, `"slow_consumer"`) || !strings.Contains(last, `"fatal":true`) {
				t.Errorf("closed (%d) after %.300s, not after err slow_consumer", code, last)
			}
			if code != closeStatus("slow_consumer") {
				t.Errorf("slow_consumer closed with %d, want %d", code, closeStatus("slow_consumer"))
			}
			return
		}
	}
}

type restAnswer struct {
	code       int
	retryAfter string
	body       []byte
	err        error
}

// concurrentAdds posts n Add mutations to key at once.
func (s *suite) concurrentAdds(key string, n int) []restAnswer {
	out := make([]restAnswer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			body := fmt.Sprintf(`{"name":"Add","args":{"title":"r%d"}}`, i)
			req, err := http.NewRequestWithContext(ctx, "POST", s.tg.HTTPURL+s.statePath(key)+"/mutations", strings.NewReader(body))
			if err != nil {
				out[i].err = err
				return
			}
			req.Header.Set("Authorization", "Bearer "+s.tg.Key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := s.hc.Do(req)
			if err != nil {
				out[i].err = err
				return
			}
			defer resp.Body.Close()
			out[i].code, out[i].retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
			out[i].body, out[i].err = io.ReadAll(resp.Body)
		}()
	}
	wg.Wait()
	return out
}
