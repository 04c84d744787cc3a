package server

// Loading a key: its stored head, and the replay of its log from the
// latest snapshot, streamed in chunks.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/storage"
	"github.com/better-state/better-state/schema"
)

// load reads the key's row, its latest snapshot and the events after it.
func (r *room) load() {
	ctx := r.srv.life
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
	err = streamLog(ctx, st, roomID{ns, key}, from, upto, func(e *storage.Event) error {
		applyLogged(typ, state, roomID{ns, key}, epoch, e, log)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return state, from, nil
}

// streamLog is streamEvents over (after, upto] with no event missing: a
// gap (events compacted away) ends it with 410 compacted.
func streamLog(ctx context.Context, st storage.Store, id roomID, after, upto uint64, fn func(*storage.Event) error) error {
	next := after + 1
	compacted := func() error {
		return errorf(410, protocol.CodeCompacted, "events of %s after seq %d are not in the log", id.key, next-1)
	}
	err := streamEvents(ctx, st, id.ns, id.key, after, upto, func(e *storage.Event) error {
		if e.Seq != next {
			return compacted()
		}
		next++
		return fn(e)
	})
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		// The context ended the stream (the reader may have dropped its
		// last chunk): not a compacted log.
		return err
	}
	if next <= upto {
		return compacted()
	}
	return nil
}

// isCompacted reports whether err is streamLog's gap.
func isCompacted(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Code == protocol.CodeCompacted
}

// applyLogged applies a logged event to state. A logged event was accepted
// once; failing now means the schema changed under the log. The replay
// goes on: the state is what the code makes of the log.
func applyLogged(typ *contract.Type, state any, id roomID, epoch string, e *storage.Event, log interface {
	Warn(string, ...any)
}) {
	if err := typ.Apply(state, eventCtx(id.key, epoch, e), e.Name, e.Args); err != nil {
		log.Warn("replay: event no longer applies", "ns", id.ns, "key", id.key, "seq", e.Seq, "err", err)
	}
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
	if err := r.srv.store.Write(context.Background(), w); errors.Is(err, storage.ErrConflict) {
		// Another server created it first: take its.
		r.load()
		if r.loadErr != nil {
			return r.loadErr
		}
		if !r.exists {
			return errorf(409, protocol.CodeReset, "%q was created and deleted by another server; retry", r.id.key)
		}
		return nil
	} else if err != nil {
		return err
	}
	q.add(0, 1)
	r.typ, r.exists, r.state, r.seq, r.epoch, r.firstSeq = typ, true, typ.New(), 0, epoch, 0
	r.sinceSnap = 0
	r.enc, _ = typ.Encode(r.state)
	return nil
}
