package server

import (
	"log/slog"
	"testing"

	"github.com/better-state/better-state/runtime/protocol"
)

// TestTakeOverKeepsTheNewerConnection: when the hello of a connection that
// was upgraded first is checked last (its claim was slow, and its client
// has already redialled), the later connection stays and the earlier one
// is replaced. Taking over in hello order ended the live connection with a
// fatal "replaced" and stopped the client (seen in CI, 2026-11-26).
func TestTakeOverKeepsTheNewerConnection(t *testing.T) {
	s := &Server{byClient: map[clientID]*conn{}, log: slog.New(slog.DiscardHandler)}
	p := principal{Namespace: "ns", Actor: "ann"}
	dead, live := s.newConn(p), s.newConn(p)
	dead.client, live.client = "c1", "c1"

	s.takeOver(live)
	s.takeOver(dead)
	if live.isClosed() {
		t.Fatalf("the newer connection was ended: %v", live.failure)
	}
	if !dead.isClosed() || dead.failure.Code != protocol.CodeReplaced {
		t.Fatalf("the older connection: closed %v, failure %v", dead.isClosed(), dead.failure)
	}
	if got := s.byClient[clientID{"ns", "c1"}]; got != live {
		t.Fatal("the client id's connection is not the newer one")
	}

	// In upgrade order, the newer one takes over as before.
	next := s.newConn(p)
	next.client = "c1"
	s.takeOver(next)
	if !live.isClosed() || next.isClosed() || s.byClient[clientID{"ns", "c1"}] != next {
		t.Fatal("a newer connection did not take over")
	}
}
