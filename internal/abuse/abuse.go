// Package abuse attacks a running Better-State server the way a hostile
// client would (issue 12), while an honest client keeps writing, and
// measures what the attack costs: the server's peak RSS, its live heap once
// the attacker has left, and the honest client's latencies. The attacks
// target loopback only, and every one of them is bounded in count and time.
//
// bsbench abuse runs them against a server child and prints the figures;
// abuse_test.go runs them against the todos example server and asserts
// bounds. The server is expected to serve todos.List with default limits,
// except where an attack's Flags say otherwise.
package abuse

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
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/better-state/better-state/runtime/protocol"
)

// Target is a running server.
type Target struct {
	HTTPURL string // http://127.0.0.1:PORT
	Key     string // an API key of namespace "default" (the dev key will do)
	PID     int    // the server's process, for its RSS
	DBPath  string // its database file, for its size
}

func (t Target) wsURL() string { return "ws" + strings.TrimPrefix(t.HTTPURL, "http") + "/v1/ws" }

// Scale sizes the attacks: Quick for tests, Full for bsbench.
type Scale struct {
	StateBytes  int           // the large state attack 1 subscribes to
	Subs        int           // sub frames the non-reading attacker sends
	Gets        int           // GETs of missing keys
	EventBytes  int           // args of the large events (attacks 3, 6, 7)
	IdleConns   int           // idle HTTP connections held
	PreAuth     int           // sockets that never say hello
	WriteFor    time.Duration // attack 7: how long the writer writes
	HistoryRuns int           // attack 3: rounds of 4 concurrent history pages
	SlowBytes   int           // attack 6: bytes of events written past the stalled reader
}

var (
	Quick = Scale{StateBytes: 2 << 20, Subs: 200, Gets: 5000, EventBytes: 256 << 10, IdleConns: 1100, PreAuth: 300, WriteFor: 2 * time.Second, HistoryRuns: 3, SlowBytes: 64 << 20}
	Full  = Scale{StateBytes: 8 << 20, Subs: 600, Gets: 20000, EventBytes: 512 << 10, IdleConns: 1100, PreAuth: 1000, WriteFor: 15 * time.Second, HistoryRuns: 10, SlowBytes: 128 << 20}
)

// Attack is one way to try to exhaust the server.
type Attack struct {
	Name string
	// What is expected: what the attacker gets (alternatives split by |).
	Expect string
	// Flags the server should run with for it, besides the defaults (a
	// lower file limit is the harness's: see FileLimit).
	Flags []string
	// FileLimit, if > 0, is the RLIMIT_NOFILE the server should run with.
	FileLimit int
	prepare   func(ctx context.Context, e *env) error
	run       func(ctx context.Context, e *env) (saw string, err error)
}

// Report is what one attack cost.
type Report struct {
	Attack       string        `json:"attack"`
	Expect       string        `json:"expect"`
	Saw          string        `json:"attacker_saw"`
	PeakRSS      int64         `json:"peak_rss_bytes"`
	BaseRSS      int64         `json:"base_rss_bytes"`
	HeapBefore   uint64        `json:"heap_live_before_bytes"`
	HeapAfter    uint64        `json:"heap_live_after_bytes"`
	HonestP99    time.Duration `json:"honest_p99_ns"`
	HonestN      int           `json:"honest_mutations"`
	HealthP99    time.Duration `json:"healthz_p99_ns"`
	HealthN      int           `json:"healthz_probes"`
	HonestErrors []string      `json:"honest_errors,omitempty"`
	DBGrowth     int64         `json:"db_growth_bytes"`
	Took         time.Duration `json:"took_ns"`
}

