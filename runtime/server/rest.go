package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
	"github.com/better-state/better-state/runtime/server/inspector"
	"github.com/better-state/better-state/runtime/storage"
)

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", s.health)
	m.HandleFunc("GET /v1/ws", s.serveWS)
	m.HandleFunc("GET /v1/types", s.authed(RoleClient, s.listTypes))
	m.HandleFunc("GET /v1/namespaces", s.authed(RoleAdmin, s.listNamespaces))
	m.HandleFunc("GET /v1/namespaces/{ns}/states", s.authed(RoleAdmin, s.listStates))
	m.HandleFunc("GET /v1/namespaces/{ns}/states/{key}", s.authed(RoleClient, s.getState))
	m.HandleFunc("GET /v1/namespaces/{ns}/states/{key}/history", s.authed(RoleClient, s.history))
	m.HandleFunc("GET /v1/namespaces/{ns}/states/{key}/at/{seq}", s.authed(RoleClient, s.stateAt))
	m.HandleFunc("GET /v1/namespaces/{ns}/states/{key}/diff", s.authed(RoleClient, s.diff))
	m.HandleFunc("GET /v1/namespaces/{ns}/states/{key}/blame", s.authed(RoleClient, s.blame))
	m.HandleFunc("GET /v1/namespaces/{ns}/states/{key}/presence", s.authed(RoleClient, s.presence))
	m.HandleFunc("POST /v1/namespaces/{ns}/states/{key}/mutations", s.authed(RoleClient, s.postMutation))
	m.HandleFunc("DELETE /v1/namespaces/{ns}/states/{key}", s.authed(RoleAdmin, s.deleteState))
	if s.cfg.Inspect {
		m.Handle("GET /inspect/", inspector.Handler("/inspect/"))
		m.Handle("GET /inspect", http.RedirectHandler("/inspect/", http.StatusFound))
	} else {
		m.HandleFunc("GET /inspect/", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, errorf(http.StatusNotFound, protocol.CodeNotFound, "the inspector is off: start the server with --inspect (Config.Inspect)"))
		})
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Static != nil && !strings.HasPrefix(r.URL.Path, "/v1/") && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			s.cfg.Static.ServeHTTP(w, r)
			return
		}
		writeError(w, errorf(http.StatusNotFound, protocol.CodeNotFound, "no endpoint %s %s", r.Method, r.URL.Path))
	})
	s.mux = m
	s.handler = s.cors(m)
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, p principal)

