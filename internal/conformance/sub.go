// This file holds the subscription cases: fresh keys, cursors and catch-up,
// snaps, schema and type mismatches, key limits, resubscribing,
// unsubscribing and the subscription rate.

package conformance

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func testSubFresh(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	before, synced := c.subscribe(t, s.subMsg(key))
	if len(before) > 0 {
		t.Errorf("sub of a new key: %v before synced", before)
	}
	checkFields(t, synced, []string{"t", "key", "epoch"})
	if synced.Seq != 0 || synced.Mid != 0 || synced.Epoch == "" {
		t.Errorf("synced of a new key: %s; %s", synced, page("`synced` has no `seq` for an empty log and no `mid` when the server has processed no mutation of this client on the key"))
	}
}

func testSubCursor(t *testing.T, s *suite) {
	client := s.id("c")
	c, _ := s.hello(t, client)
	key := s.id("k")
	_, first := c.subscribe(t, s.subMsg(key))
	evs := c.addN(t, key, 1, 4)
	c.Close()

	// The same client, from seq 1: ev 2..4 then synced with its mid.
	c, _ = s.hello(t, client)
	sub := s.subMsg(key)
	sub.After, sub.Epoch = 1, first.Epoch
	before, synced := c.subscribe(t, sub)
	if len(before) != 3 {
		t.Fatalf("sub after 1 of 4: got %v before synced, want ev 2, 3, 4", before)
	}
	for i, m := range before {
		want := evs[i+1]
		if m.T != "ev" || m.Seq != want.Seq || m.Mid != want.Mid || m.Client != client || m.Name != "Add" ||
			m.Time != want.Time || m.Actor != want.Actor || !jsonEqual(m.Args, want.Args) {
			t.Errorf("catch-up %d: %s, want the live ev %s", i+1, m, want)
		}
		checkFields(t, m, []string{"t", "key", "seq", "client", "mid", "name", "args", "time", "actor"}, "hash")
	}
	if synced.Seq != 4 || synced.Epoch != first.Epoch || synced.Mid != 4 {
		t.Errorf("synced after catch-up: %s, want seq 4, epoch %s, mid 4", synced, first.Epoch)
	}
	// At the head: nothing but synced.
	sub.After = 4
	c2, _ := s.hello(t, s.id("c"))
	before, synced = c2.subscribe(t, sub)
	if len(before) != 0 || synced.Seq != 4 || synced.Mid != 0 {
		t.Errorf("sub at the head by another client: %v then %s, want only synced seq 4 without mid", before, synced)
	}
	// A fresh client without cursor: all events.
	sub.After, sub.Epoch = 0, ""
	c3, _ := s.hello(t, s.id("c"))
	before, _ = c3.subscribe(t, sub)
	if len(before) != 4 {
		t.Errorf("sub without cursor: %v, want 4 ev", before)
	}
}

func testSubSnap(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	_, first := c.subscribe(t, s.subMsg(key))
	c.addN(t, key, 1, 2)
	sub := s.subMsg(key)
	sub.After, sub.Epoch, sub.Snap = 2, first.Epoch, true
	c2, _ := s.hello(t, s.id("c"))
	before, synced := c2.subscribe(t, sub)
	if len(before) != 1 || before[0].T != "snap" {
		t.Fatalf("sub with snap:true: %v before synced, want one snap", before)
	}
	snap := before[0]
	checkFields(t, snap, []string{"t", "key", "seq", "epoch", "state"})
	if snap.Seq != 2 || snap.Epoch != first.Epoch {
		t.Errorf("snap %s, want seq 2 epoch %s", snap, first.Epoch)
	}
	if got := decodeList(t, snap.State).titles(); fmt.Sprint(got) != "[item 1 item 2]" {
		t.Errorf("snap state titles %v", got)
	}
	if synced.Seq != 2 || synced.Epoch != first.Epoch {
		t.Errorf("synced after snap: %s", synced)
	}
	// snap at seq 0 has no seq.
	key0 := s.id("k")
	sub0 := s.subMsg(key0)
	sub0.Snap = true
	before, _ = c2.subscribe(t, sub0)
	if len(before) != 1 || before[0].T != "snap" {
		t.Fatalf("sub snap:true of a new key: %v, want one snap", before)
	}
	checkFields(t, before[0], []string{"t", "key", "epoch", "state"})
	if l := decodeList(t, before[0].State); len(l.Items) != 0 {
		t.Errorf("snap of a new key: %s", before[0])
	}
}

