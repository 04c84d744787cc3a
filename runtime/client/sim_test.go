package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/internal/simhook"
	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/storage"
	"github.com/better-state/better-state/schema"
)

// The deterministic simulation: a real server (Synchronous mode, real
// SQLite file) and real clients (real Dirs) in one goroutine, joined by a
// transport the seed scripts. Each step the seed picks one thing to happen:
// a client acts, one frame crosses one way, a connection drops, a client
// reconnects, restarts or crashes, the server restarts from its file, a
// retransmission is duplicated, time passes. Frames wait in their queues for
// as many steps as the seed likes, so delays, reordering across connections,
// bursts during catch-up and reconnects at the worst moment all happen.
// After the faults the network heals, everything drains, and the checks of
// docs/RELIABILITY.md run. A failing seed prints its trace; -sim.seed
// replays it exactly.

var (
	simSeeds = flag.Int("sim.seeds", 0, "simulation seeds to run (default 300, 100 with -short)")
	simFirst = flag.Uint64("sim.first", 1, "first simulation seed")
	simSeed  = flag.Uint64("sim.seed", 0, "run only this seed and print its whole trace")
	simSteps = flag.Int("sim.steps", 150, "fault steps per seed")
)

const (
	simClients = 3
	simNS      = "default"
	simKey     = "sim-key"
)

var simKeys = []string{"a", "b"}

type mutID struct {
	client, key string
	mid         uint64
}

type simConn struct {
	local simhook.Conn
	link  *client.SimLink
	up    [][]byte // client -> server, in flight
	down  [][]byte // server -> client, in flight
	dead  bool
}

type simClient struct {
	id     string
	dir    string
	c      *client.Client
	stores map[string]*client.Store
	conn   *simConn
	last   []byte // the last mut frame the server got from this client
}

type simTimer struct {
	due time.Time
	f   func()
}

type sim struct {
	seed   uint64
	rng    *rand.Rand
	dir    string
	bug    bool
	clock  time.Time
	srv    *server.Server
	cls    []*simClient
	timers []simTimer
	trace  []string

	made     map[mutID]string // every mutation a client queued
	rejected map[mutID]int    // refusals reported to the client
	acked    map[mutID]uint64 // own events a client heard, by seq
	erased   map[mutID]string // made before their key's log was deleted
	broken   []error          // violations seen while running
	counter  int
	stats    simStats
}

type simStats struct {
	steps, muts, drops, serverRestarts, clientRestarts, crashes, dups, frames int
	twins, resets                                                             int
}

func (w *sim) logf(format string, args ...any) {
	w.trace = append(w.trace, fmt.Sprintf(format, args...))
}

func (w *sim) now() time.Time { return w.clock }

func newSim(seed uint64, dir string, bug bool) (*sim, error) {
	w := &sim{
		seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5eed)), dir: dir, bug: bug,
		clock:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		made:     map[mutID]string{},
		rejected: map[mutID]int{},
		acked:    map[mutID]uint64{},
		erased:   map[mutID]string{},
	}
	if err := w.startServer(); err != nil {
		return nil, err
	}
	for i := range simClients {
		sc := &simClient{id: fmt.Sprintf("c%d", i), dir: filepath.Join(dir, fmt.Sprintf("c%d", i))}
		w.cls = append(w.cls, sc)
		if err := w.openClient(sc); err != nil {
			return nil, err
		}
	}
	return w, nil
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func (w *sim) startServer() error {
	srv, err := server.New(simhook.Synchronous(server.Config{
		DBPath: filepath.Join(w.dir, "server.db"), Sync: "normal",
		Registry: simRegistry(), DevKey: simKey, Logger: quiet,
		// Small enough that catch-ups cross snapshots and hashes.
		SnapshotEvery: 7, HashEvery: 3,
		Limits: server.Limits{MutationsPerSecond: 1e9, MutationBurst: 1e9, KeyMutationsPerSec: 1e9, ActorMutationsPerSec: 1e9, SendQueue: 1 << 20, SubsPerSecond: 1e9},
	}, w.now).(server.Config))
	w.srv = srv
	return err
}

func simRegistry() *contract.Registry {
	r := contract.NewRegistry()
	todos.Register(r)
	return r
}

