package server

import (
	"net/http"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
)

// Rooms are capped: at most Limits.MaxRooms at once, holding states of at
// most Limits.MaxRoomBytes encoded bytes together. A room that would go
// over evicts idle rooms (no subscribers, nothing handled for a second);
// when every room is in use the caller gets busy (503 on REST, err busy on
// a WebSocket) and tries again later.

// roomInbox is how many messages wait for one room; a room's batch is at
// most this many. Its buffer is allocated with the room, so it is small.
const roomInbox = 128

// errBusy is the answer when every room is in use.
var errBusy = errorf(http.StatusServiceUnavailable, protocol.CodeBusy, "the server holds its limit of active keys; retry in a second")

// getRoom returns the active room of (ns, key), starting it if needed, or
// nil when the room cap is reached and no room can be evicted.
func (s *Server) getRoom(ns, key string) *room {
	id := roomID{ns, key}
	for attempt := 0; ; attempt++ {
		s.roomsMu.Lock()
		if r, ok := s.rooms[id]; ok {
			s.roomsMu.Unlock()
			return r
		}
		if s.cfg.synchronous || !s.roomsFull() {
			r := newRoom(s, id)
			s.rooms[id] = r
			if s.cfg.synchronous {
				r.load()
			} else {
				s.roomsWG.Add(1)
				go r.run()
			}
			s.roomsMu.Unlock()
			return r
		}
		victim := s.idleRoom()
		s.roomsMu.Unlock()
		if victim == nil || attempt == 3 {
			return nil
		}
		victim.stop()
	}
}

// roomsFull reports whether a new room would go over the cap. roomsMu is
// held.
func (s *Server) roomsFull() bool {
	l := &s.cfg.Limits
	return len(s.rooms) >= l.MaxRooms || s.roomBytes.Load() >= l.MaxRoomBytes
}

// idleRoom returns the least recently used room without subscribers among
// a few picked at random (map order), or nil. roomsMu is held.
func (s *Server) idleRoom() *room {
	const look = 64
	cutoff := time.Now().Add(-time.Second).UnixNano()
	var best *room
	n := 0
	for _, r := range s.rooms {
		if n++; n > look {
			break
		}
		if r.nsubs.Load() > 0 {
			continue
		}
		if u := r.used.Load(); u < cutoff && (best == nil || u < best.used.Load()) {
			best = r
		}
	}
	return best
}

// send delivers m to the room of (ns, key), restarting the room if it was
// evicted in between. It fails only with errBusy.
func (s *Server) send(ns, key string, m roomMsg) *apiError {
	for {
		r := s.getRoom(ns, key)
		if r == nil {
			return errBusy
		}
		if r.post(m) {
			return nil
		}
	}
}

// sendIfActive delivers m to the room of (ns, key) if it is active, and
// reports whether it did. Unsubscribing needs no room started.
func (s *Server) sendIfActive(ns, key string, m roomMsg) bool {
	s.roomsMu.Lock()
	r := s.rooms[roomID{ns, key}]
	s.roomsMu.Unlock()
	return r != nil && r.post(m)
}

// account publishes what the room cap needs to know. Called by the loop.
func (r *room) account() {
	r.nsubs.Store(int32(len(r.subs)))
	r.used.Store(time.Now().UnixNano())
	// An estimate of what the room holds: the decoded state (about
	// twice its encoding), the encoding, the ring, a cached snap and the
	// presence (its data, and as much again for the members).
	b := int64(3*len(r.enc)+len(r.snapFrame)+r.ringBytes) + 2*r.pres.bytes + 16<<10
	if b != r.bytes {
		r.srv.roomBytes.Add(b - r.bytes)
		r.bytes = b
	}
}

// release gives the room's bytes back when it stops.
func (r *room) release() {
	r.srv.roomBytes.Add(-r.bytes)
	r.bytes = 0
}
