package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/better-state/better-state/runtime/protocol"
)

// errorIn returns the err or rej of a frame as an error.
func errorIn(frame []byte) error {
	ms, err := protocol.Decode(frame)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.T == protocol.TErr || m.T == protocol.TRej {
			return fmt.Errorf("%s %s: %s", m.T, m.Code, m.Message)
		}
	}
	return fmt.Errorf("no error in %.200s", frame)
}

// perSecond is n over the time from start to last (Unix nanoseconds); 0
// when nothing was counted.
func perSecond(n int64, start time.Time, last int64) float64 {
	d := time.Unix(0, last).Sub(start)
	if n <= 0 || d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func (l *load) clientID(i int) string { return fmt.Sprintf("bench-%s-%d", l.run, i) }

// writerStats is what one writing connection saw.
type writerStats struct {
	sent, acked uint64
	lat         []time.Duration
	err         error
}

// writer keeps window Add(1) mutations in flight on ws while more(sent)
// says so, then waits for the last acknowledgements. Latency is from the
// send to the client's own ev (bs) or own echo (relay).
func (l *load) writer(i int, ws *websocket.Conn, key string, window int, more func(sent uint64) bool, acked *atomic.Int64, lastAck *atomic.Int64) writerStats {
	id := l.clientID(i)
	var (
		mu     sync.Mutex
		sentAt []time.Time
		st     writerStats
		nAcked atomic.Uint64
		rdErr  error
	)
	tokens := make(chan struct{}, window)
	for range window {
		tokens <- struct{}{}
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		record := func(mid uint64, now time.Time) {
			mu.Lock()
			if mid == 0 || mid > uint64(len(sentAt)) {
				mu.Unlock()
				rdErr = fmt.Errorf("ack of mid %d, which was not sent", mid)
				return
			}
			d := now.Sub(sentAt[mid-1])
			mu.Unlock()
			st.lat = append(st.lat, d)
			nAcked.Add(1)
			acked.Add(1)
			lastAck.Store(now.UnixNano())
			tokens <- struct{}{}
		}
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			now := time.Now()
			if l.t.kind == "relay" {
				if cl, seq, ok := parseRelayFrame(data); ok && cl == i {
					record(seq, now)
				}
				continue
			}
			bad := scanEvs(data, func(client []byte, mid uint64) {
				if string(client) == id {
					record(mid, now)
				}
			})
			if bad {
				rdErr = errorIn(data)
			}
		}
	}()
	var mid uint64
	timeout := time.NewTimer(ioTimeout)
	defer timeout.Stop()
	for more(mid) {
		timeout.Reset(ioTimeout) // one timer, not one per mutation
		select {
		case <-tokens:
		case <-timeout.C:
			st.err = fmt.Errorf("%s: no ack for %s", id, ioTimeout)
		}
		if st.err != nil {
			break
		}
		mid++
		mu.Lock()
		sentAt = append(sentAt, time.Now())
		mu.Unlock()
		frame := mutFrame(key, mid)
		if l.t.kind == "relay" {
			frame = relayFrame(i, mid)
		}
		if err := write(ws, frame); err != nil {
			st.err = err
			break
		}
	}
	deadline := time.Now().Add(ioTimeout)
	for nAcked.Load() < mid && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	ws.CloseNow()
	<-readerDone
	st.sent, st.acked = mid, nAcked.Load()
	if st.err == nil && rdErr != nil {
		st.err = rdErr
	}
	return st
}

