package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/internal/storage"
	"github.com/better-state/better-state/runtime/server/servertest"
	"github.com/better-state/better-state/schema"
)

// writeTodosLog writes a todo list of 100 items and n events in all to a
// new SQLite file: 100 Adds, then Renames and Toggles of random items. It
// runs each event through the reducer to learn the ids the server will
// give the items, and returns the file.
func writeTodosLog(tb testing.TB, n int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "blame.db")
	st, err := storage.OpenSQLite(path, storage.SQLiteOptions{Sync: "normal"})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	const key, epoch = "long", "e"
	if err := st.Write(ctx, &storage.Write{Namespace: "default", Key: key, Create: &storage.StateMeta{Type: todos.ListType.Name, Fingerprint: todos.ListType.Fingerprint, Epoch: epoch}}); err != nil {
		tb.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	state := todos.ListType.New().(*todos.List)
	w := &storage.Write{Namespace: "default", Key: key}
	for seq := uint64(1); seq <= uint64(n); seq++ {
		var name string
		var a map[string]string
		switch {
		case seq <= 100:
			name, a = "Add", map[string]string{"title": fmt.Sprint("item ", seq)}
		case r.IntN(2) == 0:
			name, a = "Rename", map[string]string{"id": state.Items[r.IntN(100)].ID, "title": fmt.Sprint("title ", seq)}
		default:
			name, a = "Toggle", map[string]string{"id": state.Items[r.IntN(100)].ID}
		}
		args, _ := json.Marshal(a)
		at := time.UnixMilli(int64(seq))
		c := schema.NewContext(schema.Meta{Key: key, Client: "c", Mid: seq, Actor: "a", Time: at.UTC(), Epoch: epoch, Seq: seq})
		if err := todos.ListType.Apply(state, c, name, args); err != nil {
			tb.Fatal(err)
		}
		w.Events = append(w.Events, storage.Event{Seq: seq, Client: "c", Mid: seq, Name: name, Args: args, Time: at.UnixMilli(), Actor: "a"})
		if len(w.Events) == 5000 || seq == uint64(n) {
			if err := st.Write(ctx, w); err != nil {
				tb.Fatal(err)
			}
			w = &storage.Write{Namespace: "default", Key: key}
		}
	}
	return path
}

// BenchmarkBlame100k times GET .../blame of one item's title over a log
// of 100,000 events (a list of 100 items, renamed and toggled at random):
// one streaming replay of the whole log, the path looked up after each
// event.
func BenchmarkBlame100k(b *testing.B) {
	const n = 100000
	path := writeTodosLog(b, n)
	s := servertest.Start(b, servertest.Register(todos.Register), servertest.DBPath(path))
	url := s.HTTPURL + "/v1/namespaces/default/states/long/blame?path=/items/50/title&limit=1000"
	get := func() {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+s.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out struct {
			Changes []json.RawMessage `json:"changes"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &out) != nil || len(out.Changes) < 100 {
			b.Fatalf("%d %.300s", resp.StatusCode, body)
		}
	}
	get()
	b.ResetTimer()
	for b.Loop() {
		get()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.Cleanup(http.DefaultClient.CloseIdleConnections)
}
