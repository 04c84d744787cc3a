package server

// The REST handlers that read: namespaces, states, history, state at a seq.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/storage"
)

// appendEvent appends e as the JSON object storage.Event marshals to.
func appendEvent(b []byte, e *storage.Event) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"client":`...)
	b = protocol.AppendString(b, e.Client)
	b = append(b, `,"mid":`...)
	b = strconv.AppendUint(b, e.Mid, 10)
	b = append(b, `,"name":`...)
	b = protocol.AppendString(b, e.Name)
	b = append(b, `,"args":`...)
	b = append(b, e.Args...)
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, e.Time, 10)
	b = append(b, `,"actor":`...)
	b = protocol.AppendString(b, e.Actor)
	return append(b, '}')
}

// listTypes describes the state types the server serves: what a client in
// another language needs to subscribe (the fingerprint and shape) and to
// read states and write arguments (the JSON Schema).
func (s *Server) listTypes(w http.ResponseWriter, r *http.Request, p principal) {
	type typeInfo struct {
		Name        string          `json:"name"`
		Fingerprint string          `json:"fingerprint"`
		Shape       string          `json:"shape"`
		Actions     []string        `json:"actions"`
		Schema      json.RawMessage `json:"schema,omitempty"`
		Presence    string          `json:"presence,omitempty"` // its JSON Schema is the schema's "presence"
	}
	out := []typeInfo{}
	for _, name := range s.reg.Names() {
		t, _ := s.reg.Lookup(name)
		info := typeInfo{Name: t.Name, Fingerprint: t.Fingerprint, Shape: t.Shape, Actions: t.Actions}
		if json.Valid([]byte(t.JSONSchema)) {
			info.Schema = json.RawMessage(t.JSONSchema)
		}
		if pt := t.Presence; pt != nil {
			info.Presence = pt.Name
		}
		out = append(out, info)
	}
	writeJSON(w, http.StatusOK, map[string]any{"types": out})
}

func (s *Server) listNamespaces(w http.ResponseWriter, r *http.Request, p principal) {
	all, err := s.store.Namespaces(r.Context())
	if err != nil {
		writeError(w, s.storageAPIError("list namespaces", roomID{}, err))
		return
	}
	// A key sees its own namespace only.
	out := []string{}
	for _, ns := range all {
		if ns == p.Namespace {
			out = append(out, ns)
		}
	}
	if len(out) == 0 {
		out = append(out, p.Namespace)
	}
	writeJSON(w, http.StatusOK, map[string]any{"namespaces": out})
}

type stateInfo struct {
	Key       string `json:"key"`
	Type      string `json:"type"`
	Seq       uint64 `json:"seq"`
	Epoch     string `json:"epoch"`
	UpdatedAt int64  `json:"updated_at,omitempty"`
}

func (s *Server) listStates(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	limit, e := intParam(q.Get("limit"), 100, 1, 1000)
	if e != nil {
		writeError(w, e)
		return
	}
	rows, err := s.store.States(r.Context(), p.Namespace, q.Get("prefix"), q.Get("after"), limit+1)
	if err != nil {
		writeError(w, s.storageAPIError("list states", roomID{ns: p.Namespace}, err))
		return
	}
	var next *string
	if len(rows) > limit {
		rows = rows[:limit]
		k := rows[limit-1].Key
		next = &k
	}
	out := make([]stateInfo, len(rows))
	for i, m := range rows {
		out[i] = stateInfo{Key: m.Key, Type: m.Type, Seq: m.Seq, Epoch: m.Epoch, UpdatedAt: m.UpdatedAt}
	}
	writeJSON(w, http.StatusOK, map[string]any{"states": out, "next": next})
}

func (s *Server) getState(w http.ResponseWriter, r *http.Request, p principal) {
	key := r.PathValue("key")
	// A read of a key that does not exist is answered from storage: no
	// room is started for it, so reads of made-up keys cost nothing.
	if e := s.mustExist(r.Context(), p.Namespace, key); e != nil {
		writeError(w, e)
		return
	}
	ch := make(chan readResult, 1)
	if e := s.send(p.Namespace, key, roomMsg{kind: kindRead, read: ch, actor: p.Actor}); e != nil {
		writeError(w, e)
		return
	}
	res, ok := await(r.Context(), ch)
	if !ok {
		return
	}
	if res.err != nil {
		writeError(w, res.err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": key, "type": res.meta.Type, "seq": res.meta.Seq, "epoch": res.meta.Epoch, "state": res.state})
}

func (s *Server) history(w http.ResponseWriter, r *http.Request, p principal) {
	key := r.PathValue("key")
	q := r.URL.Query()
	limit, e := intParam(q.Get("limit"), 100, 1, 1000)
	if e != nil {
		writeError(w, e)
		return
	}
	after, e := uintParam(q.Get("after"), 0)
	if e != nil {
		writeError(w, e)
		return
	}
	id := roomID{p.Namespace, key}
	meta, ok := s.stateMeta(w, r, id, p)
	if !ok {
		return
	}
	if first, _ := s.store.FirstSeq(r.Context(), p.Namespace, key); first > after+1 {
		writeError(w, errorf(http.StatusGone, protocol.CodeCompacted, "events before seq %d were compacted", first))
		return
	}
	// The page is streamed, and ends at limit events or past
	// Limits.PageBytes (one event at least): events of up to a frame each
	// would otherwise make a page of a gigabyte.
	budget := s.cfg.Limits.PageBytes
	release, ok := s.heavyRead(r.Context(), p.Namespace)
	if !ok {
		return
	}
	defer release()
	bw := bufio.NewWriterSize(w, 32<<10)
	var buf []byte
	started := false
	var n int
	var written int64
	var last uint64
	full := false
	errFull := errors.New("page full")
	err := s.store.EachEvent(r.Context(), p.Namespace, key, after, meta.Seq, func(e *storage.Event) error {
		if n == limit || (n > 0 && written >= budget) {
			full = true
			return errFull
		}
		// The log holds args in canonical JSON: they are written as
		// they are, not decoded and encoded again.
		b := appendEvent(buf[:0], e)
		buf = b
		if !started {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusOK)
			bw.WriteString(`{"events":[`)
			started = true
		} else {
			bw.WriteByte(',')
		}
		bw.Write(b)
		written += int64(len(b))
		n++
		last = e.Seq
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		if !started {
			writeError(w, s.storageAPIError("history", id, err))
			return
		}
		// Half a page is out: end the response so that it cannot be
		// read as a whole one.
		s.storageAPIError("history", id, err)
		panic(http.ErrAbortHandler)
	}
	if !started {
		writeJSON(w, http.StatusOK, map[string]any{"events": []storage.Event{}, "next": nil})
		return
	}
	if full {
		fmt.Fprintf(bw, `],"next":%d}`+"\n", last)
	} else {
		bw.WriteString(`],"next":null}` + "\n")
	}
	bw.Flush()
}

func (s *Server) stateAt(w http.ResponseWriter, r *http.Request, p principal) {
	key := r.PathValue("key")
	seq, e := uintParam(r.PathValue("seq"), 0)
	if e != nil {
		writeError(w, e)
		return
	}
	t, ok := s.inspectTarget(w, r, p)
	if !ok {
		return
	}
	meta, typ := t.meta, t.typ
	if seq > meta.Seq {
		writeError(w, errorf(http.StatusNotFound, protocol.CodeNotFound, "%q is at seq %d; seq %d does not exist yet", key, meta.Seq, seq))
		return
	}
	state, _, err := replay(r.Context(), s.store, typ, p.Namespace, key, meta.Epoch, seq, s.log)
	if err != nil {
		writeError(w, s.storageAPIError("state at seq", t.id, err))
		return
	}
	b, err := typ.Encode(state)
	if err != nil {
		writeError(w, asAPIError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": key, "type": meta.Type, "seq": seq, "epoch": meta.Epoch, "state": json.RawMessage(b)})
}

// stateMeta reads the row of id, answering w when there is none.
func (s *Server) stateMeta(w http.ResponseWriter, r *http.Request, id roomID, p principal) (storage.StateMeta, bool) {
	meta, err := s.store.State(r.Context(), id.ns, id.key)
	if err != nil {
		writeError(w, s.notFoundState(err, id))
		return meta, false
	}
	return meta, s.readRuleAllows(w, r, id, p, meta)
}

// readRuleAllows reports whether the read rule of the key's type, if it
// has one, lets p read; when it does not, the answer has been written.
func (s *Server) readRuleAllows(w http.ResponseWriter, r *http.Request, id roomID, p principal, meta storage.StateMeta) bool {
	typ, ok := s.reg.Lookup(meta.Type)
	if !ok || typ.ReadRule == nil {
		return true
	}
	// The rule decides on the state: the key's room has it.
	ch := make(chan readResult, 1)
	if e := s.send(id.ns, id.key, roomMsg{kind: kindRead, read: ch, actor: p.Actor}); e != nil {
		writeError(w, e)
		return false
	}
	res, ok := await(r.Context(), ch)
	if !ok {
		return false
	}
	if res.err != nil {
		writeError(w, res.err)
		return false
	}
	return true
}