func testSubWrongEpoch(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	_, first := c.subscribe(t, s.subMsg(key))
	c.addN(t, key, 1, 2)
	sub := s.subMsg(key)
	sub.After, sub.Epoch = 1, "not-"+first.Epoch
	before, synced := c.subscribe(t, sub)
	if len(before) != 1 || before[0].T != "snap" || before[0].Seq != 2 || before[0].Epoch != first.Epoch {
		t.Errorf("sub with a wrong epoch: %v, want a snap at seq 2 epoch %s; %s", before, first.Epoch, page("A snapshot is sent when the epoch differs"))
	}
	if synced.Seq != 2 || synced.Epoch != first.Epoch {
		t.Errorf("synced: %s", synced)
	}
}

func testSubBeyondHead(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	_, first := c.subscribe(t, s.subMsg(key))
	c.addN(t, key, 1, 1)
	sub := s.subMsg(key)
	sub.After, sub.Epoch = 9, first.Epoch
	before, _ := c.subscribe(t, sub)
	if len(before) != 1 || before[0].T != "snap" || before[0].Seq != 1 {
		t.Errorf("sub after 9 of 1: %v, want a snap at seq 1; %s", before, page("`after` is beyond the head"))
	}
}

func testSubUnknownType(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	c.send(t, Msg{T: "sub", Key: key, Type: "nope.Nothing", FP: "0000000000000000"})
	c.expectErr(t, "unknown_type", key, nil)
	c.quiet(t, "after unknown_type", nil)
}

func testSchemaMismatch(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	if got := fingerprintOf(s.shape); got != s.fp {
		t.Errorf("GET /v1/types: fingerprint %s, but the first 16 hex digits of the SHA-256 of its shape are %s; %s", s.fp, got, page("`fp` is the first 16 hex digits of its SHA-256"))
	}
	for _, bad := range []struct{ line, names string }{
		{"field string items[].color", "items[].color"},
		{"action Archive(id string)", "Archive"},
	} {
		key := s.id("k")
		shape := s.shape + bad.line + "\n"
		c.send(t, Msg{T: "sub", Key: key, Type: typeName, FP: fingerprintOf(shape), Shape: shape})
		m := c.expectErr(t, "schema_mismatch", key, nil)
		if !strings.Contains(m.Text, bad.names) {
			t.Errorf("schema_mismatch for %q does not name it: %s; %s", bad.line, m.Text, page("answers `schema_mismatch` naming each difference"))
		}
	}
	// A client that has fewer fields and actions than the server is served.
	var lines []string
	for _, l := range strings.Split(s.shape, "\n") {
		if l != "action ClearDone()" && l != "field bool items[].done" {
			lines = append(lines, l)
		}
	}
	shape := strings.Join(lines, "\n")
	key := s.id("k")
	before, synced := c.subscribe(t, Msg{T: "sub", Key: key, Type: typeName, FP: fingerprintOf(shape), Shape: shape})
	if len(before) != 0 || synced.Epoch == "" {
		t.Errorf("a compatible older shape: %v %s", before, synced)
	}
}

func testTypeMismatch(t *testing.T, s *suite) {
	var other string
	for _, ti := range s.types {
		if ti.Name != typeName {
			other = ti.Name
		}
	}
	if other == "" {
		t.Skipf("GET /v1/types lists only %s: a key of another type cannot be made", typeName)
	}
	var fp string
	for _, ti := range s.types {
		if ti.Name == other {
			fp = ti.Fingerprint
		}
	}
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	c.subscribe(t, s.subMsg(key))
	c2, _ := s.hello(t, s.id("c"))
	c2.send(t, Msg{T: "sub", Key: key, Type: other, FP: fp})
	c2.expectErr(t, "type_mismatch", key, nil)
}

func testBadKey(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	for _, key := range []string{"", "has space", "slash/key", strings.Repeat("k", 257), "caf\u00e9"} {
		c.send(t, s.subMsg(key))
		c.expectErr(t, "bad_key", key, nil)
	}
	// Every allowed character, and 256 bytes.
	key := s.id("k") + "-_.:@~+="
	c.subscribe(t, s.subMsg(key))
	long := s.id("k")
	long += strings.Repeat("z", 256-len(long))
	c2, _ := s.hello(t, s.id("c"))
	c2.subscribe(t, s.subMsg(long))
}

