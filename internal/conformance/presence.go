// This file holds the presence cases: pset, presence, the tick, leaving,
// the limits and the REST listing.

package conformance

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func pset(key, name string) Msg {
	m := Msg{T: "pset", Key: key, Data: json.RawMessage("null")}
	if name != "" {
		m.Data, _ = json.Marshal(map[string]string{"name": name})
	}
	return m
}

// presenceSub subscribes with presence and returns the whole set that
// must follow synced.
func (c *wsConn) presenceSub(t *testing.T, s *suite, key string) Msg {
	t.Helper()
	sub := s.subMsg(key)
	sub.Presence = true
	c.subscribe(t, sub)
	m, _ := c.await(t, "the presence set of "+key, func(m Msg) bool { return m.Key == key && (m.T == "presence" || m.T == "err") })
	if m.T != "presence" || !m.Full {
		t.Fatalf("after synced: %s; %s", m, page("A subscription with `presence:true` gets, right after its `synced`, one `presence` with `full:true` listing every member (possibly none)"))
	}
	checkFields(t, m, []string{"t", "key", "full"}, "members")
	return m
}

// awaitMember reads presence messages of key until one has client's
// entry, and returns the entry and how many presence messages held it.
func (c *wsConn) awaitMember(t *testing.T, key, client string, want func(Member) bool) (Member, int) {
	t.Helper()
	n := 0
	for {
		m, _ := c.await(t, "presence of "+client, func(m Msg) bool { return m.T == "presence" && m.Key == key })
		for _, mb := range m.Members {
			if mb.Client == client {
				n++
				if want(mb) {
					return mb, n
				}
			}
		}
	}
}

func (c *wsConn) awaitLeft(t *testing.T, key, client string) {
	t.Helper()
	c.await(t, client+" leaving", func(m Msg) bool { return m.T == "presence" && m.Key == key && slices.Contains(m.Left, client) })
}

func nameOf(mb Member) string {
	var v struct {
		Name string `json:"name"`
	}
	json.Unmarshal(mb.Data, &v)
	return v.Name
}

func testPresence(t *testing.T, s *suite) {
	key := s.id("k")
	ida, idb := s.id("c"), s.id("c")
	a, wa := s.hello(t, ida)
	b, _ := s.hello(t, idb)
	if set := a.presenceSub(t, s, key); len(set.Members) != 0 {
		t.Fatalf("the set of a new key: %s", set)
	}
	b.presenceSub(t, s, key)

	// Join: every subscriber with presence hears it, with the actor.
	a.send(t, pset(key, "ann"))
	for _, c := range []*wsConn{a, b} {
		mb, _ := c.awaitMember(t, key, ida, func(Member) bool { return true })
		if nameOf(mb) != "ann" || mb.Actor != wa.Actor {
			t.Fatalf("join: %+v (actor want %q); %s", mb, wa.Actor, page("A member is identified by its client id; its `actor` is its key's"))
		}
	}
	// Three updates sent together: the last value arrives, and not each.
	b.send(t, []Msg{pset(key, "b1"), pset(key, "b2"), pset(key, "bob")})
	mb, n := a.awaitMember(t, key, idb, func(mb Member) bool { return nameOf(mb) == "bob" })
	if n > 2 {
		t.Errorf("three updates within a tick came as %d; %s", n, page("the last value of each member in the tick; earlier values of the tick are never sent"))
	}
	if mb.Actor == "" {
		t.Errorf("the first appearance of a member without its actor: %+v", mb)
	}
	// A known member's update leaves its actor out.
	a.send(t, pset(key, "ann2"))
	if mb, _ := b.awaitMember(t, key, ida, func(Member) bool { return true }); mb.Actor != "" || nameOf(mb) != "ann2" {
		t.Errorf("an update of a known member: %+v; %s", mb, page("later updates leave it out"))
	}

	// A later subscriber gets the whole set, actors included; one that
	// did not ask gets no presence.
	c, _ := s.hello(t, s.id("c"))
	set := c.presenceSub(t, s, key)
	var names []string
	for _, mb := range set.Members {
		if mb.Actor == "" {
			t.Errorf("a member of the whole set without its actor: %+v", mb)
		}
		names = append(names, nameOf(mb))
	}
	if slices.Sort(names); fmt.Sprint(names) != "[ann2 bob]" {
		t.Errorf("the whole set: %s", set)
	}
	idd := s.id("c")
	d, _ := s.hello(t, idd)
	d.subscribe(t, s.subMsg(key))
	d.send(t, pset(key, "dan"))
	c.awaitMember(t, key, idd, func(Member) bool { return true })
	d.quiet(t, "a subscription without presence", nil)

	var listed struct {
		Key     string   `json:"key"`
		Members []Member `json:"members"`
	}
	s.restOK(t, "GET", s.statePath(key)+"/presence", s.tg.Key, nil, &listed)
	if listed.Key != key || len(listed.Members) != 3 || !slices.IsSortedFunc(listed.Members, func(x, y Member) int { return strings.Compare(x.Client, y.Client) }) {
		t.Errorf("GET .../presence: %+v", listed)
	}

	// Leaving: cleared, unsubscribed, closed.
	a.send(t, pset(key, ""))
	c.awaitLeft(t, key, ida)
	b.send(t, Msg{T: "unsub", Key: key})
	c.awaitLeft(t, key, idb)
	d.Close()
	c.awaitLeft(t, key, idd)
	var st stateBody
	s.restOK(t, "GET", s.statePath(key), s.tg.Key, nil, &st)
	if st.Seq != 0 {
		t.Errorf("presence moved the log to seq %d; %s", st.Seq, page("the server keeps it in memory only, never in the log"))
	}
}