func (w *sim) openClient(sc *simClient) error {
	c, err := client.NewSimClient(client.Options{
		Dir: sc.dir, ClientID: sc.id, Logger: quiet,
		OnReject: func(r client.Rejection) {
			id := mutID{sc.id, r.Key, r.Mid}
			if _, ok := w.made[id]; !ok {
				// A refusal from a log deleted since: its mutation is
				// among the erased ones, and the mid may come again.
				w.logf("  %s told: %s#%d refused (%s), in a deleted log", sc.id, r.Key, r.Mid, r.Code)
				return
			}
			w.rejected[id]++
			w.logf("  %s told: %s#%d refused (%s)", sc.id, r.Key, r.Mid, r.Code)
		},
	}, client.SimOptions{
		Now: w.now,
		Later: func(d time.Duration, f func()) {
			w.timers = append(w.timers, simTimer{due: w.clock.Add(d), f: f})
		},
		BugClearOnSend: w.bug,
		DiskSync:       "OFF",
		OnRenumber: func(key string, old, new []uint64) {
			w.renumbered(sc.id, key, old, new)
		},
	})
	if err != nil {
		return err
	}
	sc.c = c
	sc.stores = map[string]*client.Store{}
	for _, k := range simKeys {
		s, err := client.Open[todos.List](c, todos.ListType, k)
		if err != nil {
			return err
		}
		sc.stores[k] = s.Store()
	}
	return nil
}

// connect opens a connection for sc: hello and welcome cross at once, the
// subscriptions are then in flight like everything else.
func (w *sim) connect(sc *simClient) error {
	local, err := simhook.Local(context.Background(), w.srv, simKey)
	if err != nil {
		return err
	}
	cn := &simConn{local: local}
	cn.link = &client.SimLink{
		Send: func(f []byte) error {
			if cn.dead {
				return errors.New("sim: connection closed")
			}
			cn.up = append(cn.up, f)
			return nil
		},
		Close: func() { cn.dead = true },
	}
	local.Send(sc.c.Hello())
	welcome, _ := local.Receive()
	sc.conn = cn
	if err := sc.c.Attach(cn.link, welcome); err != nil {
		return err
	}
	w.logf("%s connects", sc.id)
	return nil
}

// drop cuts sc's connection: what is in flight is lost.
func (w *sim) drop(sc *simClient, why string) {
	cn := sc.conn
	if cn == nil {
		return
	}
	w.logf("%s drops (%s): %d up and %d down frames lost", sc.id, why, len(cn.up), len(cn.down))
	cn.dead = true
	cn.local.Close()
	sc.conn = nil
	sc.c.Detach()
}

// pump moves what the server wrote into the down queues.
func (w *sim) pump() {
	for _, sc := range w.cls {
		cn := sc.conn
		if cn == nil {
			continue
		}
		f, open := cn.local.Receive()
		if f != nil {
			cn.down = append(cn.down, f)
		}
		if !open && f == nil {
			w.drop(sc, "server closed it")
		}
	}
}

func describe(frame []byte) string {
	msgs, err := protocol.Decode(frame)
	if err != nil {
		return "undecodable"
	}
	var parts []string
	for _, m := range msgs {
		switch m.T {
		case protocol.TMut:
			parts = append(parts, fmt.Sprintf("mut %s#%d %s", m.Key, m.Mid, m.Name))
		case protocol.TEv:
			parts = append(parts, fmt.Sprintf("ev %s@%d %s#%d", m.Key, m.Seq, m.Client, m.Mid))
		case protocol.TSub:
			parts = append(parts, fmt.Sprintf("sub %s after %d acked %d snap %v", m.Key, m.After, m.Acked, m.Snap))
		case protocol.TSynced:
			parts = append(parts, fmt.Sprintf("synced %s@%d mid %d", m.Key, m.Seq, m.Mid))
		case protocol.TSnap:
			parts = append(parts, fmt.Sprintf("snap %s@%d", m.Key, m.Seq))
		case protocol.TRej:
			parts = append(parts, fmt.Sprintf("rej %s#%d %s", m.Key, m.Mid, m.Code))
		case protocol.TErr:
			parts = append(parts, fmt.Sprintf("err %s %s", m.Key, m.Code))
		default:
			parts = append(parts, m.T)
		}
	}
	return strings.Join(parts, ", ")
}