func testTooManyKeys(t *testing.T, s *suite) {
	n := s.tg.Limits.MaxKeysPerConn
	if n == 0 {
		t.Skip("needs Limits.MaxKeysPerConn (-conformance.max-keys)")
	}
	if n > 200 {
		t.Skipf("Limits.MaxKeysPerConn is %d: too many subscriptions for a test", n)
	}
	c, _ := s.hello(t, s.id("c"))
	var keys []string
	for range n {
		k := s.id("k")
		keys = append(keys, k)
		c.subscribe(t, s.subMsg(k))
	}
	extra := s.id("k")
	c.send(t, s.subMsg(extra))
	e := c.expectErr(t, "too_many_keys", extra, nil)
	namesLimit(t, "too_many_keys", e.Text, n)
	// A subscribed key again costs no key.
	c.subscribe(t, s.subMsg(keys[0]))
	// After an unsub there is room.
	c.send(t, Msg{T: "unsub", Key: keys[0]})
	c.subscribe(t, s.subMsg(extra))
}

func testResub(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	_, first := c.subscribe(t, s.subMsg(key))
	c.addN(t, key, 1, 3)
	sub := s.subMsg(key)
	sub.After, sub.Epoch = 1, first.Epoch
	before, synced := c.subscribe(t, sub)
	var seqs []uint64
	for _, m := range before {
		if m.T != "ev" {
			t.Errorf("resubscribe: %s in the catch-up", m)
		}
		seqs = append(seqs, m.Seq)
	}
	if fmt.Sprint(seqs) != "[2 3]" || synced.Seq != 3 || synced.Mid != 3 {
		t.Errorf("resubscribe after 1: ev %v then %s, want ev 2, 3 and synced seq 3 mid 3; %s", seqs, synced,
			page("the server answers with the stored refusals, a catch-up from the cursor given, and `synced`, as for a first `sub`"))
	}
	// Still subscribed: live events come.
	c.send(t, mut(key, 4, "Add", `{"title":"live"}`))
	c.awaitEv(t, key, 4)
}

func testUnsub(t *testing.T, s *suite) {
	a, _ := s.hello(t, s.id("c"))
	b, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	a.subscribe(t, s.subMsg(key))
	b.subscribe(t, s.subMsg(key))
	b.send(t, mut(key, 1, "Add", `{"title":"both"}`))
	b.awaitEv(t, key, 1)
	a.awaitEv(t, key, 1)
	a.send(t, Msg{T: "unsub", Key: key})
	a.quiet(t, "an answer to unsub", nil) // "No answer."
	b.send(t, mut(key, 2, "Add", `{"title":"b only"}`))
	b.awaitEv(t, key, 2)
	b.send(t, mut(key, 3, "Add", `{"title":"b only"}`))
	b.awaitEv(t, key, 3)
	a.quiet(t, "an event after unsub", nil)
	// Mutating the unsubscribed key is not_subscribed.
	a.send(t, mut(key, 1, "Add", `{"title":"x"}`))
	a.expectErr(t, "not_subscribed", key, nil)
}

func testSubRateLimited(t *testing.T, s *suite) {
	keys := s.tg.Limits.MaxKeysPerConn
	if keys == 0 {
		t.Skip("needs Limits.MaxKeysPerConn (the subscription burst is keys + 16)")
	}
	burst := keys + 16
	if burst > 2000 {
		t.Skipf("a subscription burst of %d is too many for a test", burst)
	}
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	n := burst + 10 + int(s.tg.Limits.SubsPerSecond)/2
	subs := make([]Msg, n)
	for i := range subs {
		subs[i] = s.subMsg(key)
	}
	start := time.Now()
	c.send(t, subs)
	var synced, limited int
	var retry int64
	for synced+limited < n {
		m := c.next(t)
		switch {
		case m.T == "synced":
			synced++
		case m.T == "err" && m.Code == "rate_limited":
			limited++
			checkFields(t, m, []string{"t", "key", "code", "msg", "retry_ms"})
			if m.RetryMs <= 0 {
				t.Errorf("rate_limited without retry_ms > 0: %s", m)
			}
			retry = max(retry, m.RetryMs)
			if r := s.tg.Limits.SubsPerSecond; r > 0 {
				namesLimit(t, "subscription rate_limited", m.Text, r)
			}
		default:
			t.Fatalf("%d subs of one key: got %s", n, m)
		}
	}
	if limited == 0 {
		t.Errorf("%d subscriptions in one frame, burst %d: none was rate_limited; %s", n, burst, page("| subscriptions per connection | 100/s, burst keys + 16 | `rate_limited` with `retry_ms` |"))
	}
	elapsed := time.Since(start)
	if r := s.tg.Limits.SubsPerSecond; r > 0 && float64(synced) > float64(burst)+r*elapsed.Seconds()+1 {
		t.Errorf("%d of %d subscriptions were served in %s: over burst %d + %g/s", synced, n, elapsed, burst, r)
	}
	if r := s.tg.Limits.SubsPerSecond; r > 0 && float64(retry) > 1000/r+5 {
		t.Errorf("retry_ms %d: more than one token's time at %g/s", retry, r)
	}
	t.Logf("%d served, %d rate_limited, retry_ms up to %d", synced, limited, retry)
}

