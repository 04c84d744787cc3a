package server

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/storage"
	"golang.org/x/time/rate"
)

type roomID struct{ ns, key string }

// A room owns one key while it is active: its authoritative state, the
// dedup cursors of the clients that wrote to it, and its subscribers. Every
// message for the key is handled by the room's own goroutine, in order.
//
// The loop takes the messages that are waiting, applies their mutations to
// the state one after another, makes the whole batch durable in one Write
// (which the store commits together with other rooms' batches), and only then
// broadcasts the events. Between batches the in-memory state is exactly the
// committed state, so a subscriber's catch-up is read, and the subscriber
// registered, in one step with nothing in flight.
type room struct {
	srv   *Server
	id    roomID
	inbox chan roomMsg

	mu     sync.RWMutex // guards closed, for senders
	closed bool

	// Kept by the loop for the room cap (rooms.go): subscribers, when
	// the room last handled a message, the bytes of its state.
	nsubs atomic.Int32
	used  atomic.Int64
	bytes int64

	// Owned by the loop.
	typ       *contract.Type
	exists    bool
	loadErr   error
	state     any
	seq       uint64
	epoch     string
	firstSeq  uint64
	mids      map[string]uint64
	subs      map[*conn]subMode // subscribers and what they asked for (patch.go)
	npatch    int               // subscribers in patch mode
	ring      []ringEvent
	ringBytes int
	snapFrame []byte // the snap frame of state at snapSeq, shared by subscribers
	snapSeq   uint64
	sinceSnap int
	enc       []byte // the encoding of state: snapshots, hashes and sizes come from it

	w   storage.Write
	out []outcome
	// base is the room as it was before the batch in w (follow.go undoes
	// a batch another server's Write beat); rebases counts the batch's
	// runs, and rerun is set while its mutations run again.
	base    batchBase
	rebases int
	rerun   bool

	pres presence // presence.go

	muts  *rate.Limiter // the key's mutation budget, all writers together
	quota *nsQuota      // the namespace's, once loaded
}

type msgKind int

const (
	kindMut msgKind = iota
	kindSub
	kindUnsub
	kindRest
	kindRead
	kindDelete
	kindStop
	kindPset     // a connection's presence update
	kindPresence // REST: the members
	kindFollow   // another server wrote to the key (follow.go)
)

type roomMsg struct {
	kind    msgKind
	conn    *conn
	msg     *protocol.Msg
	rest    *restMut
	read    chan readResult
	deleted chan *apiError
	members chan []protocol.Member
	done    chan struct{}
	actor   string // kindRead: who reads, for the read rule
	// kindFollow: the key's head in storage, if headKnown.
	head      storage.Head
	headKnown bool
}

// batchBase is what the room was before the mutations of its batch: the
// state is not changed in place (apply works on a clone), so keeping it
// costs nothing.
type batchBase struct {
	set       bool
	state     any
	enc       []byte
	seq       uint64
	sinceSnap int
}

// input is where a mutation came from, to run it again (follow.go).
type input struct {
	conn *conn
	msg  *protocol.Msg
	rest *restMut
}

// restMut is a mutation that came through REST.
type restMut struct {
	typ, name, client, actor string
	mid                      uint64
	args                     json.RawMessage
	reply                    chan restResult
}

type restResult struct {
	seq   uint64
	err   *apiError
	dup   bool
	canon json.RawMessage // dup: the request's args in canonical form (nil: they do not decode)
}

type readResult struct {
	meta  storage.StateMeta
	state json.RawMessage
	err   *apiError
}

// outcome is what to tell once the batch is durable.
type outcome struct {
	frame  []byte    // ev frame to broadcast, or rej frame for client
	patch  []byte    // the patch frame of the event, made when a subscriber is in patch mode
	revoke []revoked // subscribers the read rule refuses after this event
	seq    uint64    // for ev
	client string    // rej: the originator
	rest   *restMut
	apiErr *apiError
	in     input // the mutation of this outcome
}

func newRoom(s *Server, id roomID) *room {
	r := &room{
		srv:   s,
		id:    id,
		inbox: make(chan roomMsg, roomInbox),
		mids:  map[string]uint64{},
		subs:  map[*conn]subMode{},
		muts:  limiter(s.cfg.Limits.KeyMutationsPerSec, int(s.cfg.Limits.KeyMutationsPerSec)),
	}
	r.used.Store(time.Now().UnixNano()) // not a victim of the room cap while it loads
	return r
}

