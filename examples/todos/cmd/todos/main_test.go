package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/server"
	"github.com/better-state/better-state/runtime/server/servertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func todosCmd(t *testing.T, s *servertest.Server, dir string, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	base := []string{"--url", s.URL, "--key", s.Key, "--dir", dir, "--wait", "2s"}
	code := app.Run(append(base, args...), &out, &errb)
	if errb.Len() > 0 {
		t.Logf("stderr: %s", errb.String())
	}
	return out.String(), code
}

// Two terminals converge, and a change made offline is queued and
// delivered by the next run, exactly once.
func TestTwoTerminalsAndOffline(t *testing.T) {
	s := servertest.Start(t, servertest.Register(todos.Register))
	t1, t2 := t.TempDir(), t.TempDir()
	if out, code := todosCmd(t, s, t1, "add", "buy", "milk"); code != 0 || !strings.Contains(out, "buy milk") {
		t.Fatalf("add: %d %q", code, out)
	}
	out, code := todosCmd(t, s, t2, "list")
	if code != 0 || !strings.Contains(out, "buy milk") {
		t.Fatalf("list in the other terminal: %d %q", code, out)
	}
	id := strings.Fields(out)[2]
	if out, code := todosCmd(t, s, t2, "done", id); code != 0 || !strings.Contains(out, "[x] "+id) {
		t.Fatalf("done: %d %q", code, out)
	}
	if _, code := todosCmd(t, s, t2, "add", ""); code != 1 {
		t.Fatalf("empty title accepted: %d", code)
	}

	s.Stop()
	out, code = todosCmd(t, s, t1, "add", "eggs")
	if code != 0 || !strings.Contains(out, "offline: 1 change(s) queued") || !strings.Contains(out, "eggs") {
		t.Fatalf("offline add: %d %q", code, out)
	}
	s.Resume()
	if out, code := todosCmd(t, s, t1, "list"); code != 0 || strings.Contains(out, "offline") {
		t.Fatalf("list after the server came back: %d %q", code, out)
	}
	out, _ = todosCmd(t, s, t2, "list")
	if strings.Count(out, "eggs") != 1 || !strings.Contains(out, "[x] "+id) {
		t.Fatalf("other terminal after resync: %q", out)
	}
}

// The CLI tells "the server refuses this client" from "the server is out of
// reach": each refusal exits 1 and prints the server's reason.
func TestRefusedClientExitsWithTheReason(t *testing.T) {
	s := servertest.Start(t, servertest.Register(todos.Register))
	run := func(t *testing.T, url, key string, args ...string) (string, string, int) {
		t.Helper()
		var out, errb bytes.Buffer
		base := []string{"--url", url, "--key", key, "--dir", t.TempDir(), "--wait", "5s"}
		code := app.Run(append(base, args...), &out, &errb)
		return out.String(), errb.String(), code
	}
	t.Run("wrong key", func(t *testing.T) {
		_, stderr, code := run(t, s.URL, "bs_nope_nope", "add", "x")
		if code != 1 || !strings.Contains(stderr, "unauthorized") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("no key", func(t *testing.T) {
		_, stderr, code := run(t, s.URL, "", "list")
		if code != 1 || strings.Count(stderr, "unauthorized") != 1 {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("revoked key", func(t *testing.T) {
		key := s.CreateKey("default", "client")
		if _, stderr, code := run(t, s.URL, key, "list"); code != 0 {
			t.Fatalf("a fresh key: exit %d, stderr %q", code, stderr)
		}
		s.RevokeKey(key)
		_, stderr, code := run(t, s.URL, key, "list")
		if code != 1 || !strings.Contains(stderr, "unauthorized") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("unknown type", func(t *testing.T) {
		other := servertest.Start(t, servertest.Register(func(r *contract.Registry) {}))
		_, stderr, code := run(t, other.URL, other.Key, "add", "x")
		if code != 1 || !strings.Contains(stderr, "unknown_type") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("schema mismatch", func(t *testing.T) {
		// A server built from a schema whose items' done is a string.
		changed := *todos.ListType
		changed.Shape = strings.Replace(changed.Shape, "field bool items[].done", "field string items[].done", 1)
		changed.Fingerprint = contract.FingerprintOf(changed.Shape)
		other := servertest.Start(t, servertest.Register(func(r *contract.Registry) { r.Add(&changed) }))
		_, stderr, code := run(t, other.URL, other.Key, "add", "x")
		if code != 1 || !strings.Contains(stderr, "schema_mismatch") || !strings.Contains(stderr, "field items[].done is bool on the client, string on the server") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
}

// A change the action accepts here but the server refuses (a state over the
// server's size limit) fails the run, with the server's reason.
func TestServerRefusalOfThisRunsChange(t *testing.T) {
	s := servertest.Start(t, servertest.Register(todos.Register), servertest.Config(func(c *server.Config) {
		c.Limits.MaxStateBytes = 300
	}))
	dir := t.TempDir()
	if out, code := todosCmd(t, s, dir, "add", "short"); code != 0 || !strings.Contains(out, "short") {
		t.Fatalf("add: %d %q", code, out)
	}
	var out, errb bytes.Buffer
	args := []string{"--url", s.URL, "--key", s.Key, "--dir", dir, "--wait", "5s", "add", strings.Repeat("long ", 80)}
	if code := app.Run(args, &out, &errb); code != 1 || !strings.Contains(errb.String(), "state_too_large") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	// The next run has nothing of its own refused: it succeeds.
	if out, code := todosCmd(t, s, dir, "list"); code != 0 || strings.Contains(out, "long") {
		t.Fatalf("list: %d %q", code, out)
	}
}
