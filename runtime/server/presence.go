package server

// Presence (docs/PROTOCOL.md, "Presence"): what each connection subscribed
// to a key says about itself, in the room's memory only. Changes are
// coalesced per member (the last value wins) and sent to the subscribers at
// most once per Limits.PresenceTick, in one frame shared by all of them.

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
)

// member is one connection's presence on a key, by client id.
type member struct {
	conn      *conn
	actor     string
	data      json.RawMessage
	announced bool // a tick has sent its actor: later ticks leave it out
}

// presence is a room's presence: the members, and the client ids changed
// (set, updated or gone) since the last tick.
type presence struct {
	members map[string]*member
	changed map[string]struct{}
	bytes   int64 // of the members' data, for the room's estimate
	timer   *time.Timer
	tick    <-chan time.Time // nil while no tick is due
}

// pset handles a presence update of a connection that the connection has
// checked (subscribed, size, rate).
func (r *room) pset(c *conn, m *protocol.Msg) {
	if _, ok := r.subs[c]; !ok {
		c.sendErr(protocol.CodeNotSubscribed, r.id.key, 0, "subscribe to %q before setting presence on it", r.id.key)
		return
	}
	if r.typ == nil || r.typ.Presence == nil {
		name := "this key's type"
		if r.typ != nil {
			name = r.typ.Name
		}
		c.sendErr(protocol.CodeBadPresence, r.id.key, 0, "%s declares no presence type (mark one with //bs:presence)", name)
		return
	}
	if len(m.Data) == 0 || bytes.Equal(m.Data, []byte("null")) {
		r.leave(c)
		return
	}
	if err := json.Unmarshal(m.Data, r.typ.Presence.New()); err != nil {
		c.sendErr(protocol.CodeBadPresence, r.id.key, 0, "presence is not a %s: %v", r.typ.Presence.Name, err)
		return
	}
	p := &r.pres
	if p.members == nil {
		p.members = map[string]*member{}
	}
	if old := p.members[c.client]; old != nil && old.conn == c {
		p.bytes += int64(len(m.Data) - len(old.data))
		old.data = m.Data
	} else {
		if old != nil {
			p.bytes -= int64(len(old.data))
		}
		p.members[c.client] = &member{conn: c, actor: c.p.Actor, data: m.Data}
		p.bytes += int64(len(m.Data))
	}
	r.presenceChanged(c.client)
}

// leave removes c's presence, if it is c's (a newer connection of the same
// client id may have set it since).
func (r *room) leave(c *conn) {
	p := &r.pres
	if mb := p.members[c.client]; mb != nil && mb.conn == c {
		delete(p.members, c.client)
		p.bytes -= int64(len(mb.data))
		r.presenceChanged(c.client)
	}
}

func (r *room) presenceChanged(client string) {
	p := &r.pres
	if p.changed == nil {
		p.changed = map[string]struct{}{}
	}
	p.changed[client] = struct{}{}
	if r.srv.cfg.synchronous {
		r.sendPresence()
		return
	}
	if p.tick == nil {
		if p.timer == nil {
			p.timer = time.NewTimer(r.srv.cfg.Limits.PresenceTick)
		} else {
			p.timer.Reset(r.srv.cfg.Limits.PresenceTick)
		}
		p.tick = p.timer.C
	}
}

// sendPresence sends what changed since the last tick to every subscriber,
// in one frame.
func (r *room) sendPresence() {
	p := &r.pres
	p.tick = nil
	if len(p.changed) == 0 {
		return
	}
	msg := protocol.Msg{T: protocol.TPresence, Key: r.id.key}
	for _, id := range slices.Sorted(maps.Keys(p.changed)) {
		if mb := p.members[id]; mb != nil {
			e := protocol.Member{Client: id, Data: mb.data}
			if !mb.announced {
				e.Actor, mb.announced = mb.actor, true
			}
			msg.Members = append(msg.Members, e)
		} else {
			msg.Left = append(msg.Left, id)
		}
	}
	clear(p.changed)
	frame := protocol.Encode(&msg)
	for c, mode := range r.subs {
		if mode.presence {
			c.enqueueShared(frame)
		}
	}
}

// presenceSet is the whole presence of the key, sent to a new subscriber
// after its synced; nil for a type without presence.
func (r *room) presenceSet() []byte {
	if r.typ == nil || r.typ.Presence == nil {
		return nil
	}
	return protocol.Encode(&protocol.Msg{T: protocol.TPresence, Key: r.id.key, Full: true, Members: r.members()})
}

// members lists the key's presence, for REST.
func (r *room) members() []protocol.Member {
	out := []protocol.Member{}
	for _, id := range slices.Sorted(maps.Keys(r.pres.members)) {
		mb := r.pres.members[id]
		out = append(out, protocol.Member{Client: id, Actor: mb.actor, Data: mb.data})
	}
	return out
}

// clearPresence forgets every member (the key was deleted); the
// subscribers were told already.
func (r *room) clearPresence() {
	clear(r.pres.members)
	clear(r.pres.changed)
	r.pres.bytes = 0
}

func (r *room) stopPresence() {
	if r.pres.timer != nil {
		r.pres.timer.Stop()
	}
}

// presence answers GET /v1/namespaces/{ns}/states/{key}/presence: the
// members of a key. A key nobody is subscribed to has none, and is not
// loaded to say so.
func (s *Server) presence(w http.ResponseWriter, r *http.Request, p principal) {
	key := r.PathValue("key") // checked by authed
	if meta, err := s.store.State(r.Context(), p.Namespace, key); err == nil && !s.readRuleAllows(w, r, roomID{p.Namespace, key}, p, meta) {
		return
	}
	ch := make(chan []protocol.Member, 1)
	if !s.sendIfActive(p.Namespace, key, roomMsg{kind: kindPresence, members: ch}) {
		writeJSON(w, http.StatusOK, map[string]any{"key": key, "members": []protocol.Member{}})
		return
	}
	members, ok := await(r.Context(), ch)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": key, "members": members})
}
