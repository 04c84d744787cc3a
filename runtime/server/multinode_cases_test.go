package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/better-state/better-state/internal/pgtest"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// TestSyncedMidAfterARefusalOnAnotherNode: a cursor moved by a refusal on
// b (no event) reaches a's synced.mid, which a reads from storage.
func TestSyncedMidAfterARefusalOnAnotherNode(t *testing.T) {
	a, b := twoNodes(t)
	ca := connect(t, a, "c")
	ca.subTodos("k", 0, "")
	ca.expect(protocol.TSynced)
	ca.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: 1, Name: "Add", Args: args(t, map[string]string{"title": "x"})})
	ca.expect(protocol.TEv) // a caches mids[c] = 1
	ca.ws.CloseNow()

	cb := connect(t, b, "c")
	cb.subTodos("k", 0, "")
	cb.expect(protocol.TEv)
	cb.expect(protocol.TSynced)
	cb.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: 2, Name: "Add", Args: args(t, map[string]string{"title": ""})})
	rj := cb.expect(protocol.TRej) // stored on b: cursor 2, head unchanged
	t.Logf("b: %s mid %d", rj.T, rj.Mid)
	cb.ws.CloseNow()

	// Back on a, as a client that never heard the rej: acked 1.
	c2 := connect(t, a, "c")
	c2.send(protocol.Msg{T: protocol.TSub, Key: "k", Type: "todos.List", FP: a2fp(), After: 1, Epoch: epochOf(t, a, "k"), Acked: 1})
	if rj := c2.expect(protocol.TRej); rj.Mid != 2 {
		t.Fatalf("stored refusal %+v", rj)
	}
	// synced.mid must cover the refusal it just sent, or the client would
	// renumber its next mutation onto the refused mid and lose it.
	if sy := c2.expect(protocol.TSynced); sy.Mid != 2 {
		t.Fatalf("synced.mid %d after rej 2: a's cached cursor", sy.Mid)
	}
	c2.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: 3, Name: "Add", Args: args(t, map[string]string{"title": "three"})})
	if ev := c2.expect(protocol.TEv); ev.Mid != 3 || ev.Seq != 2 {
		t.Fatalf("mid 3: %+v", ev)
	}
}

// TestCatchUpAfterAnotherNodeCompacted: when a compacts, b's room learns
// where the log starts, and a cursor below it gets a snapshot, not a gap.
func TestCatchUpAfterAnotherNodeCompacted(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDB(t)
	cfg := servertest.Config(func(c *server.Config) { c.SnapshotEvery = 10; c.KeepEvents = 5 })
	a := startTodos(t, servertest.DBPath(url), cfg)
	b := startTodos(t, servertest.DBPath(url), cfg)
	w := connect(t, a, "w")
	w.subTodos("g", 0, "")
	w.expect(protocol.TSynced)
	for i := 1; i <= 8; i++ {
		w.send(protocol.Msg{T: protocol.TMut, Key: "g", Mid: uint64(i), Name: "Add", Args: args(t, map[string]string{"title": fmt.Sprint(i)})})
		w.expect(protocol.TEv)
	}
	watch := connect(t, b, "watch") // b's room loads at 8, firstSeq 1, ring empty
	watch.subTodos("g", 0, "")
	for m := watch.expect2(); m.T != protocol.TSynced; m = watch.expect2() {
	}
	for i := 9; i <= 40; i++ {
		w.send(protocol.Msg{T: protocol.TMut, Key: "g", Mid: uint64(i), Name: "Add", Args: args(t, map[string]string{"title": fmt.Sprint(i)})})
		w.expect(protocol.TEv)
	}
	watch.drain(500e6)
	ep := epochOf(t, b, "g")
	late := connect(t, b, "late")
	late.subTodos("g", 3, ep)
	var seqs []uint64
	for _, m := range late.drain(time.Second) {
		if m.T == protocol.TEv {
			seqs = append(seqs, m.Seq)
		} else {
			t.Logf("late <- %s seq=%d code=%s", m.T, m.Seq, m.Code)
		}
	}
	t.Logf("late subscriber at seq 3 got evs %v", seqs)
	if len(seqs) > 0 && seqs[0] != 4 {
		t.Errorf("catch-up starts at seq %d after seq 3: a gap", seqs[0])
	}
}

// TestRefusedOnOneNodeNotAppliedOnAnother: b refuses (c, 2), which moves
// c's cursor but not the head; a's batch of (c, 2) and (c, 3) must not
// apply mid 2 (the cursor check takes the batch's first mid of c).
func TestRefusedOnOneNodeNotAppliedOnAnother(t *testing.T) {
	a, b := twoNodes(t)
	ca := connect(t, a, "c")
	ca.subTodos("k", 0, "")
	ca.expect(protocol.TSynced)
	ca.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: 1, Name: "Add", Args: args(t, map[string]string{"title": "x"})})
	ca.expect(protocol.TEv)

	cb := connect(t, b, "c")
	cb.subTodos("k", 0, "")
	cb.expect(protocol.TEv)
	cb.expect(protocol.TSynced)
	cb.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: 2, Name: "Add", Args: args(t, map[string]string{"title": ""})})
	t.Logf("b -> %s mid %d", cb.expect(protocol.TRej).T, 2)

	// The old connection on a (never heard of b) sends mids 2 and 3 together.
	m2 := protocol.Encode(&protocol.Msg{T: protocol.TMut, Key: "k", Mid: 2, Name: "Add", Args: args(t, map[string]string{"title": "two"})})
	m3 := protocol.Encode(&protocol.Msg{T: protocol.TMut, Key: "k", Mid: 3, Name: "Add", Args: args(t, map[string]string{"title": "three"})})
	ca.sendRaw([]byte("[" + string(m2) + "," + string(m3) + "]"))
	ca.drain(time.Second)
	code, out := rest(t, "GET", inspectURL(a, "k", "history", nil), a.Key, "")
	if code != 200 {
		t.Fatalf("history: %d %v", code, out)
	}
	for _, e := range out["events"].([]any) {
		if mid := e.(map[string]any)["mid"].(float64); mid == 2 {
			t.Fatalf("mid 2, refused on b, is also in the log: %v", out["events"])
		}
	}
}

// TestIdleRoomsAreEvictedOnPostgres: the head check that follows other
// servers posts to every room every 5 s; it is not activity, so rooms
// nobody uses are still evicted after RoomIdle.
func TestIdleRoomsAreEvictedOnPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDB(t)
	a := startTodos(t, servertest.DBPath(url), servertest.Config(func(c *server.Config) { c.RoomIdle = 6 * time.Second }))
	for i := 0; i < 5; i++ {
		rest(t, "POST", a.HTTPURL+"/v1/namespaces/default/states/"+fmt.Sprint("idle", i)+"/mutations", a.Key, `{"type":"todos.List","name":"Add","args":{"title":"x"}}`)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, h := rest(t, "GET", a.HTTPURL+"/healthz", "", "")
		if h["rooms"].(float64) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rooms still active after 20 s with RoomIdle 6 s: %v", h["rooms"])
		}
		time.Sleep(500 * time.Millisecond)
	}
}
