package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/internal/fixtures"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// BenchmarkBlame100k times GET .../blame of one item's title over a log
// of 100,000 events (a list of 100 items, renamed and toggled at random):
// one streaming replay of the whole log, the path looked up after each
// event.
func BenchmarkBlame100k(b *testing.B) {
	const n = 100000
	path := filepath.Join(b.TempDir(), "blame.db")
	if err := fixtures.TodosLog(path, "long", n, time.Now()); err != nil {
		b.Fatal(err)
	}
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
