// This file holds patch mode ("Following a state without its reducers
// (patch mode)"): an RFC 6902 JSON Patch implementation that follows a
// state, and its cases.

package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func (s *suite) patchSub(key string) Msg {
	return Msg{T: "sub", Key: key, Type: typeName, Mode: "patch"}
}

// patchOp is one RFC 6902 operation.
type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
	From  string          `json:"from"`
}

// applyPatch applies RFC 6902 operations to a JSON document, independently
// of the server's library.
func applyPatch(doc any, raw json.RawMessage) (any, []patchOp, error) {
	var ops []patchOp
	if err := json.Unmarshal(raw, &ops); err != nil {
		return doc, nil, fmt.Errorf("ops %s: %v", raw, err)
	}
	if ops == nil {
		return doc, nil, fmt.Errorf("ops %s is not an array", raw)
	}
	for _, op := range ops {
		var val any
		switch op.Op {
		case "add", "replace":
			if op.Value == nil {
				return doc, ops, fmt.Errorf("%s without value: %s", op.Op, raw)
			}
			if err := json.Unmarshal(op.Value, &val); err != nil {
				return doc, ops, err
			}
		case "remove":
		default:
			return doc, ops, fmt.Errorf("op %q: the page says add, remove and replace only", op.Op)
		}
		toks, err := jsonPointer(op.Path)
		if err != nil {
			return doc, ops, err
		}
		if doc, err = applyOp(doc, toks, op.Op, val); err != nil {
			return doc, ops, fmt.Errorf("%s %s: %v", op.Op, op.Path, err)
		}
	}
	return doc, ops, nil
}

func jsonPointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("path %q is not a JSON pointer", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

func applyOp(doc any, toks []string, op string, val any) (any, error) {
	if len(toks) == 0 {
		if op == "remove" {
			return nil, errors.New("remove of the whole document")
		}
		return val, nil
	}
	tok := toks[0]
	switch d := doc.(type) {
	case map[string]any:
		_, ok := d[tok]
		if len(toks) == 1 {
			switch {
			case op == "add":
				d[tok] = val
			case !ok:
				return doc, fmt.Errorf("no member %q", tok)
			case op == "replace":
				d[tok] = val
			default:
				delete(d, tok)
			}
			return d, nil
		}
		if !ok {
			return doc, fmt.Errorf("no member %q", tok)
		}
		child, err := applyOp(d[tok], toks[1:], op, val)
		d[tok] = child
		return d, err
	case []any:
		if len(toks) == 1 && op == "add" {
			if tok == "-" {
				return append(d, val), nil
			}
			i, err := arrayIndex(tok, len(d)+1)
			if err != nil {
				return doc, err
			}
			return slices.Insert(d, i, val), nil
		}
		i, err := arrayIndex(tok, len(d))
		if err != nil {
			return doc, err
		}
		if len(toks) == 1 {
			if op == "replace" {
				d[i] = val
				return d, nil
			}
			return slices.Delete(d, i, i+1), nil
		}
		child, err := applyOp(d[i], toks[1:], op, val)
		d[i] = child
		return d, err
	}
	return doc, fmt.Errorf("path through %T", doc)
}

func arrayIndex(tok string, n int) (int, error) {
	i, err := strconv.Atoi(tok)
	if err != nil || i < 0 || i >= n || (len(tok) > 1 && tok[0] == '0') {
		return 0, fmt.Errorf("index %q out of 0..%d", tok, n-1)
	}
	return i, nil
}

// follower is a patch-mode subscriber's copy of a key's state.
type follower struct {
	c   *wsConn
	key string
	seq uint64
	doc any
}

// follow subscribes c in patch mode and reads the snap.
func (s *suite) follow(t *testing.T, c *wsConn, key string) *follower {
	t.Helper()
	before, synced := c.subscribe(t, s.patchSub(key))
	if len(before) != 1 || before[0].T != "snap" {
		t.Fatalf("a fresh patch-mode sub: %v before synced, want one snap; %s", before, page("a fresh subscription (no `after`, no `epoch`) always gets the `snap`, since the client knows no state to patch"))
	}
	f := &follower{c: c, key: key, seq: before[0].Seq}
	if err := json.Unmarshal(before[0].State, &f.doc); err != nil {
		t.Fatal(err)
	}
	if synced.Seq != f.seq {
		t.Errorf("snap at %d, synced at %d", f.seq, synced.Seq)
	}
	return f
}

// next reads the follower's next patch, applies it and checks the result
// against the state at that seq (REST at/{seq}) and the patch's hash.
func (f *follower) next(t *testing.T, s *suite) Msg {
	t.Helper()
	p, _ := f.c.await(t, "patch", func(m Msg) bool { return m.Key == f.key && (m.T == "patch" || m.T == "ev" || m.T == "snap") })
	if p.T != "patch" {
		t.Fatalf("a patch-mode subscriber got %s; %s", p, page("instead of each `ev`, the client gets a `patch`"))
	}
	checkFields(t, p, []string{"t", "key", "seq", "name", "args", "time", "actor", "ops"}, "client", "mid", "hash")
	if p.Seq != f.seq+1 {
		t.Fatalf("patch seq %d after %d", p.Seq, f.seq)
	}
	doc, _, err := applyPatch(f.doc, p.Ops)
	if err != nil {
		t.Fatalf("patch seq %d: %v: %s", p.Seq, err, p)
	}
	f.doc, f.seq = doc, p.Seq
	var at stateBody
	s.restOK(t, "GET", fmt.Sprintf("%s/at/%d", s.statePath(f.key), p.Seq), s.tg.Key, nil, &at)
	mine, _ := json.Marshal(f.doc)
	if !jsonEqual(mine, at.State) {
		t.Errorf("after patch seq %d (ops %s) the copy is %s, the server's state %s; %s", p.Seq, p.Ops, mine, at.State,
			page("A client applies the operations in order to its copy of the state; the result equals the server's state as a JSON value"))
	}
	if p.Hash != "" {
		if h, _ := stateHash(mine); h != p.Hash {
			t.Errorf("patch seq %d hash %s, the copy hashes to %s", p.Seq, p.Hash, h)
		}
	}
	return p
}

func testPatchFresh(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	f := s.follow(t, c, key)
	if f.seq != 0 {
		t.Errorf("snap of a new key at seq %d", f.seq)
	}
	// A key with events: the snap is the whole state at the head.
	s.restAdd(t, key, "a")
	f.next(t, s)
	c2, _ := s.hello(t, s.id("c"))
	f2 := s.follow(t, c2, key)
	if f2.seq != 1 {
		t.Errorf("snap at seq %d, want the head 1", f2.seq)
	}
}

func testPatchLive(t *testing.T, s *suite) {
	client := s.id("c")
	a, _ := s.hello(t, client)
	key := s.id("k")
	f := s.follow(t, a, key)
	// Its own mutation: a patch with its client and mid acknowledges it.
	a.send(t, mut(key, 1, "Add", `{"title":"one"}`))
	p := f.next(t, s)
	if p.Client != client || p.Mid != 1 || p.Name != "Add" {
		t.Errorf("the patch of its own mutation: %s, want client %s mid 1", p, client)
	}
	// A refusal is a rej, as in the default mode.
	a.send(t, mut(key, 2, "Add", `{"title":""}`))
	if rej := a.awaitRej(t, key, 2); rej.Code != "empty_title" {
		t.Errorf("rej in patch mode: %s", rej)
	}
	// Another client's mutations, in the default mode: each patch carries
	// every field of the ev.
	other := s.id("c")
	b, _ := s.hello(t, other)
	b.subscribe(t, s.subMsg(key))
	items := func() listState {
		var st stateBody
		s.restOK(t, "GET", s.statePath(key), s.tg.Key, nil, &st)
		return decodeList(t, st.State)
	}
	b.send(t, mut(key, 1, "Add", `{"title":"two"}`))
	b.awaitEv(t, key, 1)
	f.next(t, s)
	id0 := items().Items[0].ID
	steps := []struct{ name, args string }{
		{"Toggle", fmt.Sprintf(`{"id":%q}`, id0)},
		{"Rename", fmt.Sprintf(`{"id":%q,"title":"uno"}`, id0)},
		{"Add", `{"title":"three"}`},
		{"ClearDone", `{}`},
		{"ClearDone", `{}`}, // changes nothing: ops []
	}
	for i, st := range steps {
		mid := uint64(i + 2)
		b.send(t, mut(key, mid, st.name, st.args))
		ev := b.awaitEv(t, key, mid)
		p := f.next(t, s)
		if p.Seq != ev.Seq || p.Client != ev.Client || p.Mid != ev.Mid || p.Name != ev.Name || !jsonEqual(p.Args, ev.Args) ||
			p.Time != ev.Time || p.Actor != ev.Actor || p.Hash != ev.Hash {
			t.Errorf("patch %s and ev %s differ; %s", p, ev, page("every field of the `ev` (`seq`, `client`, `mid`, `name`, `args`, `time`, `actor`, and `hash` when the `ev` has it) and `ops`"))
		}
		if i == len(steps)-1 && string(p.Ops) != "[]" {
			t.Errorf("ops of an action that changed nothing: %s; %s", p.Ops, page("`ops` is `[]` when the action changed nothing"))
		}
	}
	a.quiet(t, "a patch-mode subscriber", nil)
}

func catchUpSeqs(before []Msg) []string {
	var out []string
	for _, m := range before {
		out = append(out, fmt.Sprintf("%s:%d", m.T, m.Seq))
	}
	return out
}

func testPatchCatchUp(t *testing.T, s *suite) {
	// While a patch-mode subscriber is on the key, patches are kept.
	key := s.id("k")
	a, _ := s.hello(t, s.id("c"))
	f := s.follow(t, a, key)
	for i := range 3 {
		s.restAdd(t, key, fmt.Sprint("p", i))
		f.next(t, s)
	}
	var head stateBody
	s.restOK(t, "GET", s.statePath(key), s.tg.Key, nil, &head)
	c, _ := s.hello(t, s.id("c"))
	sub := s.patchSub(key)
	sub.After, sub.Epoch = 1, head.Epoch
	before, synced := c.subscribe(t, sub)
	got := catchUpSeqs(before)
	if strings.Join(got, " ") != "patch:2 patch:3" && strings.Join(got, " ") != "snap:3" {
		t.Errorf("patch-mode sub after 1 of 3: %v, want patches 2, 3 (or a snap at 3)", got)
	}
	if strings.Join(got, " ") == "snap:3" {
		t.Logf("the catch-up was a snap although a patch-mode subscriber was on the key")
	}
	if synced.Seq != 3 {
		t.Errorf("synced %s", synced)
	}
	// A wrong epoch: a snap.
	sub.Epoch = "not-" + head.Epoch
	before, _ = c.subscribe(t, sub)
	if got := catchUpSeqs(before); strings.Join(got, " ") != "snap:3" {
		t.Errorf("patch-mode sub with a wrong epoch: %v, want a snap at 3", got)
	}
	// Events made while nobody was in patch mode: a snap.
	key2 := s.id("k")
	for i := range 3 {
		s.restAdd(t, key2, fmt.Sprint("e", i))
	}
	s.restOK(t, "GET", s.statePath(key2), s.tg.Key, nil, &head)
	sub = s.patchSub(key2)
	sub.After, sub.Epoch = 1, head.Epoch
	before, _ = c.subscribe(t, sub)
	if got := catchUpSeqs(before); strings.Join(got, " ") != "snap:3" {
		t.Errorf("patch-mode sub after 1, patches never made: %v, want a snap at 3; %s", got, page("the catch-up is a `snap` (the whole state at the head), unless the cursor is valid and the key's recent patches reach back to it"))
	}
}

func testPatchBadMode(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	sub := s.subMsg(key)
	sub.Mode = "diff"
	c.send(t, sub)
	c.expectErr(t, "bad_message", key, nil)
	c.quiet(t, "after bad_message", nil)
}

func testPatchFP(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	sub := s.patchSub(key)
	sub.FP = "0000000000000000"
	c.send(t, sub)
	c.expectErr(t, "schema_mismatch", key, nil)
	sub.FP = s.fp
	before, _ := c.subscribe(t, sub)
	if len(before) != 1 || before[0].T != "snap" {
		t.Errorf("patch mode with the right fp: %v", before)
	}
}

// testPatchReplaceAll checks, for a few changes, the page's "When the
// operations would be longer than the new state (removing the first of many
// items shifts all the others), `ops` is one `replace` of the whole
// document".
func testPatchReplaceAll(t *testing.T, s *suite) {
	key := s.id("k")
	a, _ := s.hello(t, s.id("c"))
	f := s.follow(t, a, key)
	check := func(what string) {
		t.Helper()
		p := f.next(t, s)
		_, ops, _ := applyPatch(nil, p.Ops)
		whole := len(ops) == 1 && ops[0].Op == "replace" && ops[0].Path == ""
		state, _ := json.Marshal(f.doc)
		var compact bytes.Buffer
		json.Compact(&compact, p.Ops)
		replaceAll := len(`[{"op":"replace","path":"","value":}]`) + len(state)
		if !whole && compact.Len() > replaceAll {
			t.Errorf("%s: ops of %d bytes %s, longer than the %d bytes of one replace of the new state %s; %s", what, compact.Len(), p.Ops, replaceAll, state,
				page("When the operations would be longer (in bytes) than one `replace` of the whole document (removing the first of many items shifts all the others), `ops` is that replace, `[{\"op\":\"replace\",\"path\":\"\",\"value\":STATE}]`"))
		}
		if whole && what == "Add to a list of 5" {
			t.Logf("%s: a whole-document replace", what)
		}
	}
	for i := range 6 {
		s.restAdd(t, key, fmt.Sprintf("item %d", i))
		check(fmt.Sprintf("Add to a list of %d", i))
	}
	remove := func(id string) {
		var out struct {
			Seq uint64 `json:"seq"`
		}
		s.restOK(t, "POST", s.statePath(key)+"/mutations", s.tg.Key, map[string]any{"name": "Remove", "args": map[string]string{"id": id}}, &out)
	}
	l := f.doc.(map[string]any)["items"].([]any)
	remove(l[0].(map[string]any)["id"].(string))
	check("Remove the first of 6")
	for len(f.doc.(map[string]any)["items"].([]any)) > 0 {
		l := f.doc.(map[string]any)["items"].([]any)
		remove(l[len(l)-1].(map[string]any)["id"].(string))
		check(fmt.Sprintf("Remove the last of %d", len(l)))
	}
}