func testGap512(t *testing.T, s *suite) {
	const gap = 512 // the page: "the gap is over 512 events"
	key := s.id("k")
	head := uint64(gap + 2)
	for i := uint64(1); i <= head; i++ {
		if seq := s.restAdd(t, key, fmt.Sprint(i)); seq != i {
			t.Fatalf("REST mutation %d: seq %d", i, seq)
		}
	}
	var sb stateBody
	s.restOK(t, "GET", s.statePath(key), s.tg.Key, nil, &sb)
	c, _ := s.hello(t, s.id("c"))
	sub := s.subMsg(key)
	sub.After, sub.Epoch = 1, sb.Epoch // a gap of 513
	before, synced := c.subscribe(t, sub)
	if len(before) != 1 || before[0].T != "snap" || before[0].Seq != head {
		t.Errorf("sub with a gap of %d events: %d messages (first %v), want one snap at %d; %s", head-1, len(before), firstOf(before), head, page("the gap is over 512 events"))
	}
	if synced.Seq != head {
		t.Errorf("synced %s", synced)
	}
	sub.After = 2 // a gap of 512
	before, _ = c.subscribe(t, sub)
	if len(before) != gap {
		t.Fatalf("sub with a gap of %d events: %d messages (first %v), want %d ev", gap, len(before), firstOf(before), gap)
	}
	for i, m := range before {
		if m.T != "ev" || m.Seq != uint64(i+3) {
			t.Fatalf("catch-up message %d: %s, want ev seq %d", i, m, i+3)
		}
	}
}

// testShapePerPage sends a shape made as the page describes it: one line per
// JSON field and per action, each of them the server's. The page: "The
// server serves the client when each of its field lines and action lines is
// also the server's (the server may have more)".
func testShapePerPage(t *testing.T, s *suite) {
	var lines []string
	var others []string
	for _, l := range strings.Split(strings.TrimSuffix(s.shape, "\n"), "\n") {
		if strings.HasPrefix(l, "field ") || strings.HasPrefix(l, "action ") {
			lines = append(lines, l)
		} else {
			others = append(others, l)
		}
	}
	if len(others) != 1 || others[0] != "state "+typeName || !strings.HasPrefix(s.shape, others[0]+"\n") {
		t.Errorf("the server's shape has the lines %q besides its field and action lines; %s", others,
			page("a first line `state NAME` (the type's name, e.g. `state todos.List`), then one line per JSON field"))
	}
	// The type's line, then a subset of the server's field and action
	// lines (every other one): served.
	var half []string
	for i, l := range lines {
		if i%2 == 0 {
			half = append(half, l)
		}
	}
	shape := "state " + typeName + "\n" + strings.Join(half, "\n") + "\n"
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	c.send(t, Msg{T: "sub", Key: key, Type: typeName, FP: fingerprintOf(shape), Shape: shape})
	m, _ := c.await(t, "synced or err", func(m Msg) bool { return m.Key == key && (m.T == "synced" || m.T == "err") })
	if m.T != "synced" {
		t.Errorf("a shape of the type's line and some of the server's own field and action lines got %s; %s", m,
			page("The server serves the client when each of its field lines and action lines is also the server's (the server may have more); otherwise it answers `schema_mismatch` naming each difference"))
	}
}