// mutate makes sc do a random action on a random key.
func (w *sim) mutate(sc *simClient) {
	key := simKeys[w.rng.IntN(len(simKeys))]
	st := sc.stores[key]
	view := st.View().(*todos.List)
	pick := func() string {
		if len(view.Items) == 0 || w.rng.IntN(8) == 0 {
			return "gone"
		}
		return view.Items[w.rng.IntN(len(view.Items))].ID
	}
	w.counter++
	var name string
	var args any
	switch n := w.rng.IntN(10); {
	case n < 5:
		name, args = "Add", map[string]string{"title": fmt.Sprintf("%s-%d", sc.id, w.counter)}
	case n < 7:
		name, args = "Toggle", map[string]string{"id": pick()}
	case n < 8:
		name, args = "Rename", map[string]string{"id": pick(), "title": fmt.Sprintf("r%d", w.counter)}
	case n < 9:
		name, args = "Remove", map[string]string{"id": pick()}
	default:
		name, args = "ClearDone", struct{}{}
	}
	before := st.Pending()
	if err := st.Mutate(name, args); err != nil {
		w.logf("%s %s on %s refused locally", sc.id, name, key)
		return
	}
	// The mid is the next after the last one the store queued.
	mid := st.NextMid()
	id := mutID{sc.id, key, mid}
	w.made[id] = name
	w.stats.muts++
	w.logf("%s %s on %s: mid %d (pending %d -> %d)", sc.id, name, key, mid, before, st.Pending())
}

func (w *sim) restartClient(sc *simClient, crash bool) error {
	w.drop(sc, "restart")
	if crash {
		w.stats.crashes++
		w.logf("%s crashes", sc.id)
		if err := sc.c.Crash(); err != nil {
			return err
		}
	} else {
		w.stats.clientRestarts++
		w.logf("%s restarts", sc.id)
		if err := sc.c.Close(); err != nil {
			return err
		}
	}
	return w.openClient(sc)
}

func (w *sim) restartServer() error {
	w.stats.serverRestarts++
	for _, sc := range w.cls {
		w.drop(sc, "server restart")
	}
	if err := w.srv.Close(); err != nil {
		return err
	}
	w.logf("server restarts from its file")
	return w.startServer()
}

func (w *sim) deliverUp(sc *simClient) {
	cn := sc.conn
	f := cn.up[0]
	cn.up = cn.up[1:]
	w.stats.frames++
	w.logf("%s -> server: %s", sc.id, describe(f))
	if bytes.Contains(f, []byte(`"t":"mut"`)) {
		sc.last = f
	}
	if !cn.local.Send(f) {
		w.drop(sc, "server ended it")
		return
	}
	w.pump()
}

func (w *sim) deliverDown(sc *simClient) error {
	cn := sc.conn
	f := cn.down[0]
	cn.down = cn.down[1:]
	w.stats.frames++
	w.logf("server -> %s: %s", sc.id, describe(f))
	if msgs, err := protocol.Decode(f); err == nil {
		for _, m := range msgs {
			if id := (mutID{sc.id, m.Key, m.Mid}); m.T == protocol.TEv && m.Client == sc.id {
				if _, ok := w.made[id]; ok { // not an ev of a deleted log
					w.acked[id] = m.Seq
				}
			}
		}
	}
	if err := sc.c.Deliver(cn.link, f); err != nil {
		w.drop(sc, err.Error())
		if se := (*client.ServerError)(nil); errors.As(err, &se) && se.Terminal() {
			// The client stops; its user starts it again.
			return w.restartClient(sc, false)
		}
	}
	return nil
}

