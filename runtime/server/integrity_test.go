package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jmoiron/sqlx"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
	"github.com/better-state/better-state/schema"
)

// The tests of docs/RELIABILITY.md's integrity guarantees (issue 13), one
// per way a write could be forged away, poisoned, doubled or dropped.

const statesURL = "/v1/namespaces/default/states/"

func post(t *testing.T, s *servertest.Server, key, apiKey, body string) (int, map[string]any) {
	t.Helper()
	return rest(t, "POST", s.HTTPURL+statesURL+key+"/mutations", apiKey, body)
}

// 1. Writes without a client id take their identity from the log.
func TestRESTWritesWithoutClientHaveTheirOwnIdentity(t *testing.T) {
	s := startTodos(t)
	for i := range 3 {
		if code, out := post(t, s, "k", s.Key, fmt.Sprintf(`{"type":"todos.List","name":"Add","args":{"title":"t%d"}}`, i)); code != 200 {
			t.Fatalf("add: %d %v", code, out)
		}
	}
	_, l := stateOf(t, s, "k")
	if len(l.Items) != 3 || l.Items[0].ID == l.Items[1].ID || l.Items[1].ID == l.Items[2].ID || l.Items[0].ID == l.Items[2].ID {
		t.Fatalf("three REST adds must make three ids: %+v", l.Items)
	}
	third := l.Items[2].ID
	if code, out := post(t, s, "k", s.Key, fmt.Sprintf(`{"name":"Remove","args":{"id":%q}}`, third)); code != 200 {
		t.Fatalf("remove: %d %v", code, out)
	}
	_, l = stateOf(t, s, "k")
	if len(l.Items) != 2 || l.Items[0].Title != "t0" || l.Items[1].Title != "t1" {
		t.Fatalf("removing the third removed another: %+v", l.Items)
	}
	// The same log replayed (a restart) gives the same ids.
	s.Restart()
	if _, again := stateOf(t, s, "k"); again.Items[0].ID != l.Items[0].ID || again.Items[1].ID != l.Items[1].ID {
		t.Fatalf("ids changed on replay: %+v vs %+v", again.Items, l.Items)
	}
}

// 2. A client id belongs to the actor that first used it.
func TestClientIDsCannotBeUsedAcrossActors(t *testing.T) {
	s := startTodos(t)
	victimKey := createKey(t, s, "default", server.RoleClient)
	attackerKey := createKey(t, s, "default", server.RoleClient)

	v := connectAs(t, s, victimKey, "victim")
	v.subTodos("k", 0, "")
	v.expect(protocol.TSynced)
	v.send(addMsg(1, "mine"))
	v.expect(protocol.TEv)

	// The attacker cannot move the victim's cursor through REST...
	code, out := post(t, s, "k", attackerKey, `{"name":"Add","args":{"title":"x"},"client":"victim","mid":1000000}`)
	if code != 403 || errCode(out) != protocol.CodeClientTaken {
		t.Fatalf("REST with another actor's client id: %d %v", code, out)
	}
	// ...nor speak for it on a WebSocket (and so not ack its refusals).
	a, _, err := dialWS(t, s.URL, attackerKey)
	if err != nil {
		t.Fatal(err)
	}
	a.send(protocol.Msg{T: protocol.THello, V: protocol.Version, Client: "victim"})
	if e := a.expectErr(protocol.CodeClientTaken); !e.Fatal {
		t.Fatalf("%+v", e)
	}
	// The victim goes on as if nothing happened.
	v.send(addMsg(2, "still mine"))
	if ev := v.expect(protocol.TEv); ev.Mid != 2 {
		t.Fatalf("%+v", ev)
	}
	if _, l := stateOf(t, s, "k"); len(l.Items) != 2 {
		t.Fatalf("%+v", l.Items)
	}
	// A REST mid that is not the next one is answered, not swallowed.
	code, out = post(t, s, "k", victimKey, `{"name":"Add","args":{"title":"y"},"client":"victim","mid":9}`)
	if code != 409 || errCode(out) != protocol.CodeMidGap || !strings.Contains(out["error"].(map[string]any)["message"].(string), "expected 3") {
		t.Fatalf("REST mid gap: %d %v", code, out)
	}
}