// write: durable mutations per second from many connections over many keys.
func (l *load) write(ctx context.Context, p params) error {
	clients, keys, window, dur := p.int("clients"), p.int("keys"), p.int("window"), p.dur("duration")
	l.res.set("durable", l.t.kind == "bs")
	keyOf := func(i int) string { return fmt.Sprintf("w-%s-%d", l.run, i%keys) }
	conns := make([]*websocket.Conn, clients)
	defer closeAll(conns)
	if err := parallel(clients, 50, func(i int) error {
		ws, err := l.connect(ctx, l.clientID(i), keyOf(i))
		conns[i] = ws
		return err
	}); err != nil {
		return err
	}
	stats := make([]writerStats, clients)
	var acked, lastAck atomic.Int64
	before := l.mark()
	start := time.Now()
	end := start.Add(dur)
	stop := l.progress("acknowledged", &acked, 0)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stats[i] = l.writer(i, conns[i], keyOf(i), window, func(uint64) bool { return time.Now().Before(end) }, &acked, &lastAck)
		}()
	}
	wg.Wait()
	stop()
	after := l.mark()
	var lat []time.Duration
	want := map[string]int{}
	for i, st := range stats {
		lat = append(lat, st.lat...)
		want[keyOf(i)] += int(st.acked)
		if st.err != nil {
			l.res.fail("client %d: %v", i, st.err)
		}
		if st.acked != st.sent {
			l.res.fail("client %d: %d sent, %d acknowledged", i, st.sent, st.acked)
		}
	}
	l.res.OpsPerS = perSecond(acked.Load(), start, lastAck.Load())
	l.cpu(before, after)
	l.res.latencies(lat)
	l.res.set("acknowledged", acked.Load())
	if l.res.ServerCPU > 0 && acked.Load() > 0 {
		l.res.set("server_cpu_us_per_op", round(l.res.ServerCPU*1e6/float64(acked.Load()), 1))
	}
	l.checkCounts(ctx, want)
	return nil
}

// fanout: one writer, many subscribers of one key; latency from the
// writer's send to each subscriber's receipt.
func (l *load) fanout(ctx context.Context, p params) error {
	subs, rate, dur := p.int("subscribers"), p.float("rate"), p.dur("duration")
	n := int(rate * dur.Seconds())
	key := "f-" + l.run
	conns := make([]*websocket.Conn, subs)
	defer closeAll(conns)
	if err := parallel(subs, 50, func(i int) error {
		ws, err := l.connect(ctx, l.clientID(i), key)
		conns[i] = ws
		return err
	}); err != nil {
		return err
	}
	wi := subs // the writer's index
	wid := l.clientID(wi)
	w, err := l.connect(ctx, wid, key)
	if err != nil {
		return err
	}
	defer w.CloseNow()
	go func() { // the writer's own events are not measured
		for {
			if _, _, err := w.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	sentAt := make([]atomic.Int64, n+1)
	var delivered, lastDelivery atomic.Int64
	lats := make([][]time.Duration, subs)
	errs := make([]error, subs)
	var wg sync.WaitGroup
	for i := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, n)
			defer func() { lats[i] = lat }()
			got := 0
			for got < n {
				_, data, err := conns[i].Read(context.Background())
				if err != nil {
					errs[i] = err
					return
				}
				now := time.Now()
				deliver := func(mid uint64) {
					if mid == 0 || mid > uint64(n) {
						return
					}
					lat = append(lat, now.Sub(time.Unix(0, sentAt[mid].Load())))
					got++
					delivered.Add(1)
					lastDelivery.Store(now.UnixNano())
				}
				if l.t.kind == "relay" {
					if cl, seq, ok := parseRelayFrame(data); ok && cl == wi {
						deliver(seq)
					}
					continue
				}
				if scanEvs(data, func(client []byte, mid uint64) {
					if string(client) == wid {
						deliver(mid)
					}
				}) {
					errs[i] = errorIn(data)
					return
				}
			}
		}()
	}
	before := l.mark()
	stop := l.progress("delivered", &delivered, int64(n*subs))
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for k := 1; k <= n; k++ {
		if d := time.Until(start.Add(time.Duration(k-1) * interval)); d > 0 {
			time.Sleep(d)
		}
		sentAt[k].Store(time.Now().UnixNano())
		frame := mutFrame(key, uint64(k))
		if l.t.kind == "relay" {
			frame = relayFrame(wi, uint64(k))
		}
		if err := write(w, frame); err != nil {
			stop()
			return err
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(ioTimeout):
		l.res.fail("not every delivery came within %s of the last send", ioTimeout)
		closeAll(conns)
		<-done
	}
	stop()
	after := l.mark()
	var lat []time.Duration
	for i := range subs {
		lat = append(lat, lats[i]...)
		if errs[i] != nil {
			l.res.fail("subscriber %d: %v", i, errs[i])
		}
	}
	got := delivered.Load()
	l.res.OpsPerS = perSecond(got, start, lastDelivery.Load())
	l.res.latencies(lat)
	l.cpu(before, after)
	l.res.set("events", n)
	l.res.set("deliveries", got)
	l.res.set("expected_deliveries", n*subs)
	if l.res.ServerCPU > 0 {
		l.res.set("deliveries_per_server_cpu_s", round(float64(got)/l.res.ServerCPU, 0))
	}
	if got != int64(n*subs) {
		l.res.fail("%d of %d deliveries", got, n*subs)
	}
	l.checkCounts(ctx, map[string]int{key: n})
	return nil
}