// Attacks lists the attacks of issue 12, in its order.
func Attacks() []Attack {
	return []Attack{
		{Name: "snapshot-flood", Expect: protocol.CodeSlowConsumer, prepare: prepareLargeState, run: snapshotFlood},
		{Name: "catch-up-flood", Expect: "snap", prepare: prepareLargeEvents, run: catchUpFlood},
		{Name: "missing-keys", Expect: protocol.CodeNotFound, run: missingKeys},
		{Name: "history-pages", Expect: "paged", prepare: prepareLargeEvents, run: historyPages},
		{Name: "idle-http", Expect: "closed", FileLimit: 1024, run: idleHTTP},
		{Name: "slow-body", Expect: "closed", Flags: []string{"--http-read-timeout=2s"}, run: slowBody},
		{Name: "pre-auth", Expect: protocol.CodeHelloRequired, run: preAuth},
		// At the default namespace byte rate the writer is paced so that
		// the stalled reader's hung write is cut by the 10 s write timeout,
		// before the attacker reads again: it sees a plain close (a peer
		// that does not read gets no err, docs/PROTOCOL.md). With the rate
		// lifted the send budget cuts it and it reads slow_consumer.
		{Name: "slow-consumer", Expect: protocol.CodeSlowConsumer + "|closed", run: slowConsumer},
		{Name: "slow-consumer-fast-writer", Expect: protocol.CodeSlowConsumer, Flags: []string{"--ns-byte-rate=1e9"}, run: slowConsumer},
		{Name: "disk-fill", Expect: protocol.CodeQuota, run: diskFill},
	}
}

type env struct {
	t     Target
	scale Scale
	hc    *http.Client
	epoch string // of the prepared key
	head  uint64
}

// Run runs one attack against t while an honest client writes, and
// reports. The attacker is gone when Run returns.
func Run(ctx context.Context, t Target, a Attack, sc Scale) (Report, error) {
	e := &env{t: t, scale: sc, hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
	defer e.hc.CloseIdleConnections()
	r := Report{Attack: a.Name, Expect: a.Expect}
	start := time.Now()
	if a.prepare != nil {
		if err := a.prepare(ctx, e); err != nil {
			return r, fmt.Errorf("%s: prepare: %w", a.Name, err)
		}
	}
	e.hc.CloseIdleConnections()
	r.HeapBefore = heapLive(ctx, t)
	r.BaseRSS = rss(t.PID)
	dbBefore := dbSize(t.DBPath)

	actx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var peak int64
	wg.Add(1)
	go func() { // RSS sampler
		defer wg.Done()
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := rss(t.PID); v > peak {
				peak = v
			}
			select {
			case <-actx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	hon := &honest{t: t}
	wg.Add(2)
	go func() { defer wg.Done(); hon.write(actx) }()
	go func() { defer wg.Done(); hon.health(actx) }()
	time.Sleep(200 * time.Millisecond) // the honest client is in before the attacker
	saw, err := a.run(ctx, e)
	time.Sleep(200 * time.Millisecond)
	stop()
	wg.Wait()
	r.Saw = saw
	r.PeakRSS = peak
	r.HonestP99, r.HonestN = p99(hon.muts), len(hon.muts)
	r.HealthP99, r.HealthN = p99(hon.probes), len(hon.probes)
	r.HonestErrors = hon.errs
	r.DBGrowth = dbSize(t.DBPath) - dbBefore
	time.Sleep(time.Second)
	r.HeapAfter = heapLive(ctx, t)
	r.Took = time.Since(start)
	if err != nil {
		return r, fmt.Errorf("%s: %w", a.Name, err)
	}
	return r, nil
}

// HeapLive returns the server's live heap after its last GC (/healthz).
func HeapLive(ctx context.Context, t Target) uint64 { return heapLive(ctx, t) }

func heapLive(ctx context.Context, t Target) uint64 {
	var out struct {
		Memory map[string]uint64 `json:"memory"`
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", t.HTTPURL+"/healthz", nil)
	resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&out)
	return out.Memory["heap_live_bytes"]
}

// RSS returns a process's resident set size in bytes (0 if unknown).
func RSS(pid int) int64 { return rss(pid) }

func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func dbSize(path string) int64 {
	var n int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			n += fi.Size()
		}
	}
	return n
}

func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*99/100)]
}

// honest writes one mutation every 20 ms on its own key, over one
// WebSocket, and times each until its ev; and asks /healthz every 50 ms on
// a new connection.
type honest struct {
	t      Target
	mu     sync.Mutex
	muts   []time.Duration
	probes []time.Duration
	errs   []string
}

func (h *honest) fail(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.errs) < 20 {
		h.errs = append(h.errs, fmt.Sprintf(format, args...))
	}
}

