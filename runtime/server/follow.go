package server

// Several servers on one PostgreSQL database (docs/GUIDE.md, "Running
// several nodes"). Each server keeps its own rooms; the database orders
// the appends to a key (a Write made on a head that moved fails with
// storage.ErrConflict). A room hears of other servers' writes by NOTIFY,
// by a periodic check of its head, and by losing a Write; each time, it
// reads the events it lacks from the log, applies them and sends them to
// its subscribers as if it had made them. A batch that lost the race is
// undone and its mutations are run again on the new head.

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/storage"
)

// openStore opens the SQLite file at path, or the PostgreSQL database of a
// postgres:// URL.
func openStore(path string, opt storage.SQLiteOptions) (storage.Store, error) {
	if storage.IsPostgresURL(path) {
		return storage.OpenPostgres(path, storage.PostgresOptions{MaxBatch: opt.MaxBatch})
	}
	return storage.OpenSQLite(path, opt)
}

// headCheckEvery is how often every active room compares its head with the
// database's, for notifications that were lost.
const headCheckEvery = 5 * time.Second

// heard is the store's news: a key some server wrote to (ns == "": any
// key may have moved).
func (s *Server) heard(ns, key string, h storage.Head) {
	if ns == "" {
		select {
		case s.heads <- struct{}{}:
		default:
		}
		return
	}
	s.roomsMu.Lock()
	r := s.rooms[roomID{ns, key}]
	s.roomsMu.Unlock()
	if r != nil {
		r.tryPost(roomMsg{kind: kindFollow, head: h, headKnown: true})
	}
}

// followOthers checks the heads of the active rooms now and then, and
// when the store says that notifications were lost.
func (s *Server) followOthers() {
	defer s.followWG.Done()
	t := time.NewTicker(headCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-s.followStop:
			return
		case <-t.C:
		case <-s.heads:
		}
		s.checkHeads()
		s.reloadQuotas()
	}
}

// reloadQuotas makes each namespace's stored bytes and keys be read again
// from storage at its next write: the other servers' writes count too.
// (The rate quotas stay per server.)
func (s *Server) reloadQuotas() {
	s.quotasMu.Lock()
	qs := make([]*nsQuota, 0, len(s.quotas))
	for _, q := range s.quotas {
		qs = append(qs, q)
	}
	s.quotasMu.Unlock()
	for _, q := range qs {
		q.mu.Lock()
		q.loaded = false
		q.mu.Unlock()
	}
}

// checkHeads reads the heads of the active rooms' keys, a namespace and
// up to 1,000 keys per query, and tells each room its head.
func (s *Server) checkHeads() {
	byNS := map[string][]string{}
	s.roomsMu.Lock()
	for id := range s.rooms {
		byNS[id.ns] = append(byNS[id.ns], id.key)
	}
	s.roomsMu.Unlock()
	for ns, keys := range byNS {
		for len(keys) > 0 {
			n := min(len(keys), 1000)
			chunk := keys[:n]
			keys = keys[n:]
			ctx, cancel := context.WithTimeout(s.life, 10*time.Second)
			heads, err := s.shared.Heads(ctx, ns, chunk)
			cancel()
			if err != nil {
				s.storageFailed("read heads", roomID{ns: ns}, err)
				return
			}
			for _, k := range chunk {
				s.heard(ns, k, heads[k]) // a key not there: deleted (its zero Head)
			}
		}
	}
}

// follow brings the room up to the key's head in storage when another
// server moved it. head, if known, saves the check when the room is there
// already.
func (r *room) follow(head storage.Head, known bool) {
	if r.srv.shared == nil {
		return
	}
	if known && r.exists && head.Epoch == r.epoch && head.Seq > 0 && head.Seq <= r.seq {
		return // there already (its own Write's notification, often)
	}
	r.flush()
	meta, err := r.srv.store.State(r.srv.life, r.id.ns, r.id.key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if r.exists {
			r.reset("the key was deleted; subscribe again to start over")
		}
		return
	case err != nil:
		r.srv.storageFailed("read head", r.id, err)
		return
	case !r.exists || r.loadErr != nil || meta.Epoch != r.epoch:
		// Created, or deleted and created again, elsewhere.
		r.reset("the key was created again; subscribe again to start over")
		return
	case meta.Seq <= r.seq:
		return
	}
	err = streamLog(r.srv.life, r.srv.store, r.id, r.seq, meta.Seq, r.takeEvent)
	if err == nil {
		// Another server may have compacted the log: catch-ups from
		// this room must know where it starts now.
		if first, ferr := r.srv.store.FirstSeq(r.srv.life, r.id.ns, r.id.key); ferr == nil {
			r.firstSeq = first
		}
	}
	if err != nil {
		// Compacted past the room, or the database failed: start over
		// from storage; subscribers resubscribe.
		if !errors.Is(err, errGap) && !isCompacted(err) {
			r.srv.storageFailed("follow", r.id, err)
		}
		r.reset("this server fell behind the log; subscribe again")
	}
}

// errGap is takeEvent's: the room cannot follow the log past an event.
var errGap = errors.New("the room cannot follow the log")

