package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/better-state/better-state/examples/polls"
	"github.com/better-state/better-state/runtime/server/servertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func pollsCmd(t *testing.T, s *servertest.Server, dir string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	base := []string{"--url", s.URL, "--key", s.Key, "--dir", dir, "--wait", "2s"}
	code := app.Run(append(base, args...), &out, &errb)
	return out.String(), errb.String(), code
}

func TestVoteOfflineAndClosed(t *testing.T) {
	s := servertest.Start(t, servertest.Register(polls.Register))
	t1, t2 := t.TempDir(), t.TempDir()
	if out, _, code := pollsCmd(t, s, t1, "setup", "Lunch?", "pizza", "soup"); code != 0 || !strings.Contains(out, "Lunch? (open)") {
		t.Fatalf("setup: %d %q", code, out)
	}
	if out, _, code := pollsCmd(t, s, t2, "vote", "1"); code != 0 || !strings.Contains(out, "1. soup: 1") {
		t.Fatalf("vote: %d %q", code, out)
	}
	// t1 votes offline; meanwhile the poll is closed through t2.
	s.Stop()
	if out, _, code := pollsCmd(t, s, t1, "vote", "0"); code != 0 || !strings.Contains(out, "offline: 1 change(s) queued") {
		t.Fatalf("offline vote: %d %q", code, out)
	}
	s.Resume()
	if out, _, code := pollsCmd(t, s, t2, "close"); code != 0 || !strings.Contains(out, "(closed)") {
		t.Fatalf("close: %d %q", code, out)
	}
	// t1's queued vote reaches a closed poll: refused and reported.
	out, errOut, code := pollsCmd(t, s, t1, "show")
	if code != 0 || !strings.Contains(errOut, "refused Vote") || !strings.Contains(out, "0. pizza: 0") {
		t.Fatalf("show after refusal: %d %q %q", code, out, errOut)
	}
	if _, _, code := pollsCmd(t, s, t2, "vote", "x"); code != 2 {
		t.Fatalf("bad vote arg: %d", code)
	}
}
