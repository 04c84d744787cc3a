package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/internal/fixtures"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// act runs one action on key through REST and returns the new seq.
func act(t *testing.T, s *servertest.Server, key, name string, a map[string]string) uint64 {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"type": todos.ListType.Name, "name": name, "args": a})
	code, out := rest(t, "POST", s.HTTPURL+"/v1/namespaces/default/states/"+key+"/mutations", s.Key, string(b))
	if code != 200 {
		t.Fatalf("POST %s %v: %d %v", name, a, code, out)
	}
	return uint64(out["seq"].(float64))
}

func inspectURL(s *servertest.Server, key, what string, q url.Values) string {
	return s.HTTPURL + "/v1/namespaces/default/states/" + key + "/" + what + "?" + q.Encode()
}

func ops(t *testing.T, out map[string]any) []map[string]any {
	t.Helper()
	var o []map[string]any
	b, _ := json.Marshal(out["ops"])
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestDiffBetweenSeqs(t *testing.T) {
	s := startTodos(t)
	for _, title := range []string{"milk", "eggs", "bread"} {
		act(t, s, "d", "Add", map[string]string{"title": title})
	}
	_, l := stateOf(t, s, "d")
	act(t, s, "d", "Rename", map[string]string{"id": l.Items[1].ID, "title": "free-range eggs"}) // 4
	act(t, s, "d", "Remove", map[string]string{"id": l.Items[0].ID})                             // 5
	act(t, s, "d", "Toggle", map[string]string{"id": l.Items[2].ID})                             // 6

	diff := func(q url.Values) (int, map[string]any) {
		return rest(t, "GET", inspectURL(s, "d", "diff", q), s.Key, "")
	}

	// One field changed: one operation on it, and the one event.
	code, out := diff(url.Values{"from": {"3"}, "to": {"4"}})
	if code != 200 {
		t.Fatalf("diff 3..4: %d %v", code, out)
	}
	o := ops(t, out)
	if len(o) != 1 || o[0]["op"] != "replace" || o[0]["path"] != "/items/1/title" || o[0]["value"] != "free-range eggs" {
		t.Fatalf("diff 3..4 ops %v", o)
	}
	evs := out["events"].([]any)
	if len(evs) != 1 || evs[0].(map[string]any)["name"] != "Rename" || evs[0].(map[string]any)["seq"].(float64) != 4 || out["events_next"] != nil {
		t.Fatalf("diff 3..4 events %v next %v", evs, out["events_next"])
	}

	// Removing the first item is one remove, not a replace of each item
	// after it.
	_, out = diff(url.Values{"from": {"4"}, "to": {"5"}})
	if o := ops(t, out); len(o) != 1 || o[0]["op"] != "remove" || o[0]["path"] != "/items/0" {
		t.Fatalf("diff 4..5 ops %v", o)
	}

	// Without parameters: the last event's diff.
	_, out = diff(nil)
	if o := ops(t, out); out["from"].(float64) != 5 || out["to"].(float64) != 6 || len(o) != 1 || o[0]["path"] != "/items/1/done" {
		t.Fatalf("default diff %v", out)
	}

	// The patch from 0 to 6, applied by another implementation of RFC
	// 6902 to the state at 0, gives the state at 6.
	_, out = diff(url.Values{"from": {"0"}, "to": {"6"}, "limit": {"2"}})
	_, at0 := rest(t, "GET", s.HTTPURL+"/v1/namespaces/default/states/d/at/0", s.Key, "")
	_, at6 := rest(t, "GET", s.HTTPURL+"/v1/namespaces/default/states/d/at/6", s.Key, "")
	p, _ := json.Marshal(out["ops"])
	patch, err := jsonpatch.DecodePatch(p)
	if err != nil {
		t.Fatal(err)
	}
	doc0, _ := json.Marshal(at0["state"])
	doc6, _ := json.Marshal(at6["state"])
	got, err := patch.Apply(doc0)
	if err != nil {
		t.Fatalf("applying %s to %s: %v", p, doc0, err)
	}
	if !jsonpatch.Equal(got, doc6) {
		t.Fatalf("0 + diff = %s, want %s", got, doc6)
	}
	// The events come in pages: limit 2 gives seqs 1 and 2, and where the
	// history goes on.
	if evs := out["events"].([]any); len(evs) != 2 || out["events_next"].(float64) != 2 {
		t.Fatalf("paged events %v next %v", evs, out["events_next"])
	}

	// Bad input.
	for _, tc := range []struct {
		q      url.Values
		status int
		code   string
	}{
		{url.Values{"from": {"5"}, "to": {"4"}}, 400, protocol.CodeBadRequest},
		{url.Values{"from": {"x"}}, 400, protocol.CodeBadRequest},
		{url.Values{"to": {"7"}}, 404, protocol.CodeNotFound},
		{url.Values{"limit": {"0"}}, 400, protocol.CodeBadRequest},
	} {
		if code, out := diff(tc.q); code != tc.status || errCode(out) != tc.code {
			t.Errorf("diff %v: %d %v, want %d %s", tc.q, code, out, tc.status, tc.code)
		}
	}
	if code, out := rest(t, "GET", inspectURL(s, "nope", "diff", nil), s.Key, ""); code != 404 || errCode(out) != protocol.CodeNotFound {
		t.Errorf("diff of a missing key: %d %v", code, out)
	}
	// A key of another namespace may not read this one's.
	other := createKey(t, s, "other", server.RoleAdmin)
	if code, out := rest(t, "GET", inspectURL(s, "d", "diff", nil), other, ""); code != 403 || errCode(out) != protocol.CodeForbidden {
		t.Errorf("diff with another namespace's key: %d %v", code, out)
	}
	if code, out := rest(t, "GET", inspectURL(s, "d", "blame", nil), other, ""); code != 403 || errCode(out) != protocol.CodeForbidden {
		t.Errorf("blame with another namespace's key: %d %v", code, out)
	}
}

type change struct {
	Seq    uint64          `json:"seq"`
	Op     string          `json:"op"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	Event  struct {
		Seq    uint64          `json:"seq"`
		Name   string          `json:"name"`
		Args   json.RawMessage `json:"args"`
		Actor  string          `json:"actor"`
		Client string          `json:"client"`
		Time   int64           `json:"time"`
	} `json:"event"`
}

type blameOut struct {
	Path   string `json:"path"`
	Seq    uint64 `json:"seq"`
	Origin struct {
		Seq   uint64          `json:"seq"`
		Value json.RawMessage `json:"value"`
	} `json:"origin"`
	Complete bool     `json:"complete"`
	Changes  []change `json:"changes"`
	Next     *uint64  `json:"next"`
}

func blameOf(t *testing.T, s *servertest.Server, key string, q url.Values) blameOut {
	t.Helper()
	code, out := rest(t, "GET", inspectURL(s, key, "blame", q), s.Key, "")
	if code != 200 {
		t.Fatalf("blame %v: %d %v", q, code, out)
	}
	var b blameOut
	raw, _ := json.Marshal(out)
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// summary writes changes as "seq op before>after" lines.
func summary(cs []change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%d %s %s>%s", c.Seq, c.Op, c.Before, c.After))
	}
	return out
}

func TestBlameFollowsAPath(t *testing.T) {
	s := startTodos(t)
	for _, title := range []string{"a", "b", "c", "d"} {
		act(t, s, "b", "Add", map[string]string{"title": title})
	}
	_, l := stateOf(t, s, "b")
	act(t, s, "b", "Rename", map[string]string{"id": l.Items[3].ID, "title": "D"}) // 5
	act(t, s, "b", "Remove", map[string]string{"id": l.Items[1].ID})               // 6: c and D shift left
	act(t, s, "b", "Toggle", map[string]string{"id": l.Items[0].ID})               // 7

	for _, tc := range []struct {
		path string
		want string
	}{
		// The path is a place: when item 1 goes, item 3 stops existing.
		{"/items/3/title", `[6 remove "D"> 5 replace "d">"D" 4 add >"d"]`},
		// ... and item 1 is what was item 2.
		{"/items/1/title", `[6 replace "b">"c" 2 add >"b"]`},
		{"/items/0/done", `[7 replace false>true 1 add >false]`},
		// (rest decodes the answer: keys come back sorted)
		{"/items/1", `[6 replace {"done":false,"id":"` + l.Items[1].ID + `","title":"b"}>{"done":false,"id":"` + l.Items[2].ID + `","title":"c"} 2 add >{"done":false,"id":"` + l.Items[1].ID + `","title":"b"}]`},
		// A path that never existed has no changes.
		{"/items/9/title", `[]`},
		{"/nothing", `[]`},
	} {
		b := blameOf(t, s, "b", url.Values{"path": {tc.path}})
		if got := fmt.Sprint(summary(b.Changes)); got != tc.want {
			t.Errorf("blame %s:\n got %s\nwant %s", tc.path, got, tc.want)
		}
		if !b.Complete || b.Origin.Seq != 0 || b.Seq != 7 || b.Path != tc.path || b.Next != nil {
			t.Errorf("blame %s: %+v", tc.path, b)
		}
	}
	// Each change carries its event.
	b := blameOf(t, s, "b", url.Values{"path": {"/items/3/title"}})
	if e := b.Changes[1].Event; e.Seq != 5 || e.Name != "Rename" || e.Actor != "dev" || e.Time == 0 || string(e.Args) != `{"id":"`+l.Items[3].ID+`","title":"D"}` {
		t.Errorf("the event of seq 5: %+v", e)
	}
	// The whole document is a path too.
	if b := blameOf(t, s, "b", url.Values{"path": {""}}); len(b.Changes) != 7 || b.Changes[6].Op != "replace" {
		t.Errorf("blame of the whole state: %v", summary(b.Changes))
	}

	// Pages, newest first: limit 1, then before=next.
	var seqs []uint64
	q := url.Values{"path": {"/items/3/title"}, "limit": {"1"}}
	for range 5 {
		b := blameOf(t, s, "b", q)
		for _, c := range b.Changes {
			seqs = append(seqs, c.Seq)
		}
		if b.Next == nil {
			break
		}
		q.Set("before", fmt.Sprint(*b.Next))
	}
	if fmt.Sprint(seqs) != "[6 5 4]" {
		t.Errorf("paged blame: %v", seqs)
	}

	for _, tc := range []struct {
		q    url.Values
		code string
	}{
		{url.Values{"path": {"items"}}, protocol.CodeBadRequest},
		{url.Values{"path": {"/items/~2"}}, protocol.CodeBadRequest},
		{url.Values{"path": {"/items"}, "limit": {"1001"}}, protocol.CodeBadRequest},
		{url.Values{"path": {"/items"}, "before": {"-1"}}, protocol.CodeBadRequest},
	} {
		if code, out := rest(t, "GET", inspectURL(s, "b", "blame", tc.q), s.Key, ""); code != 400 || errCode(out) != tc.code {
			t.Errorf("blame %v: %d %v", tc.q, code, out)
		}
	}
}

// TestInspectCompactedLog: once a key's log is compacted, blame starts at
// the oldest snapshot and says so; a diff that needs compacted events is
// an honest 410.
func TestInspectCompactedLog(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) {
		c.SnapshotEvery = 10
		c.KeepEvents = 2
	}))
	for i := 1; i <= 25; i++ {
		act(t, s, "k", "Add", map[string]string{"title": fmt.Sprint(i)})
	}
	_, l := stateOf(t, s, "k")
	act(t, s, "k", "Rename", map[string]string{"id": l.Items[4].ID, "title": "five"}) // 26

	if code, out := rest(t, "GET", inspectURL(s, "k", "diff", url.Values{"from": {"3"}, "to": {"26"}}), s.Key, ""); code != 410 || errCode(out) != protocol.CodeCompacted {
		t.Errorf("diff across compacted events: %d %v", code, out)
	}
	code, out := rest(t, "GET", inspectURL(s, "k", "diff", url.Values{"from": {"20"}, "to": {"26"}}), s.Key, "")
	if code != 200 || len(out["events"].([]any)) != 6 {
		t.Fatalf("diff from the last snapshot: %d %v", code, out)
	}

	b := blameOf(t, s, "k", url.Values{"path": {"/items/4/title"}})
	if b.Complete || b.Origin.Seq != 20 || string(b.Origin.Value) != `"5"` {
		t.Errorf("blame of a compacted log: complete %v origin %+v", b.Complete, b.Origin)
	}
	if got := fmt.Sprint(summary(b.Changes)); got != `[26 replace "5">"five"]` {
		t.Errorf("blame of a compacted log: %s", got)
	}
	// Items added after the origin are there from their add.
	b = blameOf(t, s, "k", url.Values{"path": {"/items/22/title"}})
	if got := fmt.Sprint(summary(b.Changes)); got != `[23 add >"23"]` || b.Origin.Value != nil {
		t.Errorf("blame of an item added after the origin: %s, origin %+v", got, b.Origin)
	}
}

// TestInspectorIsOffByDefault: the page is served only with Inspect.
func TestInspectorIsOffByDefault(t *testing.T) {
	s := startTodos(t)
	code, out := rest(t, "GET", s.HTTPURL+"/inspect/", "", "")
	if code != 404 || !strings.Contains(fmt.Sprint(out), "--inspect") {
		t.Fatalf("GET /inspect/ without Inspect: %d %v", code, out)
	}
	on := startTodos(t, servertest.Config(func(c *server.Config) { c.Inspect = true }))
	for _, path := range []string{"/inspect/", "/inspect/inspector.js", "/inspect/inspector.css"} {
		resp, err := http.Get(on.HTTPURL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) < 1000 || resp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("GET %s with Inspect: %d, %d bytes, %v", path, resp.StatusCode, len(b), resp.Header)
		}
	}
}

// TestInspectBounds: blame stops at --blame-bytes of values looked at,
// and says so; a diff of a long list is index by index (the LCS table
// would be quadratic in its length), of a short one item by item.
func TestInspectBounds(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) { c.Limits.BlameBytes = 2000 }))
	for i := range 20 {
		act(t, s, "k", "Add", map[string]string{"title": fmt.Sprint("item ", i)})
	}
	code, out := rest(t, "GET", inspectURL(s, "k", "blame", url.Values{"path": {""}}), s.Key, "")
	if code != 400 || errCode(out) != protocol.CodeBadRequest || !strings.Contains(fmt.Sprint(out), "--blame-bytes") {
		t.Fatalf("blame of the whole state over the budget: %d %v", code, out)
	}
	if b := blameOf(t, s, "k", url.Values{"path": {"/items/3/title"}}); len(b.Changes) != 1 {
		t.Fatalf("blame of a leaf: %v", summary(b.Changes))
	}

	long := startTodos(t)
	const n = 400 // over diffLCSItems
	for i := range n {
		act(t, long, "long", "Add", map[string]string{"title": fmt.Sprint(i)})
	}
	_, l := stateOf(t, long, "long")
	act(t, long, "long", "Remove", map[string]string{"id": l.Items[0].ID})
	code, out = rest(t, "GET", inspectURL(long, "long", "diff", url.Values{"from": {fmt.Sprint(n)}, "to": {fmt.Sprint(n + 1)}}), long.Key, "")
	if o := ops(t, out); code != 200 || len(o) < n/2 {
		t.Fatalf("diff of a removal from a %d-item list: %d, %d ops", n, code, len(o))
	}
}

// TestLongReadsOfOneNamespaceDoNotStallAnother: three long blames in one
// namespace run one at a time, so another namespace's history page is
// answered while they run, not after them.
func TestLongReadsOfOneNamespaceDoNotStallAnother(t *testing.T) {
	path := filepath.Join(t.TempDir(), "long.db")
	if err := fixtures.TodosLog(path, "long", 100000, time.Now()); err != nil {
		t.Fatal(err)
	}
	s := startTodos(t, servertest.DBPath(path))
	other := createKey(t, s, "other", server.RoleAdmin)
	body := `{"type":"todos.List","name":"Add","args":{"title":"x"}}`
	if code, out := rest(t, "POST", s.HTTPURL+"/v1/namespaces/other/states/k/mutations", other, body); code != 200 {
		t.Fatalf("write in other: %d %v", code, out)
	}
	// The key's room loads first (the read rule needs its state), so
	// that the blames below wait only for their turns.
	if code, out := rest(t, "GET", s.HTTPURL+"/v1/namespaces/default/states/long", s.Key, ""); code != 200 {
		t.Fatalf("GET long: %d %v", code, out)
	}
	done := make(chan string, 4)
	for i := range 3 {
		go func() {
			code, _ := rest(t, "GET", inspectURL(s, "long", "blame", url.Values{"path": {"/items/50"}, "limit": {"1"}}), s.Key, "")
			done <- fmt.Sprintf("blame %d: %d", i, code)
		}()
	}
	time.Sleep(100 * time.Millisecond) // the blames are queued or running
	go func() {
		code, _ := rest(t, "GET", s.HTTPURL+"/v1/namespaces/other/states/k/history", other, "")
		done <- fmt.Sprintf("history: %d", code)
	}()
	var order []string
	for range 4 {
		order = append(order, <-done)
	}
	if i := slices.IndexFunc(order, func(s string) bool { return strings.HasPrefix(s, "history") }); i < 0 || i > 1 || order[i] != "history: 200" {
		t.Fatalf("answers in order %v: the other namespace's history waited for the blames", order)
	}
	t.Logf("answers in order %v", order)
}