// 3. One live connection per client id: a second one takes over.
func TestSecondConnectionOfAClientIDTakesOver(t *testing.T) {
	s := startTodos(t)
	a := connect(t, s, "shared")
	a.subTodos("k", 0, "")
	a.expect(protocol.TSynced)
	b := connect(t, s, "shared")
	e := a.expectErr(protocol.CodeReplaced)
	if !e.Fatal {
		t.Fatalf("%+v", e)
	}
	expectClose(t, a, protocol.CodeReplaced)
	b.subTodos("k", 0, "")
	b.expect(protocol.TSynced)
	b.send(addMsg(1, "from b"))
	if ev := b.expect(protocol.TEv); ev.Mid != 1 || ev.Client != "shared" {
		t.Fatalf("%+v", ev)
	}
}

// expectClose reads until the connection ends and checks that it ended
// with a close frame whose reason is code.
func expectClose(t *testing.T, c *wsc, code string) {
	t.Helper()
	for {
		_, err := c.next(10 * time.Second)
		if err == nil {
			continue // frames queued before the end, the fatal err among them
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("want a close frame with reason %q, got %v", code, err)
		}
		if ce.Reason != code {
			t.Fatalf("close frame reason %q (status %d), want %q", ce.Reason, ce.Code, code)
		}
		return
	}
}

// 4. Args reach the log in one canonical form, or not at all.
func TestArgsAreLoggedCanonicalOrRefused(t *testing.T) {
	s := startTodos(t)
	a := connect(t, s, "c")
	a.subTodos("k", 0, "")
	a.expect(protocol.TSynced)
	mid := uint64(0)
	refused := map[string]string{
		"wrong case":     `{"TITLE":"shout"}`,
		"invalid UTF-8":  "{\"title\":\"a\xff\xfeb\"}",
		"lone surrogate": `{"title":"a\ud800b"}`,
		"low surrogate":  `{"title":"\udc00"}`,
		"duplicate key":  `{"title":"a","title":"b"}`,
		"nested dup":     `{"title":"a","x":{"k":1,"k":2}}`,
		"not an object":  `["title"]`,
	}
	for name, raw := range refused {
		mid++
		frame := []byte(`{"t":"mut","key":"k","mid":` + fmt.Sprint(mid) + `,"name":"Add","args":` + raw + `}`)
		a.sendRaw(frame)
		m := a.expect2()
		if m.T != protocol.TRej || m.Code != protocol.CodeBadArgs {
			t.Fatalf("%s: want rej bad_args, got %+v", name, m)
		}
	}
	canonical := map[string]string{
		`{ "title" : "\u0041<b>\/" }`:     `{"title":"A<b>/"}`,
		`{"title":"pair \ud83d\ude00"}`:   `{"title":"pair 😀"}`,
		"{\"title\":\"tab\\there\"}\n\t ": `{"title":"tab\there"}`,
	}
	for raw, want := range canonical {
		mid++
		a.sendRaw([]byte(`{"t":"mut","key":"k","mid":` + fmt.Sprint(mid) + `,"name":"Add","args":` + raw + `}`))
		ev := a.expect(protocol.TEv)
		if string(ev.Args) != want {
			t.Fatalf("args %s were broadcast as %s, want %s", raw, ev.Args, want)
		}
	}
	// REST goes through the same door.
	code, out := post(t, s, "k", s.Key, "{\"name\":\"Add\",\"args\":{\"title\":\"\xff\"}}")
	if code != 400 && code != 422 {
		t.Fatalf("REST invalid UTF-8: %d %v", code, out)
	}
	if code, out := post(t, s, "k", s.Key, `{"name":"Add","args":{"title":"x","title":"y"}}`); code != 422 || errCode(out) != protocol.CodeBadArgs {
		t.Fatalf("REST duplicate key: %d %v", code, out)
	}
	// What the log holds is valid JSON that every reader decodes alike.
	code, hist := rest(t, "GET", s.HTTPURL+statesURL+"k/history", s.Key, "")
	if code != 200 {
		t.Fatalf("history: %d", code)
	}
	evs := hist["events"].([]any)
	if len(evs) != len(canonical) {
		t.Fatalf("%d events logged, want %d", len(evs), len(canonical))
	}
	for _, e := range evs {
		b, _ := json.Marshal(e.(map[string]any)["args"])
		if err := contract.CheckJSON(b); err != nil {
			t.Fatalf("logged args %s: %v", b, err)
		}
	}
	// A subscriber's catch-up from the log is valid UTF-8 text.
	c := connect(t, s, "reader")
	c.subTodos("k", 0, "")
	for i := 0; i < len(canonical); i++ {
		c.expect(protocol.TEv)
	}
	c.expect(protocol.TSynced)
}

