package main

import (
	"context"
	"fmt"
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
		ws, err := l.connectAt(ctx, l.t.node(i), l.clientID(i), keyOf(i))
		conns[i] = ws
		return err
	}); err != nil {
		return err
	}
	stats := make([]writerStats, clients)
	var acked, lastAck atomic.Int64
	before, nodesBefore := l.mark(), l.nodeMarks()
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
	after, nodesAfter := l.mark(), l.nodeMarks()
	var lat []time.Duration
	want := map[string]int{}
	nn := len(l.t.nodes())
	nodeConns, nodeAcked, nodeLat := make([]int, nn), make([]int64, nn), make([][]time.Duration, nn)
	for i, st := range stats {
		nodeConns[i%nn]++
		nodeAcked[i%nn] += int64(st.acked)
		nodeLat[i%nn] = append(nodeLat[i%nn], st.lat...)
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
	l.perNode(nodeConns, nodeAcked, nodeLat, start, lastAck.Load(), nodesBefore, nodesAfter)
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
		ws, err := l.connectAt(ctx, l.t.node(i), l.clientID(i), key)
		conns[i] = ws
		return err
	}); err != nil {
		return err
	}
	wi := subs // the writer's index; it writes to node 0
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
	before, nodesBefore := l.mark(), l.nodeMarks()
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
	after, nodesAfter := l.mark(), l.nodeMarks()
	var lat []time.Duration
	nn := len(l.t.nodes())
	nodeConns, nodeGot, nodeLat := make([]int, nn), make([]int64, nn), make([][]time.Duration, nn)
	for i := range subs {
		nodeConns[i%nn]++
		nodeGot[i%nn] += int64(len(lats[i]))
		nodeLat[i%nn] = append(nodeLat[i%nn], lats[i]...)
		lat = append(lat, lats[i]...)
		if errs[i] != nil {
			l.res.fail("subscriber %d: %v", i, errs[i])
		}
	}
	got := delivered.Load()
	l.res.OpsPerS = perSecond(got, start, lastDelivery.Load())
	l.perNode(nodeConns, nodeGot, nodeLat, start, lastDelivery.Load(), nodesBefore, nodesAfter)
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
