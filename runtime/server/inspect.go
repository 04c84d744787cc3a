package server

// The inspector's reads (docs/GUIDE.md, "The inspector"): the difference
// between two seqs of a key, and the blame of one path of its state,
// every event that changed the value there.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"io"
	"net/http"

	"github.com/wI2L/jsondiff"

	"github.com/better-state/better-state/runtime/contract"
	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/storage"
)

// States whose encodings are together at most diffLCSBytes long, and
// whose arrays have at most diffLCSItems items, are compared with
// jsondiff's LCS option, which finds the item removed from the middle of
// an array instead of replacing every item after it. Its table is
// quadratic in an array's length (16,000 small items take 2 GB), so other
// states are compared index by index.
const (
	diffLCSBytes = 64 << 10
	diffLCSItems = 300
)

// longestArray returns the number of items of the longest array in a JSON
// document (-1 if it does not parse).
func longestArray(doc []byte) int {
	d := json.NewDecoder(bytes.NewReader(doc))
	var counts []int // per open container: items so far, or -1 for objects
	longest := 0
	for {
		tok, err := d.Token()
		if err == io.EOF && len(counts) == 0 {
			return longest
		}
		if err != nil {
			return -1
		}
		if n := len(counts); n > 0 && counts[n-1] >= 0 {
			if dl, ok := tok.(json.Delim); !ok || dl == '[' || dl == '{' {
				counts[n-1]++
				longest = max(longest, counts[n-1])
			}
		}
		switch tok {
		case json.Delim('['):
			counts = append(counts, 0)
		case json.Delim('{'):
			counts = append(counts, -1)
		case json.Delim(']'), json.Delim('}'):
			counts = counts[:len(counts)-1]
		}
	}
}

// inspectTarget is what diff and blame read: the key's row and type, with
// the read rule checked.
type inspectTarget struct {
	id   roomID
	meta storage.StateMeta
	typ  *contract.Type
}

func (s *Server) inspectTarget(w http.ResponseWriter, r *http.Request, p principal) (inspectTarget, bool) {
	id := roomID{p.Namespace, r.PathValue("key")}
	meta, ok := s.stateMeta(w, r, id, p)
	if !ok {
		return inspectTarget{}, false
	}
	typ, ok := s.reg.Lookup(meta.Type)
	if !ok {
		writeError(w, errorf(http.StatusNotFound, protocol.CodeUnknownType, "%q holds a %s, which this server does not serve", id.key, meta.Type))
		return inspectTarget{}, false
	}
	return inspectTarget{id: id, meta: meta, typ: typ}, true
}

// heavyRead waits for a turn among the long reads (history pages, diff,
// blame): at most half the cores (two at least) run them at once, so they
// wait for each other instead of taking every core from the writers; and
// one namespace runs one at a time (namespaces share heavyStripes
// stripes), so that one tenant's long blames cannot take every turn. It
// returns false when the request ended first.
func (s *Server) heavyRead(ctx context.Context, ns string) (release func(), ok bool) {
	h := fnv.New32a()
	h.Write([]byte(ns))
	stripe := s.heavyNS[h.Sum32()%heavyStripes]
	select {
	case stripe <- struct{}{}:
	case <-ctx.Done():
		return nil, false
	}
	select {
	case s.pages <- struct{}{}:
		return func() { <-s.pages; <-stripe }, true
	case <-ctx.Done():
		<-stripe
		return nil, false
	}
}

// heavyStripes is how many turns of heavyRead namespaces are spread over.
const heavyStripes = 64

