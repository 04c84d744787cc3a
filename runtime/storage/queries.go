package storage

// The reads of the Store interface.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
)

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// selectStates reads key rows with their head. A commit does not touch the
// key's row (that would cost one more B-tree write per key per commit); the
// head is the last event's seq, and the row's seq (moved at each snapshot)
// covers a log compacted down to nothing.
const selectStates = `SELECT s.namespace, s.key, s.type, s.fingerprint, s.epoch,
	max(s.seq, COALESCE((SELECT MAX(e.seq) FROM events e WHERE e.namespace = s.namespace AND e.key = s.key), 0)) AS seq,
	s.created_at, s.updated_at FROM states s`

// State implements Store.
func (s *SQLite) State(ctx context.Context, ns, key string) (StateMeta, error) {
	var m StateMeta
	err := s.r.GetContext(ctx, &m, selectStates+` WHERE s.namespace = ? AND s.key = ?`, ns, key)
	return m, notFound(err)
}

// States implements Store: keys of ns with the prefix, after the cursor, in
// key order.
func (s *SQLite) States(ctx context.Context, ns, prefix, after string, limit int) ([]StateMeta, error) {
	var out []StateMeta
	q := selectStates + ` WHERE s.namespace = ? AND s.key > ? AND substr(s.key, 1, ?) = ? ORDER BY s.key LIMIT ?`
	err := s.r.SelectContext(ctx, &out, q, ns, after, len(prefix), prefix, limit)
	return out, err
}

// Namespaces implements Store.
func (s *SQLite) Namespaces(ctx context.Context) ([]string, error) {
	var out []string
	err := s.r.SelectContext(ctx, &out, `SELECT name FROM namespaces ORDER BY name`)
	return out, err
}

// LatestSnapshot implements Store.
func (s *SQLite) LatestSnapshot(ctx context.Context, ns, key string, atOrBelow uint64) (Snapshot, error) {
	var snap Snapshot
	err := s.r.GetContext(ctx, &snap, `SELECT seq, state FROM snapshots WHERE namespace = ? AND key = ? AND seq <= ? ORDER BY seq DESC LIMIT 1`, ns, key, atOrBelow)
	return snap, notFound(err)
}

// FirstSnapshot implements Store.
func (s *SQLite) FirstSnapshot(ctx context.Context, ns, key string, atOrAbove uint64) (Snapshot, error) {
	var snap Snapshot
	err := s.r.GetContext(ctx, &snap, `SELECT seq, state FROM snapshots WHERE namespace = ? AND key = ? AND seq >= ? ORDER BY seq LIMIT 1`, ns, key, atOrAbove)
	return snap, notFound(err)
}