// floats is a state type whose action can store NaN or ±Inf.
type floats struct {
	V float64 `json:"v"`
}

var floatsType = &contract.Type{
	Name:        "test.Floats",
	Fingerprint: "f1",
	Actions:     []string{"Set"},
	New:         func() any { return new(floats) },
	Clone:       func(s any) any { c := *s.(*floats); return &c },
	Dispatch: func(state any, _ schema.Ctx, action string, args []byte) error {
		var a struct {
			V string `json:"v"`
		}
		if err := contract.DecodeArgs(action, args, &a); err != nil {
			return err
		}
		switch a.V {
		case "nan":
			state.(*floats).V = math.NaN()
		case "inf":
			state.(*floats).V = math.Inf(-1)
		default:
			fmt.Sscan(a.V, &state.(*floats).V)
		}
		return nil
	},
}

// 5. A state that does not encode never reaches the log.
func TestStateThatDoesNotEncodeIsRefused(t *testing.T) {
	s := servertest.Start(t, servertest.Register(func(r *contract.Registry) { r.Add(floatsType) }))
	set := func(v string) (int, map[string]any) {
		return post(t, s, "f", s.Key, `{"type":"test.Floats","name":"Set","args":{"v":"`+v+`"}}`)
	}
	if code, out := set("1.5"); code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	for _, v := range []string{"nan", "inf"} {
		if code, out := set(v); code != 422 || errCode(out) != protocol.CodeBadState {
			t.Fatalf("%s: want 422 bad_state, got %d %v", v, code, out)
		}
	}
	code, out := rest(t, "GET", s.HTTPURL+statesURL+"f", s.Key, "")
	if code != 200 || out["seq"].(float64) != 1 || out["state"].(map[string]any)["v"].(float64) != 1.5 {
		t.Fatalf("state after refused NaN: %d %v", code, out)
	}
	// Subscribing still works, and so does the log after a restart.
	c := connect(t, s, "c")
	c.send(protocol.Msg{T: protocol.TSub, Key: "f", Type: floatsType.Name, FP: floatsType.Fingerprint, Snap: true})
	c.expect(protocol.TSnap)
	c.expect(protocol.TSynced)
	s.Restart()
	if code, _ := rest(t, "GET", s.HTTPURL+statesURL+"f", s.Key, ""); code != 200 {
		t.Fatalf("after restart: %d", code)
	}
}

