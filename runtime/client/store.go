package client

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/schema"
)

// Store is one key: the confirmed state (the server's, at seq), the pending
// mutations of this client (durable, in mid order), and the view the app
// sees, pending replayed on a copy of confirmed. Generated typed stores wrap
// it.
type Store struct {
	c   *Client
	typ *contract.Type
	key string

	mu        sync.Mutex
	confirmed any
	seq       uint64
	epoch     string
	pending   []pendingRow
	nextMid   uint64
	view      any // nil: rebuild from confirmed + pending
	live      bool
	resyncing bool
	dirty     bool // confirmed changed since it was saved
	err       error

	subs subscribers // of the view (subscribe.go)

	pres presenceState // presence.go
}

func newStore(c *Client, t *contract.Type, key string) (*Store, error) {
	s := &Store{c: c, typ: t, key: key, confirmed: t.New()}
	if c.disk == nil {
		return s, nil
	}
	row, pend, ok, err := c.disk.load(key)
	if err != nil {
		return nil, fmt.Errorf("client: loading %q: %w", key, err)
	}
	if !ok {
		return s, nil
	}
	if row.Type != t.Name {
		return nil, fmt.Errorf("client: %q was stored as a %s, not a %s", key, row.Type, t.Name)
	}
	if len(row.State) > 0 {
		st, err := t.Decode(row.State)
		if err != nil {
			return nil, fmt.Errorf("client: stored state of %q: %w", key, err)
		}
		s.confirmed = st
	}
	s.seq, s.epoch, s.nextMid, s.pending = row.Seq, row.Epoch, row.NextMid, pend
	return s, nil
}

// Key returns the store's key.
func (s *Store) Key() string { return s.key }

// Type returns the key's state type.
func (s *Store) Type() *contract.Type { return s.typ }

// Err returns the error that stopped the store from syncing, or nil: a
// *ServerError whose code is schema_mismatch (this client's schema cannot be
// served by the server's), unknown_type, type_mismatch (the key holds
// another type), forbidden, bad_key or too_many_keys. WaitSynced returns it
// too.
func (s *Store) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Seq returns the seq of the confirmed state.
func (s *Store) Seq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// LastMutation returns the id (mid) of the last mutation made on this key
// by this client: a Rejection with this Key and Mid refuses it.
func (s *Store) LastMutation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextMid
}

// Pending returns the number of mutations waiting for the server.
func (s *Store) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// ownCtx is the context of one of this client's mutations: its identity
// is (key, client, mid), known before the server has seen it.
func (s *Store) ownCtx(p pendingRow) schema.Ctx {
	return schema.NewContext(schema.Meta{Key: s.key, Client: s.c.id, Mid: p.Mid, Actor: s.c.actorName(), Time: time.UnixMilli(p.Time).UTC()})
}

// eventCtx is the context of a confirmed event. s.mu is held.
func (s *Store) eventCtx(m *protocol.Msg) schema.Ctx {
	return schema.NewContext(schema.Meta{Key: s.key, Client: m.Client, Mid: m.Mid, Actor: m.Actor, Time: time.UnixMilli(m.Time).UTC(), Epoch: s.epoch, Seq: m.Seq})
}

// currentView returns the view, rebuilding it if needed. s.mu is held.
func (s *Store) currentView() any {
	if s.view == nil {
		v := s.typ.Clone(s.confirmed)
		for _, p := range s.pending {
			next := s.typ.Clone(v)
			if err := s.applyOwn(next, p); err == nil {
				v = next
			}
		}
		s.view = v
	}
	return s.view
}

// View returns a deep copy of the current view: a pointer to the state.
func (s *Store) View() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.typ.Clone(s.currentView())
}

// Confirmed returns a deep copy of the server-confirmed state and its seq.
func (s *Store) Confirmed() (any, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.typ.Clone(s.confirmed), s.seq
}

// Mutate applies action to the view at once and queues it durably for the
// server. If the action refuses against the view, its error is returned and
// nothing is queued.
func (s *Store) Mutate(action string, args any) error {
	b, err := json.Marshal(args)
	if err != nil {
		return fmt.Errorf("client: encoding %s args: %w", action, err)
	}
	s.mu.Lock()
	if s.c.ctx.Err() != nil {
		s.mu.Unlock()
		return ErrClosed
	}
	p := pendingRow{Mid: s.nextMid + 1, Name: action, Args: b, Time: s.c.now().UnixMilli()}
	next := s.typ.Clone(s.currentView())
	if err := s.applyOwn(next, p); err != nil {
		s.mu.Unlock()
		return err
	}
	if s.c.disk != nil {
		if err := s.c.disk.enqueue(s.key, s.typ.Name, p); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("client: queueing %s: %w", action, err)
		}
	}
	s.nextMid = p.Mid
	s.pending = append(s.pending, p)
	s.view = next
	if s.live {
		if l := s.c.currentLink(); l != nil {
			s.sendMut(l, p)
		}
	}
	s.mu.Unlock()
	s.changed()
	return nil
}