func testPresenceLimits(t *testing.T, s *suite) {
	key := s.id("k")
	c, _ := s.hello(t, s.id("c"))
	c.send(t, pset(key, "x"))
	c.expectErr(t, "not_subscribed", key, nil)
	c.presenceSub(t, s, key)
	max := s.tg.Limits.MaxPresenceBytes
	if max == 0 {
		max = 2048
	}
	big := pset(key, strings.Repeat("n", max))
	c.send(t, big)
	e := c.expectErr(t, "presence_too_large", key, nil)
	namesLimit(t, "presence_too_large", e.Text, max)
	c.send(t, Msg{T: "pset", Key: key, Data: json.RawMessage(`{"name":7}`)})
	c.expectErr(t, "bad_presence", key, nil)

	rate := s.tg.Limits.PresencePerSecond
	if rate == 0 {
		rate = 30
	}
	var burst []Msg
	for i := range int(rate) + 2 {
		burst = append(burst, pset(key, fmt.Sprint("p", i)))
	}
	c.send(t, burst)
	e = c.expectErr(t, "rate_limited", key, func(m Msg) bool { return m.T == "presence" })
	if e.RetryMs <= 0 {
		t.Errorf("rate_limited without retry_ms: %s", e)
	}
}

func testPresenceDeadPeer(t *testing.T, s *suite) {
	ping := s.tg.Limits.PingInterval
	if ping == 0 || ping > 10*time.Second {
		t.Skip("needs a short Limits.PingInterval (-conformance.ping)")
	}
	key := s.id("k")
	w, _ := s.hello(t, s.id("c"))
	w.presenceSub(t, s, key)
	dead := s.id("c")
	r := s.rawDial(t)
	for _, m := range []Msg{{T: "hello", V: protocolVersion, Client: dead}, s.subMsg(key), pset(key, "ghost")} {
		b, _ := json.Marshal(m)
		if err := r.write(0x1, b); err != nil {
			t.Fatal(err)
		}
	}
	w.awaitMember(t, key, dead, func(Member) bool { return true })
	start := time.Now()
	w.awaitLeft(t, key, dead)
	t.Logf("a peer that answers no ping left after %s", time.Since(start).Round(time.Millisecond))
}
