package abuse

// The attacks, one function each, and what they prepare.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
	"github.com/coder/websocket"
)

// post sends a REST mutation. The preparations of attacks are honest
// writers: they wait out the namespace's rate quota.
func (e *env) post(ctx context.Context, key, body string) (int, []byte, error) {
	for {
		code, b, err := e.post1(ctx, key, body)
		if code != http.StatusTooManyRequests || ctx.Err() != nil {
			return code, b, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *env) post1(ctx context.Context, key, body string) (int, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", e.t.HTTPURL+"/v1/namespaces/default/states/"+key+"/mutations", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.t.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}

// prepareLargeState makes key "big" a todos.List of about StateBytes.
func prepareLargeState(ctx context.Context, e *env) error {
	title := strings.Repeat("s", 60<<10)
	for n := 0; n < e.scale.StateBytes; n += len(title) {
		code, b, err := e.post(ctx, "big", `{"type":"todos.List","name":"Add","args":{"title":"`+title+`"}}`)
		if err != nil || code != 200 {
			return fmt.Errorf("add: %d %s %v", code, b, err)
		}
	}
	return e.readHead(ctx, "big")
}

// prepareLargeEvents writes 40 events of EventBytes each to key "log":
// an item renamed again and again, so the state stays small and the log
// grows.
func prepareLargeEvents(ctx context.Context, e *env) error {
	id, err := e.oneItem(ctx, "log")
	if err != nil {
		return err
	}
	title := strings.Repeat("e", e.scale.EventBytes)
	for range 40 {
		if code, b, err := e.post(ctx, "log", `{"name":"Rename","args":{"id":"`+id+`","title":"`+title+`"}}`); err != nil || code != 200 {
			return fmt.Errorf("rename: %d %.200s %v", code, b, err)
		}
	}
	return e.readHead(ctx, "log")
}

// oneItem adds an item to key and returns its id.
func (e *env) oneItem(ctx context.Context, key string) (string, error) {
	if code, b, err := e.post(ctx, key, `{"type":"todos.List","name":"Add","args":{"title":"x"}}`); err != nil || code != 200 {
		return "", fmt.Errorf("add: %d %.200s %v", code, b, err)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", e.t.HTTPURL+"/v1/namespaces/default/states/"+key, nil)
	req.Header.Set("Authorization", "Bearer "+e.t.Key)
	resp, err := e.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		State struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		} `json:"state"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.State.Items) == 0 {
		return "", fmt.Errorf("no item in %s: %v", key, err)
	}
	return out.State.Items[0].ID, nil
}

func (e *env) readHead(ctx context.Context, key string) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", e.t.HTTPURL+"/v1/namespaces/default/states/"+key, nil)
	req.Header.Set("Authorization", "Bearer "+e.t.Key)
	resp, err := e.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Seq   uint64 `json:"seq"`
		Epoch string `json:"epoch"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	e.head, e.epoch = out.Seq, out.Epoch
	return nil
}

// 1. A connection that never reads asks for the large state again and
// again.
func snapshotFlood(ctx context.Context, e *env) (string, error) {
	c, err := dial(ctx, e.t, "flood")
	if err != nil {
		return "", err
	}
	defer c.CloseNow()
	fp := todosFP(ctx, e.t)
	for range e.scale.Subs {
		if send(ctx, c, protocol.Msg{T: protocol.TSub, Key: "big", Type: "todos.List", FP: fp, Snap: true}) != nil {
			break
		}
	}
	return fatalCode(ctx, c), nil
}

// 1b. The same with catch-ups from the log: the cursor 40 events back.
func catchUpFlood(ctx context.Context, e *env) (string, error) {
	c, err := dial(ctx, e.t, "catchup")
	if err != nil {
		return "", err
	}
	defer c.CloseNow()
	fp := todosFP(ctx, e.t)
	after := uint64(0)
	if e.head > 40 {
		after = e.head - 40
	}
	sent := 0
	for range e.scale.Subs {
		if send(ctx, c, protocol.Msg{T: protocol.TSub, Key: "log", Type: "todos.List", FP: fp, After: after, Epoch: e.epoch}) != nil {
			break
		}
		sent++
	}
	// Now it reads: what did it get for each? A catch-up over the byte
	// budget comes as a snapshot, shared by all; the subs past the burst
	// are paced.
	saw := map[string]int{}
	for synced := 0; synced < sent; {
		m, err := until(ctx, c, func(m protocol.Msg) bool {
			return m.T == protocol.TSynced || m.T == protocol.TSnap || m.T == protocol.TErr
		})
		if err != nil {
			break
		}
		switch m.T {
		case protocol.TSynced:
			synced++
		case protocol.TErr:
			saw[m.Code]++
			synced++
			if m.Fatal {
				return m.Code, nil
			}
		default:
			saw[m.T]++
		}
	}
	return fmt.Sprintf("snap×%d rate_limited×%d", saw[protocol.TSnap], saw[protocol.CodeRateLimited]), nil
}

// 2. Reads of keys that do not exist.
func missingKeys(ctx context.Context, e *env) (string, error) {
	var wg sync.WaitGroup
	codes := make(chan string, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			saw := ""
			for i := w; i < e.scale.Gets; i += 8 {
				req, _ := http.NewRequestWithContext(ctx, "GET", e.t.HTTPURL+"/v1/namespaces/default/states/missing-"+strconv.Itoa(i), nil)
				req.Header.Set("Authorization", "Bearer "+e.t.Key)
				resp, err := e.hc.Do(req)
				if err != nil {
					continue
				}
				var out struct {
					Error struct{ Code string } `json:"error"`
				}
				json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				saw = out.Error.Code
			}
			codes <- saw
		}()
	}
	wg.Wait()
	close(codes)
	return <-codes, nil
}

// 3. Four clients read the history of large events, page after page.
func historyPages(ctx context.Context, e *env) (string, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	saw := "paged"
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range e.scale.HistoryRuns {
				req, _ := http.NewRequestWithContext(ctx, "GET", e.t.HTTPURL+"/v1/namespaces/default/states/log/history?limit=1000", nil)
				req.Header.Set("Authorization", "Bearer "+e.t.Key)
				resp, err := e.hc.Do(req)
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				// A page ends past 1 MiB, one event at least.
				if len(b) > 1<<20+2*e.scale.EventBytes+4096 {
					mu.Lock()
					saw = fmt.Sprintf("a page of %d bytes", len(b))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return saw, nil
}

// 4. Idle keep-alive connections, more than the server's file limit.
func idleHTTP(ctx context.Context, e *env) (string, error) {
	addr := strings.TrimPrefix(e.t.HTTPURL, "http://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range e.scale.IdleConns {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			continue
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	// Each answered, then held idle. Count the ones the server closed.
	closed := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		br := bufio.NewReader(c)
		if resp, err := http.ReadResponse(br, nil); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	time.Sleep(500 * time.Millisecond)
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		var one [1]byte
		if _, err := c.Read(one[:]); err != nil && !isTimeout(err) {
			closed++
		}
	}
	if closed == 0 {
		return "none closed", nil
	}
	return "closed", nil
}

// 4b. Request bodies sent one byte a second.
func slowBody(ctx context.Context, e *env) (string, error) {
	addr := strings.TrimPrefix(e.t.HTTPURL, "http://")
	var conns []net.Conn
	for range 200 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			continue
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1/namespaces/default/states/x/mutations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", e.t.Key)
		conns = append(conns, c)
	}
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range conns {
			c.Write([]byte(" "))
		}
		time.Sleep(time.Second)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil && isTimeout(err) {
			return "held", nil
		}
	}
	return "closed", nil
}

// 5. Sockets that never say hello, and frames before hello.
func preAuth(ctx context.Context, e *env) (string, error) {
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}()
	for range e.scale.PreAuth {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, _, err := websocket.Dial(dctx, e.t.wsURL(), nil)
		cancel()
		if err != nil {
			continue
		}
		conns = append(conns, c)
	}
	// One tries a large frame before hello: it is cut at 4 KiB.
	if len(conns) > 0 {
		conns[0].Write(ctx, websocket.MessageText, bytes.Repeat([]byte("x"), 64<<10))
	}
	saw := ""
	for i, c := range conns {
		code := fatalCode(ctx, c)
		if i == 0 && code != protocol.CodeFrameTooLarge {
			return "", fmt.Errorf("a 64 KiB frame before hello: %s", code)
		}
		if i > 0 {
			saw = code
		}
	}
	return saw, nil
}

// 6. A subscriber stops reading while large events are written.
func slowConsumer(ctx context.Context, e *env) (string, error) {
	c, err := dial(ctx, e.t, "slow")
	if err != nil {
		return "", err
	}
	defer c.CloseNow()
	fp := todosFP(ctx, e.t)
	send(ctx, c, protocol.Msg{T: protocol.TSub, Key: "slowkey", Type: "todos.List", FP: fp})
	if _, err := until(ctx, c, func(m protocol.Msg) bool { return m.T == protocol.TSynced }); err != nil {
		return "", err
	}
	id, err := e.oneItem(ctx, "slowkey")
	if err != nil {
		return "", err
	}
	// From here on it reads nothing while SlowBytes of events go by, or
	// until the server has dropped it (the WebSocket count falls): the
	// server's last frames wait in the socket for a read, a few seconds.
	title := strings.Repeat("w", e.scale.EventBytes)
	conns := health(ctx, e.t).Connections
	for i := 0; i < e.scale.SlowBytes/e.scale.EventBytes; {
		if i%8 == 7 && health(ctx, e.t).Connections < conns {
			break
		}
		code, b, err := e.post(ctx, "slowkey", `{"name":"Rename","args":{"id":"`+id+`","title":"`+title+`"}}`)
		if err != nil {
			return "", err
		}
		switch code {
		case 200:
			i++
		case 429:
			time.Sleep(100 * time.Millisecond) // the namespace's byte rate
		default:
			return "", fmt.Errorf("write: %d %.200s", code, b)
		}
	}
	return fatalCode(ctx, c), nil
}

// 7. One client writes large events as fast as it can, over many keys (a
// key alone would stop at the state size limit).
func diskFill(ctx context.Context, e *env) (string, error) {
	title := strings.Repeat("f", e.scale.EventBytes)
	body := `{"type":"todos.List","name":"Add","args":{"title":"` + title + `"}}`
	rctx, cancel := context.WithTimeout(ctx, e.scale.WriteFor)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	saw := ""
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; rctx.Err() == nil; i += 4 {
				code, b, err := e.post1(rctx, "fill-"+strconv.Itoa(i%64), body)
				if err != nil {
					continue
				}
				if code == 429 || code == 507 {
					var out struct {
						Error struct{ Code string } `json:"error"`
					}
					json.Unmarshal(b, &out)
					mu.Lock()
					saw = out.Error.Code
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return saw, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
