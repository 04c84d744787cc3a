package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/better-state/better-state/examples/counter"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server/servertest"
	"github.com/better-state/better-state/runtime/storage"
)

func TestRESTMutationsHistoryAndStateAt(t *testing.T) {
	s := startTodos(t)
	base := s.HTTPURL + "/v1/namespaces/default/states/shop"
	// A WebSocket subscriber hears REST mutations.
	ws := connect(t, s, "watcher")

	// Without a type, a missing key cannot be created.
	code, out := rest(t, "POST", base+"/mutations", s.Key, `{"name":"Add","args":{"title":"milk"}}`)
	if code != 404 || errCode(out) != protocol.CodeNotFound {
		t.Fatalf("POST without type on a new key: %d %v", code, out)
	}
	code, out = rest(t, "POST", base+"/mutations", s.Key, `{"type":"todos.List","name":"Add","args":{"title":"milk"}}`)
	if code != 200 || out["seq"].(float64) != 1 {
		t.Fatalf("POST: %d %v", code, out)
	}
	ws.subTodos("shop", 0, "")
	if ev := ws.expect(protocol.TEv); ev.Name != "Add" || ev.Seq != 1 {
		t.Fatalf("catch-up %+v", ev)
	}
	ws.expect(protocol.TSynced)
	for _, title := range []string{"eggs", "bread"} {
		code, out = rest(t, "POST", base+"/mutations", s.Key, fmt.Sprintf(`{"name":"Add","args":{"title":%q}}`, title))
		if code != 200 {
			t.Fatalf("POST: %d %v", code, out)
		}
		if ev := ws.expect(protocol.TEv); string(ev.Args) != fmt.Sprintf(`{"title":%q}`, title) {
			t.Fatalf("live ev %+v", ev)
		}
	}
	// Bad REST input: each with its code, nothing appended.
	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"name":`, 400, protocol.CodeBadRequest},
		{`{"args":{}}`, 400, protocol.CodeBadRequest},
		{`{"name":"Add","bogus":1}`, 400, protocol.CodeBadRequest},
		{`{"type":"todos.Nope","name":"Add"}`, 400, protocol.CodeUnknownType},
		{`{"name":"Explode"}`, 422, protocol.CodeUnknownAction},
		{`{"name":"Add","args":{"title":5}}`, 422, protocol.CodeBadArgs},
		{`{"name":"Add","args":[1]}`, 422, protocol.CodeBadArgs},
		{`{"name":"Add","args":{"title":""}}`, 422, "empty_title"},
		{`{"name":"Add","client":"x"}`, 400, protocol.CodeBadRequest},
	} {
		code, out := rest(t, "POST", base+"/mutations", s.Key, tc.body)
		if code != tc.status || errCode(out) != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.body, code, out, tc.status, tc.code)
		}
	}
	code, out = rest(t, "GET", base, s.Key, "")
	if code != 200 || out["seq"].(float64) != 3 || out["type"] != "todos.List" || out["epoch"] == "" {
		t.Fatalf("GET state: %d %v", code, out)
	}
	code, out = rest(t, "GET", base+"/history?after=1&limit=1", s.Key, "")
	evs := out["events"].([]any)
	if code != 200 || len(evs) != 1 || out["next"].(float64) != 2 {
		t.Fatalf("history page: %d %v", code, out)
	}
	ev := evs[0].(map[string]any)
	if ev["seq"].(float64) != 2 || ev["name"] != "Add" || ev["actor"] != "dev" || ev["args"].(map[string]any)["title"] != "eggs" {
		t.Fatalf("history event %v", ev)
	}
	code, out = rest(t, "GET", base+"/history?after=2", s.Key, "")
	if code != 200 || len(out["events"].([]any)) != 1 || out["next"] != nil {
		t.Fatalf("last history page: %d %v", code, out)
	}
	code, out = rest(t, "GET", base+"/at/2", s.Key, "")
	b, _ := json.Marshal(out["state"])
	if code != 200 || out["seq"].(float64) != 2 || !json.Valid(b) {
		t.Fatalf("at/2: %d %v", code, out)
	}
	var at struct{ Items []struct{ Title string } }
	json.Unmarshal(b, &at)
	if len(at.Items) != 2 || at.Items[1].Title != "eggs" {
		t.Fatalf("state at 2: %+v", at)
	}
	if code, out = rest(t, "GET", base+"/at/9", s.Key, ""); code != 404 {
		t.Fatalf("at/9: %d %v", code, out)
	}
	if code, out = rest(t, "GET", s.HTTPURL+"/v1/namespaces/default/states/nope", s.Key, ""); code != 404 || errCode(out) != protocol.CodeNotFound {
		t.Fatalf("missing key: %d %v", code, out)
	}
	if code, out = rest(t, "GET", s.HTTPURL+"/healthz", "", ""); code != 200 || out["status"] != "ok" {
		t.Fatalf("healthz: %d %v", code, out)
	}
	if code, out = rest(t, "GET", s.HTTPURL+"/v1/namespaces", s.Key, ""); code != 200 || fmt.Sprint(out["namespaces"]) != "[default]" {
		t.Fatalf("namespaces: %d %v", code, out)
	}
	if code, out = rest(t, "GET", s.HTTPURL+"/v1/namespaces/default/states?prefix=sh", s.Key, ""); code != 200 || len(out["states"].([]any)) != 1 {
		t.Fatalf("states: %d %v", code, out)
	}
}

// TestLongReplay replays logs longer than one reader chunk: the state at a
// seq, the state after a restart, and a log with a hole, which must be
// refused rather than replayed past.
func TestLongReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "long.db")
	st, err := storage.OpenSQLite(path, storage.SQLiteOptions{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, key := range []string{"long", "holed"} {
		if err := st.Write(ctx, &storage.Write{Namespace: "default", Key: key, Create: &storage.StateMeta{Type: counter.CounterType.Name, Fingerprint: counter.CounterType.Fingerprint, Epoch: "e"}}); err != nil {
			t.Fatal(err)
		}
		w := &storage.Write{Namespace: "default", Key: key}
		for seq := uint64(1); seq <= 5000; seq++ {
			if key == "holed" && seq == 3001 {
				continue
			}
			w.Events = append(w.Events, storage.Event{Seq: seq, Client: "c", Mid: seq, Name: "Add", Args: []byte(fmt.Sprintf(`{"n":%d}`, seq%7+1)), Time: 1, Actor: "a"})
		}
		if err := st.Write(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	want := func(upto int) int {
		n := 0
		for seq := 1; seq <= upto; seq++ {
			n += seq%7 + 1
		}
		return n
	}
	s := servertest.Start(t, servertest.Register(counter.Register), servertest.DBPath(path))
	base := s.HTTPURL + "/v1/namespaces/default/states/"
	for _, upto := range []int{1500, 4096, 5000} {
		code, out := rest(t, "GET", fmt.Sprintf("%slong/at/%d", base, upto), s.Key, "")
		if code != 200 || out["state"].(map[string]any)["n"].(float64) != float64(want(upto)) {
			t.Fatalf("at %d: %d %v, want n=%d", upto, code, out, want(upto))
		}
	}
	code, out := rest(t, "GET", base+"long", s.Key, "")
	if code != 200 || out["state"].(map[string]any)["n"].(float64) != float64(want(5000)) || out["seq"].(float64) != 5000 {
		t.Fatalf("state: %d %v", code, out)
	}
	code, out = rest(t, "GET", base+"holed/at/4000", s.Key, "")
	if code != 410 || errCode(out) != protocol.CodeCompacted {
		t.Fatalf("a log with a hole replayed: %d %v", code, out)
	}
}