// twin opens a second connection with sc's client id (two processes
// sharing an id, a stale tab): it takes over, and resends sc's last mut
// frame, which may not have reached the server yet.
func (w *sim) twin(sc *simClient) error {
	local, err := simhook.Local(context.Background(), w.srv, simKey)
	if err != nil {
		return err
	}
	w.stats.twins++
	local.Send(sc.c.Hello())
	local.Receive()
	w.logf("a twin of %s connects", sc.id)
	if sc.last != nil {
		if msgs, err := protocol.Decode(sc.last); err == nil && len(msgs) > 0 {
			key := msgs[0].Key
			local.Send(protocol.Encode(&protocol.Msg{T: protocol.TSub, Key: key, Type: todos.ListType.Name, FP: todos.ListType.Fingerprint}))
			local.Send(sc.last)
			f, _ := local.Receive()
			w.logf("twin of %s resends %s; hears %s", sc.id, describe(sc.last), describe(f))
			if f != nil {
				w.noteAcks(sc.id, f)
			}
		}
	}
	local.Close()
	w.pump()
	return nil
}

// noteAcks records the own events of client in a frame it did not get
// through its store (the twin's).
func (w *sim) noteAcks(client string, f []byte) {
	msgs, _ := protocol.Decode(f)
	for _, m := range msgs {
		if id := (mutID{client, m.Key, m.Mid}); m.T == protocol.TEv && m.Client == client {
			if _, ok := w.made[id]; ok {
				w.acked[id] = m.Seq
			}
		}
	}
}

// resetKey deletes a key's log as an admin would, under whatever the
// clients have queued: they must renumber and converge.
func (w *sim) resetKey() error {
	key := simKeys[w.rng.IntN(len(simKeys))]
	// What the server had processed (applied or refused) goes with the
	// log; what it had not stays valid under its mid.
	cursors := map[string]uint64{}
	for _, sc := range w.cls {
		m, err := simhook.Store(w.srv).ClientMid(context.Background(), simNS, key, sc.id)
		if err != nil {
			return err
		}
		cursors[sc.id] = m
	}
	req := httptest.NewRequest("DELETE", "/v1/namespaces/"+simNS+"/states/"+key, nil)
	req.Header.Set("Authorization", "Bearer "+simKey)
	rec := httptest.NewRecorder()
	w.srv.Handler().ServeHTTP(rec, req)
	if rec.Code == http.StatusNotFound {
		return nil
	}
	if rec.Code != 200 {
		return fmt.Errorf("DELETE %s: %d %s", key, rec.Code, rec.Body)
	}
	w.stats.resets++
	w.logf("the server's log of %s is deleted (cursors %v)", key, cursors)
	for id, name := range w.made {
		if id.key == key && id.mid <= cursors[id.client] {
			w.erased[id] = name
			delete(w.made, id)
			delete(w.acked, id)
			delete(w.rejected, id)
		}
	}
	w.pump()
	return nil
}

// renumbered follows client's queued mutations on key to their new mids.
func (w *sim) renumbered(client, key string, old, new []uint64) {
	w.logf("  %s renumbers its queue on %s: %v -> %v", client, key, old, new)
	names := make([]string, len(old))
	for i, m := range old {
		id := mutID{client, key, m}
		name, ok := w.made[id]
		if !ok {
			name, ok = w.erased[id]
		}
		if !ok {
			w.broken = append(w.broken, fmt.Errorf("%s renumbered %s#%d, which it never made", client, key, m))
		}
		names[i] = name
		delete(w.made, id)
		delete(w.erased, id)
	}
	for i, m := range new {
		id := mutID{client, key, m}
		if prev, ok := w.made[id]; ok && w.rejected[id] == 0 {
			w.broken = append(w.broken, fmt.Errorf("guarantee 3: %s#%d of %s (%s) was lost: a renumbering reused its mid", key, m, client, prev))
		}
		w.made[id] = names[i]
	}
}

// tick advances the clock and fires the timers that are due, in order.
func (w *sim) tick(d time.Duration) {
	w.clock = w.clock.Add(d)
	for {
		i := slices.IndexFunc(w.timers, func(t simTimer) bool { return !t.due.After(w.clock) })
		if i < 0 {
			return
		}
		t := w.timers[i]
		w.timers = slices.Delete(w.timers, i, i+1)
		w.logf("timer fires")
		t.f()
	}
}