func (r *room) post(m roomMsg) bool {
	if r.srv.cfg.synchronous {
		return r.handleNow(m)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return false
	}
	r.inbox <- m
	return true
}

// tryPost is post that gives up when the inbox is full: the listener of
// other servers' writes must not wait for one slow room (the periodic
// head check brings the room up to date later).
func (r *room) tryPost(m roomMsg) {
	if r.srv.cfg.synchronous {
		r.handleNow(m)
		return
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return
	}
	select {
	case r.inbox <- m:
	default:
	}
}

// handleNow is post in Synchronous mode: the message and the flush of its
// batch happen before it returns.
func (r *room) handleNow(m roomMsg) bool {
	r.srv.syncMu.Lock()
	defer r.srv.syncMu.Unlock()
	r.mu.RLock()
	closed := r.closed
	r.mu.RUnlock()
	if closed {
		return false
	}
	if !r.handle(m) {
		r.flush()
	}
	return true
}

func (r *room) stop() {
	done := make(chan struct{})
	if r.post(roomMsg{kind: kindStop, done: done}) {
		<-done
	}
}

func (r *room) run() {
	defer r.srv.roomsWG.Done()
	defer r.release()
	r.load()
	r.account()
	idle := time.NewTimer(r.srv.cfg.RoomIdle)
	defer idle.Stop()
	defer r.stopPresence()
	for {
		select {
		case <-r.pres.tick:
			r.sendPresence()
		case m := <-r.inbox:
			// Following other servers is not activity: a room nobody
			// uses is still evicted when idle.
			active := m.kind != kindFollow
			if r.handle(m) {
				return
			}
			// Take what else is waiting into the same batch.
		drain:
			for range cap(r.inbox) {
				select {
				case m := <-r.inbox:
					active = active || m.kind != kindFollow
					if r.handle(m) {
						return
					}
				default:
					break drain
				}
			}
			r.flush()
			if !active {
				continue
			}
			r.account()
			if !idle.Stop() {
				select {
				case <-idle.C:
				default:
				}
			}
			idle.Reset(r.srv.cfg.RoomIdle)
		case <-idle.C:
			if len(r.subs) == 0 && r.evict() {
				return
			}
			idle.Reset(r.srv.cfg.RoomIdle)
		}
	}
}

// evict removes an idle room without subscribers. It gives up (and the
// room lives on) if a sender holds the room or a message is waiting.
func (r *room) evict() bool {
	if !r.mu.TryLock() {
		return false
	}
	if len(r.inbox) > 0 {
		r.mu.Unlock()
		return false
	}
	r.closed = true
	r.mu.Unlock()
	r.srv.roomsMu.Lock()
	if r.srv.rooms[r.id] == r {
		delete(r.srv.rooms, r.id)
	}
	r.srv.roomsMu.Unlock()
	return true
}

// handle processes one message; it returns true when the room stops.
func (r *room) handle(m roomMsg) bool {
	switch m.kind {
	case kindMut:
		r.mut(m.conn, m.msg)
	case kindRest:
		r.restMut(m.rest)
	case kindSub:
		r.flush()
		r.follow(storage.Head{}, false) // with other servers: from the log's head
		r.sub(m.conn, m.msg)
	case kindUnsub:
		r.dropSub(m.conn)
		r.leave(m.conn)
		if m.done != nil {
			close(m.done)
		}
	case kindRead:
		r.flush()
		r.follow(storage.Head{}, false)
		if e := r.readRefused(m.actor, ""); e != nil {
			m.read <- readResult{err: e}
			break
		}
		m.read <- r.read()
	case kindDelete:
		r.flush()
		m.deleted <- r.deleteKey()
	case kindPset:
		r.pset(m.conn, m.msg)
	case kindPresence:
		m.members <- r.members()
	case kindFollow:
		r.follow(m.head, m.headKnown)
		return false
	case kindStop:
		r.flush()
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		// Answer whatever raced in before closed was set.
		for {
			select {
			case m2 := <-r.inbox:
				r.reject(m2)
			default:
				r.srv.roomsMu.Lock()
				if r.srv.rooms[r.id] == r {
					delete(r.srv.rooms, r.id)
				}
				r.srv.roomsMu.Unlock()
				close(m.done)
				return true
			}
		}
	}
	return false
}
