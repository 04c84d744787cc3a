package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/better-state/better-state/examples/counter"
	"github.com/better-state/better-state/runtime/protocol"
)

// load drives one scenario against one target.
type load struct {
	cfg    *config
	t      *target
	res    *result
	stderr io.Writer
	run    string // makes keys and client ids unique per run
}

const ioTimeout = 30 * time.Second

func (l *load) dial(ctx context.Context, url string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	var opts websocket.DialOptions
	if l.t.kind == "bs" {
		cred := l.t.key
		if l.t.wsCred != "" {
			cred = l.t.wsCred
		}
		opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + cred}}
	}
	ws, _, err := websocket.Dial(dctx, url, &opts)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(256 << 20)
	return ws, nil
}

// connect opens a connection to key: a bs connection that said hello and
// subscribed (returning the snap's state n, if a snap came), or a relay
// connection to the key's room.
func (l *load) connect(ctx context.Context, client, key string) (*websocket.Conn, error) {
	return l.connectWith(ctx, client, key, func(ws *websocket.Conn) error {
		_, err := l.sub(ctx, ws, key, nil)
		return err
	})
}

// connectAt is connect to one node of several.
func (l *load) connectAt(ctx context.Context, node *target, client, key string) (*websocket.Conn, error) {
	return l.connectTo(ctx, node, client, key, func(ws *websocket.Conn) error {
		_, err := l.sub(ctx, ws, key, nil)
		return err
	})
}

// connectWith is connect with another way to subscribe.
func (l *load) connectWith(ctx context.Context, client, key string, sub func(*websocket.Conn) error) (*websocket.Conn, error) {
	return l.connectTo(ctx, l.t, client, key, sub)
}

func (l *load) connectTo(ctx context.Context, node *target, client, key string, sub func(*websocket.Conn) error) (*websocket.Conn, error) {
	if l.t.kind == "relay" {
		return l.dial(ctx, l.t.relayURL(key))
	}
	ws, err := l.dial(ctx, node.wsURL())
	if err != nil {
		return nil, err
	}
	if err := l.hello(ctx, ws, client); err != nil {
		ws.CloseNow()
		return nil, err
	}
	if err := sub(ws); err != nil {
		ws.CloseNow()
		return nil, err
	}
	return ws, nil
}

func write(ws *websocket.Conn, frame []byte) error {
	return ws.Write(context.Background(), websocket.MessageText, frame)
}

func readMsgs(ctx context.Context, ws *websocket.Conn) ([]protocol.Msg, error) {
	_, data, err := ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	return protocol.Decode(data)
}

func (l *load) hello(ctx context.Context, ws *websocket.Conn, client string) error {
	if err := write(ws, protocol.Encode(&protocol.Msg{T: protocol.THello, V: protocol.Version, Client: client})); err != nil {
		return err
	}
	_, err := until(ctx, ws, func(m *protocol.Msg) bool { return m.T == protocol.TWelcome })
	return err
}

// sub subscribes to key from scratch and waits for synced; onSnap sees the
// snap if one comes.
func (l *load) sub(ctx context.Context, ws *websocket.Conn, key string, onSnap func(*protocol.Msg)) (*protocol.Msg, error) {
	m := &protocol.Msg{T: protocol.TSub, Key: key, Type: counter.CounterType.Name, FP: counter.CounterType.Fingerprint}
	if err := write(ws, protocol.Encode(m)); err != nil {
		return nil, err
	}
	return until(ctx, ws, func(m *protocol.Msg) bool {
		if m.T == protocol.TSnap && m.Key == key && onSnap != nil {
			onSnap(m)
		}
		return m.T == protocol.TSynced && m.Key == key
	})
}

// until reads until ok accepts a message; an err message fails.
func until(ctx context.Context, ws *websocket.Conn, ok func(*protocol.Msg) bool) (*protocol.Msg, error) {
	rctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	for {
		ms, err := readMsgs(rctx, ws)
		if err != nil {
			return nil, err
		}
		for i := range ms {
			if ms[i].T == protocol.TErr {
				return nil, fmt.Errorf("server: %s: %s", ms[i].Code, ms[i].Message)
			}
			if ok(&ms[i]) {
				return &ms[i], nil
			}
		}
	}
}

// mutFrame is an Add(1) mutation, encoded by hand: the load generator
// shares the machine with the server, so it spends as little as it can.
func mutFrame(key string, mid uint64) []byte {
	b := make([]byte, 0, 80)
	b = append(b, `{"t":"mut","key":`...)
	b = strconv.AppendQuote(b, key)
	b = append(b, `,"mid":`...)
	b = strconv.AppendUint(b, mid, 10)
	return append(b, `,"name":"Add","args":{"n":1}}`...)
}

// relayFrame is what a relay client sends: its index and a sequence number.
func relayFrame(client int, seq uint64) []byte {
	b := strconv.AppendInt(make([]byte, 0, 24), int64(client), 10)
	b = append(b, ' ')
	return strconv.AppendUint(b, seq, 10)
}

func parseRelayFrame(f []byte) (client int, seq uint64, ok bool) {
	for i, c := range f {
		if c == ' ' {
			cl, err1 := strconv.Atoi(string(f[:i]))
			s, err2 := strconv.ParseUint(string(f[i+1:]), 10, 64)
			return cl, s, err1 == nil && err2 == nil
		}
	}
	return 0, 0, false
}

