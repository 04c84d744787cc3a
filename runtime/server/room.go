package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/better-state/better-state/internal/storage"
	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/schema"
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
	subs      map[*conn]struct{}
	ring      []ringEvent
	ringBytes int
	snapFrame []byte // the snap frame of state at snapSeq, shared by subscribers
	snapSeq   uint64
	sinceSnap int
	enc       []byte // the encoding of state: snapshots, hashes and sizes come from it

	w   storage.Write
	out []outcome

	tokens   float64 // per-key mutation budget
	lastFill time.Time
	quota    *nsQuota // the namespace's, once loaded
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
)

type roomMsg struct {
	kind    msgKind
	conn    *conn
	msg     *protocol.Msg
	rest    *restMut
	read    chan readResult
	deleted chan *apiError
	done    chan struct{}
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
	frame  []byte // ev frame to broadcast, or rej frame for client
	seq    uint64 // for ev
	client string // rej: the originator
	rest   *restMut
	apiErr *apiError
}

func newRoom(s *Server, id roomID) *room {
	r := &room{
		srv:   s,
		id:    id,
		inbox: make(chan roomMsg, roomInbox),
		mids:  map[string]uint64{},
		subs:  map[*conn]struct{}{},
	}
	r.used.Store(time.Now().UnixNano()) // not a victim of the room cap while it loads
	return r
}

