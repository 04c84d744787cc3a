package server_test

import (
	"fmt"
	"net/url"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/better-state/better-state/internal/pgtest"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// twoNodes starts two servers on one PostgreSQL database.
func twoNodes(t *testing.T) (*servertest.Server, *servertest.Server) {
	pg := pgtest.Start(t)
	url := pg.NewDB(t)
	a := startTodos(t, servertest.DBPath(url))
	b := startTodos(t, servertest.DBPath(url))
	return a, b
}

// drain reads what c receives until it is quiet for d, and returns it.
func (c *wsc) drain(d time.Duration) []protocol.Msg {
	var out []protocol.Msg
	for {
		m, err := c.next(d)
		if err != nil {
			return out
		}
		out = append(out, m)
	}
}

// TestSameMutationToTwoNodes: one client id sends each of its mutations to
// two servers of one database at once (a client whose old connection
// lingers on one node while it reconnects to another). Each (client, mid)
// is applied once; each connection hears either its ev or duplicate.
func TestSameMutationToTwoNodes(t *testing.T) {
	a, b := twoNodes(t)
	// First, one at a time: b's room hears of (dup, 1) written through a,
	// then gets (dup, 1) itself: a duplicate.
	watch := connect(t, b, "watch")
	watch.subTodos("one", 0, "")
	watch.expect(protocol.TSynced)
	if code, out := rest(t, "POST", a.HTTPURL+"/v1/namespaces/default/states/one/mutations", a.Key, `{"type":"todos.List","name":"Add","args":{"title":"x"},"client":"dup","mid":1}`); code != 200 {
		t.Fatalf("REST write through a: %d %v", code, out)
	}
	if ev := watch.expect(protocol.TEv); ev.Client != "dup" || ev.Mid != 1 {
		t.Fatalf("b heard %+v", ev)
	}
	again := connect(t, b, "dup")
	again.subTodos("one", 0, "")
	again.expect(protocol.TEv)
	if sy := again.expect(protocol.TSynced); sy.Mid != 1 {
		t.Fatalf("synced %+v", sy)
	}
	again.send(protocol.Msg{T: protocol.TMut, Key: "one", Mid: 1, Name: "Add", Args: args(t, map[string]string{"title": "x"})})
	again.expectErr(protocol.CodeDuplicate)
	if seq, _ := stateOf(t, b, "one"); seq != 1 {
		t.Fatalf("(dup, 1) applied twice: seq %d", seq)
	}

	// Then all at once.
	const n = 60
	ca, cb := connect(t, a, "dup"), connect(t, b, "dup")
	ca.subTodos("k", 0, "")
	ca.expect(protocol.TSynced)
	cb.subTodos("k", 0, "")
	cb.expect(protocol.TSynced)
	var wg sync.WaitGroup
	for _, c := range []*wsc{ca, cb} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for mid := uint64(1); mid <= n; mid++ {
				c.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: mid, Name: "Add", Args: args(t, map[string]string{"title": fmt.Sprint("t", mid)})})
			}
		}()
	}
	wg.Wait()
	// Each connection may fall behind the other server's writes (a
	// mid_gap, a reset): what matters is the log.
	ca.drain(2 * time.Second)
	cb.drain(10 * time.Millisecond)
	// Whatever did not land yet is sent again, as a client would after a
	// resync: mids after the processed one.
	for try := 0; try < 20; try++ {
		code, out := rest(t, "GET", inspectURL(a, "k", "history", url.Values{"limit": {"1000"}}), a.Key, "")
		if code != 200 {
			t.Fatalf("history: %d %v", code, out)
		}
		evs := out["events"].([]any)
		mids := map[uint64]int{}
		for _, e := range evs {
			mids[uint64(e.(map[string]any)["mid"].(float64))]++
		}
		for mid, k := range mids {
			if k != 1 {
				t.Fatalf("mid %d is in the log %d times", mid, k)
			}
		}
		if len(mids) == n {
			t.Logf("all %d mutations landed once, after %d resends", n, try)
			seqs := make([]int, 0, n)
			for _, e := range evs {
				seqs = append(seqs, int(e.(map[string]any)["seq"].(float64)))
			}
			if !sort.IntsAreSorted(seqs) || seqs[0] != 1 || seqs[n-1] != n {
				t.Fatalf("seqs %v", seqs)
			}
			// Both servers serve the same state.
			sa, la := stateOf(t, a, "k")
			sb, lb := stateOf(t, b, "k")
			if sa != n || sb != n || fmt.Sprint(la) != fmt.Sprint(lb) {
				t.Fatalf("a: %d %v\nb: %d %v", sa, la, sb, lb)
			}
			return
		}
		last := uint64(len(mids))
		c := connect(t, []*servertest.Server{a, b}[try%2], "dup")
		c.subTodos("k", 0, "")
		c.drain(200 * time.Millisecond)
		for mid := last + 1; mid <= n; mid++ {
			c.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: mid, Name: "Add", Args: args(t, map[string]string{"title": fmt.Sprint("t", mid)})})
		}
		c.drain(time.Second)
	}
	t.Fatal("the mutations did not all land")
}

// TestNodesFollowEachOther: a subscriber on one server hears, in order,
// the events written through the other (by NOTIFY), with patches in patch
// mode; the first server's own writes after that go on from the head.
func TestNodesFollowEachOther(t *testing.T) {
	a, b := twoNodes(t)
	sub := connect(t, a, "watcher")
	sub.subTodos("f", 0, "")
	sub.expect(protocol.TSynced)
	pat := connect(t, a, "patcher")
	pat.send(protocol.Msg{T: protocol.TSub, Key: "f", Type: "todos.List", Mode: "patch"})
	pat.expect(protocol.TSnap)
	pat.expect(protocol.TSynced)
	w := connect(t, b, "writer")
	w.subTodos("f", 0, "")
	w.expect(protocol.TSynced)
	for i := 1; i <= 5; i++ {
		w.send(protocol.Msg{T: protocol.TMut, Key: "f", Mid: uint64(i), Name: "Add", Args: args(t, map[string]string{"title": fmt.Sprint("b", i)})})
	}
	for i := 1; i <= 5; i++ {
		w.expect(protocol.TEv) // its own
	}
	for i := 1; i <= 5; i++ {
		if ev := sub.expect(protocol.TEv); ev.Seq != uint64(i) || ev.Client != "writer" || ev.Mid != uint64(i) {
			t.Fatalf("event %d heard on a: %+v", i, ev)
		}
		if p := pat.expect(protocol.TPatch); p.Seq != uint64(i) || len(p.Ops) == 0 {
			t.Fatalf("patch %d heard on a: %+v", i, p)
		}
	}
	// a writes on top: seq 6, and b's subscriber hears it.
	sub.send(protocol.Msg{T: protocol.TMut, Key: "f", Mid: 1, Name: "Add", Args: args(t, map[string]string{"title": "a1"})})
	if ev := sub.expect(protocol.TEv); ev.Seq != 6 || ev.Client != "watcher" {
		t.Fatalf("a's own write: %+v", ev)
	}
	if ev := w.expect(protocol.TEv); ev.Seq != 6 || ev.Client != "watcher" {
		t.Fatalf("b hears a's write: %+v", ev)
	}
}
