package server

// The schema's rules (contract.Type.ReadRule and WriteRule): who may read
// a key and who may run an action, decided on the state itself, after the
// credential's grants.

import (
	"net/http"
	"sync"

	"golang.org/x/time/rate"

	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/schema"
)

// ruleCtx is the context a rule runs with: the key, its position, who asks
// and when.
func (r *room) ruleCtx(actor, client string) schema.Ctx {
	return schema.NewContext(schema.Meta{Key: r.id.key, Client: client, Actor: actor, Time: r.srv.now().UTC(), Epoch: r.epoch, Seq: r.seq})
}

// readRefused runs the type's read rule for actor: nil, or the forbidden
// error to answer.
func (r *room) readRefused(actor, client string) *apiError {
	if r.typ == nil || r.typ.ReadRule == nil || !r.exists {
		return nil
	}
	err := r.typ.CheckRead(r.state, r.ruleCtx(actor, client))
	if err == nil {
		return nil
	}
	msg := err.Error()
	if rj, ok := schema.AsRejection(err); ok {
		msg = rj.Code + ": " + rj.Message
	}
	return errorf(http.StatusForbidden, protocol.CodeForbidden, "the read rule of %s refuses %q: %s", r.typ.Name, actor, msg)
}

// refusedReaders returns the subscribers the read rule no longer allows,
// after an event changed the state, with the error to send them. flush
// ends their subscriptions right after that event's broadcast, before
// the next event of the batch goes out.
func (r *room) refusedReaders() []revoked {
	if r.typ == nil || r.typ.ReadRule == nil {
		return nil
	}
	var out []revoked
	for c := range r.subs {
		if e := r.readRefused(c.p.Actor, c.client); e != nil {
			out = append(out, revoked{c, e})
		}
	}
	return out
}

// revoked is a subscriber the read rule refused after an event.
type revoked struct {
	c *conn
	e *apiError
}

// actorLimits paces each actor's mutations, from all its connections and
// REST together (Limits.ActorMutationsPerSec). The map is bounded: past
// maxActorLimiters actors it starts over, which forgets spent budgets but
// never refuses anyone for it.
type actorLimits struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

const maxActorLimiters = 100_000

// actorAllow takes one of actor's mutation tokens; it returns the
// rate_limited error otherwise.
func (s *Server) actorAllow(ns, actor string) *apiError {
	id := ns + "\x00" + actor
	a := &s.actors
	a.mu.Lock()
	l := a.m[id]
	if l == nil {
		if a.m == nil || len(a.m) >= maxActorLimiters {
			a.m = map[string]*rate.Limiter{}
		}
		r := s.cfg.Limits.ActorMutationsPerSec
		l = limiter(r, int(r))
		a.m[id] = l
	}
	a.mu.Unlock()
	now := s.now()
	if l.AllowN(now, 1) {
		return nil
	}
	e := errorf(http.StatusTooManyRequests, protocol.CodeRateLimited, "actor %q takes at most %g mutations/s (Limits.ActorMutationsPerSec)", actor, s.cfg.Limits.ActorMutationsPerSec)
	e.Retry = retryAfter(l, now)
	return e
}
