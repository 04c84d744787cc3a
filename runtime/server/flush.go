package server

// Writing a room's batch to storage, then broadcasting it; deleting a key;
// reading the state for REST.

import (
	"context"
	"errors"
	"net/http"

	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/storage"
)

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
	w.Base, w.Epoch = r.seq, r.epoch
	if r.base.set {
		w.Base = r.base.seq
	}
	err := r.srv.store.Write(context.Background(), w)
	out := r.out
	r.out = nil
	if errors.Is(err, storage.ErrConflict) {
		// Another server wrote to the key first.
		lost := *w
		*w = storage.Write{}
		r.rebase(out, &lost)
		return
	}
	r.base = batchBase{}
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
	r.rebases = 0
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
			for c, mode := range r.subs {
				if mode.patch {
					c.enqueueShared(o.patch)
				} else {
					c.enqueueShared(o.frame)
				}
			}
			// A reader the read rule refuses from this event on hears
			// nothing after it.
			for _, rv := range o.revoke {
				if _, ok := r.subs[rv.c]; ok {
					rv.c.sendErr(rv.e.Code, r.id.key, 0, "%s", rv.e.Message)
					r.refuseSub(rv.c)
				}
			}
			r.remember(o.seq, o.frame, o.patch)
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
	r.resetSubs("the key was deleted; subscribe again to start over")
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