// reconnect: clients that queued mutations offline all come back at once;
// each subscribes, waits for synced, sends its queue and waits for the acks.
func (l *load) reconnect(ctx context.Context, p params) error {
	clients, pending, keys := p.int("clients"), p.int("pending"), p.int("keys")
	keyOf := func(i int) string { return fmt.Sprintf("r-%s-%d", l.run, i%keys) }
	// The keys exist already, as they would for returning clients.
	if l.t.kind == "bs" {
		if err := parallel(keys, 20, func(i int) error {
			ws, err := l.connect(ctx, l.clientID(-1-i), keyOf(i))
			if err == nil {
				ws.CloseNow()
			}
			return err
		}); err != nil {
			return err
		}
	}
	times := make([]time.Duration, clients)
	var done atomic.Int64
	before := l.mark()
	stop := l.progress("clients synced", &done, int64(clients))
	start := time.Now()
	err := parallel(clients, clients, func(i int) error {
		t0 := time.Now()
		ws, err := l.connect(ctx, l.clientID(i), keyOf(i))
		if err != nil {
			return fmt.Errorf("client %d: %w", i, err)
		}
		defer ws.CloseNow()
		for mid := 1; mid <= pending; mid++ {
			frame := mutFrame(keyOf(i), uint64(mid))
			if l.t.kind == "relay" {
				frame = relayFrame(i, uint64(mid))
			}
			if err := write(ws, frame); err != nil {
				return err
			}
		}
		got := 0
		rctx, cancel := context.WithTimeout(ctx, ioTimeout)
		defer cancel()
		for got < pending {
			_, data, err := ws.Read(rctx)
			if err != nil {
				return fmt.Errorf("client %d: %d of %d acks: %w", i, got, pending, err)
			}
			if l.t.kind == "relay" {
				if cl, _, ok := parseRelayFrame(data); ok && cl == i {
					got++
				}
				continue
			}
			id := l.clientID(i)
			if scanEvs(data, func(client []byte, _ uint64) {
				if string(client) == id {
					got++
				}
			}) {
				return fmt.Errorf("client %d: %w", i, errorIn(data))
			}
		}
		times[i] = time.Since(t0)
		done.Add(1)
		return nil
	})
	total := time.Since(start)
	stop()
	after := l.mark()
	if err != nil {
		return err
	}
	l.res.set("seconds_to_synced", round(total.Seconds(), 3))
	l.res.set("mutations", clients*pending)
	l.res.OpsPerS = float64(clients*pending) / total.Seconds()
	l.cpu(before, after)
	l.res.latencies(times)
	want := map[string]int{}
	for i := range clients {
		want[keyOf(i)] += pending
	}
	l.checkCounts(ctx, want)
	return nil
}

// idle: connections that subscribe to one key each and then idle; the
// server's resident memory per connection. Each connection keeps reading
// (as a real client does), so it answers the server's pings.
func (l *load) idle(ctx context.Context, p params) error {
	n, keys := p.int("conns"), p.int("keys")
	time.Sleep(time.Second)
	before := l.mark()
	conns := make([]*websocket.Conn, n)
	defer closeAll(conns)
	var up atomic.Int64
	stop := l.progress("connected", &up, int64(n))
	start := time.Now()
	err := parallel(n, 100, func(i int) error {
		ws, err := l.connect(ctx, l.clientID(i), fmt.Sprintf("i-%s-%d", l.run, i%keys))
		if err != nil {
			return err
		}
		conns[i] = ws
		ws.CloseRead(context.Background()) // nothing more should come; pings are answered
		up.Add(1)
		return nil
	})
	took := time.Since(start)
	stop()
	if err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	after := l.mark()
	l.res.OpsPerS = float64(n) / took.Seconds()
	l.cpu(before, after)
	l.res.set("conns", n)
	if after.srv.rss > 0 {
		l.res.set("server_bytes_per_conn", (after.srv.rss-before.srv.rss)/int64(n))
		l.res.set("server_rss_before_bytes", before.srv.rss)
	}
	// Every connection is still there.
	if open, err := l.t.connections(ctx); err != nil {
		l.res.fail("healthz: %v", err)
	} else if open < n {
		l.res.fail("%d connections open at the end, want %d", open, n)
	}
	return nil
}