// applyOwn applies one of this client's mutations to state as the server
// will: the type's write rule first, then the action.
func (s *Store) applyOwn(state any, p pendingRow) error {
	if max := s.typ.MaxArgs[p.Name]; max > 0 && len(p.Args) > max {
		return contract.Errorf(protocol.CodeArgsTooLarge, "%s takes at most %d bytes of arguments (the schema's //bs:maxargs), not %d", p.Name, max, len(p.Args))
	}
	ctx := s.ownCtx(p)
	if err := s.typ.CheckWrite(state, ctx, p.Name); err != nil {
		return err
	}
	return s.typ.Apply(state, ctx, p.Name, p.Args)
}

// sendMut queues one pending mutation on l (which does not block on the
// network). s.mu is held, so mutations go out in mid order.
func (s *Store) sendMut(l link, p pendingRow) {
	// A failed write ends the connection; the mutation is resent after
	// the next resync.
	l.send(protocol.Encode(&protocol.Msg{T: protocol.TMut, Key: s.key, Mid: p.Mid, Name: p.Name, Args: p.Args}))
	if s.c.bugClearOnSend {
		s.dropThrough(p.Mid)
	}
}

// resolved is the highest mid up to which every mutation was processed.
func (s *Store) resolved() uint64 {
	if len(s.pending) > 0 {
		return s.pending[0].Mid - 1
	}
	return s.nextMid
}

// subscribe sends sub with the cursor held. snap asks for a snapshot.
func (s *Store) subscribe(l link, snap bool) {
	s.mu.Lock()
	s.live = false
	s.resyncing = true
	m := protocol.Msg{T: protocol.TSub, Key: s.key, Type: s.typ.Name, FP: s.typ.Fingerprint, After: s.seq, Epoch: s.epoch, Acked: s.resolved(), Snap: snap, Presence: s.typ.Presence != nil}
	if !s.c.sameSchema(s.typ) {
		// The server was built from another version of the schema: it
		// compares shapes to decide whether it can serve this client.
		m.Shape = s.typ.Shape
	}
	s.mu.Unlock()
	l.send(protocol.Encode(&m))
}

// handle applies one server message for this key.
func (s *Store) handle(l link, m *protocol.Msg) {
	if m.T == protocol.TPresence {
		s.applyPresence(m)
		return
	}
	s.mu.Lock()
	switch m.T {
	case protocol.TSnap:
		st, err := s.typ.Decode(m.State)
		if err != nil {
			s.c.log.Error("client: undecodable snapshot", "key", s.key, "err", err)
			break
		}
		s.confirmed, s.seq, s.epoch = st, m.Seq, m.Epoch
		s.view, s.dirty = nil, true
	case protocol.TEv:
		if m.Seq <= s.seq {
			break // heard already (a resubscription overlaps the stream)
		}
		if m.Seq != s.seq+1 {
			s.mu.Unlock()
			s.c.log.Info("client: seq gap; resyncing", "key", s.key, "have", s.seq, "got", m.Seq)
			s.resync(l, false)
			return
		}
		applyErr := s.typ.Apply(s.confirmed, s.eventCtx(m), m.Name, m.Args)
		if applyErr != nil {
			s.c.log.Warn("client: a confirmed event did not apply here", "key", s.key, "seq", m.Seq, "err", applyErr)
		}
		s.seq = m.Seq
		s.dirty = true
		own := m.Client == s.c.id
		if own && len(s.pending) > 0 && s.pending[0].Mid == m.Mid {
			// Our own next mutation: the view already contains it.
			s.pending = s.pending[1:]
			if len(s.pending) == 0 {
				s.view = nil // the view is now exactly confirmed
			}
		} else {
			if own {
				s.dropThrough(m.Mid)
			}
			s.view = nil // someone else's event: rebase the pending ones
		}
		same := s.c.sameSchema(s.typ)
		if !same && (applyErr != nil || m.Hash != "") {
			// A server built from a newer schema: this client cannot
			// apply actions it does not know, nor check its state against
			// hashes that cover fields it does not have. It takes a
			// snapshot when it meets such an action and at each hashed
			// event, so it never drifts for longer than the hash interval.
			s.mu.Unlock()
			s.resync(l, true)
			return
		}
		if m.Hash != "" && same {
			if b, err := s.typ.Encode(s.confirmed); err == nil && protocol.StateHash(b) != m.Hash {
				seq := m.Seq
				s.mu.Unlock()
				s.c.log.Error("client: state diverged from the server's; resyncing from a snapshot", "key", s.key, "seq", seq)
				if f := s.c.opts.OnDivergence; f != nil {
					f(s.key, seq)
				}
				s.resync(l, true)
				return
			}
		}
	case protocol.TRej:
		found := false
		for i, p := range s.pending {
			if p.Mid == m.Mid {
				s.pending = append(s.pending[:i:i], s.pending[i+1:]...)
				found = true
				break
			}
		}
		if found {
			s.view, s.dirty = nil, true
			if s.c.disk != nil {
				// Forget it on disk before telling the app: a crash
				// after OnReject must not bring it back to be reported
				// (and sent) again.
				if err := s.c.disk.forget(s.key, m.Mid); err != nil {
					s.c.log.Error("client: forgetting a refused mutation failed", "key", s.key, "mid", m.Mid, "err", err)
				}
			}
			rej := Rejection{Key: s.key, Mid: m.Mid, Action: m.Name, Code: m.Code, Message: m.Message}
			s.mu.Unlock()
			s.c.log.Info("client: mutation refused", "key", s.key, "action", m.Name, "code", m.Code)
			if f := s.c.opts.OnReject; f != nil {
				f(rej)
			}
			return
		}
	case protocol.TSynced:
		if m.Epoch != s.epoch || m.Seq != s.seq {
			// The catch-up did not bring us to the head: start over
			// from a snapshot.
			s.mu.Unlock()
			s.resync(l, true)
			return
		}
		s.dropThrough(m.Mid)
		if m.Mid > s.nextMid {
			// The server knows mutations of ours we have forgotten (a
			// lost Dir with a kept id): never reuse their mids.
			s.nextMid = m.Mid
		}
		if s.resolved() > m.Mid {
			// The server forgot mutations it had processed: its log was
			// deleted or restored from an older copy. Within one log the
			// server's cursor never falls behind what it acknowledged,
			// so the queue is renumbered to follow synced.mid, and its
			// mutations are sent again, once each.
			if err := s.renumber(m.Mid); err != nil {
				s.c.log.Error("client: renumbering the queue failed", "key", s.key, "err", err)
				s.mu.Unlock()
				return
			}
		}
		s.live, s.resyncing = true, false
		s.view = nil
		for _, p := range s.pending {
			s.sendMut(l, p)
		}
		s.sendPresence(l)
	case protocol.TErr:
		switch m.Code {
		case protocol.CodeDuplicate:
			// A resend of a mutation the server had processed: its answer
			// came (or comes with the next synced).
		case protocol.CodeReset:
			// The key was deleted: subscribe again to start over.
			s.mu.Unlock()
			s.resync(l, false)
			return
		case protocol.CodeMidGap, protocol.CodeRateLimited, protocol.CodeInternal, protocol.CodeStorage, protocol.CodeNotSubscribed, protocol.CodeBusy, protocol.CodeQuota, protocol.CodeShuttingDown:
			// A refused mut (mid > 0) during a resync is answered by
			// the resync itself; a refused sub (mid 0) needs another.
			if s.resyncing && m.Mid > 0 {
				break
			}
			s.mu.Unlock()
			// A rate_limited err says when the server takes more.
			delay := max(200*time.Millisecond, min(time.Duration(m.RetryMs)*time.Millisecond, time.Minute))
			s.c.later(delay, func() { s.resync(l, false) })
			return
		default:
			s.err = &ServerError{Key: s.key, Code: m.Code, Message: m.Message}
			s.c.log.Warn("client: key refused", "key", s.key, "code", m.Code, "msg", m.Message)
		}
	}
	s.mu.Unlock()
}