// diff answers GET .../states/{key}/diff?from=S1&to=S2: the JSON Patch from
// the state at S1 to the state at S2, and the events in between (a page of
// them; "events_next" continues with /history?after=).
func (s *Server) diff(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	limit, e := intParam(q.Get("limit"), 100, 1, 1000)
	if e != nil {
		writeError(w, e)
		return
	}
	t, ok := s.inspectTarget(w, r, p)
	if !ok {
		return
	}
	to, e := uintParam(q.Get("to"), t.meta.Seq)
	if e != nil {
		writeError(w, e)
		return
	}
	from, e := uintParam(q.Get("from"), max(to, 1)-1)
	if e != nil {
		writeError(w, e)
		return
	}
	switch {
	case to > t.meta.Seq:
		writeError(w, errorf(http.StatusNotFound, protocol.CodeNotFound, "%q is at seq %d; seq %d does not exist yet", t.id.key, t.meta.Seq, to))
		return
	case from > to:
		writeError(w, errorf(http.StatusBadRequest, protocol.CodeBadRequest, "from (%d) is after to (%d)", from, to))
		return
	}
	release, ok := s.heavyRead(r.Context(), p.Namespace)
	if !ok {
		return
	}
	defer release()
	state, _, err := replay(r.Context(), s.store, t.typ, t.id.ns, t.id.key, t.meta.Epoch, from, s.log)
	if err != nil {
		writeError(w, s.storageAPIError("diff", t.id, err))
		return
	}
	before, err := t.typ.Encode(state)
	if err != nil {
		writeError(w, asAPIError(err))
		return
	}
	budget := s.cfg.Limits.PageBytes
	events := []json.RawMessage{}
	var written int64
	var eventsNext *uint64
	err = streamLog(r.Context(), s.store, t.id, from, to, func(ev *storage.Event) error {
		applyLogged(t.typ, state, t.id, t.meta.Epoch, ev, s.log)
		if eventsNext != nil {
			return nil
		}
		if len(events) == limit || (len(events) > 0 && written >= budget) {
			last := ev.Seq - 1
			eventsNext = &last
			return nil
		}
		b := appendEvent(nil, ev)
		written += int64(len(b))
		events = append(events, b)
		return nil
	})
	if err != nil {
		writeError(w, s.storageAPIError("diff", t.id, err))
		return
	}
	after, err := t.typ.Encode(state)
	if err != nil {
		writeError(w, asAPIError(err))
		return
	}
	ops, err := fieldPatch(before, after)
	if err != nil {
		writeError(w, asAPIError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"key": t.id.key, "type": t.meta.Type, "epoch": t.meta.Epoch,
		"from": from, "to": to, "ops": ops, "events": events, "events_next": eventsNext,
	})
}

// fieldPatch is the inspector's JSON Patch between two encoded states:
// field by field, with no shortcut to a replace of the whole document.
func fieldPatch(before, after []byte) (json.RawMessage, error) {
	opts := []jsondiff.Option{jsondiff.UnmarshalFunc(decodeNumbers)}
	if len(before)+len(after) <= diffLCSBytes {
		if a, b := longestArray(before), longestArray(after); a >= 0 && b >= 0 && max(a, b) <= diffLCSItems {
			opts = append(opts, jsondiff.LCS())
		}
	}
	p, err := jsondiff.CompareJSON(before, after, opts...)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return json.RawMessage("[]"), nil
	}
	return json.Marshal(p)
}