// 6. The size limit is the real encoded size; a state over it may shrink;
// an admin may delete a key.
func TestStateSizeLimitIsTheEncodedSize(t *testing.T) {
	limit := 4000
	dbPath := filepath.Join(t.TempDir(), "s.db")
	s := startTodos(t, servertest.DBPath(dbPath), servertest.Config(func(c *server.Config) { c.Limits.MaxStateBytes = limit }))
	// '<' is 1 byte in canonical args and 6 in the encoded state.
	title := strings.Repeat("<", 300)
	refused := false
	for i := range 10 {
		code, out := post(t, s, "k", s.Key, fmt.Sprintf(`{"type":"todos.List","name":"Add","args":{"title":%q}}`, title))
		if code == 422 && errCode(out) == protocol.CodeStateTooLarge {
			refused = true
			break
		}
		if code != 200 {
			t.Fatalf("add %d: %d %v", i, code, out)
		}
	}
	if !refused {
		t.Fatal("the state grew past the limit")
	}
	enc := encodedState(t, s, "k")
	if enc > limit {
		t.Fatalf("encoded state %d bytes, over the limit %d", enc, limit)
	}
	// Lower the limit under the key's size: growing is refused, shrinking
	// is not.
	s.Stop()
	s2 := startTodos(t, servertest.DBPath(dbPath), servertest.Config(func(c *server.Config) { c.Limits.MaxStateBytes = 2000 }))
	if code, out := post(t, s2, "k", s2.Key, `{"name":"Add","args":{"title":"more"}}`); code != 422 || errCode(out) != protocol.CodeStateTooLarge {
		t.Fatalf("growing over the limit: %d %v", code, out)
	}
	_, l := stateOf(t, s2, "k")
	if code, out := post(t, s2, "k", s2.Key, fmt.Sprintf(`{"name":"Remove","args":{"id":%q}}`, l.Items[0].ID)); code != 200 {
		t.Fatalf("shrinking a key over the limit: %d %v", code, out)
	}

	// Delete: a subscriber hears reset; the key is gone; a client key may not.
	sub := connect(t, s2, "sub")
	sub.subTodos("k", 0, "")
	first := drainToSynced(sub)
	client := createKey(t, s2, "default", server.RoleClient)
	if code, out := rest(t, "DELETE", s2.HTTPURL+statesURL+"k", client, ""); code != 403 {
		t.Fatalf("a client key deleted a key: %d %v", code, out)
	}
	if code, out := rest(t, "DELETE", s2.HTTPURL+statesURL+"k", s2.Key, ""); code != 200 {
		t.Fatalf("delete: %d %v", code, out)
	}
	sub.expectErr(protocol.CodeReset)
	if code, _ := rest(t, "GET", s2.HTTPURL+statesURL+"k", s2.Key, ""); code != 404 {
		t.Fatalf("GET after delete: %d", code)
	}
	sub.subTodos("k", first.Seq, first.Epoch)
	snap := sub.expect(protocol.TSnap)
	if snap.Epoch == first.Epoch || snap.Seq != 0 || string(snap.State) != `{"items":null}` {
		t.Fatalf("after delete a subscriber starts over with a new epoch: %+v %s", snap, snap.State)
	}
	sub.expect(protocol.TSynced)
}

// drainToSynced reads a subscription's catch-up and returns its synced.
func drainToSynced(c *wsc) protocol.Msg {
	c.t.Helper()
	for {
		if m := c.expect2(); m.T == protocol.TSynced {
			return m
		} else if m.T == protocol.TErr {
			c.t.Fatalf("catch-up: %+v", m)
		}
	}
}

func encodedState(t *testing.T, s *servertest.Server, key string) int {
	t.Helper()
	_, out := rest(t, "GET", s.HTTPURL+statesURL+key, s.Key, "")
	b, _ := json.Marshal(out["state"])
	var l todos.List
	json.Unmarshal(b, &l)
	enc, _ := todos.ListType.Encode(&l)
	return len(enc)
}