func (h *honest) write(ctx context.Context) {
	c, err := dial(ctx, h.t, "honest-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err != nil {
		h.fail("honest dial: %v", err)
		return
	}
	defer c.CloseNow()
	key := "honest-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	send(ctx, c, protocol.Msg{T: protocol.TSub, Key: key, Type: "todos.List", FP: todosFP(ctx, h.t)})
	if _, err := until(ctx, c, func(m protocol.Msg) bool { return m.T == protocol.TSynced }); err != nil {
		h.fail("honest sub: %v", err)
		return
	}
	for mid := uint64(1); ctx.Err() == nil; mid++ {
		start := time.Now()
		send(ctx, c, protocol.Msg{T: protocol.TMut, Key: key, Mid: mid, Name: "ClearDone"})
		m, err := until(ctx, c, func(m protocol.Msg) bool {
			return (m.T == protocol.TEv && m.Mid == mid) || m.T == protocol.TErr || m.T == protocol.TRej
		})
		if ctx.Err() != nil {
			return
		}
		if err != nil || m.T != protocol.TEv {
			h.fail("honest mutation %d: %v %s %s", mid, err, m.Code, m.Message)
			return
		}
		h.mu.Lock()
		h.muts = append(h.muts, time.Since(start))
		h.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (h *honest) health(ctx context.Context) {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for ctx.Err() == nil {
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, "GET", h.t.HTTPURL+"/healthz", nil)
		resp, err := hc.Do(req)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			h.fail("healthz: %v", err)
		} else {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				h.fail("healthz: %d", resp.StatusCode)
			}
			h.mu.Lock()
			h.probes = append(h.probes, time.Since(start))
			h.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var (
	fpOnce sync.Once
	fp     string
)

// todosFP asks the server for todos.List's fingerprint, which its welcome
// lists (this package must not import the examples).
func todosFP(ctx context.Context, t Target) string {
	fpOnce.Do(func() {
		c, welcome, err := dialWelcome(ctx, t, "fp-probe")
		if err != nil {
			return
		}
		defer c.CloseNow()
		fp = welcome.Types["todos.List"]
	})
	return fp
}

// dial opens a WebSocket and says hello as client.
func dial(ctx context.Context, t Target, client string) (*websocket.Conn, error) {
	c, _, err := dialWelcome(ctx, t, client)
	return c, err
}

// dialWelcome is dial that also returns the server's welcome.
func dialWelcome(ctx context.Context, t Target, client string) (*websocket.Conn, protocol.Msg, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+t.Key)
	c, _, err := websocket.Dial(dctx, t.wsURL(), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, protocol.Msg{}, err
	}
	c.SetReadLimit(64 << 20)
	send(dctx, c, protocol.Msg{T: protocol.THello, V: protocol.Version, Client: client})
	welcome, err := until(dctx, c, func(m protocol.Msg) bool { return m.T == protocol.TWelcome })
	if err != nil {
		c.CloseNow()
		return nil, protocol.Msg{}, err
	}
	return c, welcome, nil
}

func send(ctx context.Context, c *websocket.Conn, m protocol.Msg) error {
	return c.Write(ctx, websocket.MessageText, protocol.Encode(&m))
}

// until reads messages until pred holds for one, and returns it. A fatal
// err ends the wait with that err as the message.
func until(ctx context.Context, c *websocket.Conn, pred func(protocol.Msg) bool) (protocol.Msg, error) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		_, data, err := c.Read(rctx)
		if err != nil {
			return protocol.Msg{}, err
		}
		msgs, err := protocol.Decode(data)
		if err != nil {
			return protocol.Msg{}, err
		}
		for _, m := range msgs {
			if pred(m) || (m.T == protocol.TErr && m.Fatal) {
				return m, nil
			}
		}
	}
}

// fatalCode reads what the server still sends on c and returns the code
// of its fatal err, or of its close frame.
func fatalCode(ctx context.Context, c *websocket.Conn) string {
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		_, data, err := c.Read(rctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) && ce.Reason != "" {
				return ce.Reason
			}
			return "closed"
		}
		if msgs, err := protocol.Decode(data); err == nil {
			for _, m := range msgs {
				if m.T == protocol.TErr && m.Fatal {
					return m.Code
				}
			}
		}
	}
}

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
	// From here on it reads nothing while SlowBytes of events go by.
	title := strings.Repeat("w", e.scale.EventBytes)
	for i := 0; i < e.scale.SlowBytes/e.scale.EventBytes; {
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

// Expected reports whether saw is what the attack expects.
func (a Attack) Expected(saw string) bool {
	for _, want := range strings.Split(a.Expect, "|") {
		if strings.HasPrefix(saw, want) && !strings.HasPrefix(saw, "snap×0") {
			return true
		}
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
