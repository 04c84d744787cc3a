package server

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/better-state/better-state/runtime/protocol"
)

// Namespace quotas bound what one namespace (one app, one tenant) can make
// the server store and do: stored bytes (event rows and snapshots, counted
// by the storage in the transaction that writes them), keys, and events
// and event bytes per second. A mutation over a quota is not applied and
// its mid does not move (err quota_exceeded on a WebSocket, like
// rate_limited; 507 or 429 on REST).

type nsQuota struct {
	mu     sync.Mutex // guards loaded and keys
	loaded bool
	bytes  atomic.Int64
	keys   int64
	events *gcra
	volume *gcra // event bytes per second
}

// gcra is a token bucket kept as one atomic "theoretical arrival time"
// (the generic cell rate algorithm): every room of a namespace takes from
// it, so it must not be a mutex that they queue on.
type gcra struct {
	tat      atomic.Int64 // unix ns when the bucket is full again
	interval float64      // ns per unit
	burst    float64      // units
}

func newGCRA(perSec, burst float64) *gcra {
	return &gcra{interval: 1e9 / perSec, burst: burst}
}

// allow takes n units if the bucket holds them; peek only looks.
func (g *gcra) allow(now time.Time, n int64, peek bool) bool {
	t := now.UnixNano()
	cost := int64(float64(n) * g.interval)
	limit := int64(g.burst * g.interval)
	for {
		old := g.tat.Load()
		next := max(old, t) + cost
		if next-t > limit {
			return false
		}
		if peek || g.tat.CompareAndSwap(old, next) {
			return true
		}
	}
}

// quota returns ns's quota state, loading its usage from storage the first
// time.
func (s *Server) quota(ns string) (*nsQuota, error) {
	s.quotasMu.Lock()
	q, ok := s.quotas[ns]
	if !ok {
		l := &s.cfg.Limits
		q = &nsQuota{
			events: newGCRA(l.NamespaceEventsPerSec, max(l.NamespaceEventsPerSec, 1)),
			volume: newGCRA(l.NamespaceBytesPerSec, max(l.NamespaceBytesPerSec, float64(l.MaxFrameBytes))),
		}
		s.quotas[ns] = q
	}
	s.quotasMu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.loaded {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		u, err := s.store.Usage(ctx, ns)
		cancel()
		if err != nil {
			return nil, err
		}
		q.bytes.Store(u.Bytes)
		q.keys, q.loaded = u.Keys, true
	}
	return q, nil
}

// admitEvent checks the namespace's quotas for one mutation whose args
// have n bytes, and takes its share of the rates.
func (s *Server) admitEvent(q *nsQuota, n int) *apiError {
	l := &s.cfg.Limits
	if stored := q.bytes.Load(); stored >= l.MaxNamespaceBytes {
		return errorf(http.StatusInsufficientStorage, protocol.CodeQuota, "the namespace stores %d bytes, its quota is %d bytes", stored, l.MaxNamespaceBytes)
	}
	now := time.Now()
	if !q.events.allow(now, 1, false) {
		return errorf(http.StatusTooManyRequests, protocol.CodeQuota, "the namespace is over its quota of %g events/s", l.NamespaceEventsPerSec)
	}
	if !q.volume.allow(now, int64(n), false) {
		return errorf(http.StatusTooManyRequests, protocol.CodeQuota, "the namespace is over its quota of %g bytes of events/s", l.NamespaceBytesPerSec)
	}
	return nil
}

// overQuota reports, without taking anything, whether a mutation of n
// bytes (n < 0: unknown) would be refused by the namespace's quotas now.
func (s *Server) overQuota(q *nsQuota, n int64) *apiError {
	l := &s.cfg.Limits
	stored := q.bytes.Load()
	switch {
	case stored >= l.MaxNamespaceBytes:
		return errorf(http.StatusInsufficientStorage, protocol.CodeQuota, "the namespace stores %d bytes, its quota is %d bytes", stored, l.MaxNamespaceBytes)
	case !q.events.allow(time.Now(), 1, true):
		return errorf(http.StatusTooManyRequests, protocol.CodeQuota, "the namespace is over its quota of %g events/s", l.NamespaceEventsPerSec)
	case n > 0 && !q.volume.allow(time.Now(), n, true):
		return errorf(http.StatusTooManyRequests, protocol.CodeQuota, "the namespace is over its quota of %g bytes of events/s", l.NamespaceBytesPerSec)
	}
	return nil
}

// admitKey checks the namespace's key quota before a key is created.
func (s *Server) admitKey(q *nsQuota) *apiError {
	max := s.cfg.Limits.MaxNamespaceKeys
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.keys >= max {
		return errorf(http.StatusInsufficientStorage, protocol.CodeQuota, "the namespace holds %d keys, its quota is %d", q.keys, max)
	}
	return nil
}

func (q *nsQuota) add(bytes, keys int64) {
	q.bytes.Add(bytes)
	if keys != 0 {
		q.mu.Lock()
		q.keys += keys
		q.mu.Unlock()
	}
}