// blameChange is one change of the value at a blamed path.
type blameChange struct {
	Seq uint64 `json:"seq"`
	// Op is "add" (the path came to exist), "remove" (it no longer
	// exists) or "replace".
	Op     string          `json:"op"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	Event  json.RawMessage `json:"event"`
}

func (c *blameChange) size() int64 {
	return int64(len(c.Before) + len(c.After) + len(c.Event) + 64)
}

// blame answers GET .../states/{key}/blame?path=P: every event that changed
// the value at the JSON Pointer P, newest first, with the value before and
// after. The path is a place in the document, not an identity: removing
// item 1 of a list changes the value at /items/3 (it is item 4's now),
// and that event is in /items/3's blame.
//
// The whole log is replayed once, streaming, from the start or, when the
// start is compacted, from the oldest snapshot the log can be replayed
// from; "origin" says which, and "complete" is false in the second case.
// A page holds the newest `limit` changes below `before` (and at most
// --page-bytes of them); "next" is the `before` of the next page.
func (s *Server) blame(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	limit, e := intParam(q.Get("limit"), 100, 1, 1000)
	if e != nil {
		writeError(w, e)
		return
	}
	path, err := parsePointer(q.Get("path"))
	if err != nil {
		writeError(w, errorf(http.StatusBadRequest, protocol.CodeBadRequest, "path: %v", err))
		return
	}
	t, ok := s.inspectTarget(w, r, p)
	if !ok {
		return
	}
	before, e := uintParam(q.Get("before"), t.meta.Seq+1)
	if e != nil {
		writeError(w, e)
		return
	}
	upto := min(max(before, 1)-1, t.meta.Seq)
	release, ok := s.heavyRead(r.Context(), p.Namespace)
	if !ok {
		return
	}
	defer release()

	ctx := r.Context()
	first, err := s.store.FirstSeq(ctx, t.id.ns, t.id.key)
	if err != nil {
		writeError(w, s.storageAPIError("blame", t.id, err))
		return
	}
	var state any
	var origin uint64
	complete := first <= 1
	if complete {
		state = t.typ.New()
	} else {
		snap, err := s.store.FirstSnapshot(ctx, t.id.ns, t.id.key, first-1)
		if errors.Is(err, storage.ErrNotFound) {
			writeError(w, errorf(http.StatusGone, protocol.CodeCompacted, "the log of %q starts at seq %d with no snapshot to replay it from", t.id.key, first))
			return
		}
		if err != nil {
			writeError(w, s.storageAPIError("blame", t.id, err))
			return
		}
		if state, err = t.typ.Decode(snap.State); err != nil {
			writeError(w, s.storageAPIError("blame", t.id, err))
			return
		}
		origin = snap.Seq
	}
	prev, had, err := valueAt(state, path, t.typ.Encode)
	if err != nil {
		writeError(w, asAPIError(err))
		return
	}
	originValue := prev

	budget := s.cfg.Limits.PageBytes
	work := int64(len(prev)) // bytes of values looked at: Limits.BlameBytes
	var changes []blameChange
	var kept int64
	more := false
	if origin < upto {
		err = streamLog(ctx, s.store, t.id, origin, upto, func(ev *storage.Event) error {
			applyLogged(t.typ, state, t.id, t.meta.Epoch, ev, s.log)
			cur, has, err := valueAt(state, path, t.typ.Encode)
			if err != nil {
				return err
			}
			if work += int64(len(cur)); work > s.cfg.Limits.BlameBytes {
				return errorf(http.StatusBadRequest, protocol.CodeBadRequest,
					"blame of %q reached --blame-bytes (%d bytes of values, at seq %d): blame a deeper path, or fewer events with before=", path.String(), s.cfg.Limits.BlameBytes, ev.Seq)
			}
			if has == had && string(cur) == string(prev) {
				return nil
			}
			c := blameChange{Seq: ev.Seq, Op: "replace", Event: appendEvent(nil, ev)}
			switch {
			case !had:
				c.Op, c.After = "add", cur
			case !has:
				c.Op, c.Before = "remove", prev
			default:
				c.Before, c.After = prev, cur
			}
			changes = append(changes, c)
			kept += c.size()
			for len(changes) > limit || (len(changes) > 1 && kept > budget) {
				kept -= changes[0].size()
				changes = changes[1:]
				more = true
			}
			prev, had = cur, has
			return nil
		})
		if err != nil {
			writeError(w, s.storageAPIError("blame", t.id, err))
			return
		}
	}
	out := make([]blameChange, len(changes))
	for i, c := range changes {
		out[len(changes)-1-i] = c
	}
	var nextPage *uint64
	if more {
		nextPage = &changes[0].Seq
	}
	originOut := map[string]any{"seq": origin}
	if originValue != nil {
		originOut["value"] = json.RawMessage(originValue)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"key": t.id.key, "type": t.meta.Type, "epoch": t.meta.Epoch, "seq": t.meta.Seq,
		"path": path.String(), "origin": originOut, "complete": complete,
		"changes": out, "next": nextPage,
	})
}