// step does one random thing. faults false keeps the network whole.
func (w *sim) step(faults bool) error {
	w.stats.steps++
	type choice struct {
		weight int
		do     func() error
	}
	var cs []choice
	add := func(weight int, do func() error) { cs = append(cs, choice{weight, do}) }
	for _, sc := range w.cls {
		if cn := sc.conn; cn != nil {
			if len(cn.up) > 0 {
				add(12, func() error { w.deliverUp(sc); return nil })
			}
			if len(cn.down) > 0 {
				add(12, func() error { return w.deliverDown(sc) })
			}
		} else {
			add(4, func() error { return w.connect(sc) })
		}
		if !faults {
			continue
		}
		add(10, func() error { w.mutate(sc); return nil })
		add(2, func() error { return sc.c.Flush() })
		if sc.conn != nil {
			add(2, func() error { w.stats.drops++; w.drop(sc, "network"); return nil })
			add(1, func() error { return w.twin(sc) })
			if sc.last != nil {
				add(1, func() error {
					w.stats.dups++
					sc.conn.up = append(sc.conn.up, sc.last)
					w.logf("%s resends an old frame", sc.id)
					return nil
				})
			}
		}
		add(1, func() error { return w.restartClient(sc, false) })
		add(1, func() error { return w.restartClient(sc, true) })
	}
	if faults {
		add(1, w.restartServer)
		add(1, w.resetKey)
	}
	if len(w.timers) > 0 {
		add(2, func() error { w.tick(250 * time.Millisecond); return nil })
	}
	add(1, func() error { w.tick(time.Duration(w.rng.IntN(50)) * time.Millisecond); return nil })
	total := 0
	for _, c := range cs {
		total += c.weight
	}
	n := w.rng.IntN(total)
	for _, c := range cs {
		if n < c.weight {
			return c.do()
		}
		n -= c.weight
	}
	panic("unreachable")
}

// quiet reports whether nothing is in flight and no timer waits.
func (w *sim) settled() bool {
	if len(w.timers) > 0 {
		return false
	}
	for _, sc := range w.cls {
		if sc.conn == nil || len(sc.conn.up) > 0 || len(sc.conn.down) > 0 {
			return false
		}
	}
	return true
}

func (w *sim) run(steps int) error {
	for range steps {
		if err := w.step(true); err != nil {
			return err
		}
	}
	w.logf("-- faults end; the network heals")
	for i := 0; !w.settled(); i++ {
		if i > 20000 {
			return errors.New("did not settle after the faults ended")
		}
		if err := w.step(false); err != nil {
			return err
		}
	}
	return w.check()
}

// check verifies the guarantees of docs/RELIABILITY.md on the settled world.
func (w *sim) check() error {
	ctx := context.Background()
	st := simhook.Store(w.srv)
	inLog := map[mutID]uint64{}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, key := range simKeys {
		evs, err := st.Events(ctx, simNS, key, 0, 1<<20)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		lastMid := map[string]uint64{}
		state := todos.ListType.New()
		for i, e := range evs {
			if e.Seq != uint64(i+1) {
				fail("%s: seq %d at position %d", key, e.Seq, i)
			}
			id := mutID{e.Client, key, e.Mid}
			if prev, ok := inLog[id]; ok {
				fail("guarantee 2: %s#%d of %s applied twice (seq %d and %d)", key, e.Mid, e.Client, prev, e.Seq)
			}
			inLog[id] = e.Seq
			if e.Mid <= lastMid[e.Client] {
				fail("guarantee 4: %s's mid %d on %s came after mid %d", e.Client, e.Mid, key, lastMid[e.Client])
			}
			lastMid[e.Client] = e.Mid
			if _, ok := w.made[id]; !ok {
				// A mutation processed in a log deleted since may be sent
				// again by a client that had not heard it (a crash lost
				// the ack): the new log holds it once.
				if _, ok := w.erased[id]; !ok {
					fail("%s: seq %d is %s#%d, which no client made", key, e.Seq, e.Client, e.Mid)
				}
			}
			ectx := simCtx(key, &e)
			if err := todos.ListType.Apply(state, ectx, e.Name, e.Args); err != nil {
				fail("%s: seq %d does not replay: %v", key, e.Seq, err)
			}
		}
		replayed, _ := todos.ListType.Encode(state)
		served, err := w.restState(key)
		if err != nil {
			return err
		}
		if !bytes.Equal(served, replayed) {
			fail("guarantee 5: %s: server state %s, replay of its log %s", key, served, replayed)
		}
		for _, sc := range w.cls {
			s := sc.stores[key]
			if n := s.Pending(); n > 0 {
				fail("guarantee 3: %s still has %d pending on %s", sc.id, n, key)
			}
			conf, _ := s.Confirmed()
			cb, _ := todos.ListType.Encode(conf)
			vb, _ := todos.ListType.Encode(s.View())
			if !bytes.Equal(cb, replayed) || !bytes.Equal(vb, replayed) {
				fail("guarantee 5: %s on %s: confirmed %s, view %s, server %s", sc.id, key, cb, vb, replayed)
			}
		}
	}
	for id, name := range w.made {
		_, logged := inLog[id]
		r := w.rejected[id]
		switch {
		case logged && r > 0:
			fail("%s#%d of %s (%s) was applied and also reported refused", id.key, id.mid, id.client, name)
		case !logged && r == 0:
			fail("guarantee 3: %s#%d of %s (%s) was lost: not in the log, never refused", id.key, id.mid, id.client, name)
		case r > 1:
			fail("%s#%d of %s refused %d times", id.key, id.mid, id.client, r)
		}
	}
	for id, seq := range w.acked {
		if inLog[id] != seq {
			fail("guarantee 1: %s#%d of %s was acknowledged at seq %d, the log has it at %d", id.key, id.mid, id.client, seq, inLog[id])
		}
	}
	return errors.Join(append(w.broken, errs...)...)
}

