package server

import (
	"context"
	"errors"

	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/storage"
)

// sub answers a subscription: stored refusals, catch-up, synced; then the
// connection is a subscriber. The batch was flushed before, so the state is
// the committed state.
func (r *room) sub(c *conn, m *protocol.Msg) {
	key := r.id.key
	if c.isClosed() {
		// Replaced, failing or gone: it must not subscribe, nor
		// acknowledge refusals that its successor has not heard, nor
		// cost a catch-up nobody will read.
		return
	}
	if r.loadErr != nil {
		e := asAPIError(r.loadErr)
		c.sendErr(e.Code, key, 0, "%s", e.Message)
		r.refuseSub(c)
		return
	}
	typ, _ := r.srv.reg.Lookup(m.Type) // checked by the connection
	if !r.exists && !c.can(key, true) {
		// Creating a key (and choosing its type) is a write.
		c.sendErr(protocol.CodeForbidden, key, 0, "%q does not exist, and this credential may only read it: a read grant does not create keys", key)
		r.refuseSub(c)
		return
	}
	if !r.exists {
		if err := r.create(typ); err != nil {
			e := r.srv.storageAPIError("create key", r.id, err)
			c.sendErr(e.Code, key, 0, "%s", e.Message)
			r.refuseSub(c)
			return
		}
	}
	if r.typ != typ {
		c.sendErr(protocol.CodeTypeMismatch, key, 0, "%q holds a %s, not a %s", key, r.typ.Name, m.Type)
		r.refuseSub(c)
		return
	}
	if e := r.readRefused(c.p.Actor, c.client); e != nil {
		c.sendErr(e.Code, key, 0, "%s", e.Message)
		r.refuseSub(c)
		return
	}
	ctx := r.srv.life
	// Stored refusals first: an ev of a later mutation of this client
	// would tell it that these were processed before it heard of them.
	rejs, err := r.srv.store.Rejections(ctx, r.id.ns, key, c.client, m.Acked)
	if err != nil {
		// Without them, synced.mid would tell the client to drop a
		// refused mutation it never heard of: no subscription instead.
		r.srv.storageFailed("read refusals", r.id, err)
		c.sendErr(protocol.CodeStorage, key, 0, "reading stored refusals failed; resubscribe later")
		r.refuseSub(c)
		return
	}
	if r.srv.shared != nil {
		// Another server may have refused a mutation of this client,
		// which moves its cursor without an event: synced.mid comes
		// from storage, with the refusals just read.
		delete(r.mids, c.client)
	}
	mid, err := r.mid(c.client)
	if err != nil {
		r.srv.storageFailed("read client mid", r.id, err)
		c.sendErr(protocol.CodeStorage, key, 0, "reading the dedup cursor failed; resubscribe later")
		r.refuseSub(c)
		return
	}
	frames, shared, err := r.catchUp(ctx, m)
	if err != nil {
		r.srv.storageFailed("catch-up", r.id, err)
		c.sendErr(protocol.CodeStorage, key, 0, "reading the log failed; resubscribe later")
		r.refuseSub(c)
		return
	}
	if m.Acked > 0 {
		if r.w.AckRejections == nil {
			r.w.AckRejections = map[string]uint64{}
		}
		r.w.AckRejections[c.client] = m.Acked
	}
	for _, rj := range rejs {
		c.enqueue(protocol.Encode(&protocol.Msg{T: protocol.TRej, Key: key, Mid: rj.Mid, Name: rj.Name, Code: rj.Code, Message: rj.Message}))
	}
	if shared {
		c.enqueueShared(frames...)
	} else {
		c.enqueue(frames...)
	}
	c.enqueue(protocol.Encode(&protocol.Msg{T: protocol.TSynced, Key: key, Seq: r.seq, Epoch: r.epoch, Mid: mid}))
	if m.Presence {
		if set := r.presenceSet(); set != nil {
			c.enqueue(set)
		}
	}
	if c.isClosed() {
		return // the catch-up did not fit its budget
	}
	r.addSub(c, subMode{patch: m.Mode == protocol.ModePatch, presence: m.Presence})
}

// refuseSub ends c's subscription of the key on both sides: the room's
// subscribers and the connection's keys must agree, or a connection that
// goes away would be left among the subscribers.
func (r *room) refuseSub(c *conn) {
	r.dropSub(c)
	r.leave(c)
	c.unsubscribed(r.id.key)
}

