package main

// bsbench presence: one key, every member setting its presence at --hz and
// receiving everyone's. Against Better-State, presence is coalesced per
// member and sent once per tick; against the bare relay, every update is
// broadcast to every member as it comes (the naive way).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/better-state/better-state/examples/counter"
	"github.com/better-state/better-state/runtime/protocol"
)

// observers is how many members decode what they receive, to measure the
// latency and check the last values: decoding at every member would cost
// the load generator more than the server.
const observers = 20

// presenceData is a member's presence: counter.Viewer's name, plus the
// update's number and send time, which the server passes on as they are.
type presenceData struct {
	Name string `json:"name"`
	N    int64  `json:"n"`
	T    int64  `json:"t"` // unix ns
}

// view is what one observer knows of each member: its last update.
type view struct {
	mu   sync.Mutex
	last map[string]int64 // member name -> N
	lat  []time.Duration
}

func (v *view) saw(now time.Time, d presenceData) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if d.N > v.last[d.Name] {
		v.last[d.Name] = d.N
	}
	v.lat = append(v.lat, now.Sub(time.Unix(0, d.T)))
}

func (l *load) presence(ctx context.Context, p params) error {
	members, hz, dur := p.int("members"), p.float("hz"), p.dur("duration")
	key := "p-" + l.run
	name := func(i int) string { return "m" + strconv.Itoa(i) }
	conns := make([]*websocket.Conn, members)
	defer closeAll(conns)
	if err := parallel(members, 50, func(i int) error {
		ws, err := l.presenceConnect(ctx, l.clientID(i), key)
		conns[i] = ws
		return err
	}); err != nil {
		return err
	}
	dbBefore := l.dbBytes() // the key exists now
	var ending atomic.Bool
	views := make([]*view, min(observers, members))
	for i := range views {
		views[i] = &view{last: map[string]int64{}}
	}
	var delivered, frames atomic.Int64
	errs := make([]error, members)
	var readers sync.WaitGroup
	for i := range members {
		readers.Add(1)
		go func() {
			defer readers.Done()
			errs[i] = l.presenceReader(conns[i], i, views, &delivered, &frames, &ending)
		}()
	}
	lastN := make([]atomic.Int64, members)
	before := l.mark()
	stop := l.progress("updates delivered to observers", &delivered, 0)
	start := time.Now()
	var writers sync.WaitGroup
	interval := time.Duration(float64(time.Second) / hz)
	for i := range members {
		writers.Add(1)
		go func() {
			defer writers.Done()
			// A random phase: members do not update in step.
			next := start.Add(time.Duration(rand.Int64N(int64(interval))))
			for n := int64(1); ; n++ {
				time.Sleep(time.Until(next))
				now := time.Now()
				if now.Sub(start) >= dur || ctx.Err() != nil {
					return
				}
				data, _ := json.Marshal(presenceData{Name: name(i), N: n, T: now.UnixNano()})
				frame := data
				if l.t.kind == "bs" {
					frame = protocol.Encode(&protocol.Msg{T: protocol.TPset, Key: key, Data: data})
				}
				if err := write(conns[i], frame); err != nil {
					return
				}
				lastN[i].Store(n)
				next = next.Add(interval)
			}
		}()
	}
	writers.Wait()
	// Two ticks and some: every last value has been sent.
	time.Sleep(500 * time.Millisecond)
	stop()
	after := l.mark()
	ending.Store(true)
	closeAll(conns)
	readers.Wait()

	sent := int64(0)
	for i := range members {
		sent += lastN[i].Load()
	}
	var lat []time.Duration
	lost := 0
	for _, v := range views {
		lat = append(lat, v.lat...)
		for i := range members {
			if v.last[name(i)] != lastN[i].Load() {
				lost++
			}
		}
	}
	for i, err := range errs {
		if err != nil && l.res.Errors < 5 {
			l.res.fail("member %d: %v", i, err)
		}
	}
	if lost > 0 {
		l.res.fail("%d (observer, member) pairs did not end on the member's last value", lost)
	}
	// Every member got the frames the observers got: the deliveries are
	// the observers' mean times the members.
	got := delivered.Load() * int64(members) / int64(len(views))
	elapsed := time.Since(start)
	l.res.OpsPerS = float64(sent) / dur.Seconds()
	l.res.latencies(lat)
	l.cpu(before, after)
	l.res.set("updates_sent", sent)
	l.res.set("member_updates_delivered", got)
	l.res.set("frames_delivered", frames.Load())
	if got > 0 {
		l.res.set("server_cpu_us_per_delivered", round(l.res.ServerCPU*1e6/float64(got), 3))
	}
	l.res.set("seconds", round(elapsed.Seconds(), 1))
	if l.t.kind == "bs" {
		growth := l.dbBytes() - dbBefore
		l.res.set("db_growth_bytes", growth)
		if growth > 0 {
			l.res.fail("the database grew by %d bytes: presence reached storage", growth)
		}
	}
	return nil
}

// presenceConnect opens member client's connection: hello, and a
// subscription with presence that waits for the whole set (bs); a relay
// connection to the key's room.
func (l *load) presenceConnect(ctx context.Context, client, key string) (*websocket.Conn, error) {
	return l.connectWith(ctx, client, key, func(ws *websocket.Conn) error {
		m := &protocol.Msg{T: protocol.TSub, Key: key, Type: counter.CounterType.Name, FP: counter.CounterType.Fingerprint, Presence: true}
		if err := write(ws, protocol.Encode(m)); err != nil {
			return err
		}
		_, err := until(ctx, ws, func(m *protocol.Msg) bool { return m.T == protocol.TPresence && m.Full })
		return err
	})
}

// presenceReader reads member i's connection until it closes: an observer
// decodes every update it receives, the others count them.
//
// The others read and drop each frame without keeping it (they get the
// same frames as the observers, which count the member updates in them).
func (l *load) presenceReader(ws *websocket.Conn, i int, views []*view, delivered, frames *atomic.Int64, ending *atomic.Bool) error {
	for {
		if i >= len(views) {
			_, r, err := ws.Reader(context.Background())
			if err == nil {
				_, err = io.Copy(io.Discard, r)
			}
			if err != nil {
				if ending.Load() {
					return nil // closed by the end of the run
				}
				return err // dropped: a slow consumer
			}
			frames.Add(1)
			continue
		}
		_, data, err := ws.Read(context.Background())
		if err != nil {
			if ending.Load() {
				return nil
			}
			return err
		}
		now := time.Now()
		frames.Add(1)
		if l.t.kind == "relay" {
			delivered.Add(1)
			var d presenceData
			if json.Unmarshal(data, &d) == nil {
				views[i].saw(now, d)
			}
			continue
		}
		ms, err := protocol.Decode(data)
		if err != nil {
			return err
		}
		for _, m := range ms {
			switch m.T {
			case protocol.TPresence:
				for _, mb := range m.Members {
					var d presenceData
					if err := json.Unmarshal(mb.Data, &d); err != nil {
						return fmt.Errorf("member data %s: %v", mb.Data, err)
					}
					views[i].saw(now, d)
					delivered.Add(1)
				}
			case protocol.TErr:
				return fmt.Errorf("server: %s: %s", m.Code, m.Message)
			}
		}
	}
}

// dbBytes is the size of the server's database files (0 with --url).
func (l *load) dbBytes() int64 {
	var n int64
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(l.t.db + suffix); err == nil && l.t.db != "" {
			n += fi.Size()
		}
	}
	return n
}