func simCtx(key string, e *storage.Event) schema.Ctx {
	return schema.NewContext(schema.Meta{Key: key, Client: e.Client, Mid: e.Mid, Actor: e.Actor, Time: time.UnixMilli(e.Time).UTC(), Seq: e.Seq})
}

// restState reads a key's state through the server's REST handler.
func (w *sim) restState(key string) ([]byte, error) {
	req := httptest.NewRequest("GET", "/v1/namespaces/"+simNS+"/states/"+key, nil)
	req.Header.Set("Authorization", "Bearer "+simKey)
	rec := httptest.NewRecorder()
	w.srv.Handler().ServeHTTP(rec, req)
	if rec.Code == http.StatusNotFound {
		return todos.ListType.Encode(todos.ListType.New())
	}
	if rec.Code != 200 {
		return nil, fmt.Errorf("GET %s: %d %s", key, rec.Code, rec.Body)
	}
	var body struct {
		State json.RawMessage `json:"state"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		return nil, err
	}
	return body.State, nil
}

func (w *sim) close() {
	for _, sc := range w.cls {
		w.drop(sc, "end")
		sc.c.Close()
	}
	w.srv.Close()
}

// runSeed runs one seed in a fresh directory and returns its trace.
func runSeed(seed uint64, steps int, bug bool) (trace []string, stats simStats, err error) {
	dir, err := os.MkdirTemp(simTmp, "bs-sim-")
	if err != nil {
		return nil, stats, err
	}
	defer os.RemoveAll(dir)
	w, err := newSim(seed, dir, bug)
	if err != nil {
		return nil, stats, err
	}
	err = w.run(steps)
	w.close()
	return w.trace, w.stats, err
}

func tail(trace []string, n int) string {
	if len(trace) > n {
		trace = trace[len(trace)-n:]
	}
	return strings.Join(trace, "\n")
}

func seedCount() int {
	if *simSeeds > 0 {
		return *simSeeds
	}
	if testing.Short() {
		return 100
	}
	return 300
}

// TestSimulation runs the CI seed budget. A failure prints the seed and the
// end of its trace; `go test ./runtime/client -run TestSimulation -sim.seed
// N` replays it with the whole trace.
func TestSimulation(t *testing.T) {
	if *simSeed != 0 {
		trace, _, err := runSeed(*simSeed, *simSteps, false)
		t.Log("trace of seed", *simSeed, ":\n"+strings.Join(trace, "\n"))
		if err != nil {
			t.Fatalf("seed %d: %v", *simSeed, err)
		}
		return
	}
	n := seedCount()
	total, failed := runSeeds(*simFirst, n, *simSteps, false)
	if failed != nil {
		t.Fatalf("seed %d failed (replay: go test ./runtime/client -run 'TestSimulation$' -sim.seed %d):\n%v\nlast steps:\n%s", failed.seed, failed.seed, failed.err, tail(failed.trace, 40))
	}
	t.Logf("%d seeds from %d: %d steps, %d mutations, %d frames, %d drops, %d duplicated resends, %d client restarts, %d client crashes, %d server restarts, %d twin connections, %d key logs deleted",
		n, *simFirst, total.steps, total.muts, total.frames, total.drops, total.dups, total.clientRestarts, total.crashes, total.serverRestarts, total.twins, total.resets)
}

type seedFailure struct {
	seed  uint64
	err   error
	trace []string
}

// runSeeds runs n seeds from first on every core and returns their summed
// stats and the failure of the lowest failing seed.
func runSeeds(first uint64, n, steps int, bug bool) (simStats, *seedFailure) {
	var (
		mu     sync.Mutex
		total  simStats
		failed *seedFailure
		wg     sync.WaitGroup
	)
	seeds := make(chan uint64)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range seeds {
				trace, st, err := runSeed(seed, steps, bug)
				mu.Lock()
				total.add(st)
				if err != nil && (failed == nil || seed < failed.seed) {
					failed = &seedFailure{seed, err, trace}
				}
				mu.Unlock()
			}
		}()
	}
	for seed := first; seed < first+uint64(n); seed++ {
		mu.Lock()
		stop := failed != nil && failed.seed < seed
		mu.Unlock()
		if stop {
			break
		}
		seeds <- seed
	}
	close(seeds)
	wg.Wait()
	return total, failed
}