// noSnapshots makes a server that never writes a snapshot: a new subscriber
// after a restart waits until the key's whole log has been replayed.
var noSnapshots = []string{"--snapshot-every", "2000000000"}

// cold: a key with a long log. The time until a new subscriber has its
// snap after a restart, with snapshots as the server makes them (every
// --snapshot-every events); then the full replay speed, on a second
// database filled by a server that never snapshots.
func (l *load) cold(ctx context.Context, p params) error {
	events := p.int("events")
	key := "cold-" + l.run
	rate, err := l.fill(ctx, key, events)
	if err != nil {
		return err
	}
	l.res.set("fill_ops_per_s", round(rate, 0))
	if err := l.restart(ctx); err != nil {
		return err
	}
	d, err := l.firstSnap(ctx, key, events)
	if err != nil {
		return err
	}
	l.res.set("first_snap_ms", ms(d))

	if err := l.t.stopChild(); err != nil {
		return err
	}
	l.t.db = filepath.Join(l.t.dir, "nosnap.db")
	if err := l.t.startServe(ctx, l.cfg, noSnapshots...); err != nil {
		return err
	}
	if _, err := l.fill(ctx, key, events); err != nil {
		return err
	}
	if err := l.restart(ctx, noSnapshots...); err != nil {
		return err
	}
	before := l.mark()
	d, err = l.firstSnap(ctx, key, events)
	if err != nil {
		return err
	}
	after := l.mark()
	l.cpu(before, after)
	l.res.set("replay_ms", ms(d))
	l.res.set("replay_events_per_s", round(float64(events)/d.Seconds(), 0))
	l.res.OpsPerS = float64(events) / d.Seconds()
	l.res.set("events", events)
	return nil
}

// fill appends events Add(1) mutations to key, pipelined over a few
// connections, and returns the rate.
func (l *load) fill(ctx context.Context, key string, events int) (float64, error) {
	const fillers, window = 4, 256
	conns := make([]*websocket.Conn, fillers)
	defer closeAll(conns)
	if err := parallel(fillers, fillers, func(i int) error {
		ws, err := l.connect(ctx, l.clientID(i), key)
		conns[i] = ws
		return err
	}); err != nil {
		return 0, err
	}
	var acked, lastAck atomic.Int64
	stop := l.progress("filled", &acked, int64(events))
	start := time.Now()
	var wg sync.WaitGroup
	stats := make([]writerStats, fillers)
	for i := range fillers {
		quota := uint64(events / fillers)
		if i == 0 {
			quota += uint64(events % fillers)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			stats[i] = l.writer(i, conns[i], key, window, func(sent uint64) bool { return sent < quota }, &acked, &lastAck)
		}()
	}
	wg.Wait()
	stop()
	for i, st := range stats {
		if st.err != nil || st.acked != st.sent {
			return 0, fmt.Errorf("filling: writer %d: %d of %d acknowledged: %v", i, st.acked, st.sent, st.err)
		}
	}
	return float64(events) / time.Since(start).Seconds(), nil
}

// restart stops the server child and starts it again on its database.
func (l *load) restart(ctx context.Context, extra ...string) error {
	if err := l.t.stopChild(); err != nil {
		return err
	}
	return l.t.startServe(ctx, l.cfg, extra...)
}

// firstSnap subscribes from scratch and returns the time from the sub to
// the snap, checking that the snap holds every event.
func (l *load) firstSnap(ctx context.Context, key string, events int) (time.Duration, error) {
	ws, err := l.dial(ctx, l.t.wsURL())
	if err != nil {
		return 0, err
	}
	defer ws.CloseNow()
	if err := l.hello(ctx, ws, l.clientID(1000000)); err != nil {
		return 0, err
	}
	var d time.Duration
	var state json.RawMessage
	t0 := time.Now()
	if _, err := l.sub(ctx, ws, key, func(m *protocol.Msg) {
		d = time.Since(t0)
		state = m.State
	}); err != nil {
		return 0, err
	}
	if state == nil {
		return 0, fmt.Errorf("no snap for %s", key)
	}
	var c struct {
		N int `json:"n"`
	}
	if err := json.Unmarshal(state, &c); err != nil || c.N != events {
		l.res.fail("the snap after the restart has n=%d, want %d (%v)", c.N, events, err)
	}
	return d, nil
}