func (r *room) post(m roomMsg) bool {
	if r.srv.cfg.Synchronous {
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
	for {
		select {
		case m := <-r.inbox:
			if r.handle(m) {
				return
			}
			// Take what else is waiting into the same batch.
		drain:
			for range cap(r.inbox) {
				select {
				case m := <-r.inbox:
					if r.handle(m) {
						return
					}
				default:
					break drain
				}
			}
			r.flush()
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
		r.sub(m.conn, m.msg)
	case kindUnsub:
		delete(r.subs, m.conn)
		if m.done != nil {
			close(m.done)
		}
	case kindRead:
		r.flush()
		m.read <- r.read()
	case kindDelete:
		r.flush()
		m.deleted <- r.deleteKey()
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

// reject answers a message that arrived while the room was stopping.
func (r *room) reject(m roomMsg) {
	switch m.kind {
	case kindRest:
		m.rest.reply <- restResult{err: errShuttingDown}
	case kindRead:
		m.read <- readResult{err: errShuttingDown}
	case kindDelete:
		m.deleted <- errShuttingDown
	case kindUnsub, kindStop:
		if m.done != nil {
			close(m.done)
		}
	}
}

// load reads the key's row, its latest snapshot and the events after it.
func (r *room) load() {
	ctx := context.Background()
	st := r.srv.store
	r.exists, r.loadErr, r.state, r.seq, r.epoch = false, nil, nil, 0, ""
	r.forgetRing()
	clear(r.mids)
	meta, err := st.State(ctx, r.id.ns, r.id.key)
	if errors.Is(err, storage.ErrNotFound) {
		return
	}
	if err != nil {
		r.loadErr = err
		return
	}
	typ, ok := r.srv.reg.Lookup(meta.Type)
	if !ok {
		r.loadErr = errorf(404, protocol.CodeUnknownType, "key %q holds a %s, which this server does not serve", r.id.key, meta.Type)
		return
	}
	state, from, err := replay(ctx, st, typ, r.id.ns, r.id.key, meta.Epoch, meta.Seq, r.srv.log)
	if err != nil {
		r.loadErr = err
		return
	}
	first, err := st.FirstSeq(ctx, r.id.ns, r.id.key)
	if err != nil {
		r.loadErr = err
		return
	}
	r.typ, r.exists, r.state, r.seq, r.epoch = typ, true, state, meta.Seq, meta.Epoch
	r.firstSeq = first
	r.sinceSnap = int(meta.Seq - from)
	if meta.Fingerprint != typ.Fingerprint {
		r.w.Fingerprint = typ.Fingerprint
	}
	if r.enc, err = typ.Encode(state); err != nil {
		r.exists = false
		r.loadErr = fmt.Errorf("key %s/%s: the state at seq %d does not encode: %w", r.id.ns, r.id.key, meta.Seq, err)
	}
}

// replay computes the state at seq upto from the latest snapshot at or below
// it and the events after the snapshot. It returns the state and the seq of
// the snapshot it started from.
func replay(ctx context.Context, st storage.Store, typ *contract.Type, ns, key, epoch string, upto uint64, log interface {
	Warn(string, ...any)
}) (any, uint64, error) {
	var state any
	var from uint64
	snap, err := st.LatestSnapshot(ctx, ns, key, upto)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		state = typ.New()
	case err != nil:
		return nil, 0, err
	default:
		state, err = typ.Decode(snap.State)
		if err != nil {
			return nil, 0, fmt.Errorf("snapshot %s/%s@%d: %w", ns, key, snap.Seq, err)
		}
		from = snap.Seq
	}
	next := from + 1
	err = streamEvents(ctx, st, ns, key, from, upto, func(e *storage.Event) error {
		if e.Seq != next {
			return errorf(410, protocol.CodeCompacted, "events of %s after seq %d are not in the log", key, next-1)
		}
		if err := typ.Apply(state, eventCtx(key, epoch, e), e.Name, e.Args); err != nil {
			// A logged event was accepted once; failing now means the
			// schema changed under the log. Keep going: the state is
			// what the code makes of the log.
			log.Warn("replay: event no longer applies", "ns", ns, "key", key, "seq", e.Seq, "err", err)
		}
		next++
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if next <= upto {
		return nil, 0, errorf(410, protocol.CodeCompacted, "events of %s after seq %d are not in the log", key, next-1)
	}
	return state, from, nil
}

// replayChunk is how many events the reader hands over at a time.
const replayChunk = 1024

type eventChunk struct {
	evs   []storage.Event
	ends  []int // end of each event's args in arena
	arena []byte
}

// streamEvents is EachEvent with the reading on a goroutine of its own:
// a long replay reads rows from SQLite on one core while fn decodes and
// applies them on another. fn sees the events in order; an error from it
// stops the reader.
func streamEvents(ctx context.Context, st storage.Store, ns, key string, after, upto uint64, fn func(*storage.Event) error) error {
	if upto-after <= replayChunk {
		return st.EachEvent(ctx, ns, key, after, upto, fn)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan *eventChunk, 2)
	readErr := make(chan error, 1)
	go func() {
		defer close(chunks)
		cur := &eventChunk{}
		send := func() bool {
			start := 0
			for i := range cur.evs {
				cur.evs[i].Args = cur.arena[start:cur.ends[i]:cur.ends[i]]
				start = cur.ends[i]
			}
			select {
			case chunks <- cur:
				cur = &eventChunk{evs: make([]storage.Event, 0, replayChunk), ends: make([]int, 0, replayChunk)}
				return true
			case <-rctx.Done():
				return false
			}
		}
		err := st.EachEvent(rctx, ns, key, after, upto, func(e *storage.Event) error {
			ev := *e
			ev.Args = nil
			cur.arena = append(cur.arena, e.Args...)
			cur.evs = append(cur.evs, ev)
			cur.ends = append(cur.ends, len(cur.arena))
			if len(cur.evs) == replayChunk && !send() {
				return rctx.Err()
			}
			return nil
		})
		if err == nil && len(cur.evs) > 0 {
			send()
		}
		readErr <- err
	}()
	var applyErr error
	for c := range chunks {
		if applyErr != nil {
			continue // drain, so that the reader ends
		}
		for i := range c.evs {
			if applyErr = fn(&c.evs[i]); applyErr != nil {
				cancel()
				break
			}
		}
	}
	if err := <-readErr; applyErr == nil {
		return err
	}
	return applyErr
}

func eventCtx(key, epoch string, e *storage.Event) schema.Ctx {
	return schema.NewContext(schema.Meta{Key: key, Client: e.Client, Mid: e.Mid, Actor: e.Actor, Time: time.UnixMilli(e.Time).UTC(), Epoch: epoch, Seq: e.Seq})
}

// mid returns the last processed mutation id of client on this key.
func (r *room) mid(client string) (uint64, error) {
	if m, ok := r.mids[client]; ok {
		return m, nil
	}
	m, err := r.srv.store.ClientMid(context.Background(), r.id.ns, r.id.key, client)
	if err != nil {
		return 0, err
	}
	if len(r.mids) > 100000 {
		clear(r.mids) // a cache: the store has them all
	}
	r.mids[client] = m
	return m, nil
}

func (r *room) mut(c *conn, m *protocol.Msg) {
	if c.isClosed() {
		return // replaced or failing: its client resends on its next connection
	}
	if _, ok := r.subs[c]; !ok {
		c.sendErr(protocol.CodeNotSubscribed, r.id.key, m.Mid, "subscribe to %q before mutating it", r.id.key)
		return
	}
	last, err := r.mid(c.client)
	if err != nil {
		r.srv.storageFailed("read client mid", r.id, err)
		c.sendErr(protocol.CodeStorage, r.id.key, m.Mid, "reading the dedup cursor failed; resubscribe later")
		return
	}
	if m.Mid <= last {
		// A resend of a processed mutation: its ev or rej went out (or
		// waits in the log), so the client clears it on its next synced.
		c.sendErr(protocol.CodeDuplicate, r.id.key, m.Mid, "mutation %d of this client on %q was processed before", m.Mid, r.id.key)
		return
	}
	if !r.allow() {
		c.sendErr(protocol.CodeRateLimited, r.id.key, m.Mid, "key %q takes at most %g mutations/s; resubscribe and resend later", r.id.key, r.srv.cfg.Limits.KeyMutationsPerSec)
		return
	}
	if m.Mid != last+1 {
		c.sendErr(protocol.CodeMidGap, r.id.key, last+1, "mutation %d of this client on %q is out of order: expected %d", m.Mid, r.id.key, last+1)
		return
	}
	if e := r.admit(len(m.Args)); e != nil {
		c.sendErr(e.Code, r.id.key, m.Mid, "%s; resubscribe and resend later", e.Message)
		return
	}
	r.apply(c.client, m.Mid, c.p.Actor, m.Name, m.Args, nil)
}

func (r *room) restMut(m *restMut) {
	if r.loadErr != nil {
		m.reply <- restResult{err: asAPIError(r.loadErr)}
		return
	}
	if !r.exists {
		typ, ok := r.srv.reg.Lookup(m.typ)
		if m.typ == "" || !ok {
			m.reply <- restResult{err: errorf(404, protocol.CodeNotFound, "no state %q; give its \"type\" to create it", r.id.key)}
			return
		}
		if err := r.create(typ); err != nil {
			m.reply <- restResult{err: r.srv.storageAPIError("create key", r.id, err)}
			return
		}
	}
	if m.typ != "" && m.typ != r.typ.Name {
		m.reply <- restResult{err: errorf(409, protocol.CodeTypeMismatch, "%q holds a %s, not a %s", r.id.key, r.typ.Name, m.typ)}
		return
	}
	if m.client != "" {
		last, err := r.mid(m.client)
		if err != nil {
			r.srv.storageFailed("read client mid", r.id, err)
			m.reply <- restResult{err: errStorage}
			return
		}
		if m.mid <= last {
			canon, err := r.typ.CanonicalArgs(m.name, m.args)
			if err != nil {
				canon = nil
			}
			m.reply <- restResult{dup: true, canon: canon}
			return
		}
		if m.mid != last+1 {
			m.reply <- restResult{err: errorf(409, protocol.CodeMidGap, "mutation %d of client %q on %q is out of order: expected %d", m.mid, m.client, r.id.key, last+1)}
			return
		}
	}
	if !r.allow() {
		m.reply <- restResult{err: errorf(429, protocol.CodeRateLimited, "key %q takes at most %g mutations/s", r.id.key, r.srv.cfg.Limits.KeyMutationsPerSec)}
		return
	}
	if e := r.admit(len(m.args)); e != nil {
		m.reply <- restResult{err: e}
		return
	}
	r.apply(m.client, m.mid, m.actor, m.name, m.args, m)
}

// nsQuota returns the namespace's quota state.
func (r *room) nsQuota() (*nsQuota, error) {
	if r.quota == nil {
		q, err := r.srv.quota(r.id.ns)
		if err != nil {
			return nil, err
		}
		r.quota = q
	}
	return r.quota, nil
}

// admit checks the namespace's quotas for a mutation with n bytes of args.
func (r *room) admit(n int) *apiError {
	q, err := r.nsQuota()
	if err != nil {
		r.srv.storageFailed("read usage", r.id, err)
		return errStorage
	}
	return r.srv.admitEvent(q, n)
}

// allow takes one token of the key's mutation budget.
func (r *room) allow() bool {
	rate := r.srv.cfg.Limits.KeyMutationsPerSec
	now := time.Now()
	if r.lastFill.IsZero() {
		r.tokens = rate
	} else {
		r.tokens = min(rate, r.tokens+now.Sub(r.lastFill).Seconds()*rate)
	}
	r.lastFill = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}

// apply runs one mutation on a copy of the state and, if the action
// accepts it and the new state encodes within the size limit, makes the
// copy the state and queues the event for the batch. Args are logged in
// their canonical form (contract.CanonicalArgs); what does not decode to a
// valid state never reaches the log.
func (r *room) apply(client string, mid uint64, actor, name string, raw json.RawMessage, rest *restMut) {
	now := r.srv.cfg.Clock().UnixMilli()
	env, args, err := r.typ.Canonical(name, raw)
	e := storage.Event{Seq: r.seq + 1, Client: client, Mid: mid, Name: name, Args: args, Time: now, Actor: actor}
	var next any
	var enc []byte
	if err == nil {
		next = r.typ.Clone(r.state)
		err = r.typ.ApplyArgs(next, eventCtx(r.id.key, r.epoch, &e), name, env, args)
	}
	if err == nil {
		enc, err = r.encode(next)
	}
	if client != "" {
		if r.w.Mids == nil {
			r.w.Mids = map[string]uint64{}
		}
		r.w.Mids[client] = mid
		r.mids[client] = mid
	}
	if err != nil {
		code := contract.ErrCode(err)
		msg := err.Error()
		if rj, ok := schema.AsRejection(err); ok {
			msg = rj.Message
		} else if e, ok := err.(*contract.Error); ok {
			msg = e.Message
		}
		if code == "" {
			code = protocol.CodeInternal
		}
		if rest != nil {
			r.out = append(r.out, outcome{rest: rest, apiErr: errorf(422, code, "%s", msg)})
			return
		}
		r.w.Rejections = append(r.w.Rejections, storage.Rejection{Client: client, Mid: mid, Name: name, Code: code, Message: msg})
		frame := protocol.Encode(&protocol.Msg{T: protocol.TRej, Key: r.id.key, Mid: mid, Name: name, Code: code, Message: msg})
		r.out = append(r.out, outcome{frame: frame, client: client})
		return
	}
	r.state, r.enc = next, enc
	r.seq = e.Seq
	r.sinceSnap++
	r.w.Events = append(r.w.Events, e)
	ev := protocol.Msg{T: protocol.TEv, Key: r.id.key, Seq: e.Seq, Client: client, Mid: mid, Name: name, Args: args, Time: now, Actor: actor}
	if h := r.srv.cfg.HashEvery; h > 0 && e.Seq%uint64(h) == 0 {
		ev.Hash = protocol.StateHash(enc)
	}
	r.out = append(r.out, outcome{frame: protocol.Encode(&ev), seq: e.Seq, rest: rest})
}

// encode returns the encoding of next, a candidate state. A state that
// does not encode (NaN, ±Inf) is refused with bad_state; one over the size
// limit with state_too_large, unless it is smaller than the state before:
// a key over the limit (a lowered --max-state) can always shrink.
func (r *room) encode(next any) ([]byte, error) {
	b, err := r.typ.Encode(next)
	if err != nil {
		return nil, contract.Errorf(protocol.CodeBadState, "the action left a state that does not encode: %v", err)
	}
	if max := r.srv.cfg.Limits.MaxStateBytes; len(b) > max && len(b) >= len(r.enc) {
		return nil, contract.Errorf(protocol.CodeStateTooLarge, "the state would be %d bytes, over the limit of %d", len(b), max)
	}
	// The states in memory together are capped too: a state may not grow
	// while the active keys hold more than Limits.MaxRoomBytes.
	if grow := len(b) - len(r.enc); grow > 0 && r.srv.roomBytes.Load()+3*int64(grow) > r.srv.cfg.Limits.MaxRoomBytes {
		return nil, contract.Errorf(protocol.CodeBusy, "the server holds its limit of %d bytes of states in memory; the state may not grow now", r.srv.cfg.Limits.MaxRoomBytes)
	}
	return b, nil
}

func (r *room) create(typ *contract.Type) error {
	q, err := r.nsQuota()
	if err != nil {
		return err
	}
	if e := r.srv.admitKey(q); e != nil {
		return e
	}
	var b [10]byte
	rand.Read(b[:])
	epoch := hex.EncodeToString(b[:])
	w := &storage.Write{Namespace: r.id.ns, Key: r.id.key, Create: &storage.StateMeta{Type: typ.Name, Fingerprint: typ.Fingerprint, Epoch: epoch}}
	if err := r.srv.store.Write(context.Background(), w); err != nil {
		return err
	}
	q.add(0, 1)
	r.typ, r.exists, r.state, r.seq, r.epoch, r.firstSeq = typ, true, typ.New(), 0, epoch, 0
	r.sinceSnap = 0
	r.enc, _ = typ.Encode(r.state)
	return nil
}

// flush makes the batch durable, then tells: events to every subscriber,
// refusals to their client, answers to REST callers.
func (r *room) flush() {
	w := &r.w
	if len(w.Events) == 0 && len(w.Mids) == 0 && len(w.Rejections) == 0 && len(w.AckRejections) == 0 && w.Fingerprint == "" && len(r.out) == 0 {
		return
	}
	w.Namespace, w.Key = r.id.ns, r.id.key
	if r.exists && r.sinceSnap >= r.srv.cfg.SnapshotEvery && len(w.Events) > 0 {
		w.Snapshot = &storage.Snapshot{Seq: r.seq, State: r.enc}
		w.KeepSnapshots = r.srv.cfg.KeepSnapshots
		if k := r.srv.cfg.KeepEvents; k > 0 && r.seq > uint64(k) {
			w.CompactBelow = r.seq - uint64(k) + 1
		}
	}
	err := r.srv.store.Write(context.Background(), w)
	out := r.out
	r.out = nil
	if err != nil {
		r.srv.storageFailed("append", r.id, err)
		for _, o := range out {
			if o.rest != nil {
				o.rest.reply <- restResult{err: errorf(503, protocol.CodeStorage, "the mutation could not be made durable; retry")}
			}
		}
		*w = storage.Write{}
		r.load()
		// Subscribers heard nothing of the lost batch; their cursors are
		// still valid. Their clients resend on the next resync.
		for c := range r.subs {
			c.sendErr(protocol.CodeStorage, r.id.key, 0, "a write failed; resubscribe")
		}
		return
	}
	r.srv.storageOK()
	if r.quota != nil {
		r.quota.add(w.UsageDelta, 0)
	}
	if w.Snapshot != nil {
		r.sinceSnap = 0
		if w.CompactBelow > 0 {
			r.firstSeq = w.CompactBelow
		}
	}
	if r.firstSeq == 0 && len(w.Events) > 0 {
		r.firstSeq = w.Events[0].Seq
	}
	*w = storage.Write{}
	for _, o := range out {
		switch {
		case o.seq > 0:
			for c := range r.subs {
				c.enqueueShared(o.frame)
			}
			r.remember(o.seq, o.frame)
			if o.rest != nil {
				o.rest.reply <- restResult{seq: o.seq}
			}
		case o.rest != nil:
			o.rest.reply <- restResult{err: o.apiErr}
		case o.client != "":
			for c := range r.subs {
				if c.client == o.client {
					c.enqueue(o.frame)
				}
			}
		}
	}
}

// deleteKey removes the key and its whole log. Subscribers are told with a
// reset err and dropped: a client that subscribes again gets the key anew,
// with a new epoch, and renumbers its queue after synced.mid.
func (r *room) deleteKey() *apiError {
	// A key that does not load (a type no longer served, a state that no
	// longer decodes) can be deleted too: it is what an admin needs most.
	if !r.exists && r.loadErr == nil {
		return errorf(http.StatusNotFound, protocol.CodeNotFound, "no state %q in namespace %q", r.id.key, r.id.ns)
	}
	del := &storage.Write{Namespace: r.id.ns, Key: r.id.key, Delete: true}
	if err := r.srv.store.Write(context.Background(), del); err != nil {
		r.srv.storageFailed("delete key", r.id, err)
		return errStorage
	}
	if q, err := r.nsQuota(); err == nil {
		q.add(del.UsageDelta, -1)
	}
	r.srv.storageOK()
	r.srv.log.Info("key deleted", "ns", r.id.ns, "key", r.id.key, "seq", r.seq, "epoch", r.epoch)
	frame := protocol.Encode(&protocol.Msg{T: protocol.TErr, Key: r.id.key, Code: protocol.CodeReset, Message: "the key was deleted; subscribe again to start over"})
	// The connections keep the key among theirs (a later unsub or their
	// end reaches this room harmlessly); the room forgets them until they
	// subscribe again.
	for c := range r.subs {
		c.enqueueShared(frame)
	}
	clear(r.subs)
	clear(r.mids)
	r.loadErr = nil
	r.typ, r.exists, r.state, r.enc, r.seq, r.epoch, r.firstSeq, r.sinceSnap = nil, false, nil, nil, 0, "", 0, 0
	r.forgetRing()
	return nil
}

func (r *room) read() readResult {
	if r.loadErr != nil {
		return readResult{err: asAPIError(r.loadErr)}
	}
	if !r.exists {
		return readResult{err: errorf(404, protocol.CodeNotFound, "no state %q in namespace %q", r.id.key, r.id.ns)}
	}
	return readResult{meta: storage.StateMeta{Namespace: r.id.ns, Key: r.id.key, Type: r.typ.Name, Fingerprint: r.typ.Fingerprint, Epoch: r.epoch, Seq: r.seq}, state: r.enc}
}
