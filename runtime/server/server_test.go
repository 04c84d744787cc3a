package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
)

func TestTwoSubscribersReceiveEventsInSeqOrder(t *testing.T) {
	s := startTodos(t)
	a := connect(t, s, "client-a")
	b := connect(t, s, "client-b")
	a.subTodos("list-1", 0, "")
	syncA := a.expect(protocol.TSynced)
	b.subTodos("list-1", 0, "")
	syncB := b.expect(protocol.TSynced)
	if syncA.Seq != 0 || syncA.Epoch == "" || syncA.Epoch != syncB.Epoch {
		t.Fatalf("synced: %+v / %+v", syncA, syncB)
	}
	const n = 20
	for i := 1; i <= n; i++ {
		a.send(protocol.Msg{T: protocol.TMut, Key: "list-1", Mid: uint64(i), Name: "Add", Args: args(t, map[string]string{"title": fmt.Sprint("item ", i)})})
	}
	for _, c := range []*wsc{a, b} {
		for i := 1; i <= n; i++ {
			ev := c.expect(protocol.TEv)
			if ev.Seq != uint64(i) || ev.Client != "client-a" || ev.Mid != uint64(i) || ev.Name != "Add" || ev.Time == 0 || ev.Actor != "dev" {
				t.Fatalf("event %d: %+v", i, ev)
			}
		}
	}
	seq, list := stateOf(t, s, "list-1")
	if seq != n || len(list.Items) != n || list.Items[n-1].Title != fmt.Sprint("item ", n) {
		t.Fatalf("state at %d: %+v", seq, list)
	}
}

func TestRetriedMidIsNotAppliedTwice(t *testing.T) {
	s := startTodos(t)
	a := connect(t, s, "client-a")
	a.subTodos("k", 0, "")
	a.expect(protocol.TSynced)
	m := protocol.Msg{T: protocol.TMut, Key: "k", Mid: 1, Name: "Add", Args: args(t, map[string]string{"title": "once"})}
	a.send(m)
	a.expect(protocol.TEv)
	a.send(m) // same connection: answered, not applied again
	if e := a.expectErr(protocol.CodeDuplicate); e.Mid != 1 {
		t.Fatalf("%+v", e)
	}
	a.quiet(200 * time.Millisecond)

	// A reconnect resends it too: the catch-up says mid 1 was processed.
	a2 := connect(t, s, "client-a")
	a2.subTodos("k", 0, "")
	a2.expect(protocol.TEv)
	if sy := a2.expect(protocol.TSynced); sy.Mid != 1 || sy.Seq != 1 {
		t.Fatalf("synced %+v", sy)
	}
	a2.send(m)
	a2.expectErr(protocol.CodeDuplicate)
	a2.quiet(200 * time.Millisecond)

	// REST with the same (client, mid) is idempotent too.
	body := `{"name":"Add","args":{"title":"rest"},"client":"job-1","mid":1}`
	for i := 0; i < 2; i++ {
		code, out := rest(t, "POST", s.HTTPURL+"/v1/namespaces/default/states/k/mutations", s.Key, body)
		if code != 200 || out["seq"].(float64) != 2 {
			t.Fatalf("POST %d: %d %v", i, code, out)
		}
	}
	seq, list := stateOf(t, s, "k")
	if seq != 2 || len(list.Items) != 2 {
		t.Fatalf("seq %d, %d items, want 2 and 2", seq, len(list.Items))
	}
}

func TestMidGapIsRefused(t *testing.T) {
	s := startTodos(t)
	a := connect(t, s, "c")
	a.subTodos("k", 0, "")
	a.expect(protocol.TSynced)
	a.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: 3, Name: "Add", Args: args(t, map[string]string{"title": "x"})})
	if e := a.expectErr(protocol.CodeMidGap); e.Mid != 1 {
		t.Fatalf("expected mid 1, got %d", e.Mid)
	}
	a.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: 1, Name: "Add", Args: args(t, map[string]string{"title": "x"})})
	a.expect(protocol.TEv)
}

func TestRestartKeepsStateAndContinuesSeq(t *testing.T) {
	s := startTodos(t)
	a := connect(t, s, "c")
	a.subTodos("k", 0, "")
	sy := a.expect(protocol.TSynced)
	for i := 1; i <= 5; i++ {
		a.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: uint64(i), Name: "Add", Args: args(t, map[string]string{"title": fmt.Sprint(i)})})
		a.expect(protocol.TEv)
	}
	_, before := stateOf(t, s, "k")
	s.Restart()
	seq, after := stateOf(t, s, "k")
	if seq != 5 || fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("after restart: seq %d %+v, before %+v", seq, after, before)
	}
	b := connect(t, s, "c")
	b.subTodos("k", 5, sy.Epoch)
	if sy2 := b.expect(protocol.TSynced); sy2.Seq != 5 || sy2.Epoch != sy.Epoch || sy2.Mid != 5 {
		t.Fatalf("synced after restart %+v", sy2)
	}
	b.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: 6, Name: "Add", Args: args(t, map[string]string{"title": "6"})})
	if ev := b.expect(protocol.TEv); ev.Seq != 6 {
		t.Fatalf("seq after restart %d, want 6", ev.Seq)
	}
}