// authed checks the API key, the role, and that a {ns} in the path is the
// key's own namespace.
func (s *Server) authed(role string, h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.closing.Load() {
			writeError(w, errShuttingDown)
			return
		}
		p, err := s.auth.check(r.Context(), bearer(r))
		if err != nil {
			writeError(w, authError(err))
			return
		}
		if role == RoleAdmin && p.Role != RoleAdmin {
			writeError(w, errorf(http.StatusForbidden, protocol.CodeForbidden, "this endpoint needs an admin key"))
			return
		}
		if ns := r.PathValue("ns"); ns != "" && ns != p.Namespace {
			writeError(w, errorf(http.StatusForbidden, protocol.CodeForbidden, "this API key belongs to namespace %q, not %q", p.Namespace, ns))
			return
		}
		if key := r.PathValue("key"); key != "" {
			if e := checkKey(key); e != nil {
				writeError(w, e)
				return
			}
			if write := r.Method != http.MethodGet; !p.can(key, write) {
				writeError(w, errNotGranted(key, write))
				return
			}
		}
		h(w, r, p)
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if s.closing.Load() {
		writeError(w, errShuttingDown)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.store.Namespaces(ctx); err != nil {
		s.storageFailed("health probe", roomID{}, err)
	} else {
		s.storageReadOK()
	}
	s.roomsMu.Lock()
	rooms := len(s.rooms)
	s.roomsMu.Unlock()
	body := map[string]any{
		"status":      "ok",
		"protocol":    protocol.Version,
		"types":       s.reg.Names(),
		"connections": s.nconns.Load(),
		"rooms":       rooms,
		"memory":      memoryFigures(),
	}
	status := http.StatusOK
	if f := s.fault.Load(); f != nil {
		// Reads may still work, but the last write (or the probe) failed:
		// a load balancer should send traffic elsewhere.
		body["status"] = "degraded"
		body["storage"] = f
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}

// memoryFigures are the Go heap's figures that tell whether memory comes
// back after a burst: the live heap after the last GC, and the heap's
// objects now (runtime/metrics; no stop-the-world).
func memoryFigures() map[string]uint64 {
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(samples)
	out := map[string]uint64{}
	for i, k := range []string{"heap_live_bytes", "heap_objects_bytes"} {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			out[k] = samples[i].Value.Uint64()
		}
	}
	return out
}

type mutationBody struct {
	Type   string          `json:"type"`
	Name   string          `json:"name"`
	Args   json.RawMessage `json:"args"`
	Client string          `json:"client"`
	Mid    uint64          `json:"mid"`
}

func (s *Server) postMutation(w http.ResponseWriter, r *http.Request, p principal) {
	key := r.PathValue("key")
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, errorf(http.StatusUnsupportedMediaType, protocol.CodeUnsupportedMedia, "the body must be application/json"))
		return
	}
	// Over the namespace's quotas already: answered before the body is
	// read, so that a client hammering at the quota costs next to nothing.
	if q, err := s.quota(p.Namespace); err == nil {
		if e := s.overQuota(q, r.ContentLength); e != nil {
			writeError(w, e)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.Limits.MaxFrameBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, errorf(http.StatusRequestEntityTooLarge, protocol.CodeFrameTooLarge, "the body is over %d bytes (Limits.MaxFrameBytes)", s.cfg.Limits.MaxFrameBytes))
			return
		}
		writeError(w, errorf(http.StatusBadRequest, protocol.CodeBadRequest, "reading the body failed"))
		return
	}
	m, e := parseMutation(body)
	if e != nil {
		writeError(w, e)
		return
	}
	if m.Type != "" {
		if _, ok := s.reg.Lookup(m.Type); !ok {
			writeError(w, errorf(http.StatusBadRequest, protocol.CodeUnknownType, "this server does not serve type %q (it serves %s)", m.Type, strings.Join(s.reg.Names(), ", ")))
			return
		}
	}
	id := roomID{p.Namespace, key}
	if m.Type == "" {
		// Without a type it cannot create the key: no room for a miss.
		if e := s.mustExist(r.Context(), p.Namespace, key); e != nil {
			writeError(w, e)
			return
		}
	}
	if m.Client != "" {
		if e := s.claimClient(r.Context(), p, m.Client); e != nil {
			writeError(w, e)
			return
		}
	}
	if e := s.actorAllow(p.Namespace, p.Actor); e != nil {
		writeError(w, e)
		return
	}
	req := &restMut{typ: m.Type, name: m.Name, args: m.Args, client: m.Client, mid: m.Mid, actor: p.Actor, reply: make(chan restResult, 1)}
	if e := s.send(p.Namespace, key, roomMsg{kind: kindRest, rest: req}); e != nil {
		writeError(w, e)
		return
	}
	res, ok := await(r.Context(), req.reply)
	if !ok {
		return // the caller went away; the mutation may still apply (retry with the same mid)
	}
	switch {
	case res.err != nil:
		writeError(w, res.err)
	case res.dup:
		ev, err := s.store.FindEvent(r.Context(), p.Namespace, key, m.Client, m.Mid)
		if errors.Is(err, storage.ErrNotFound) {
			writeError(w, errorf(http.StatusConflict, protocol.CodeDuplicate, "mutation %d of client %q was processed before (and refused or compacted)", m.Mid, m.Client))
			return
		}
		if err != nil {
			writeError(w, s.storageAPIError("find event", id, err))
			return
		}
		if ev.Name != m.Name || !bytes.Equal(ev.Args, res.canon) {
			writeError(w, errorf(http.StatusConflict, protocol.CodeArgsDiffer, "mutation %d of client %q was processed before as %s with other arguments; a retry must repeat them", m.Mid, m.Client, ev.Name))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"seq": ev.Seq, "duplicate": true})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"seq": res.seq})
	}
}