// counterState reads key's state through REST.
func (l *load) counterState(ctx context.Context, key string) (n, changes int, seq uint64, err error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", l.t.httpURL+"/v1/namespaces/default/states/"+key, nil)
	req.Header.Set("Authorization", "Bearer "+l.t.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Seq   uint64 `json:"seq"`
		State struct {
			N       int `json:"n"`
			Changes int `json:"changes"`
		} `json:"state"`
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return 0, 0, 0, fmt.Errorf("GET state %s: %d %s", key, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, 0, 0, err
	}
	return body.State.N, body.State.Changes, body.Seq, nil
}

// mark is the server's and this process's usage at one moment.
type usageMark struct{ srv, self usage }

func (l *load) mark() usageMark {
	self, _ := procUsage(os.Getpid())
	return usageMark{srv: l.t.measure(), self: self}
}

// nodeMarks is each node's usage at one moment.
func (l *load) nodeMarks() []usage {
	var out []usage
	for _, n := range l.t.nodes() {
		out = append(out, n.measureOne())
	}
	return out
}

// perNode records each node's figures when there are several: its
// connections, what they counted (acknowledgements or deliveries) per
// second, their latencies, and the node's CPU time.
func (l *load) perNode(conns []int, counts []int64, lats [][]time.Duration, start time.Time, end int64, before, after []usage) {
	if len(conns) < 2 {
		return
	}
	var out []map[string]any
	for i := range conns {
		var r result
		r.latencies(lats[i])
		out = append(out, map[string]any{
			"node": i, "conns": conns[i], "ops_per_s": round(perSecond(counts[i], start, end), 1),
			"p50_ms": r.P50, "p99_ms": r.P99, "server_cpu_s": round((after[i].cpu - before[i].cpu).Seconds(), 2),
		})
	}
	l.res.set("per_node", out)
}

// cpu records the server's and the load generator's CPU time between two
// marks: on a small machine they compete for the same cores.
func (l *load) cpu(before, after usageMark) {
	l.res.ServerCPU = (after.srv.cpu - before.srv.cpu).Seconds()
	l.res.set("client_cpu_s", round((after.self.cpu-before.self.cpu).Seconds(), 2))
}

// connections asks the target's /healthz how many WebSocket connections
// it holds.
func (t *target) connections(ctx context.Context) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", t.httpURL+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Connections *int `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 || body.Connections == nil {
		return 0, fmt.Errorf("%d, no connection count", resp.StatusCode)
	}
	return *body.Connections, nil
}

// checkCounts checks that each key's counter holds exactly what was
// acknowledged on it: nothing lost, nothing doubled.
func (l *load) checkCounts(ctx context.Context, want map[string]int) {
	if l.t.kind != "bs" {
		return
	}
	for key, w := range want {
		n, changes, _, err := l.counterState(ctx, key)
		if err != nil {
			l.res.fail("%v", err)
			continue
		}
		if n != w || changes != w {
			l.res.fail("%s: n=%d changes=%d, but %d Add(1) were acknowledged", key, n, changes, w)
		}
	}
}

// progress prints what count says every second until stop is called.
func (l *load) progress(label string, count *atomic.Int64, total int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if total > 0 {
					fmt.Fprintf(l.stderr, "   %4.0fs  %s %d/%d\n", time.Since(start).Seconds(), label, count.Load(), total)
				} else {
					fmt.Fprintf(l.stderr, "   %4.0fs  %s %d\n", time.Since(start).Seconds(), label, count.Load())
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// parallel runs fn(0..n-1) on at most width goroutines and returns the
// first error.
func parallel(n, width int, fn func(i int) error) error {
	var (
		next    atomic.Int64
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	for range min(n, width) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errOnce.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func closeAll(conns []*websocket.Conn) {
	for _, ws := range conns {
		if ws != nil {
			ws.CloseNow()
		}
	}
}

// scanEvs calls fn with the client and mid of every ev in a frame from the
// server (one message or an array of them), and reports whether the frame
// holds an err or rej. It reads only what the load needs, for the reason
// mutFrame is written by hand; the server writes a message's fields in
// protocol.Msg's order, t first.
func scanEvs(frame []byte, fn func(client []byte, mid uint64)) (bad bool) {
	const start = `{"t":"`
	rest := frame
	for {
		i := bytes.Index(rest, []byte(start))
		if i < 0 {
			return bad
		}
		rest = rest[i+len(start):]
		obj := rest
		if j := bytes.Index(rest, []byte(start)); j >= 0 {
			obj = rest[:j]
		}
		switch {
		case bytes.HasPrefix(obj, []byte(`ev"`)):
			client := field(obj, `"client":"`, '"')
			mid, _ := strconv.ParseUint(string(field(obj, `"mid":`, ',')), 10, 64)
			fn(client, mid)
		case bytes.HasPrefix(obj, []byte(`err"`)), bytes.HasPrefix(obj, []byte(`rej"`)):
			bad = true
		}
	}
}

// field returns the bytes after name up to end (or the object's end).
func field(obj []byte, name string, end byte) []byte {
	i := bytes.Index(obj, []byte(name))
	if i < 0 {
		return nil
	}
	v := obj[i+len(name):]
	for j, c := range v {
		if c == end || c == '}' {
			return v[:j]
		}
	}
	return v
}
