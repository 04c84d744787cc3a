// This file holds the REST helpers: requests, the error body, the state
// body and path, Adds over REST and the healthz connection count.

package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
)

type restError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		RetryMs int64  `json:"retry_ms"`
	} `json:"error"`
}

// rest makes a request; body is JSON-encoded unless it is a []byte.
func (s *suite) rest(t *testing.T, method, path, key string, body any) (int, http.Header, []byte) {
	t.Helper()
	return s.restH(t, method, path, key, body, nil)
}

func (s *suite) restH(t *testing.T, method, path, key string, body any, h http.Header) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.tg.HTTPURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// restOK makes a request that must answer 200 and decodes its body into out.
func (s *suite) restOK(t *testing.T, method, path, key string, body, out any) []byte {
	t.Helper()
	st, _, b := s.rest(t, method, path, key, body)
	if st != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, st, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return b
}

// expectRESTError checks an error answer: status, the page's body shape and
// code.
func expectRESTError(t *testing.T, what string, status int, body []byte, wantStatus int, wantCode string) restError {
	t.Helper()
	var e restError
	if wantStatus == 0 { // the page gives no status: a client error
		if status < 400 || status > 499 {
			t.Errorf("%s: status %d, want a 4xx %s: %s", what, status, wantCode, body)
		}
	} else if status != wantStatus {
		t.Errorf("%s: status %d, want %d %s: %s", what, status, wantStatus, wantCode, body)
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" {
		t.Errorf("%s: the body is not the REST error body {\"error\":{\"code\",\"message\"}}: %s", what, body)
		return e
	}
	if e.Error.Code != wantCode {
		t.Errorf("%s: code %q, want %q: %s", what, e.Error.Code, wantCode, body)
	}
	if e.Error.Message == "" {
		t.Errorf("%s: error without message: %s", what, body)
	}
	var top map[string]json.RawMessage
	json.Unmarshal(body, &top)
	for k := range top {
		if k != "error" {
			t.Errorf("%s: unexpected top-level field %q in the error body: %s", what, k, body)
		}
	}
	return e
}

func (s *suite) statePath(key string) string {
	return "/v1/namespaces/" + defaultNamespace + "/states/" + url.PathEscape(key)
}

// restAdd posts an Add without client; it returns the seq.
func (s *suite) restAdd(t *testing.T, key, title string) uint64 {
	t.Helper()
	var out struct {
		Seq uint64 `json:"seq"`
	}
	s.restOK(t, "POST", s.statePath(key)+"/mutations", s.tg.Key,
		map[string]any{"type": typeName, "name": "Add", "args": map[string]string{"title": title}}, &out)
	return out.Seq
}

func (s *suite) connections(t *testing.T) int {
	t.Helper()
	var h struct {
		Connections int `json:"connections"`
	}
	s.restOK(t, "GET", "/healthz", "", nil, &h)
	return h.Connections
}

type stateBody struct {
	Key   string          `json:"key"`
	Type  string          `json:"type"`
	Seq   uint64          `json:"seq"`
	Epoch string          `json:"epoch"`
	State json.RawMessage `json:"state"`
}