// deleteState removes a key with its whole log. Its subscribers get a
// reset err; a key they subscribe again starts over with a new epoch.
func (s *Server) deleteState(w http.ResponseWriter, r *http.Request, p principal) {
	key := r.PathValue("key")
	if e := s.mustExist(r.Context(), p.Namespace, key); e != nil {
		writeError(w, e)
		return
	}
	ch := make(chan *apiError, 1)
	if e := s.send(p.Namespace, key, roomMsg{kind: kindDelete, deleted: ch}); e != nil {
		writeError(w, e)
		return
	}
	e, ok := await(r.Context(), ch)
	if !ok {
		return
	}
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": key})
}

// await waits for a room's answer on ch (buffered: the room never blocks
// on it) or for the request's end, when nobody is left to answer.
func await[T any](ctx context.Context, ch <-chan T) (T, bool) {
	select {
	case v := <-ch:
		return v, true
	case <-ctx.Done():
		var zero T
		return zero, false
	}
}

// parseMutation decodes and validates a REST mutation body.
func parseMutation(body []byte) (mutationBody, *apiError) {
	var m mutationBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, errorf(http.StatusBadRequest, protocol.CodeBadRequest, "malformed body: %v", err)
	}
	if dec.More() {
		return m, errorf(http.StatusBadRequest, protocol.CodeBadRequest, "trailing data after the body")
	}
	if m.Name == "" {
		return m, errorf(http.StatusBadRequest, protocol.CodeBadRequest, "the body needs \"name\", the action")
	}
	if (m.Client == "") != (m.Mid == 0) {
		return m, errorf(http.StatusBadRequest, protocol.CodeBadRequest, "\"client\" and \"mid\" go together")
	}
	if m.Client != "" {
		if e := checkClientID(m.Client); e != nil {
			return m, e
		}
	}
	if m.Mid > math.MaxInt64 {
		return m, errorf(http.StatusBadRequest, protocol.CodeBadRequest, "\"mid\" is at most 2^63-1")
	}
	if a := bytes.TrimSpace(m.Args); len(a) > 0 && a[0] != '{' && string(a) != "null" {
		return m, errorf(http.StatusUnprocessableEntity, protocol.CodeBadArgs, "\"args\" must be an object")
	}
	return m, nil
}

// mustExist answers 404 for a key that has no room and no row, without
// starting a room.
func (s *Server) mustExist(ctx context.Context, ns, key string) *apiError {
	s.roomsMu.Lock()
	_, active := s.rooms[roomID{ns, key}]
	s.roomsMu.Unlock()
	if active {
		return nil
	}
	if _, err := s.store.State(ctx, ns, key); err != nil {
		return s.notFoundState(err, roomID{ns, key})
	}
	return nil
}

func (s *Server) notFoundState(err error, id roomID) *apiError {
	if errors.Is(err, storage.ErrNotFound) {
		return errorf(http.StatusNotFound, protocol.CodeNotFound, "no state %q", id.key)
	}
	return s.storageAPIError("read state", id, err)
}

func intParam(v string, def, lo, hi int) (int, *apiError) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, errorf(http.StatusBadRequest, protocol.CodeBadRequest, "%q is not a number from %d to %d", v, lo, hi)
	}
	return n, nil
}

func uintParam(v string, def uint64) (uint64, *apiError) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, protocol.CodeBadRequest, "%q is not a seq", v)
	}
	return n, nil
}
