// This file holds the mutation cases: ev and broadcast, mids, duplicates,
// bad messages and args, refusals and the mutation rate.

package conformance

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func testMutEv(t *testing.T, s *suite) {
	client := s.id("c")
	a, w := s.hello(t, client)
	b, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	_, synced := a.subscribe(t, s.subMsg(key))
	b.subscribe(t, s.subMsg(key))
	start := time.Now()
	a.send(t, mut(key, 1, "Add", `{"title":"milk"}`))
	ev := a.awaitEv(t, key, 1)
	checkFields(t, ev, []string{"t", "key", "seq", "client", "mid", "name", "args", "time", "actor"}, "hash")
	if ev.Seq != 1 || ev.Client != client || ev.Name != "Add" || ev.Actor != w.Actor || !jsonEqual(ev.Args, []byte(`{"title":"milk"}`)) {
		t.Errorf("ev %s, want seq 1, client %s, mid 1, Add {title:milk}, actor %s", ev, client, w.Actor)
	}
	if d := time.UnixMilli(ev.Time).Sub(start); d < -time.Minute || d > time.Minute {
		t.Errorf("ev time %d is %s from now: not Unix milliseconds?", ev.Time, d)
	}
	other, _ := b.await(t, "the ev on the other subscriber", func(m Msg) bool { return m.T == "ev" && m.Key == key })
	if !jsonEqual(other.Raw, ev.Raw) {
		t.Errorf("the other subscriber got %s, the originator %s", other, ev)
	}
	// The state holds it, with the id the page's rule derives.
	var st struct {
		Key   string          `json:"key"`
		Seq   uint64          `json:"seq"`
		Epoch string          `json:"epoch"`
		State json.RawMessage `json:"state"`
	}
	s.restOK(t, "GET", s.statePath(key), s.tg.Key, nil, &st)
	l := decodeList(t, st.State)
	if len(l.Items) != 1 || l.Items[0].Title != "milk" || st.Seq != 1 || st.Epoch != synced.Epoch {
		t.Errorf("state after Add: %+v", st)
	}
}

func testNotSubscribed(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	c.send(t, mut(key, 1, "Add", `{"title":"x"}`))
	m := c.expectErr(t, "not_subscribed", key, nil)
	if m.Mid != 1 {
		t.Errorf("not_subscribed mid %d, want 1: %s", m.Mid, m)
	}
}

func testMidGap(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	c.subscribe(t, s.subMsg(key))
	c.addN(t, key, 1, 2)
	c.send(t, mut(key, 5, "Add", `{"title":"gap"}`))
	m := c.expectErr(t, "mid_gap", key, nil)
	checkFields(t, m, []string{"t", "key", "mid", "code", "msg"})
	if m.Mid != 3 {
		t.Errorf("mid_gap mid %d, want the expected mid 3; %s", m.Mid, page("`err mid_gap` with `mid` = the expected mid"))
	}
	// Nothing was applied: mid 3 is next.
	c.send(t, mut(key, 3, "Add", `{"title":"three"}`))
	if ev := c.awaitEv(t, key, 3); ev.Seq != 3 {
		t.Errorf("after mid_gap: %s, want seq 3", ev)
	}
}

func testDuplicate(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	c.subscribe(t, s.subMsg(key))
	c.addN(t, key, 1, 2)
	for _, mid := range []uint64{1, 2} {
		c.send(t, mut(key, mid, "Add", `{"title":"again"}`))
		m := c.expectErr(t, "duplicate", key, nil)
		checkFields(t, m, []string{"t", "key", "mid", "code", "msg"})
		if m.Mid != mid {
			t.Errorf("duplicate mid %d, want %d", m.Mid, mid)
		}
	}
	var st struct {
		Seq uint64 `json:"seq"`
	}
	s.restOK(t, "GET", s.statePath(key), s.tg.Key, nil, &st)
	if st.Seq != 2 {
		t.Errorf("after duplicates the key is at seq %d, want 2: nothing is applied", st.Seq)
	}
}

