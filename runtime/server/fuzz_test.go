package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/server/servertest"
)

// FuzzRESTMutation posts any body to the mutation endpoint of a real
// server: the answer is JSON, 200 with a seq or an error body with a code,
// and the key's seq moves by one exactly when the answer is 200.
func FuzzRESTMutation(f *testing.F) {
	for _, s := range []string{
		`{"type":"todos.List","name":"Add","args":{"title":"x"}}`,
		`{"name":"Toggle","args":{"id":"nope"}}`,
		`{"name":"Add","args":{"title":""}}`,
		`{"name":"Add","client":"c","mid":3,"args":{"title":"y"}}`,
		`{"name":"Explode"}`, `{"name":"Add","args":[1]}`, `{`, `null`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	s := servertest.Start(f, servertest.Register(todos.Register))
	// Runs before the server stops (cleanups run last-in first-out), so that
	// no keep-alive connection holds the shutdown of a fuzzing worker.
	f.Cleanup(http.DefaultClient.CloseIdleConnections)
	post := func(body string) (int, []byte) {
		req, _ := http.NewRequest("POST", s.HTTPURL+"/v1/namespaces/default/states/fz/mutations", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.Key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			f.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := post(`{"type":"todos.List","name":"Add","args":{"title":"seed"}}`); code != 200 {
		f.Fatalf("seed: %d %s", code, b)
	}
	seqOf := func(t *testing.T) float64 {
		req, _ := http.NewRequest("GET", s.HTTPURL+"/v1/namespaces/default/states/fz", nil)
		req.Header.Set("Authorization", "Bearer "+s.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Seq float64 }
		json.NewDecoder(resp.Body).Decode(&out)
		return out.Seq
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		before := seqOf(t)
		code, b := post(string(body))
		after := seqOf(t)
		var out struct {
			Seq       float64
			Duplicate bool
			Error     *struct{ Code, Message string }
		}
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%d: answer is not JSON: %q", code, b)
		}
		switch {
		case code == 200 && !out.Duplicate:
			if after != before+1 || out.Seq != after {
				t.Fatalf("200 with seq %v, but the key went %v -> %v", out.Seq, before, after)
			}
		case code == 200:
			if after != before {
				t.Fatalf("duplicate moved the seq %v -> %v", before, after)
			}
		case code >= 400 && code < 500:
			if out.Error == nil || out.Error.Code == "" {
				t.Fatalf("%d without an error code: %s", code, b)
			}
			if after != before {
				t.Fatalf("%d (%s) but the seq moved %v -> %v", code, out.Error.Code, before, after)
			}
		default:
			t.Fatalf("status %d: %s", code, b)
		}
	})
}