// catchUp returns the frames that bring a client at (m.After, m.Epoch) to
// the head: the ring's recent events, the log's events, or a snapshot. The
// ring's frames and the snapshot are shared with other subscribers;
// events read from the log are made for this one, and if they would be
// more than Limits.CatchUpBytes the snapshot goes instead. A subscriber
// in patch mode gets the ring's patches or the snapshot: the log holds
// events, not the states a patch is computed from.
func (r *room) catchUp(ctx context.Context, m *protocol.Msg) (frames [][]byte, shared bool, err error) {
	head := r.seq
	after := m.After
	fresh := after == 0 && m.Epoch == ""
	patch := m.Mode == protocol.ModePatch
	snap := m.Snap ||
		(fresh && patch) || // it knows no state to patch, not even the empty one
		(!fresh && m.Epoch != r.epoch) ||
		after > head ||
		head-after > catchUpMax ||
		(r.firstSeq > 0 && after+1 < r.firstSeq)
	if !snap && after == head {
		return nil, true, nil
	}
	if !snap && len(r.ring) > 0 && r.ring[0].seq <= after+1 {
		for _, e := range r.ring[after+1-r.ring[0].seq:] {
			f := e.frame
			if patch {
				f = e.patch
			}
			if f == nil {
				// Made while nobody was in patch mode: the state
				// before it is gone, so a snapshot serves instead.
				frames = nil
				break
			}
			frames = append(frames, f)
		}
		if frames != nil {
			return frames, true, nil
		}
	}
	if !snap && !patch {
		frames, err = r.logCatchUp(ctx, after, head)
		if err == nil || !errors.Is(err, errCatchUpTooBig) {
			return frames, false, err
		}
	}
	return [][]byte{r.snapshotFrame()}, true, nil
}

var errCatchUpTooBig = errors.New("catch-up over its byte budget")

// logCatchUp reads the events after `after` up to head from the log as ev
// frames, giving up with errCatchUpTooBig past Limits.CatchUpBytes.
func (r *room) logCatchUp(ctx context.Context, after, head uint64) ([][]byte, error) {
	budget := r.srv.cfg.Limits.CatchUpBytes
	var frames [][]byte
	var n int64
	err := r.srv.store.EachEvent(ctx, r.id.ns, r.id.key, after, head, func(e *storage.Event) error {
		f := protocol.Encode(&protocol.Msg{T: protocol.TEv, Key: r.id.key, Seq: e.Seq, Client: e.Client, Mid: e.Mid, Name: e.Name, Args: e.Args, Time: e.Time, Actor: e.Actor})
		if n += int64(len(f)); n > budget {
			return errCatchUpTooBig
		}
		frames = append(frames, f)
		return nil
	})
	return frames, err
}

// snapshotFrame returns the snap frame of the current state, made once per
// seq: a thousand subscribers at one seq cost one encoding.
func (r *room) snapshotFrame() []byte {
	if r.snapFrame == nil || r.snapSeq != r.seq {
		r.snapFrame = protocol.Encode(&protocol.Msg{T: protocol.TSnap, Key: r.id.key, Seq: r.seq, Epoch: r.epoch, State: r.enc})
		r.snapSeq = r.seq
	}
	return r.snapFrame
}

// catchUpMax is the largest gap served as events; a larger one gets a snap.
const catchUpMax = 512

// The ring keeps the frames of the latest events, shared with whoever
// catches up from them: at most ringSize events and ringMaxBytes bytes.
type ringEvent struct {
	seq   uint64
	frame []byte // ev
	patch []byte // patch, if a subscriber was in patch mode when it was made
}

const (
	ringSize     = 256
	ringMaxBytes = 1 << 20
)

func (r *room) remember(seq uint64, frame, patch []byte) {
	r.ring = append(r.ring, ringEvent{seq, frame, patch})
	r.ringBytes += len(frame) + len(patch)
	drop := 0
	for len(r.ring)-drop > ringSize || (r.ringBytes > ringMaxBytes && len(r.ring)-drop > 1) {
		r.ringBytes -= len(r.ring[drop].frame) + len(r.ring[drop].patch)
		drop++
	}
	if drop > 0 {
		n := copy(r.ring, r.ring[drop:])
		clear(r.ring[n:])
		r.ring = r.ring[:n]
	}
}

func (r *room) forgetRing() {
	clear(r.ring)
	r.ring = r.ring[:0]
	r.ringBytes = 0
	r.snapFrame = nil
}