// 7 and 8. REST mids: out of range, and retries with other args.
func TestRESTMidRangeAndRetriesWithOtherArgs(t *testing.T) {
	s := startTodos(t)
	code, out := post(t, s, "k", s.Key, `{"type":"todos.List","name":"Add","args":{"title":"a"},"client":"r","mid":9223372036854775808}`)
	if code != 400 || errCode(out) != protocol.CodeBadRequest {
		t.Fatalf("mid 2^63: %d %v", code, out)
	}
	body := `{"type":"todos.List","name":"Add","args":{"title":"a"},"client":"r","mid":1}`
	code, first := post(t, s, "k", s.Key, body)
	if code != 200 {
		t.Fatalf("%d %v", code, first)
	}
	code, again := post(t, s, "k", s.Key, `{"name":"Add","args":{ "title" : "a" },"client":"r","mid":1}`)
	if code != 200 || again["seq"] != first["seq"] || again["duplicate"] != true {
		t.Fatalf("a retry with the same args: %d %v", code, again)
	}
	code, other := post(t, s, "k", s.Key, `{"name":"Add","args":{"title":"b"},"client":"r","mid":1}`)
	if code != 409 || errCode(other) != protocol.CodeArgsDiffer {
		t.Fatalf("a retry with other args: %d %v", code, other)
	}
	if seq, _ := stateOf(t, s, "k"); seq != 1 {
		t.Fatalf("seq %d", seq)
	}
}

