package storage

// The reads of the PostgreSQL store, and its API keys.

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

const pgSelectStates = `SELECT namespace, key, type, fingerprint, epoch, seq, created_at, updated_at FROM states`

// State implements Store.
func (s *Postgres) State(ctx context.Context, ns, key string) (StateMeta, error) {
	var m StateMeta
	err := s.db.GetContext(ctx, &m, pgSelectStates+` WHERE namespace = $1 AND key = $2`, ns, key)
	return m, notFound(err)
}

// States implements Store.
func (s *Postgres) States(ctx context.Context, ns, prefix, after string, limit int) ([]StateMeta, error) {
	var out []StateMeta
	err := s.db.SelectContext(ctx, &out, pgSelectStates+` WHERE namespace = $1 AND key > $2 AND left(key, $3) = $4 ORDER BY key COLLATE "C" LIMIT $5`, ns, after, len([]rune(prefix)), prefix, limit)
	return out, err
}

// Heads implements Shared.
func (s *Postgres) Heads(ctx context.Context, ns string, keys []string) (map[string]Head, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT key, epoch, seq FROM states WHERE namespace = $1 AND key = ANY($2)`, ns, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]Head, len(keys))
	for rows.Next() {
		var k string
		var h Head
		var seq int64
		if err := rows.Scan(&k, &h.Epoch, &seq); err != nil {
			return nil, err
		}
		h.Seq = uint64(seq)
		out[k] = h
	}
	return out, rows.Err()
}

// Namespaces implements Store.
func (s *Postgres) Namespaces(ctx context.Context) ([]string, error) {
	var out []string
	err := s.db.SelectContext(ctx, &out, `SELECT name FROM namespaces ORDER BY name`)
	return out, err
}

// LatestSnapshot implements Store.
func (s *Postgres) LatestSnapshot(ctx context.Context, ns, key string, atOrBelow uint64) (Snapshot, error) {
	var snap Snapshot
	err := s.db.GetContext(ctx, &snap, `SELECT seq, state FROM snapshots WHERE namespace = $1 AND key = $2 AND seq <= $3 ORDER BY seq DESC LIMIT 1`, ns, key, int64(min(atOrBelow, 1<<62)))
	return snap, notFound(err)
}

// FirstSnapshot implements Store.
func (s *Postgres) FirstSnapshot(ctx context.Context, ns, key string, atOrAbove uint64) (Snapshot, error) {
	var snap Snapshot
	err := s.db.GetContext(ctx, &snap, `SELECT seq, state FROM snapshots WHERE namespace = $1 AND key = $2 AND seq >= $3 ORDER BY seq LIMIT 1`, ns, key, int64(min(atOrAbove, 1<<62)))
	return snap, notFound(err)
}

// Events implements Store.
func (s *Postgres) Events(ctx context.Context, ns, key string, after uint64, limit int) ([]Event, error) {
	out := make([]Event, 0, min(limit, 1024))
	err := s.db.SelectContext(ctx, &out, `SELECT seq, client, mid, name, args, time, actor FROM events WHERE namespace = $1 AND key = $2 AND seq > $3 ORDER BY seq LIMIT $4`, ns, key, int64(min(after, 1<<62)), limit)
	return out, err
}

// EachEvent implements Store.
func (s *Postgres) EachEvent(ctx context.Context, ns, key string, after, upto uint64, fn func(*Event) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, client, mid, name, args, time, actor FROM events WHERE namespace = $1 AND key = $2 AND seq > $3 AND seq <= $4 ORDER BY seq`, ns, key, int64(min(after, 1<<62)), int64(min(upto, 1<<62)))
	if err != nil {
		return err
	}
	return eachEventRow(ctx, rows, fn)
}

// FirstSeq implements Store.
func (s *Postgres) FirstSeq(ctx context.Context, ns, key string) (uint64, error) {
	var seq sql.NullInt64
	err := s.db.GetContext(ctx, &seq, `SELECT MIN(seq) FROM events WHERE namespace = $1 AND key = $2`, ns, key)
	return uint64(seq.Int64), err
}

