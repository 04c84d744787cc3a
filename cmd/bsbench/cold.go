package main

// The cold scenario: restart the server on a long log and time the first
// snapshot and a full replay.

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
	"github.com/coder/websocket"
)

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
