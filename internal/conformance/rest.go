// This file holds the REST cases: healthz, types, auth errors, state,
// history, mutations, the admin listing, delete and CORS.

package conformance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
)

func testHealthz(t *testing.T, s *suite) {
	st, _, body := s.rest(t, "GET", "/healthz", "", nil)
	if st != http.StatusOK {
		t.Fatalf("GET /healthz: %d %s", st, body)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("GET /healthz: %v: %s", err, body)
	}
	for _, f := range []string{"status", "protocol", "types", "connections", "rooms"} {
		if _, ok := h[f]; !ok {
			t.Errorf("GET /healthz without %q: %s", f, body)
		}
	}
	var v struct {
		Status      string   `json:"status"`
		Protocol    int      `json:"protocol"`
		Types       []string `json:"types"`
		Connections *int     `json:"connections"`
		Rooms       *int     `json:"rooms"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("GET /healthz: %v: %s", err, body)
	}
	if v.Status != "ok" || v.Protocol != protocolVersion || !slices.Contains(v.Types, typeName) || v.Connections == nil || v.Rooms == nil {
		t.Errorf("GET /healthz: %s", body)
	}
	var extra []string
	for f := range h {
		if !slices.Contains([]string{"status", "protocol", "types", "connections", "rooms", "storage"}, f) {
			extra = append(extra, f)
		}
	}
	if len(extra) > 0 {
		t.Logf("note: GET /healthz has fields the page does not list: %v", extra)
	}
}

func testTypes(t *testing.T, s *suite) {
	st, _, body := s.rest(t, "GET", "/v1/types", s.tg.Key, nil)
	if st != http.StatusOK {
		t.Fatalf("GET /v1/types: %d", st)
	}
	var raw struct {
		Types []map[string]json.RawMessage `json:"types"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, ti := range raw.Types {
		for _, f := range []string{"name", "fingerprint", "shape", "actions", "schema"} {
			if _, ok := ti[f]; !ok {
				t.Errorf("GET /v1/types: a type without %q", f)
			}
		}
	}
	for _, ti := range s.types {
		if ti.Name != typeName {
			continue
		}
		if fmt.Sprint(ti.Actions) != "[Add ClearDone Remove Rename Share Toggle Unshare]" {
			t.Errorf("actions %v", ti.Actions)
		}
		var sch struct {
			State   json.RawMessage            `json:"state"`
			Actions map[string]json.RawMessage `json:"actions"`
			Defs    json.RawMessage            `json:"$defs"`
		}
		if err := json.Unmarshal(ti.Schema, &sch); err != nil || sch.State == nil || sch.Actions["Add"] == nil || sch.Defs == nil {
			t.Errorf("schema %s, want {\"state\":…,\"actions\":{\"Add\":…},\"$defs\":…}", ti.Schema)
		}
		if fingerprintOf(ti.Shape) != ti.Fingerprint {
			t.Errorf("fingerprint %s is not the SHA-256 prefix of the shape (%s)", ti.Fingerprint, fingerprintOf(ti.Shape))
		}
		for _, line := range []string{"field bool items[].done", "action Add(title string)"} {
			if !slices.Contains(strings.Split(ti.Shape, "\n"), line) {
				t.Errorf("the shape has no line %q: %q", line, ti.Shape)
			}
		}
	}
}

func testRESTAuth(t *testing.T, s *suite) {
	st, _, body := s.rest(t, "GET", "/v1/types", "", nil)
	expectRESTError(t, "GET /v1/types without a key", st, body, http.StatusUnauthorized, "unauthorized")
	st, _, body = s.rest(t, "GET", "/v1/types", "bs_nope_nope", nil)
	expectRESTError(t, "GET /v1/types with a wrong key", st, body, http.StatusUnauthorized, "unauthorized")
	st, _, body = s.rest(t, "GET", "/v1/namespaces/not-"+defaultNamespace+"/states/x", s.tg.Key, nil)
	expectRESTError(t, "a state of another namespace", st, body, http.StatusForbidden, "forbidden")
	if s.tg.OtherKey != "" {
		// "the listing endpoints need an admin key"; DELETE is marked (admin) too.
		st, _, body = s.rest(t, "GET", "/v1/namespaces", s.tg.OtherKey, nil)
		expectRESTError(t, "GET /v1/namespaces with a client key", st, body, http.StatusForbidden, "forbidden")
		st, _, body = s.rest(t, "GET", "/v1/namespaces/"+defaultNamespace+"/states", s.tg.OtherKey, nil)
		expectRESTError(t, "GET states listing with a client key", st, body, http.StatusForbidden, "forbidden")
		key := s.id("k")
		s.restAdd(t, key, "x")
		st, _, body = s.rest(t, "DELETE", s.statePath(key), s.tg.OtherKey, nil)
		expectRESTError(t, "DELETE with a client key", st, body, http.StatusForbidden, "forbidden")
		// A client key reads and writes single keys.
		s.restOK(t, "GET", s.statePath(key), s.tg.OtherKey, nil, nil)
		s.restOK(t, "GET", "/v1/types", s.tg.OtherKey, nil, nil)
	}
}

func testRESTState(t *testing.T, s *suite) {
	key := s.id("k")
	st, _, body := s.rest(t, "GET", s.statePath(key), s.tg.Key, nil)
	expectRESTError(t, "GET a state that does not exist", st, body, http.StatusNotFound, "not_found")
	if seq := s.restAdd(t, key, "first"); seq != 1 {
		t.Errorf("the first REST mutation of a new key: seq %d", seq)
	}
	var sb stateBody
	raw := s.restOK(t, "GET", s.statePath(key), s.tg.Key, nil, &sb)
	if f := fields(raw); fmt.Sprint(f) != "[epoch key seq state type]" {
		t.Errorf("GET state fields %v, want key, type, seq, epoch, state: %s", f, raw)
	}
	if sb.Key != key || sb.Type != typeName || sb.Seq != 1 || sb.Epoch == "" || fmt.Sprint(decodeList(t, sb.State).titles()) != "[first]" {
		t.Errorf("GET state: %s", raw)
	}
}

func testHistory(t *testing.T, s *suite) {
	client := s.id("c")
	c, w := s.hello(t, client)
	key := s.id("k")
	c.subscribe(t, s.subMsg(key))
	evs := c.addN(t, key, 1, 2)
	s.restAdd(t, key, "by rest")
	type page1 struct {
		Events []map[string]json.RawMessage `json:"events"`
		Next   *uint64                      `json:"next"`
	}
	var p page1
	raw := s.restOK(t, "GET", s.statePath(key)+"/history?limit=2", s.tg.Key, nil, &p)
	if len(p.Events) != 2 || p.Next == nil || *p.Next != 2 {
		t.Fatalf("history limit 2 of 3: %s, want 2 events and next 2", raw)
	}
	for i, e := range p.Events {
		var names []string
		for k := range e {
			names = append(names, k)
		}
		sort.Strings(names)
		if fmt.Sprint(names) != "[actor args client mid name seq time]" {
			t.Errorf("history event fields %v, want seq, client, mid, name, args, time, actor", names)
		}
		var ev struct {
			Seq    uint64          `json:"seq"`
			Client string          `json:"client"`
			Mid    uint64          `json:"mid"`
			Name   string          `json:"name"`
			Args   json.RawMessage `json:"args"`
			Time   int64           `json:"time"`
			Actor  string          `json:"actor"`
		}
		b, _ := json.Marshal(e)
		json.Unmarshal(b, &ev)
		want := evs[i]
		if ev.Seq != want.Seq || ev.Client != client || ev.Mid != want.Mid || ev.Name != "Add" || !jsonEqual(ev.Args, want.Args) || ev.Time != want.Time || ev.Actor != w.Actor {
			t.Errorf("history event %s, want the ev %s", b, want)
		}
	}
	raw = s.restOK(t, "GET", s.statePath(key)+"/history?after=2&limit=2", s.tg.Key, nil, &p)
	if len(p.Events) != 1 || p.Next != nil {
		t.Errorf("history after 2: %s, want 1 event and next null", raw)
	}
	raw = s.restOK(t, "GET", s.statePath(key)+"/history?after=3", s.tg.Key, nil, &p)
	if len(p.Events) != 0 || p.Next != nil {
		t.Errorf("history after the head: %s, want no events and next null", raw)
	}
	for _, q := range []string{"limit=0", "limit=1001"} {
		st, _, body := s.rest(t, "GET", s.statePath(key)+"/history?"+q, s.tg.Key, nil)
		expectRESTError(t, "history "+q, st, body, 0, "bad_request")
	}
	st, _, body := s.rest(t, "GET", s.statePath(s.id("k"))+"/history", s.tg.Key, nil)
	expectRESTError(t, "history of a key that does not exist", st, body, http.StatusNotFound, "not_found")
}

func testAtSeq(t *testing.T, s *suite) {
	key := s.id("k")
	s.restAdd(t, key, "a")
	s.restAdd(t, key, "b")
	var head stateBody
	s.restOK(t, "GET", s.statePath(key), s.tg.Key, nil, &head)
	for seq, want := range map[uint64]string{0: "[]", 1: "[a]", 2: "[a b]"} {
		var sb stateBody
		raw := s.restOK(t, "GET", fmt.Sprintf("%s/at/%d", s.statePath(key), seq), s.tg.Key, nil, &sb)
		if f := fields(raw); fmt.Sprint(f) != "[epoch key seq state type]" {
			t.Errorf("at/%d fields %v: %s", seq, f, raw)
		}
		if sb.Key != key || sb.Type != typeName || sb.Seq != seq || sb.Epoch != head.Epoch || fmt.Sprint(decodeList(t, sb.State).titles()) != want {
			t.Errorf("at/%d: %s, want titles %s", seq, raw, want)
		}
	}
	st, _, body := s.rest(t, "GET", s.statePath(key)+"/at/3", s.tg.Key, nil)
	expectRESTError(t, "at/3 beyond the head 2", st, body, http.StatusNotFound, "not_found")
}

func testRESTMutationBroadcast(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	c.subscribe(t, s.subMsg(key))
	seq := s.restAdd(t, key, "from rest")
	ev, _ := c.await(t, "the REST mutation's ev", func(m Msg) bool { return m.T == "ev" && m.Key == key })
	checkFields(t, ev, []string{"t", "key", "seq", "name", "args", "time", "actor"}, "hash")
	if ev.Seq != seq || ev.Client != "" || ev.Mid != 0 || ev.Name != "Add" || !jsonEqual(ev.Args, []byte(`{"title":"from rest"}`)) {
		t.Errorf("ev of a REST mutation: %s; %s", ev, page("an `ev` made by a REST mutation without a client has no `client` and no `mid`"))
	}
	// Without type, an existing key is fine; a missing one is 404.
	var out struct {
		Seq uint64 `json:"seq"`
	}
	s.restOK(t, "POST", s.statePath(key)+"/mutations", s.tg.Key, map[string]any{"name": "ClearDone"}, &out)
	if out.Seq != seq+1 {
		t.Errorf("a mutation without type on an existing key: seq %d", out.Seq)
	}
	st, _, body := s.rest(t, "POST", s.statePath(s.id("k"))+"/mutations", s.tg.Key, map[string]any{"name": "ClearDone"})
	expectRESTError(t, "a mutation without type on a missing key", st, body, http.StatusNotFound, "not_found")
}

func testRESTMutationIdempotent(t *testing.T, s *suite) {
	key := s.id("k")
	client := s.id("c")
	post := func(mid uint64, name, title string) (int, []byte) {
		st, _, body := s.rest(t, "POST", s.statePath(key)+"/mutations", s.tg.Key,
			map[string]any{"type": typeName, "name": name, "args": map[string]string{"title": title}, "client": client, "mid": mid})
		return st, body
	}
	st, body := post(1, "Add", "one")
	if st != http.StatusOK || !jsonEqual(body, []byte(`{"seq":1}`)) {
		t.Fatalf("REST mutation mid 1: %d %s, want {\"seq\":1}", st, body)
	}
	st, body = post(1, "Add", "one")
	if st != http.StatusOK || !jsonEqual(body, []byte(`{"seq":1,"duplicate":true}`)) {
		t.Errorf("retry of mid 1: %d %s, want {\"seq\":1,\"duplicate\":true}", st, body)
	}
	st, body = post(1, "Add", "other")
	expectRESTError(t, "retry of mid 1 with other args", st, body, http.StatusConflict, "args_differ")
	st, body = post(3, "Add", "three")
	e := expectRESTError(t, "mid 3 after 1", st, body, http.StatusConflict, "mid_gap")
	if !strings.Contains(e.Error.Message, "2") {
		t.Errorf("mid_gap does not name the expected mid 2: %s", body)
	}
	st, body = post(2, "Add", " ")
	expectRESTError(t, "an action's refusal", st, body, http.StatusUnprocessableEntity, "empty_title")
	st, body = post(2, "Add", " ")
	expectRESTError(t, "retry of a refused mutation", st, body, http.StatusConflict, "duplicate")
	// The WebSocket side sees the same mids.
	c, _ := s.hello(t, client)
	_, synced := c.subscribe(t, s.subMsg(key))
	if synced.Mid != 2 || synced.Seq != 1 {
		t.Errorf("synced after REST mids 1 (applied) and 2 (refused): %s, want seq 1 mid 2", synced)
	}
}

func testRESTMutationErrors(t *testing.T, s *suite) {
	key := s.id("k")
	path := s.statePath(key) + "/mutations"
	for _, tc := range []struct {
		what   string
		body   any
		status int
		code   string
	}{
		{"client without mid", map[string]any{"type": typeName, "name": "Add", "args": map[string]string{"title": "x"}, "client": s.id("c")}, 400, "bad_request"},
		{"mid of 2^63", []byte(`{"type":"todos.List","name":"Add","args":{"title":"x"},"client":"` + s.id("c") + `","mid":9223372036854775808}`), 400, "bad_request"},
		{"not JSON", []byte(`nope`), 400, "bad_request"},
		{"bad args", map[string]any{"type": typeName, "name": "Add", "args": map[string]string{"TITLE": "x"}}, 0, "bad_args"},
		{"unknown action", map[string]any{"type": typeName, "name": "Explode", "args": map[string]string{}}, 0, "unknown_action"},
	} {
		st, _, body := s.rest(t, "POST", path, s.tg.Key, tc.body)
		expectRESTError(t, tc.what, st, body, tc.status, tc.code)
	}
	st, _, body := s.restH(t, "POST", path, s.tg.Key, []byte(`{"name":"Add"}`), http.Header{"Content-Type": {"text/plain"}})
	expectRESTError(t, "a text/plain body", st, body, 0, "unsupported_media_type")
	if limit := s.tg.Limits.MaxFrameBytes; limit > 0 && limit < 64<<20 {
		big := fmt.Appendf(nil, `{"type":"todos.List","name":"Add","args":{"title":"%s"}}`, strings.Repeat("x", int(limit)))
		st, _, body := s.rest(t, "POST", path, s.tg.Key, big)
		e := expectRESTError(t, "a body over --max-frame", st, body, http.StatusRequestEntityTooLarge, "frame_too_large")
		namesLimit(t, "REST frame_too_large", e.Error.Message, limit)
	}
}

func testAdminListing(t *testing.T, s *suite) {
	var ns struct {
		Namespaces []string `json:"namespaces"`
	}
	s.restOK(t, "GET", "/v1/namespaces", s.tg.Key, nil, &ns)
	if fmt.Sprint(ns.Namespaces) != "["+defaultNamespace+"]" {
		t.Errorf("GET /v1/namespaces: %v, want [default]", ns.Namespaces)
	}
	prefix := s.id("list")
	for i := range 3 {
		s.restAdd(t, fmt.Sprintf("%s-%d", prefix, i), "x")
	}
	var p struct {
		States []map[string]json.RawMessage `json:"states"`
		Next   *string                      `json:"next"`
	}
	raw := s.restOK(t, "GET", "/v1/namespaces/"+defaultNamespace+"/states?prefix="+prefix+"&limit=2", s.tg.Key, nil, &p)
	if len(p.States) != 2 || p.Next == nil || *p.Next != prefix+"-1" {
		t.Fatalf("states limit 2 of 3: %s, want 2 and next %q", raw, prefix+"-1")
	}
	for _, st := range p.States {
		for _, f := range []string{"key", "type", "seq", "epoch", "updated_at"} {
			if _, ok := st[f]; !ok {
				t.Errorf("a state listing without %q: %s", f, raw)
			}
		}
	}
	raw = s.restOK(t, "GET", "/v1/namespaces/"+defaultNamespace+"/states?prefix="+prefix+"&after="+*p.Next, s.tg.Key, nil, &p)
	if len(p.States) != 1 || p.Next != nil {
		t.Errorf("states after %s: %s, want 1 and next null", prefix+"-1", raw)
	}
}

func testDelete(t *testing.T, s *suite) {
	c, _ := s.hello(t, s.id("c"))
	key := s.id("k")
	_, first := c.subscribe(t, s.subMsg(key))
	c.addN(t, key, 1, 2)
	var out map[string]string
	s.restOK(t, "DELETE", s.statePath(key), s.tg.Key, nil, &out)
	if out["deleted"] != key {
		t.Errorf("DELETE: %v", out)
	}
	m, _ := c.await(t, "err reset", func(m Msg) bool { return m.T == "err" })
	if m.Code != "reset" || m.Key != key || m.Fatal {
		t.Errorf("after DELETE the subscriber got %s, want err reset with key", m)
	}
	checkFields(t, m, []string{"t", "key", "code", "msg"})
	// Subscribing again starts over: new epoch; the old cursor gets a snap at 0.
	sub := s.subMsg(key)
	sub.After, sub.Epoch = 2, first.Epoch
	before, synced := c.subscribe(t, sub)
	if synced.Epoch == first.Epoch || synced.Seq != 0 || synced.Mid != 0 {
		t.Errorf("synced after a delete: %s, want a new epoch, no seq, no mid", synced)
	}
	if len(before) != 1 || before[0].T != "snap" || before[0].Seq != 0 {
		t.Errorf("sub with the old cursor after a delete: %v, want a snap at seq 0", before)
	}
	// Mids start over at 1.
	c.send(t, mut(key, 1, "Add", `{"title":"anew"}`))
	c.awaitEv(t, key, 1)
	st, _, body := s.rest(t, "DELETE", s.statePath(s.id("k")), s.tg.Key, nil)
	expectRESTError(t, "DELETE of a missing key", st, body, http.StatusNotFound, "not_found")
}

func testCORS(t *testing.T, s *suite) {
	if s.tg.AllowedOrigin == "" {
		t.Skip("needs Target.AllowedOrigin, a host of the server's --allowed-origins (-conformance.allowed-origin)")
	}
	origin := "https://" + s.tg.AllowedOrigin
	st, hdr, body := s.restH(t, "OPTIONS", "/v1/types", "", nil, http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"GET"}})
	if st != http.StatusNoContent {
		t.Errorf("preflight from %s: %d %s, want 204", origin, st, body)
	}
	if got := hdr.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("preflight: Access-Control-Allow-Origin %q, want %q", got, origin)
	}
	methods := hdr.Get("Access-Control-Allow-Methods")
	for _, m := range []string{"GET", "POST", "DELETE"} {
		if !strings.Contains(methods, m) {
			t.Errorf("preflight: Access-Control-Allow-Methods %q lacks %s", methods, m)
		}
	}
	headers := strings.ToLower(hdr.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"authorization", "content-type"} {
		if !strings.Contains(headers, h) {
			t.Errorf("preflight: Access-Control-Allow-Headers %q lacks %s", headers, h)
		}
	}
	_, hdr, _ = s.restH(t, "GET", "/v1/types", s.tg.Key, nil, http.Header{"Origin": {origin}})
	if got := hdr.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("GET from %s: Access-Control-Allow-Origin %q", origin, got)
	}
	_, hdr, _ = s.restH(t, "GET", "/v1/types", s.tg.Key, nil, http.Header{"Origin": {"https://evil.invalid"}})
	if got := hdr.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("GET from a foreign origin: Access-Control-Allow-Origin %q, want none", got)
	}
}