func testMutBadMessage(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	c.subscribe(t, s.subMsg(key))
	for _, m := range []Msg{
		{T: "mut", Key: key, Mid: 1, Args: json.RawMessage(`{"title":"x"}`)},         // no name
		{T: "mut", Key: key, Name: "Add", Args: json.RawMessage(`{"title":"x"}`)},    // mid 0
		{T: "mut", Key: key, Mid: 1 << 63, Name: "Add", Args: json.RawMessage(`{}`)}, // mid over 2^63-1
	} {
		c.send(t, m)
		e := c.expectErr(t, "bad_message", key, nil)
		if e.Mid != m.Mid {
			t.Errorf("bad_message mid %d, want %d: %s", e.Mid, m.Mid, e)
		}
	}
	// The mid did not move: 1 is accepted.
	c.send(t, mut(key, 1, "Add", `{"title":"one"}`))
	c.awaitEv(t, key, 1)
}

func testUnknownAction(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	c.subscribe(t, s.subMsg(key))
	c.send(t, mut(key, 1, "Explode", `{}`))
	rej := c.awaitRej(t, key, 1)
	if rej.Code != "unknown_action" || rej.Name != "Explode" {
		t.Errorf("unknown action: %s, want rej unknown_action name Explode", rej)
	}
	// The mid moved: 1 again is a duplicate, 2 is accepted.
	c.send(t, mut(key, 1, "Add", `{"title":"x"}`))
	c.expectErr(t, "duplicate", key, nil)
	c.send(t, mut(key, 2, "Add", `{"title":"two"}`))
	if ev := c.awaitEv(t, key, 2); ev.Seq != 1 {
		t.Errorf("after a rej the next ev is %s, want seq 1", ev)
	}
}

func testBadArgs(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	c.subscribe(t, s.subMsg(key))
	mid := uint64(0)
	for _, args := range []string{
		`{"TITLE":"x"}`,
		`{"nope":"x"}`,
		`{"title":"x","nope":1}`,
		`{"title":"a","title":"b"}`,
		`["x"]`,
		`"x"`,
		`{"title":1}`,
		`{"title":"\ud800"}`,
		`{"title":"x"`,
	} {
		mid++
		// Raw, so that the args reach the server byte for byte.
		c.sendRaw(t, websocket.MessageText, fmt.Appendf(nil, `{"t":"mut","key":%q,"mid":%d,"name":"Add","args":%s}`, key, mid, args))
		if !json.Valid([]byte(args)) {
			// Not JSON at all: the frame is not a message.
			c.expectErr(t, "bad_message", "", nil)
			mid--
			continue
		}
		rej := c.awaitRej(t, key, mid)
		if rej.Code != "bad_args" {
			t.Errorf("Add %s: %s, want rej bad_args", args, rej)
		}
	}
	// Each moved the mid.
	mid++
	c.send(t, mut(key, mid, "Add", `{"title":"good"}`))
	if ev := c.awaitEv(t, key, mid); ev.Seq != 1 {
		t.Errorf("after bad_args: %s, want seq 1", ev)
	}
}

func testArgsCanonical(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	c.subscribe(t, s.subMsg(key))
	c.sendRaw(t, websocket.MessageText, fmt.Appendf(nil, `{"t":"mut","key":%q,"mid":1,"name":"Add","args":{ "title" :`+"\t"+`"a\u0041 <b> \u00e9" }}`, key))
	ev := c.awaitEv(t, key, 1)
	want := `{"title":"aA <b> é"}`
	if string(ev.Args) != want {
		t.Errorf("logged args %s, want %s; %s", ev.Args, want, page("logs (and broadcasts in `ev`) the envelope's re-encoding: no insignificant space, escapes decoded (`<` and `>` stay as they are)"))
	}
	// No args: {} in the ev.
	c.send(t, mut(key, 2, "ClearDone", ""))
	ev = c.awaitEv(t, key, 2)
	if string(ev.Args) != "{}" {
		t.Errorf("ev of a mut without args: args %s, want {}; %s", ev.Args, page("`args` is always present (at least `{}`)"))
	}
}

