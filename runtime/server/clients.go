package server

import (
	"context"
	"net/http"
	"sync"

	"github.com/better-state/better-state/runtime/protocol"
)

// A client id names one device's queue: the dedup cursors and the stored
// refusals of each key are kept per client id. It is not a secret, so it
// belongs to the actor that first used it in the namespace, and only one
// connection at a time may speak for it.

// clientID is a client id in its namespace.
type clientID struct{ ns, client string }

// owners caches client id owners; the store has them all.
type owners struct {
	mu sync.Mutex
	m  map[clientID]string
}

const maxCachedOwners = 100_000

// claimClient checks that the client id belongs to p's actor, claiming it
// if nobody has.
func (s *Server) claimClient(ctx context.Context, p principal, client string) *apiError {
	id := clientID{p.Namespace, client}
	s.owners.mu.Lock()
	owner, ok := s.owners.m[id]
	s.owners.mu.Unlock()
	if !ok {
		var err error
		owner, err = s.store.ClaimClient(ctx, p.Namespace, client, p.Actor)
		if err != nil {
			return s.storageAPIError("claim client id", roomID{ns: p.Namespace}, err)
		}
		s.owners.mu.Lock()
		if s.owners.m == nil || len(s.owners.m) >= maxCachedOwners {
			s.owners.m = map[clientID]string{}
		}
		s.owners.m[id] = owner
		s.owners.mu.Unlock()
	}
	if owner != p.Actor {
		return errorf(http.StatusForbidden, protocol.CodeClientTaken, "client id %q belongs to another actor of namespace %q; make a new one", client, p.Namespace)
	}
	return nil
}

// takeOver makes c the connection of its client id. The older of two
// connections of one id ends with a fatal "replaced": two connections
// speaking for one queue would each take the other's acknowledgements for
// their own. Older means upgraded first, not greeted first: a client whose
// link dropped while its hello was still being checked (a slow claim in
// the store) has already redialled, and the hello of its dead connection
// must not end the live one.
func (s *Server) takeOver(c *conn) {
	id := clientID{c.p.Namespace, c.client}
	s.connsMu.Lock()
	old := s.byClient[id]
	loser := old
	if old == nil || old.serial < c.serial {
		s.byClient[id] = c
	} else {
		loser = c
	}
	s.connsMu.Unlock()
	if loser != nil && old != c {
		s.log.Info("a newer connection holds the client id", "ns", id.ns, "client", id.client)
		loser.fail(errorf(http.StatusConflict, protocol.CodeReplaced, "another connection of client %q took over", id.client))
	}
}

// forget drops c as its client id's connection, if it still is. connsMu is
// held.
func (s *Server) forget(c *conn) {
	if id := (clientID{c.p.Namespace, c.client}); s.byClient[id] == c {
		delete(s.byClient, id)
	}
}
