package client

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
)

// Presence of a key (docs/PROTOCOL.md, "Presence"): this client's own, set
// with SetPresence and sent again after each reconnect, and everyone's, as
// the server last sent it. It lives in memory only.
type presenceState struct {
	mu      sync.Mutex
	mine    json.RawMessage // nil: none
	members map[string]protocol.Member
	subs    subscribers
}

// SetPresence sets this client's presence on the key (nil clears it): the
// others see it within a presence tick, and it is sent again after every
// reconnect until changed. It fails if the key's type declares no presence
// type, if v does not encode, or if its encoding is over the server's
// presence limit (2 KiB by default; the server answers presence_too_large).
func (s *Store) SetPresence(v any) error {
	if s.typ.Presence == nil {
		return fmt.Errorf("client: %s declares no presence type (//bs:presence)", s.typ.Name)
	}
	var data json.RawMessage
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("client: presence of %q: %w", s.key, err)
		}
		data = b
	}
	s.pres.mu.Lock()
	s.pres.mine = data
	s.pres.mu.Unlock()
	if l := s.c.currentLink(); l != nil && s.isLive() {
		return l.send(protocol.Encode(&protocol.Msg{T: protocol.TPset, Key: s.key, Data: orNull(data)}))
	}
	return nil
}

func orNull(b json.RawMessage) json.RawMessage {
	if b == nil {
		return json.RawMessage("null")
	}
	return b
}

func (s *Store) isLive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

// sendPresence sends this client's presence after a subscription: the
// server forgot it with the connection.
func (s *Store) sendPresence(l link) {
	s.pres.mu.Lock()
	mine := s.pres.mine
	s.pres.mu.Unlock()
	if mine != nil {
		l.send(protocol.Encode(&protocol.Msg{T: protocol.TPset, Key: s.key, Data: mine}))
	}
}

// Members returns the key's presence as the server last sent it, sorted by
// client id; this client's own entry is among them once the server has it.
func (s *Store) Members() []protocol.Member {
	s.pres.mu.Lock()
	defer s.pres.mu.Unlock()
	return s.membersLocked()
}

func (s *Store) membersLocked() []protocol.Member {
	out := make([]protocol.Member, 0, len(s.pres.members))
	for _, id := range slices.Sorted(maps.Keys(s.pres.members)) {
		out = append(out, s.pres.members[id])
	}
	return out
}

// applyPresence applies a presence message: the whole set, or a tick's
// changes.
func (s *Store) applyPresence(m *protocol.Msg) {
	p := &s.pres
	p.mu.Lock()
	if m.Full || p.members == nil {
		p.members = map[string]protocol.Member{}
	}
	for _, mb := range m.Members {
		if old, ok := p.members[mb.Client]; ok && mb.Actor == "" {
			mb.Actor = old.Actor // sent once per member
		}
		p.members[mb.Client] = mb
	}
	for _, id := range m.Left {
		delete(p.members, id)
	}
	p.mu.Unlock()
	p.subs.signal()
}

// forgetPresence empties everyone's presence: offline, the client does not
// know it, and the next subscription brings the whole set again.
func (s *Store) forgetPresence() { s.applyPresence(&protocol.Msg{Full: true}) }

// SubscribePresence calls fn with the members now and after each change, on
// a goroutine of its own, coalescing bursts, until cancel is called.
func (s *Store) SubscribePresence(fn func([]protocol.Member)) (cancel func()) {
	return s.pres.subs.add(func() { fn(s.Members()) })
}

// Presence is the typed presence of one key, P being the presence type
// that the key's state type declared (//bs:presence).
//
//	p := client.PresenceOf[todos.Watcher](list)
//	p.Set(todos.Watcher{Name: "ann"})
//	p.Subscribe(func(ms []client.Member[todos.Watcher]) { ... })
type Presence[P any] struct {
	store *Store
}

// Member is one client's presence on a key.
type Member[P any] struct {
	Client string // its client id
	Actor  string // the actor of its API key
	Self   bool   // this client
	Value  P
}

// PresenceOf returns the presence of t's key. P must be the presence type
// bsgen generated for S: another type does not compile.
func PresenceOf[P contract.PresenceOf[S], S any](t *Typed[S]) *Presence[P] {
	return &Presence[P]{store: t.store}
}

// Set sets this client's presence; see Store.SetPresence.
func (p *Presence[P]) Set(v P) error { return p.store.SetPresence(v) }

// Clear removes this client's presence.
func (p *Presence[P]) Clear() error { return p.store.SetPresence(nil) }

// Members returns everyone's presence, this client's included, sorted by
// client id. A member whose data does not decode as a P (a client built
// from another version of the schema) has its zero value.
func (p *Presence[P]) Members() []Member[P] { return p.typed(p.store.Members()) }

// Subscribe calls fn with the members now and after each change; see
// Store.SubscribePresence.
func (p *Presence[P]) Subscribe(fn func([]Member[P])) (cancel func()) {
	return p.store.SubscribePresence(func(ms []protocol.Member) { fn(p.typed(ms)) })
}

func (p *Presence[P]) typed(ms []protocol.Member) []Member[P] {
	out := make([]Member[P], len(ms))
	for i, m := range ms {
		out[i] = Member[P]{Client: m.Client, Actor: m.Actor, Self: m.Client == p.store.c.id}
		_ = json.Unmarshal(m.Data, &out[i].Value)
	}
	return out
}