func testActionRefusal(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	c.subscribe(t, s.subMsg(key))
	other, _ := s.hello(t, s.id("c"))
	other.subscribe(t, s.subMsg(key))
	c.send(t, mut(key, 1, "Add", `{"title":"  "}`))
	rej := c.awaitRej(t, key, 1)
	if rej.Code != "empty_title" || rej.Name != "Add" || rej.Text != "a todo needs a title" {
		t.Errorf("Add of an empty title: %s, want rej empty_title \"a todo needs a title\"", rej)
	}
	c.send(t, mut(key, 2, "Toggle", `{"id":"nope"}`))
	if rej := c.awaitRej(t, key, 2); rej.Code != "no_such_item" {
		t.Errorf("Toggle of a missing id: %s, want rej no_such_item", rej)
	}
	other.quiet(t, "another subscriber after a refusal (only the originator gets rej)", nil)
}

func testStoredRefusals(t *testing.T, s *suite) {
	client := s.id("c")
	key := s.id("k")
	c, _ := s.hello(t, client)
	c.subscribe(t, s.subMsg(key))
	c.send(t, mut(key, 1, "Add", `{"title":""}`))
	c.awaitRej(t, key, 1)
	c.send(t, mut(key, 2, "Add", `{"title":"kept"}`))
	c.awaitEv(t, key, 2)
	c.send(t, mut(key, 3, "Nope", `{}`))
	c.awaitRej(t, key, 3)
	c.Close()

	// acked 0: both refusals, before the catch-up, in mid order.
	c, _ = s.hello(t, client)
	before, synced := c.subscribe(t, s.subMsg(key))
	var got []string
	for _, m := range before {
		got = append(got, fmt.Sprintf("%s:%d", m.T, m.Mid))
	}
	if strings.Join(got, " ") != "rej:1 rej:3 ev:2" {
		t.Errorf("sub with acked 0: %v, want rej 1, rej 3, then the catch-up ev 2; %s", got, page("a `rej` for each stored refusal of this client's mutations on this key with `mid > acked` ... They come before the catch-up"))
	}
	if synced.Mid != 3 {
		t.Errorf("synced mid %d, want 3", synced.Mid)
	}
	for _, m := range before {
		if m.T == "rej" {
			checkFields(t, m, []string{"t", "key", "mid", "name", "code", "msg"})
		}
	}
	// acked 1: only the refusal of mid 3.
	sub := s.subMsg(key)
	sub.After, sub.Epoch, sub.Acked = synced.Seq, synced.Epoch, 1
	before, _ = c.subscribe(t, sub)
	if len(before) != 1 || before[0].T != "rej" || before[0].Mid != 3 {
		t.Errorf("sub with acked 1: %v, want rej 3 only", before)
	}
	// Acknowledged refusals are forgotten: acked 0 again gets rej 3 only.
	sub.Acked = 0
	before, _ = c.subscribe(t, sub)
	if len(before) != 1 || before[0].T != "rej" || before[0].Mid != 3 {
		t.Errorf("sub with acked 0 after acked 1: %v, want rej 3 only (rej 1 was acknowledged); %s", before, page("refusals are kept until a later `sub` acknowledges them with `acked`"))
	}
	sub.Acked = 3
	before, _ = c.subscribe(t, sub)
	if len(before) != 0 {
		t.Errorf("sub with acked 3: %v, want nothing before synced", before)
	}
	sub.Acked = 0
	before, _ = c.subscribe(t, sub)
	if len(before) != 0 {
		t.Errorf("sub with acked 0 after acked 3: %v, want nothing", before)
	}
	// Another client does not get them.
	c2, _ := s.hello(t, s.id("c"))
	before, _ = c2.subscribe(t, sub)
	if len(before) != 0 {
		t.Errorf("another client's sub: %v", before)
	}
}

