package server

// Applying mutations: from WebSocket and REST, through the limits and
// quotas, against the authoritative state.

import (
	"encoding/json"

	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/storage"
	"github.com/better-state/better-state/schema"
)

// reject answers a message that arrived while the room was stopping.
func (r *room) reject(m roomMsg) {
	switch m.kind {
	case kindRest:
		m.rest.reply <- restResult{err: errShuttingDown}
	case kindRead:
		m.read <- readResult{err: errShuttingDown}
	case kindDelete:
		m.deleted <- errShuttingDown
	case kindPresence:
		m.members <- nil
	case kindUnsub, kindStop:
		if m.done != nil {
			close(m.done)
		}
	}
}

// mid returns the last processed mutation id of client on this key.
func (r *room) mid(client string) (uint64, error) {
	if m, ok := r.mids[client]; ok {
		return m, nil
	}
	m, err := r.srv.store.ClientMid(r.srv.life, r.id.ns, r.id.key, client)
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
		c.sendRetry(r.muts, r.id.key, m.Mid, "key %q takes at most %g mutations/s (Limits.KeyMutationsPerSec); resubscribe and resend later", r.id.key, r.srv.cfg.Limits.KeyMutationsPerSec)
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
	r.apply(c.client, m.Mid, c.p.Actor, m.Name, m.Args, input{conn: c, msg: m})
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
		e := errorf(429, protocol.CodeRateLimited, "key %q takes at most %g mutations/s (Limits.KeyMutationsPerSec)", r.id.key, r.srv.cfg.Limits.KeyMutationsPerSec)
		e.Retry = retryAfter(r.muts, r.srv.now())
		m.reply <- restResult{err: e}
		return
	}
	if e := r.admit(len(m.args)); e != nil {
		m.reply <- restResult{err: e}
		return
	}
	r.apply(m.client, m.mid, m.actor, m.name, m.args, input{rest: m})
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
// A batch run again after losing to another server (follow.go) took its
// tokens the first time.
func (r *room) allow() bool { return r.rerun || r.muts.AllowN(r.srv.now(), 1) }

// apply runs one mutation on a copy of the state and, if the action
// accepts it and the new state encodes within the size limit, makes the
// copy the state and queues the event for the batch. Args are logged in
// their canonical form (contract.CanonicalArgs); what does not decode to a
// valid state never reaches the log.
func (r *room) apply(client string, mid uint64, actor, name string, raw json.RawMessage, in input) {
	rest := in.rest
	if !r.base.set {
		r.base = batchBase{set: true, state: r.state, enc: r.enc, seq: r.seq, sinceSnap: r.sinceSnap}
	}
	now := r.srv.cfg.clock().UnixMilli()
	env, args, err := r.typ.Canonical(name, raw)
	e := storage.Event{Seq: r.seq + 1, Client: client, Mid: mid, Name: name, Args: args, Time: now, Actor: actor}
	var next any
	var enc []byte
	if max := r.typ.MaxArgs[name]; err == nil && max > 0 && len(raw) > max {
		err = contract.Errorf(protocol.CodeArgsTooLarge, "%s takes at most %d bytes of arguments (the schema's //bs:maxargs), not %d", name, max, len(raw))
	}
	if err == nil {
		err = r.typ.CheckWrite(r.state, eventCtx(r.id.key, r.epoch, &e), name)
	}
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
			r.out = append(r.out, outcome{rest: rest, apiErr: errorf(422, code, "%s", msg), in: in})
			return
		}
		r.w.Rejections = append(r.w.Rejections, storage.Rejection{Client: client, Mid: mid, Name: name, Code: code, Message: msg})
		frame := protocol.Encode(&protocol.Msg{T: protocol.TRej, Key: r.id.key, Mid: mid, Name: name, Code: code, Message: msg})
		r.out = append(r.out, outcome{frame: frame, client: client, in: in})
		return
	}
	prev := r.enc
	r.state, r.enc = next, enc
	r.seq = e.Seq
	r.sinceSnap++
	r.w.Events = append(r.w.Events, e)
	ev := protocol.Msg{T: protocol.TEv, Key: r.id.key, Seq: e.Seq, Client: client, Mid: mid, Name: name, Args: args, Time: now, Actor: actor}
	if h := r.srv.cfg.HashEvery; h > 0 && e.Seq%uint64(h) == 0 {
		ev.Hash = protocol.StateHash(enc)
	}
	o := outcome{frame: protocol.Encode(&ev), seq: e.Seq, rest: rest, in: in}
	if r.npatch > 0 {
		o.patch = r.patchFrame(&ev, prev, enc)
	}
	o.revoke = r.refusedReaders()
	r.out = append(r.out, o)
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
	max, what := r.srv.cfg.Limits.MaxStateBytes, "--max-state"
	if m := r.typ.MaxStateBytes; m > 0 && m < max {
		max, what = m, "the schema's maxstate"
	}
	if len(b) > max && len(b) >= len(r.enc) {
		return nil, contract.Errorf(protocol.CodeStateTooLarge, "the state would be %d bytes, over the limit of %d (%s)", len(b), max, what)
	}
	// The states in memory together are capped too: a state may not grow
	// while the active keys hold more than Limits.MaxRoomBytes.
	if grow := len(b) - len(r.enc); grow > 0 && r.srv.roomBytes.Load()+3*int64(grow) > r.srv.cfg.Limits.MaxRoomBytes {
		return nil, contract.Errorf(protocol.CodeBusy, "the server holds its limit of %d bytes of states in memory; the state may not grow now", r.srv.cfg.Limits.MaxRoomBytes)
	}
	return b, nil
}
