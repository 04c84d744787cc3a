package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/better-state/better-state/examples/todos"
	"github.com/better-state/better-state/runtime/server/servertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func todosCmd(t *testing.T, s *servertest.Server, dir string, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	base := []string{"--url", s.URL, "--key", s.Key, "--dir", dir, "--wait", "2s"}
	code := run(append(base, args...), &out, &errb)
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