func testMutRateLimited(t *testing.T, s *suite) {
	burst, rate := s.tg.Limits.MutationBurst, s.tg.Limits.MutationsPerSecond
	if burst == 0 {
		t.Skip("needs Limits.MutationBurst (-conformance.burst)")
	}
	if burst > 20000 {
		t.Skipf("a mutation burst of %d is too many for a test", burst)
	}
	c, _ := s.hello(t, s.id("c"))
	// Several keys, so that the server applies them in parallel and the
	// connection outpaces the refill.
	nkeys := 4
	if mk := s.tg.Limits.MaxKeysPerConn; mk > 0 {
		nkeys = min(nkeys, mk)
	}
	keys := make([]string, nkeys)
	next := map[string]uint64{}
	evs := map[string]int{}
	firstLimited := map[string]uint64{}
	for i := range keys {
		keys[i] = s.id("k")
		c.subscribe(t, s.subMsg(keys[i]))
		next[keys[i]] = 1
	}
	chunk := max(16, burst/4)
	var accepted, limited, gaps int
	var retry int64
	start := time.Now()
	for limited == 0 && time.Since(start) < 10*time.Second {
		frame := make([]Msg, 0, chunk)
		for i := range chunk {
			k := keys[i%nkeys]
			frame = append(frame, mut(k, next[k], "Add", fmt.Sprintf(`{"title":"r%d"}`, next[k])))
			next[k]++
		}
		c.send(t, frame)
		for range chunk {
			m := c.next(t)
			switch {
			case m.T == "ev":
				accepted++
				evs[m.Key]++
			case m.T == "err" && m.Code == "rate_limited":
				limited++
				checkFields(t, m, []string{"t", "key", "mid", "code", "msg", "retry_ms"})
				if m.RetryMs <= 0 {
					t.Errorf("rate_limited without retry_ms > 0: %s", m)
				}
				if rate > 0 {
					namesLimit(t, "mutation rate_limited", m.Text, rate)
				}
				if f := firstLimited[m.Key]; f == 0 || m.Mid < f {
					firstLimited[m.Key] = m.Mid
				}
				retry = max(retry, m.RetryMs)
			case m.T == "err" && m.Code == "mid_gap":
				gaps++ // a later mid of a key whose mid is held at its first rate_limited
			default:
				t.Fatalf("muts in one frame: got %s", m)
			}
		}
	}
	elapsed := time.Since(start)
	t.Logf("%d ev, %d rate_limited (retry_ms up to %d), %d mid_gap in %s", accepted, limited, retry, gaps, elapsed.Round(time.Millisecond))
	if rate > 0 {
		if allowed := float64(burst) + rate*elapsed.Seconds() + 1; float64(accepted) > allowed {
			t.Errorf("%d mutations accepted in %s: over burst %d + %g/s; %s", accepted, elapsed, burst, rate, page("| mutations per connection | 1,000/s, burst 2,000 | `rate_limited` with `retry_ms` |"))
		}
	}
	if limited == 0 {
		if rate > 0 && float64(accepted) <= float64(burst)+rate*elapsed.Seconds()+1 {
			t.Skipf("the server applied %d mutations in %s, no faster than the refill of %g/s: the limit could not be reached", accepted, elapsed, rate)
		}
		t.Fatalf("%d mutations in %s, burst %d: none was rate_limited", accepted, elapsed, burst)
	}
	// The mid did not move: the first refused mid of a key is its next,
	// and after retry_ms it is accepted.
	var key string
	for k, f := range firstLimited {
		if uint64(evs[k]+1) != f {
			t.Errorf("key %s: %d ev, then rate_limited at mid %d", k, evs[k], f)
		}
		key = k
	}
	time.Sleep(time.Duration(min(retry, 5000)+50) * time.Millisecond)
	c.send(t, mut(key, firstLimited[key], "Add", `{"title":"retried"}`))
	c.awaitEv(t, key, firstLimited[key])
}