func (s *simStats) add(o simStats) {
	s.steps += o.steps
	s.muts += o.muts
	s.frames += o.frames
	s.drops += o.drops
	s.dups += o.dups
	s.clientRestarts += o.clientRestarts
	s.crashes += o.crashes
	s.twins += o.twins
	s.resets += o.resets
	s.serverRestarts += o.serverRestarts
}

// regressionSeeds found real bugs once; they always run.
var regressionSeeds = map[uint64]string{
	1181: "a refused mutation reported again after a crash: the client had not forgotten it on disk before OnReject",
	724:  "a stored rej sent after the catch-up: the client had dropped the mutation on a later own ev, and never reported the refusal",
}

func TestSimulationRegressions(t *testing.T) {
	for seed, what := range regressionSeeds {
		if _, _, err := runSeed(seed, *simSteps, false); err != nil {
			t.Errorf("seed %d (%s): %v", seed, what, err)
		}
	}
}

// TestSimulationReplaysExactly runs seeds twice: the traces are identical.
func TestSimulationReplaysExactly(t *testing.T) {
	for _, seed := range []uint64{3, 17} {
		a, _, errA := runSeed(seed, *simSteps, false)
		b, _, errB := runSeed(seed, *simSteps, false)
		if (errA == nil) != (errB == nil) || !slices.Equal(a, b) {
			i := 0
			for i < min(len(a), len(b)) && a[i] == b[i] {
				i++
			}
			t.Fatalf("seed %d ran differently: %d and %d steps, first difference at line %d", seed, len(a), len(b), i)
		}
		if len(a) < *simSteps {
			t.Fatalf("seed %d: trace of %d lines for %d steps", seed, len(a), *simSteps)
		}
	}
}

// TestSimulationFindsPlantedBug plants a bug, a pending mutation forgotten
// when it is sent instead of when the server processed it, and checks that
// the simulation catches it within the CI seed budget.
func TestSimulationFindsPlantedBug(t *testing.T) {
	n := seedCount()
	_, failed := runSeeds(*simFirst, n, *simSteps, true)
	if failed == nil {
		t.Fatalf("the planted bug survived %d seeds", n)
	}
	if !strings.Contains(failed.err.Error(), "guarantee 3") {
		t.Fatalf("seed %d failed, but not on guarantee 3: %v", failed.seed, failed.err)
	}
	t.Logf("planted bug found by seed %d (budget %d seeds from %d): %s", failed.seed, n, *simFirst, firstLine(failed.err))
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// simTmp is where seeds keep their files: memory when the machine has a
// tmpfs at /dev/shm (the simulation never loses the OS cache, so disk
// syncs would only slow it), the temp dir otherwise.
var simTmp = func() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return ""
}()