// FindEvent implements Store.
func (s *Postgres) FindEvent(ctx context.Context, ns, key, client string, mid uint64) (Event, error) {
	var e Event
	err := s.db.GetContext(ctx, &e, `SELECT seq, client, mid, name, args, time, actor FROM events WHERE namespace = $1 AND key = $2 AND client = $3 AND mid = $4`, ns, key, client, int64(min(mid, 1<<62)))
	return e, notFound(err)
}

// ClientMid implements Store.
func (s *Postgres) ClientMid(ctx context.Context, ns, key, client string) (uint64, error) {
	var mid uint64
	err := s.db.GetContext(ctx, &mid, `SELECT mid FROM client_mids WHERE namespace = $1 AND key = $2 AND client = $3`, ns, key, client)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return mid, err
}

// Rejections implements Store.
func (s *Postgres) Rejections(ctx context.Context, ns, key, client string, after uint64) ([]Rejection, error) {
	var out []Rejection
	err := s.db.SelectContext(ctx, &out, `SELECT client, mid, name, code, message FROM rejections WHERE namespace = $1 AND key = $2 AND client = $3 AND mid > $4 ORDER BY mid`, ns, key, client, int64(min(after, 1<<62)))
	return out, err
}

// Usage implements Store.
func (s *Postgres) Usage(ctx context.Context, ns string) (Usage, error) {
	var u Usage
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(bytes), 0), COUNT(*) FROM states WHERE namespace = $1`, ns).Scan(&u.Bytes, &u.Keys)
	return u, err
}

// ClaimClient implements Store.
func (s *Postgres) ClaimClient(ctx context.Context, ns, client, actor string) (string, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO clients (namespace, client, actor, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, ns, client, actor, time.Now().UnixMilli()); err != nil {
		return "", err
	}
	var owner string
	err := s.db.GetContext(ctx, &owner, `SELECT actor FROM clients WHERE namespace = $1 AND client = $2`, ns, client)
	return owner, err
}

// EnsureNamespace implements Store.
func (s *Postgres) EnsureNamespace(ctx context.Context, ns string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO namespaces (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, ns, time.Now().UnixMilli())
	return err
}

// CreateKey implements Store.
func (s *Postgres) CreateKey(ctx context.Context, k APIKey) error {
	if err := s.EnsureNamespace(ctx, k.Namespace); err != nil {
		return err
	}
	_, err := s.db.NamedExecContext(ctx, `INSERT INTO api_keys (id, namespace, hash, actor, role, created_at, grants) VALUES (:id, :namespace, :hash, :actor, :role, :created_at, :grants)`, k)
	return err
}

// Key implements Store.
func (s *Postgres) Key(ctx context.Context, id string) (APIKey, error) {
	var k APIKey
	err := s.db.GetContext(ctx, &k, `SELECT id, namespace, hash, actor, role, created_at, revoked_at, grants FROM api_keys WHERE id = $1`, id)
	return k, notFound(err)
}

// Keys implements Store.
func (s *Postgres) Keys(ctx context.Context) ([]APIKey, error) {
	var out []APIKey
	err := s.db.SelectContext(ctx, &out, `SELECT id, namespace, hash, actor, role, created_at, revoked_at, grants FROM api_keys ORDER BY created_at, id`)
	return out, err
}

// RevokeKey implements Store.
func (s *Postgres) RevokeKey(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, time.Now().UnixMilli(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// firstMids returns, for each client whose cursor w moves, the first mid
// w processes (its lowest event's or refusal's; the cursor's new value if
// it has neither): a cursor at or past it means another server processed
// that mutation.
func firstMids(w *Write) ([]string, []int64) {
	first := make(map[string]uint64, len(w.Mids))
	for c, m := range w.Mids {
		first[c] = m
	}
	for _, e := range w.Events {
		if m, ok := first[e.Client]; ok && e.Mid < m {
			first[e.Client] = e.Mid
		}
	}
	for _, r := range w.Rejections {
		if m, ok := first[r.Client]; ok && r.Mid < m {
			first[r.Client] = r.Mid
		}
	}
	return midsOf(first)
}

// midsOf returns the cursors of m as two arrays, in client order.
func midsOf(m map[string]uint64) ([]string, []int64) {
	clients := sortedKeys(m)
	mids := make([]int64, len(clients))
	for i, c := range clients {
		mids[i] = int64(m[c])
	}
	return clients, mids
}