// renumber gives the pending mutations the mids that follow base, the
// server's cursor, on disk and in memory. s.mu is held.
func (s *Store) renumber(base uint64) error {
	renum := make([]pendingRow, len(s.pending))
	for i, p := range s.pending {
		p.Mid = base + 1 + uint64(i)
		renum[i] = p
	}
	if s.c.disk != nil {
		if err := s.c.disk.renumber(s.key, s.typ.Name, renum, base+uint64(len(renum))); err != nil {
			return err
		}
	}
	s.c.log.Info("client: the server's log went back; queue renumbered", "key", s.key, "from", s.resolved()+1, "to", base+1, "pending", len(renum))
	if f := s.c.onRenumber; f != nil {
		old, now := make([]uint64, len(renum)), make([]uint64, len(renum))
		for i := range renum {
			old[i], now[i] = s.pending[i].Mid, renum[i].Mid
		}
		f(s.key, old, now)
	}
	s.pending = renum
	s.nextMid = base + uint64(len(renum))
	s.view = nil
	return nil
}

// dropThrough forgets pending mutations with mid <= mid. s.mu is held.
func (s *Store) dropThrough(mid uint64) {
	i := 0
	for i < len(s.pending) && s.pending[i].Mid <= mid {
		i++
	}
	if i > 0 {
		s.pending = s.pending[i:]
		s.view, s.dirty = nil, true
	}
}

func (s *Store) resync(l link, snap bool) {
	if l != s.c.currentLink() {
		return
	}
	s.subscribe(l, snap)
}

// persist saves the confirmed state if it changed.
func (s *Store) persist() error {
	if s.c.disk == nil {
		return nil
	}
	// s.mu is held through the save: a renumbering (which rewrites the
	// queue's mids) must not fall between reading resolved and deleting
	// the pending rows up to it.
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty {
		return nil
	}
	b, err := s.typ.Encode(s.confirmed)
	if err != nil {
		return err
	}
	row := keyRow{Key: s.key, Type: s.typ.Name, Seq: s.seq, Epoch: s.epoch, State: b, NextMid: s.nextMid}
	if err := s.c.disk.save(row, s.resolved()); err != nil {
		return err
	}
	s.dirty = false
	return nil
}