// 9. One server per database file.
func TestSecondServerOnOneFileIsRefused(t *testing.T) {
	s := startTodos(t)
	reg := contract.NewRegistry(todos.ListType)
	_, err := server.New(server.Config{DBPath: s.DBPath, Registry: reg})
	if err == nil {
		t.Fatal("a second server opened the same database file")
	}
	if !strings.Contains(err.Error(), s.DBPath) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
		t.Fatalf("the error must name the file and the holder: %v", err)
	}
	// Once the first is gone, the file is free.
	s.Stop()
	srv, err := server.New(server.Config{DBPath: s.DBPath, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
}

// 10. A revoked key's open connections are closed.
func TestRevokedKeyClosesItsConnections(t *testing.T) {
	s := startTodos(t)
	key := createKey(t, s, "default", server.RoleClient)
	c := connectAs(t, s, key, "c")
	s.RevokeKey(key)
	start := time.Now()
	m, err := c.next(10 * time.Second)
	if err != nil || m.T != protocol.TErr || m.Code != protocol.CodeUnauthorized || !m.Fatal {
		t.Fatalf("want a fatal unauthorized, got %+v %v", m, err)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("revocation took %s to reach the connection", d)
	}
	expectClose(t, c, protocol.CodeUnauthorized)
}

// syncBuffer is a log sink tests can read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sideDB opens the server's database file on a connection of its own, the
// way an operator's sqlite3 shell (or a failing disk) would change it.
func sideDB(t *testing.T, path string) *sqlx.DB {
	t.Helper()
	db, err := sqlx.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// 11 and 12. Storage failures are logged with the key and the operation,
// /healthz reports them, and a subscription whose refusals cannot be read
// fails instead of hiding them.
func TestStorageFailuresAreVisible(t *testing.T) {
	var logs syncBuffer
	s := startTodos(t, servertest.Config(func(c *server.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	}))
	if code, out := post(t, s, "k", s.Key, `{"type":"todos.List","name":"Add","args":{"title":"ok"}}`); code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	db := sideDB(t, s.DBPath)
	if _, err := db.Exec(`CREATE TRIGGER fail_appends BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'injected disk failure'); END`); err != nil {
		t.Fatal(err)
	}
	code, out := post(t, s, "k", s.Key, `{"name":"Add","args":{"title":"lost?"}}`)
	if code != 503 || errCode(out) != protocol.CodeStorage {
		t.Fatalf("a failed append: %d %v", code, out)
	}
	if l := logs.String(); !strings.Contains(l, "storage failed") || !strings.Contains(l, "op=append") || !strings.Contains(l, "key=k") || !strings.Contains(l, "injected disk failure") {
		t.Fatalf("the failure is not in the log with its key and operation:\n%s", l)
	}
	code, health := rest(t, "GET", s.HTTPURL+"/healthz", "", "")
	if code != 503 || health["status"] != "degraded" {
		t.Fatalf("/healthz while writes fail: %d %v", code, health)
	}
	if _, err := db.Exec(`DROP TRIGGER fail_appends`); err != nil {
		t.Fatal(err)
	}
	if code, out := post(t, s, "k", s.Key, `{"name":"Add","args":{"title":"again"}}`); code != 200 {
		t.Fatalf("after the disk healed: %d %v", code, out)
	}
	if code, health := rest(t, "GET", s.HTTPURL+"/healthz", "", ""); code != 200 || health["status"] != "ok" {
		t.Fatalf("/healthz after a good write: %d %v", code, health)
	}

	// A refusal stored for client c...
	c := connect(t, s, "c")
	c.subTodos("k", 0, "")
	drainToSynced(c)
	c.send(addMsg(1, ""))
	if rj := c.expect(protocol.TRej); rj.Mid != 1 {
		t.Fatalf("%+v", rj)
	}
	// ...cannot be read: the subscription fails rather than tell the
	// client (through synced.mid) to forget it.
	if _, err := db.Exec(`ALTER TABLE rejections RENAME TO rejections_away`); err != nil {
		t.Fatal(err)
	}
	d := connect(t, s, "c")
	d.subTodos("k", 0, "")
	m := d.expect2()
	if m.T != protocol.TErr || m.Code != protocol.CodeStorage {
		t.Fatalf("want err storage_failed instead of a subscription, got %+v", m)
	}
	if l := logs.String(); !strings.Contains(l, "op=\"read refusals\"") {
		t.Fatalf("the read failure is not logged:\n%s", l)
	}
	if _, err := db.Exec(`ALTER TABLE rejections_away RENAME TO rejections`); err != nil {
		t.Fatal(err)
	}
	d.subTodos("k", 0, "")
	var sawRej bool
	for m := d.expect2(); m.T != protocol.TSynced; m = d.expect2() {
		sawRej = sawRej || (m.T == protocol.TRej && m.Mid == 1)
	}
	if !sawRej {
		t.Fatal("the stored refusal was not delivered once the table was back")
	}
}

// 15. Every fatal error is an err frame, then a close frame whose reason is
// its code.
func TestFatalErrorsEndWithACloseFrame(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) { c.Limits.HelloTimeout = 300 * time.Millisecond }))
	hello := func(m protocol.Msg) *wsc {
		c, _, err := dialWS(t, s.URL, "")
		if err != nil {
			t.Fatal(err)
		}
		c.send(m)
		return c
	}
	cases := []struct {
		code string
		c    *wsc
	}{
		{protocol.CodeHelloRequired, hello(protocol.Msg{T: protocol.TSub, Key: "k"})},
		{protocol.CodeBadVersion, hello(protocol.Msg{T: protocol.THello, V: 99, Client: "x", Auth: s.Key})},
		{protocol.CodeUnauthorized, hello(protocol.Msg{T: protocol.THello, V: protocol.Version, Client: "x", Auth: "wrong"})},
	}
	silent, _, err := dialWS(t, s.URL, s.Key) // says nothing: hello_required at the deadline
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, struct {
		code string
		c    *wsc
	}{protocol.CodeHelloRequired, silent})
	for _, tc := range cases {
		e := tc.c.expectErr(tc.code)
		if !e.Fatal {
			t.Fatalf("%s: not fatal: %+v", tc.code, e)
		}
		expectClose(t, tc.c, tc.code)
	}
	live := connect(t, s, "live")
	go s.Stop()
	if e := live.expectErr(protocol.CodeShuttingDown); !e.Fatal {
		t.Fatalf("%+v", e)
	}
	expectClose(t, live, protocol.CodeShuttingDown)
}
