package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/client"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// Client sides of docs/RELIABILITY.md's integrity guarantees (issue 13).

// 3. One client per Dir: a second one would share the id and the queue.
func TestDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	a, err := client.New("ws://127.0.0.1:1/v1/ws", client.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.New("ws://127.0.0.1:1/v1/ws", client.Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("a second client on one Dir: %v", err)
	}
	a.Close()
	b, err := client.New("ws://127.0.0.1:1/v1/ws", client.Options{Dir: dir})
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	b.Close()
}

// 13. Whatever a server (or anyone on a ws:// path) sends, the client does
// not panic: here, an empty batch where welcome should be.
func TestEmptyBatchFromServerDoesNotPanic(t *testing.T) {
	frames := make(chan string, 10)
	for _, f := range []string{`[]`, `[]`, `[]`} {
		frames <- f
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		ws.Read(ctx) // hello
		select {
		case f := <-frames:
			ws.Write(ctx, websocket.MessageText, []byte(f))
		default:
		}
		ws.Read(ctx)
	}))
	defer hs.Close()
	c, err := client.New("ws"+strings.TrimPrefix(hs.URL, "http")+"/v1/ws", client.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(frames) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(frames) > 0 {
		t.Fatal("the client stopped dialing")
	}
	c.Close()
	hs.CloseClientConnections()
}

// 14. The server's log goes back (its database deleted) under clients
// with queued mutations: each renumbers its queue after synced.mid, and
// every client ends equal to the server with its mutations applied once.
func TestLogResetUnderQueuedMutations(t *testing.T) {
	srv := servertest.Start(t, servertest.Register(todos.Register))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type dev struct {
		dir  string
		c    *client.Client
		list *client.Typed[todos.List]
	}
	open := func(d *dev) {
		t.Helper()
		var err error
		d.c, err = client.New(srv.URL, client.Options{APIKey: srv.Key, Dir: d.dir, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if d.list, err = client.Open[todos.List](d.c, todos.ListType, "l"); err != nil {
			t.Fatal(err)
		}
	}
	devs := []*dev{{dir: t.TempDir()}, {dir: t.TempDir()}}
	for i, d := range devs {
		open(d)
		for j := range 3 {
			if err := d.list.Mutate(todos.ListAddArgs{Title: title(i, j)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.c.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Offline, each queues more; meanwhile the server loses its database.
	srv.Stop()
	for i, d := range devs {
		for j := 3; j < 5; j++ {
			if err := d.list.Mutate(todos.ListAddArgs{Title: title(i, j)}); err != nil {
				t.Fatal(err)
			}
		}
		d.c.Close()
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(srv.DBPath + suffix)
	}
	srv.Resume()
	for _, d := range devs {
		open(d)
		defer d.c.Close()
	}
	for _, d := range devs {
		if err := d.c.WaitSynced(ctx); err != nil {
			t.Fatalf("a client did not converge after the log reset: %v (pending %d)", err, d.list.Store().Pending())
		}
	}
	// The server holds each queued mutation once: the two of each client
	// that were pending at the reset (the others were lost with the file).
	var want []string
	for i := range devs {
		want = append(want, title(i, 3), title(i, 4))
	}
	b, head := serverState(t, srv, "l")
	var l todos.List
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, it := range l.Items {
		got[it.Title]++
	}
	for _, w := range want {
		if got[w] != 1 {
			t.Fatalf("%q is on the server %d times: %+v", w, got[w], l.Items)
		}
	}
	if len(l.Items) != len(want) {
		t.Fatalf("server holds %d items, want %d: %+v", len(l.Items), len(want), l.Items)
	}
	// WaitSynced covers a client's own mutations: the first client may
	// not have heard the second's yet. Wait for each to reach the head.
	for _, d := range devs {
		for deadline := time.Now().Add(10 * time.Second); d.list.Store().Seq() < head && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if v := d.list.Get(); len(v.Items) != len(l.Items) {
			t.Fatalf("a client's view differs from the server: %+v vs %+v", v.Items, l.Items)
		}
	}
}

func title(i, j int) string { return string(rune('a'+i)) + "-" + string(rune('0'+j)) }

// Terminal refusals stop the client, and WaitSynced says why instead of
// waiting for its context.
func TestTerminalRefusalsReachTheApp(t *testing.T) {
	srv := servertest.Start(t, servertest.Register(todos.Register))
	for _, key := range []string{"wrong", ""} {
		c, err := client.New(srv.URL, client.Options{APIKey: key, MinBackoff: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = c.WaitSynced(ctx)
		cancel()
		var se *client.ServerError
		if !errors.As(err, &se) || se.Code != protocol.CodeUnauthorized || c.Err() == nil {
			t.Fatalf("key %q: WaitSynced = %v, want the server's unauthorized", key, err)
		}
		c.Close()
	}
	// A second process with the same client id takes over; the first is
	// told, and stops instead of fighting back.
	dir := t.TempDir()
	a, err := client.New(srv.URL, client.Options{APIKey: srv.Key, ClientID: "twin", Dir: filepath.Join(dir, "a")})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := client.New(srv.URL, client.Options{APIKey: srv.Key, ClientID: "twin", Dir: filepath.Join(dir, "b")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	// a hears it when its connection is taken over; until then it is
	// synced, so its terminal error is awaited, not WaitSynced.
	for a.Err() == nil && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	var se *client.ServerError
	if err := a.WaitSynced(ctx); !errors.As(err, &se) || se.Code != protocol.CodeReplaced {
		t.Fatalf("the replaced client: %v", err)
	}
}