// Events implements Store.
func (s *SQLite) Events(ctx context.Context, ns, key string, after uint64, limit int) ([]Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, client, mid, name, args, time, actor FROM events WHERE namespace = ? AND key = ? AND seq > ? ORDER BY seq LIMIT ?`, ns, key, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]Event, 0, min(limit, 1024))
	for rows.Next() {
		var e Event
		var args []byte
		if err := rows.Scan(&e.Seq, &e.Client, &e.Mid, &e.Name, &args, &e.Time, &e.Actor); err != nil {
			return nil, err
		}
		e.Args = args
		out = append(out, e)
	}
	return out, rows.Err()
}

// EachEvent implements Store. Replaying a long log is its main use, so
// it allocates nothing per row: the texts that repeat from row to row
// (client, name, actor) are reused while they do not change.
func (s *SQLite) EachEvent(ctx context.Context, ns, key string, after, upto uint64, fn func(*Event) error) error {
	// A cancellable context makes the driver watch it on every row; ctx
	// is checked every few thousand rows instead.
	rows, err := s.r.QueryContext(context.WithoutCancel(ctx), `SELECT seq, client, mid, name, args, time, actor FROM events WHERE namespace = ? AND key = ? AND seq > ? AND seq <= ? ORDER BY seq`, ns, key, after, upto)
	if err != nil {
		return err
	}
	return eachEventRow(ctx, rows, fn)
}

// eachEventRow calls fn with each row of rows (seq, client, mid, name,
// args, time, actor), allocating nothing per row: the texts that repeat
// from row to row are reused while they do not change. ctx is checked
// every few thousand rows.
func eachEventRow(ctx context.Context, rows *sql.Rows, fn func(*Event) error) error {
	defer rows.Close()
	var (
		e                   Event
		client, name, actor sql.RawBytes
		args                sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&e.Seq, &client, &e.Mid, &name, &args, &e.Time, &actor); err != nil {
			return err
		}
		e.Client = reuse(e.Client, client)
		e.Name = reuse(e.Name, name)
		e.Actor = reuse(e.Actor, actor)
		e.Args = json.RawMessage(args)
		if err := fn(&e); err != nil {
			return err
		}
		if e.Seq%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return rows.Err()
}

// reuse returns prev if it spells b, else b as a new string.
func reuse(prev string, b []byte) string {
	if prev == string(b) {
		return prev
	}
	return string(b)
}

// FirstSeq implements Store.
func (s *SQLite) FirstSeq(ctx context.Context, ns, key string) (uint64, error) {
	var seq sql.NullInt64
	err := s.r.GetContext(ctx, &seq, `SELECT MIN(seq) FROM events WHERE namespace = ? AND key = ?`, ns, key)
	return uint64(seq.Int64), err
}

// FindEvent implements Store.
func (s *SQLite) FindEvent(ctx context.Context, ns, key, client string, mid uint64) (Event, error) {
	var e Event
	err := s.r.GetContext(ctx, &e, `SELECT seq, client, mid, name, args, time, actor FROM events WHERE namespace = ? AND key = ? AND client = ? AND mid = ?`, ns, key, client, mid)
	return e, notFound(err)
}

// ClaimClient implements Store.
func (s *SQLite) ClaimClient(ctx context.Context, ns, client, actor string) (string, error) {
	var owner string
	err := s.r.GetContext(ctx, &owner, `SELECT actor FROM clients WHERE namespace = ? AND client = ?`, ns, client)
	if err == nil {
		return owner, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	if _, err := s.w.ExecContext(ctx, `INSERT OR IGNORE INTO clients (namespace, client, actor, created_at) VALUES (?, ?, ?, ?)`, ns, client, actor, time.Now().UnixMilli()); err != nil {
		return "", err
	}
	err = s.w.GetContext(ctx, &owner, `SELECT actor FROM clients WHERE namespace = ? AND client = ?`, ns, client)
	return owner, err
}

// ClientMid implements Store: 0 when the client never wrote to the key.
func (s *SQLite) ClientMid(ctx context.Context, ns, key, client string) (uint64, error) {
	var mid uint64
	err := s.r.GetContext(ctx, &mid, `SELECT mid FROM client_mids WHERE namespace = ? AND key = ? AND client = ?`, ns, key, client)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return mid, err
}

// Rejections implements Store.
func (s *SQLite) Rejections(ctx context.Context, ns, key, client string, after uint64) ([]Rejection, error) {
	var out []Rejection
	err := s.r.SelectContext(ctx, &out, `SELECT client, mid, name, code, message FROM rejections WHERE namespace = ? AND key = ? AND client = ? AND mid > ? ORDER BY mid`, ns, key, client, after)
	return out, err
}

// EnsureNamespace implements Store.
func (s *SQLite) EnsureNamespace(ctx context.Context, ns string) error {
	_, err := s.w.ExecContext(ctx, sqlEnsureNS, ns, time.Now().UnixMilli())
	return err
}

// CreateKey implements Store.
func (s *SQLite) CreateKey(ctx context.Context, k APIKey) error {
	if err := s.EnsureNamespace(ctx, k.Namespace); err != nil {
		return err
	}
	_, err := s.w.NamedExecContext(ctx, `INSERT INTO api_keys (id, namespace, hash, actor, role, created_at, grants) VALUES (:id, :namespace, :hash, :actor, :role, :created_at, :grants)`, k)
	return err
}

// Key implements Store.
func (s *SQLite) Key(ctx context.Context, id string) (APIKey, error) {
	var k APIKey
	err := s.r.GetContext(ctx, &k, `SELECT * FROM api_keys WHERE id = ?`, id)
	return k, notFound(err)
}

// Keys implements Store.
func (s *SQLite) Keys(ctx context.Context) ([]APIKey, error) {
	var out []APIKey
	err := s.r.SelectContext(ctx, &out, `SELECT * FROM api_keys ORDER BY created_at, id`)
	return out, err
}

// RevokeKey implements Store.
func (s *SQLite) RevokeKey(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, time.Now().UnixMilli(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