// takeEvent applies an event another server logged, and tells the
// subscribers as flush does for the room's own.
func (r *room) takeEvent(e *storage.Event) error {
	next := r.typ.Clone(r.state)
	applyLogged(r.typ, next, r.id, r.epoch, e, r.srv.log)
	enc, err := r.typ.Encode(next)
	if err != nil {
		// The room cannot follow the log past this event: it starts over
		// from storage, and its subscribers with it.
		r.srv.log.Error("follow: the state does not encode", "ns", r.id.ns, "key", r.id.key, "seq", e.Seq, "err", err)
		return errGap
	}
	prev := r.enc
	r.state, r.enc, r.seq = next, enc, e.Seq
	r.sinceSnap++
	if m, ok := r.mids[e.Client]; ok && e.Client != "" && e.Mid > m {
		// A cursor only moves forward; one another server moved without
		// an event (a refusal) makes this room's next Write a conflict,
		// after which it reads the cursor again.
		r.mids[e.Client] = e.Mid
	}
	args := e.Args
	if len(args) == 0 {
		args = []byte("{}")
	}
	ev := protocol.Msg{T: protocol.TEv, Key: r.id.key, Seq: e.Seq, Client: e.Client, Mid: e.Mid, Name: e.Name, Args: append([]byte(nil), args...), Time: e.Time, Actor: e.Actor}
	if h := r.srv.cfg.HashEvery; h > 0 && e.Seq%uint64(h) == 0 {
		ev.Hash = protocol.StateHash(enc)
	}
	frame := protocol.Encode(&ev)
	var patch []byte
	if r.npatch > 0 {
		patch = r.patchFrame(&ev, prev, enc)
	}
	revoke := r.refusedReaders()
	for c, mode := range r.subs {
		if mode.patch {
			c.enqueueShared(patch)
		} else {
			c.enqueueShared(frame)
		}
	}
	for _, rv := range revoke {
		if _, ok := r.subs[rv.c]; ok {
			rv.c.sendErr(rv.e.Code, r.id.key, 0, "%s", rv.e.Message)
			r.refuseSub(rv.c)
		}
	}
	r.remember(e.Seq, frame, patch)
	return nil
}

// reset reloads the room from storage and tells its subscribers to
// subscribe again (err reset): what they hold may not be the log's.
func (r *room) reset(why string) {
	r.load()
	r.resetSubs(why)
}

// resetSubs sends err reset to every subscriber and forgets them until
// they subscribe again.
func (r *room) resetSubs(why string) {
	frame := protocol.Encode(&protocol.Msg{T: protocol.TErr, Key: r.id.key, Code: protocol.CodeReset, Message: why})
	// The connections keep the key among theirs (a later unsub or their
	// end reaches this room harmlessly); the room forgets them until they
	// subscribe again.
	for c := range r.subs {
		c.enqueueShared(frame)
	}
	clear(r.subs)
	r.npatch = 0
	r.clearPresence()
}

// maxRebases bounds how often one batch is run again after losing to
// other servers' writes before its writers are told to retry.
const maxRebases = 64

// rebase undoes a batch that another server's Write beat (storage
// .ErrConflict), catches up with the log, and runs the batch's mutations
// again on the new head.
func (r *room) rebase(out []outcome, lost *storage.Write) {
	mids := lost.Mids
	// What the batch carried besides its mutations goes into the next.
	r.w.AckRejections, r.w.Fingerprint = lost.AckRejections, lost.Fingerprint
	r.rebases++
	if r.base.set {
		r.state, r.enc, r.seq, r.sinceSnap = r.base.state, r.base.enc, r.base.seq, r.base.sinceSnap
	}
	r.base = batchBase{}
	// The cursors the lost batch moved are read again from storage.
	for c := range mids {
		delete(r.mids, c)
	}
	if r.rebases > 1 {
		// Losing again: let the other servers' batches through, and
		// gather more mutations into this one meanwhile.
		time.Sleep(time.Duration(rand.Int64N(int64(min(r.rebases, 8)) * int64(time.Millisecond))))
	}
	if r.rebases > maxRebases {
		r.srv.log.Warn("a batch lost to other servers' writes too often; its writers retry", "ns", r.id.ns, "key", r.id.key, "rebases", r.rebases)
		r.rebases = 0
		for _, o := range out {
			switch {
			case o.in.rest != nil:
				o.in.rest.reply <- restResult{err: errorf(503, protocol.CodeBusy, "other servers write to %q too fast; retry", r.id.key)}
			case o.in.conn != nil:
				o.in.conn.sendErr(protocol.CodeBusy, r.id.key, o.in.msg.Mid, "other servers write to %q too fast; resubscribe and resend later", r.id.key)
			}
		}
		r.follow(storage.Head{}, false)
		return
	}
	r.follow(storage.Head{}, false)
	if !r.exists {
		for _, o := range out {
			if o.in.rest != nil {
				o.in.rest.reply <- restResult{err: errorf(404, protocol.CodeNotFound, "no state %q in namespace %q", r.id.key, r.id.ns)}
			}
		}
		return
	}
	r.rerun = true
	for _, o := range out {
		switch {
		case o.in.rest != nil:
			r.restMut(o.in.rest)
		case o.in.conn != nil:
			r.mut(o.in.conn, o.in.msg)
		}
	}
	r.rerun = false
	r.flush()
}
