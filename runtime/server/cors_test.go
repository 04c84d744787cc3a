package server_test

import (
	"net/http"
	"testing"

	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// REST answers browsers of the allowed origins (the WebSocket's
// --allowed-origins) with CORS headers, preflight included, and nobody else.
func TestCORS(t *testing.T) {
	s := startTodos(t, servertest.Config(func(c *server.Config) {
		c.OriginPatterns = []string{"app.example.com", "http://localhost:*"}
	}))
	do := func(method, origin string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, s.HTTPURL+"/v1/namespaces/default/states/k/history", nil)
		req.Header.Set("Origin", origin)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	pre := do("OPTIONS", "https://app.example.com", map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"})
	if pre.StatusCode != 204 || pre.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || pre.Header.Get("Access-Control-Allow-Headers") == "" {
		t.Fatalf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
	get := do("GET", "http://localhost:5173", map[string]string{"Authorization": "Bearer " + s.Key})
	if get.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Fatalf("GET from an allowed origin: %v", get.Header)
	}
	for _, origin := range []string{"https://evil.example.org", "https://localhost:5173"} {
		if r := do("OPTIONS", origin, map[string]string{"Access-Control-Request-Method": "POST"}); r.Header.Get("Access-Control-Allow-Origin") != "" || r.StatusCode == 204 {
			t.Fatalf("%s: %d %v", origin, r.StatusCode, r.Header)
		}
	}
}