func TestCompactedCursorGetsSnapshot(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) {
		c.SnapshotEvery = 10
		c.KeepEvents = 2
	}))
	a := connect(t, s, "c")
	a.subTodos("k", 0, "")
	sy := a.expect(protocol.TSynced)
	for i := 1; i <= 25; i++ {
		a.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: uint64(i), Name: "Add", Args: args(t, map[string]string{"title": fmt.Sprint(i)})})
		a.expect(protocol.TEv)
	}
	s.Restart() // the ring of recent events is gone; only the log is left
	b := connect(t, s, "other")
	b.subTodos("k", 3, sy.Epoch) // events 4.. were compacted (kept from 19)
	snap := b.expect(protocol.TSnap)
	if snap.Seq != 25 || snap.Epoch != sy.Epoch {
		t.Fatalf("snap %+v", snap)
	}
	if sy2 := b.expect(protocol.TSynced); sy2.Seq != 25 {
		t.Fatalf("synced %+v", sy2)
	}
	// A cursor inside the retained log gets events.
	c := connect(t, s, "third")
	c.subTodos("k", 22, sy.Epoch)
	for seq := uint64(23); seq <= 25; seq++ {
		if ev := c.expect(protocol.TEv); ev.Seq != seq {
			t.Fatalf("ev seq %d want %d", ev.Seq, seq)
		}
	}
	c.expect(protocol.TSynced)
	// History below the compaction point says so.
	code, out := rest(t, "GET", s.HTTPURL+"/v1/namespaces/default/states/k/history?after=0", s.Key, "")
	if code != 410 || errCode(out) != protocol.CodeCompacted {
		t.Fatalf("history of compacted log: %d %v", code, out)
	}
}

func TestEpochMismatchGetsSnapshot(t *testing.T) {
	s := startTodos(t)
	a := connect(t, s, "c")
	a.subTodos("k", 0, "")
	a.expect(protocol.TSynced)
	a.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: 1, Name: "Add", Args: args(t, map[string]string{"title": "x"})})
	a.expect(protocol.TEv)
	b := connect(t, s, "d")
	b.subTodos("k", 1, "some-other-epoch")
	if snap := b.expect(protocol.TSnap); snap.Seq != 1 {
		t.Fatalf("snap %+v", snap)
	}
	b.expect(protocol.TSynced)
}

func TestSchemaCompatibility(t *testing.T) {
	s := startTodos(t)
	a := connect(t, s, "c")
	shape := todos.ListType.Shape
	for _, tc := range []struct {
		name, shape, want string
	}{
		{"no shape", "", "sent no shape description"},
		{"changed field", strings.Replace(shape, "field bool items[].done", "field string items[].done", 1), "field items[].done is string on the client, bool on the server"},
		{"extra field", shape + "field int items[].due\n", "field items[].due (int) is not on the server"},
		{"changed action", strings.Replace(shape, "action Add(title string)", "action Add(title string, tag string)", 1), "action Add is (title string, tag string) on the client, (title string) on the server"},
		{"extra action", shape + "action Archive()\n", "action Archive is not on the server"},
	} {
		a.send(protocol.Msg{T: protocol.TSub, Key: "k", Type: "todos.List", FP: "0123456789abcdef", Shape: tc.shape})
		e := a.expectErr(protocol.CodeSchemaMismatch)
		if e.Key != "k" || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s: %+v, want a message with %q", tc.name, e, tc.want)
		}
	}
	// An older client: one action and one field fewer than the server's.
	older := strings.Replace(strings.Replace(shape, "action ClearDone()\n", "", 1), "field bool items[].done\n", "", 1)
	a.send(protocol.Msg{T: protocol.TSub, Key: "k", Type: "todos.List", FP: contract.FingerprintOf(older), Shape: older})
	a.expect(protocol.TSynced)
}

// GET /v1/types tells a client in another language what it needs: each
// type's fingerprint and shape (to subscribe), and a JSON Schema of its
// state and of each action's arguments.
func TestTypesEndpoint(t *testing.T) {
	s := startTodos(t)
	code, out := rest(t, "GET", s.HTTPURL+"/v1/types", s.Key, "")
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	types := out["types"].([]any)
	if len(types) != 1 {
		t.Fatalf("%v", out)
	}
	ty := types[0].(map[string]any)
	if ty["name"] != "todos.List" || ty["fingerprint"] != todos.ListType.Fingerprint || ty["shape"] != todos.ListType.Shape {
		t.Fatalf("%v", ty)
	}
	schema := ty["schema"].(map[string]any)
	add := schema["actions"].(map[string]any)["Add"].(map[string]any)
	if add["additionalProperties"] != false || add["properties"].(map[string]any)["title"].(map[string]any)["type"] != "string" {
		t.Fatalf("Add's schema: %v", add)
	}
	item := schema["$defs"].(map[string]any)["todos.Item"].(map[string]any)
	if req := fmt.Sprint(item["required"]); req != "[id title done]" {
		t.Fatalf("todos.Item required %s", req)
	}
	if state := schema["state"].(map[string]any); state["$ref"] != "#/$defs/todos.List" {
		t.Fatalf("state: %v", state)
	}
	if code, _ := rest(t, "GET", s.HTTPURL+"/v1/types", "", ""); code != 401 {
		t.Fatalf("without a key: %d", code)
	}
}
