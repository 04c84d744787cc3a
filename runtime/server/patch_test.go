package server_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// follower is a client in patch mode that runs no reducer: it holds the
// state as JSON and applies the server's patches with an RFC 6902
// implementation other than the server's (evanphx/json-patch).
type follower struct {
	t    *testing.T
	c    *wsc
	doc  []byte
	seq  uint64
	docs map[uint64][]byte // the state at each seq it went through
}

func (f *follower) sub(key string, after uint64, epoch string) {
	f.t.Helper()
	f.c.send(protocol.Msg{T: protocol.TSub, Key: key, Type: todos.ListType.Name, After: after, Epoch: epoch, Mode: protocol.ModePatch})
}

// until reads catch-up and live messages until it has seen the synced of
// the key, or a patch of seq want (0: synced), applying each; it returns the
// types of the messages read.
func (f *follower) until(want uint64) []string {
	f.t.Helper()
	var seen []string
	for {
		m := f.c.expect2()
		seen = append(seen, m.T)
		switch m.T {
		case protocol.TSnap:
			f.doc, f.seq = m.State, m.Seq
		case protocol.TPatch:
			if m.Seq != f.seq+1 {
				f.t.Fatalf("patch of seq %d on a state at %d", m.Seq, f.seq)
			}
			p, err := jsonpatch.DecodePatch(m.Ops)
			if err != nil {
				f.t.Fatalf("patch %d: %v: %s", m.Seq, err, m.Ops)
			}
			if f.doc, err = p.Apply(f.doc); err != nil {
				f.t.Fatalf("patch %d does not apply: %v\nops %s\nstate %s", m.Seq, err, m.Ops, f.doc)
			}
			f.seq = m.Seq
			if m.Hash != "" && protocol.StateHash(f.doc) != m.Hash {
				f.t.Fatalf("after patch %d the state hashes %s, the server's %s\nops %s\nstate %s", m.Seq, protocol.StateHash(f.doc), m.Hash, m.Ops, f.doc)
			}
			if m.Name == "" || m.Time == 0 || m.Args == nil {
				f.t.Fatalf("patch %d lacks the event's fields: %+v", m.Seq, m)
			}
		case protocol.TSynced:
			if m.Seq != f.seq {
				f.t.Fatalf("synced at %d, the follower is at %d", m.Seq, f.seq)
			}
		case protocol.TEv:
			f.t.Fatalf("a subscriber in patch mode got ev %d", m.Seq)
		default:
			f.t.Fatalf("unexpected %s %s: %s", m.T, m.Code, m.Message)
		}
		f.docs[f.seq] = f.doc
		if (want == 0 && m.T == protocol.TSynced) || (want > 0 && m.T == protocol.TPatch && m.Seq == want) {
			return seen
		}
	}
}

// TestPatchModeFollowsTheState: a client in patch mode, holding only JSON,
// follows a key through random actions exactly: after every patch its
// state hashes as the server's (HashEvery 1), and at the end it equals the
// state REST serves. It catches up from the ring's patches, and from a
// snapshot where patches cannot serve.
func TestPatchModeFollowsTheState(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) { c.HashEvery = 1 }))
	w := connect(t, s, "writer")
	w.subTodos("k", 0, "")
	w.expect(protocol.TSynced)
	f := &follower{t: t, c: connect(t, s, "follower"), docs: map[uint64][]byte{}}
	f.sub("k", 0, "")
	if seen := f.until(0); fmt.Sprint(seen) != "[snap synced]" {
		t.Fatalf("a fresh subscription in patch mode got %v, want the snapshot first", seen)
	}

	r := rand.New(rand.NewPCG(7, 7))
	var mid uint64
	for step := range 200 {
		var list todos.List
		if err := json.Unmarshal(f.doc, &list); err != nil {
			t.Fatal(err)
		}
		var name string
		var a any
		switch op := r.IntN(10); {
		case op < 4 || len(list.Items) == 0:
			name, a = "Add", todos.ListAddArgs{Title: fmt.Sprintf("t%d <&> \u2028 %d", step, r.IntN(1000))}
		case op < 6:
			name, a = "Toggle", todos.ListToggleArgs{ID: list.Items[r.IntN(len(list.Items))].ID}
		case op < 8:
			name, a = "Rename", todos.ListRenameArgs{ID: list.Items[r.IntN(len(list.Items))].ID, Title: fmt.Sprint("r", step)}
		case op < 9:
			name, a = "Remove", todos.ListRemoveArgs{ID: list.Items[r.IntN(len(list.Items))].ID}
		default:
			name, a = "ClearDone", todos.ListClearDoneArgs{}
		}
		mid++
		w.send(protocol.Msg{T: protocol.TMut, Key: "k", Mid: mid, Name: name, Args: args(t, a)})
		ev := w.expect(protocol.TEv)
		f.until(ev.Seq)
	}
	_, want := stateOf(t, s, "k")
	var got todos.List
	if err := json.Unmarshal(f.doc, &got); err != nil {
		t.Fatal(err)
	}
	if a, b := fmt.Sprint(got), fmt.Sprint(want); a != b {
		t.Fatalf("the follower's state differs from the server's:\n%s\n%s", a, b)
	}
	head, epoch := f.seq, epochOf(t, s, "k")

	// From a cursor the ring still holds: its patches, then synced.
	g := &follower{t: t, c: connect(t, s, "second"), docs: map[uint64][]byte{}, seq: head - 5, doc: f.docs[head-5]}
	g.sub("k", head-5, epoch)
	if seen := g.until(0); fmt.Sprint(seen) != "[patch patch patch patch patch synced]" {
		t.Fatalf("catch-up from 5 behind: %v", seen)
	}
	if protocol.StateHash(g.doc) != protocol.StateHash(f.doc) {
		t.Fatal("the caught-up state differs")
	}
	// At the head: nothing but synced. From another epoch: a snapshot.
	g.sub("k", head, epoch)
	if seen := g.until(0); fmt.Sprint(seen) != "[synced]" {
		t.Fatalf("at the head: %v", seen)
	}
	g.sub("k", head, "another")
	if seen := g.until(0); fmt.Sprint(seen) != "[snap synced]" {
		t.Fatalf("from another epoch: %v", seen)
	}

	// Events made while nobody was in patch mode have no patches: a
	// cursor among them gets a snapshot.
	w.subTodos("k2", 0, "")
	w.expect(protocol.TSynced)
	for i := range 3 {
		w.send(protocol.Msg{T: protocol.TMut, Key: "k2", Mid: uint64(i + 1), Name: "Add", Args: args(t, todos.ListAddArgs{Title: "x"})})
		w.expect(protocol.TEv)
	}
	h := &follower{t: t, c: connect(t, s, "third"), docs: map[uint64][]byte{}, seq: 1, doc: []byte(`{}`)}
	h.sub("k2", 1, epochOf(t, s, "k2"))
	if seen := h.until(0); fmt.Sprint(seen) != "[snap synced]" || h.seq != 3 {
		t.Fatalf("from a cursor among events without patches: %v at %d", seen, h.seq)
	}

	// A mode the server does not know is refused.
	h.c.send(protocol.Msg{T: protocol.TSub, Key: "k3", Type: todos.ListType.Name, Mode: "diff"})
	h.c.expectErr(protocol.CodeBadMessage)
}
